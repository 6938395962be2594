/* Plain libdbus client: blocking Echo calls from CLIENTS connections at once (one thread each),
 * CALLS per service in total; prints p50/p99 and the aggregate calls/s per service.
 * Usage: echo-client CALLS CLIENTS NAME=LABEL [NAME=LABEL...]
 * With several services each connection takes them in turn, call by call, so all of them are
 * measured under the same load at the same moments (this machine's load varies by the second).
 * Aggregate calls/s = calls × clients / summed latency (Little's law: every client always has
 * one call in flight), which for a single service is the wall-clock rate. */
#include <dbus/dbus.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/clock.h"

#define MAX_TARGETS 8
struct worker {
    int targets;
    const char **names;
    DBusConnection *connection;
    int calls, warmup, failed;
    double *samples[MAX_TARGETS];
    pthread_barrier_t *start;
};

static int echo_once(struct worker *w, const char *name, double *elapsed) {
    DBusError error;
    dbus_error_init(&error);
    const char *text = "hello";
    DBusMessage *call = dbus_message_new_method_call(name, "/io/tessera/Bench1", "io.tessera.Bench1", "Echo");
    DBusMessageIter iter;
    dbus_message_iter_init_append(call, &iter);
    dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &text);
    double start = now_us();
    DBusMessage *reply = dbus_connection_send_with_reply_and_block(w->connection, call, 25000, &error);
    *elapsed = now_us() - start;
    dbus_message_unref(call);
    if (!reply) {
        fprintf(stderr, "call: %s\n", error.message);
        dbus_error_free(&error);
        return 0;
    }
    dbus_message_unref(reply);
    return 1;
}

static void *run(void *data) {
    struct worker *w = data;
    double elapsed;
    for (int i = 0; i < w->warmup; i++)
        for (int t = 0; t < w->targets; t++) w->failed += !echo_once(w, w->names[t], &elapsed);
    pthread_barrier_wait(w->start);
    for (int i = 0; i < w->calls; i++)
        for (int t = 0; t < w->targets; t++) {
            w->failed += !echo_once(w, w->names[t], &elapsed);
            w->samples[t][i] = elapsed;
        }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4 || argc - 3 > MAX_TARGETS) {
        fprintf(stderr, "usage: echo-client CALLS CLIENTS NAME=LABEL [NAME=LABEL...] (at most %d)\n", MAX_TARGETS);
        return 2;
    }
    int calls = atoi(argv[1]), clients = atoi(argv[2]), targets = argc - 3;
    if (calls < clients || clients < 1) { fprintf(stderr, "need CALLS >= CLIENTS >= 1\n"); return 2; }
    const char *names[MAX_TARGETS], *labels[MAX_TARGETS];
    double *samples[MAX_TARGETS];
    for (int t = 0; t < targets; t++) {
        char *equals = strchr(argv[3 + t], '=');
        if (!equals) { fprintf(stderr, "expected NAME=LABEL, got %s\n", argv[3 + t]); return 2; }
        *equals = 0;
        names[t] = argv[3 + t];
        labels[t] = equals + 1;
        samples[t] = calloc(calls, sizeof(double));
    }
    dbus_threads_init_default();
    struct worker *workers = calloc(clients, sizeof *workers);
    pthread_t *threads = calloc(clients, sizeof *threads);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, clients + 1);
    int offset = 0;
    for (int c = 0; c < clients; c++) {
        DBusError error;
        dbus_error_init(&error);
        struct worker *w = &workers[c];
        w->connection = dbus_bus_get_private(DBUS_BUS_SESSION, &error);
        if (!w->connection) { fprintf(stderr, "connect: %s\n", error.message); return 1; }
        dbus_connection_set_exit_on_disconnect(w->connection, 0);
        w->targets = targets;
        w->names = names;
        w->calls = calls / clients + (c < calls % clients);
        w->warmup = 1000 / clients + 1;
        for (int t = 0; t < targets; t++) w->samples[t] = samples[t] + offset;
        w->start = &start;
        offset += w->calls;
    }
    for (int c = 0; c < clients; c++) pthread_create(&threads[c], NULL, run, &workers[c]);
    pthread_barrier_wait(&start);
    int failed = 0;
    for (int c = 0; c < clients; c++) {
        pthread_join(threads[c], NULL);
        failed += workers[c].failed;
    }
    for (int t = 0; t < targets; t++) {
        double total = 0;
        for (int i = 0; i < calls; i++) total += samples[t][i];
        qsort(samples[t], calls, sizeof(double), compare_doubles);
        char what[32];
        if (clients == 1) snprintf(what, sizeof what, "sequential");
        else snprintf(what, sizeof what, "%2d clients", clients);
        printf("%-12s %s:  n=%d p50=%.1f us p99=%.1f us calls/s=%.0f errors=%d\n", labels[t], what, calls,
               samples[t][calls / 2], samples[t][calls * 99 / 100], calls * clients / (total / 1e6), failed);
        free(samples[t]);
    }
    for (int c = 0; c < clients; c++) {
        dbus_connection_close(workers[c].connection);
        dbus_connection_unref(workers[c].connection);
    }
    free(workers);
    free(threads);
    return failed != 0;
}
