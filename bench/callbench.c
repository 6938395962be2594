/* callbench: the benchmark's D-Bus client, plain C over libdbus.
 *
 * The same client measures the C floor and tesserad, so client-side cost is identical on both
 * sides of every ratio. Each client is a thread with its own private bus connection that makes
 * blocking method calls back to back; all clients are released together by a barrier once every
 * connection is up, so connection set-up is never timed.
 *
 *   callbench --dest NAME --path PATH --iface IFACE --method MEMBER
 *             [--arg-string S]... [--arg-options SPEC] [--expect-sig SIG]
 *             [--clients N] [--calls TOTAL] [--warmup PER_CLIENT] [--timeout-ms MS]
 *             [--latencies FILE]
 *
 * Arguments are appended in the order given. SPEC is an a{sv} dictionary written as
 * comma-separated KEY=TYPE:VALUE items with TYPE b (true/false), u, i, x or s; "" is an empty
 * dictionary. Output: one line of key=value pairs (latencies in microseconds); the first error
 * text, if any, on stderr. Exit status 0 when every call succeeded.
 */
#define _GNU_SOURCE
#include <dbus/dbus.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_ARGS = 8 };
struct arg { int is_options; const char *text; };

static const char *dest, *path, *iface, *method, *expect_sig, *latency_file;
static struct arg args[MAX_ARGS];
static int arg_count, clients = 1, warmup = 0, timeout_ms = 25000;
static long total_calls = 1000;
static pthread_barrier_t start_line;
static pthread_mutex_t error_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_error[512];

struct client {
    pthread_t thread;
    long calls;
    double *latencies_us;
    long errors;
    struct timespec finished;
    DBusConnection *connection;
};

static double seconds_between(struct timespec a, struct timespec b) {
    return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

static void note_error(const char *name, const char *message) {
    pthread_mutex_lock(&error_lock);
    if (!first_error[0]) snprintf(first_error, sizeof first_error, "%s: %s", name, message ? message : "");
    pthread_mutex_unlock(&error_lock);
}

static int append_options(DBusMessageIter *iter, const char *spec) {
    DBusMessageIter dict;
    if (!dbus_message_iter_open_container(iter, DBUS_TYPE_ARRAY, "{sv}", &dict)) return 0;
    char *copy = strdup(spec), *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *equals = strchr(item, '='), *colon = equals ? strchr(equals, ':') : NULL;
        if (!equals || !colon || colon != equals + 2) { free(copy); return 0; }
        *equals = 0;
        const char *key = item, *value = colon + 1;
        char type = equals[1];
        char signature[2] = {type, 0};
        DBusMessageIter entry, variant;
        dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry);
        dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key);
        dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, signature, &variant);
        switch (type) {
        case 'b': { dbus_bool_t b = strcmp(value, "true") == 0; dbus_message_iter_append_basic(&variant, DBUS_TYPE_BOOLEAN, &b); break; }
        case 'u': { dbus_uint32_t u = (dbus_uint32_t)strtoul(value, NULL, 10); dbus_message_iter_append_basic(&variant, DBUS_TYPE_UINT32, &u); break; }
        case 'i': { dbus_int32_t i = (dbus_int32_t)strtol(value, NULL, 10); dbus_message_iter_append_basic(&variant, DBUS_TYPE_INT32, &i); break; }
        case 'x': { dbus_int64_t x = strtoll(value, NULL, 10); dbus_message_iter_append_basic(&variant, DBUS_TYPE_INT64, &x); break; }
        case 's': dbus_message_iter_append_basic(&variant, DBUS_TYPE_STRING, &value); break;
        default: free(copy); return 0;
        }
        dbus_message_iter_close_container(&entry, &variant);
        dbus_message_iter_close_container(&dict, &entry);
    }
    free(copy);
    return dbus_message_iter_close_container(iter, &dict);
}

/* A fresh message per call, as a real client makes one; a sent message keeps its serial. */
static DBusMessage *make_call(void) {
    DBusMessage *message = dbus_message_new_method_call(dest, path, iface, method);
    if (!message) return NULL;
    DBusMessageIter iter;
    dbus_message_iter_init_append(message, &iter);
    for (int i = 0; i < arg_count; i++) {
        int ok = args[i].is_options ? append_options(&iter, args[i].text)
                                    : (int)dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &args[i].text);
        if (!ok) { dbus_message_unref(message); return NULL; }
    }
    return message;
}

static int one_call(DBusConnection *connection) {
    DBusMessage *call = make_call();
    if (!call) { note_error("callbench", "cannot build the call (bad --arg-options?)"); return 0; }
    DBusError error;
    dbus_error_init(&error);
    DBusMessage *reply = dbus_connection_send_with_reply_and_block(connection, call, timeout_ms, &error);
    dbus_message_unref(call);
    if (!reply) {
        note_error(error.name, error.message);
        dbus_error_free(&error);
        return 0;
    }
    int ok = 1;
    if (expect_sig && strcmp(dbus_message_get_signature(reply), expect_sig) != 0) {
        char text[128];
        snprintf(text, sizeof text, "reply signature %s, expected %s", dbus_message_get_signature(reply), expect_sig);
        note_error("callbench", text);
        ok = 0;
    }
    dbus_message_unref(reply);
    return ok;
}

static void *run_client(void *opaque) {
    struct client *self = opaque;
    for (int i = 0; i < warmup; i++) one_call(self->connection);
    pthread_barrier_wait(&start_line);
    for (long i = 0; i < self->calls; i++) {
        struct timespec before, after;
        clock_gettime(CLOCK_MONOTONIC, &before);
        if (!one_call(self->connection)) self->errors++;
        clock_gettime(CLOCK_MONOTONIC, &after);
        self->latencies_us[i] = seconds_between(before, after) * 1e6;
    }
    clock_gettime(CLOCK_MONOTONIC, &self->finished);
    return NULL;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *sorted, long count, double p) {
    if (count == 0) return 0;
    long index = (long)(p * (double)(count - 1) + 0.5);
    return sorted[index];
}

static void usage(void) {
    fprintf(stderr, "usage: callbench --dest NAME --path PATH --iface IFACE --method MEMBER [--arg-string S]... "
                    "[--arg-options SPEC] [--expect-sig SIG] [--clients N] [--calls TOTAL] [--warmup N] "
                    "[--timeout-ms MS] [--latencies FILE]\n");
    exit(2);
}

int main(int argc, char **argv) {
    static const struct option options[] = {
        {"dest", required_argument, 0, 'd'},        {"path", required_argument, 0, 'p'},
        {"iface", required_argument, 0, 'i'},       {"method", required_argument, 0, 'm'},
        {"arg-string", required_argument, 0, 's'},  {"arg-options", required_argument, 0, 'o'},
        {"expect-sig", required_argument, 0, 'e'},  {"clients", required_argument, 0, 'c'},
        {"calls", required_argument, 0, 'n'},       {"warmup", required_argument, 0, 'w'},
        {"timeout-ms", required_argument, 0, 't'},  {"latencies", required_argument, 0, 'l'},
        {0, 0, 0, 0},
    };
    int option;
    while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (option) {
        case 'd': dest = optarg; break;
        case 'p': path = optarg; break;
        case 'i': iface = optarg; break;
        case 'm': method = optarg; break;
        case 's': case 'o':
            if (arg_count == MAX_ARGS) usage();
            args[arg_count++] = (struct arg){option == 'o', optarg};
            break;
        case 'e': expect_sig = optarg; break;
        case 'c': clients = atoi(optarg); break;
        case 'n': total_calls = atol(optarg); break;
        case 'w': warmup = atoi(optarg); break;
        case 't': timeout_ms = atoi(optarg); break;
        case 'l': latency_file = optarg; break;
        default: usage();
        }
    }
    if (!dest || !path || !iface || !method || clients < 1 || total_calls < clients) usage();

    struct client *all = calloc((size_t)clients, sizeof *all);
    double *latencies = calloc((size_t)total_calls, sizeof *latencies);
    long offset = 0;
    for (int c = 0; c < clients; c++) {
        all[c].calls = total_calls / clients + (c < total_calls % clients ? 1 : 0);
        all[c].latencies_us = latencies + offset;
        offset += all[c].calls;
        DBusError error;
        dbus_error_init(&error);
        all[c].connection = dbus_bus_get_private(DBUS_BUS_SESSION, &error);
        if (!all[c].connection) {
            fprintf(stderr, "callbench: cannot connect to the session bus: %s\n", error.message);
            return 1;
        }
        dbus_connection_set_exit_on_disconnect(all[c].connection, FALSE);
    }
    pthread_barrier_init(&start_line, NULL, (unsigned)clients + 1);
    for (int c = 0; c < clients; c++) pthread_create(&all[c].thread, NULL, run_client, &all[c]);
    pthread_barrier_wait(&start_line);
    struct timespec started;
    clock_gettime(CLOCK_MONOTONIC, &started);

    long errors = 0;
    double wall = 0;
    for (int c = 0; c < clients; c++) {
        pthread_join(all[c].thread, NULL);
        errors += all[c].errors;
        double took = seconds_between(started, all[c].finished);
        if (took > wall) wall = took;
        dbus_connection_close(all[c].connection);
        dbus_connection_unref(all[c].connection);
    }

    if (latency_file) {
        FILE *out = fopen(latency_file, "w");
        if (out) {
            for (long i = 0; i < total_calls; i++) fprintf(out, "%.1f\n", latencies[i]);
            fclose(out);
        }
    }
    qsort(latencies, (size_t)total_calls, sizeof *latencies, compare_doubles);
    printf("clients=%d calls=%ld errors=%ld wall_s=%.4f calls_per_s=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
           "max_us=%.1f\n",
           clients, total_calls, errors, wall, (double)total_calls / wall, percentile(latencies, total_calls, 0.50),
           percentile(latencies, total_calls, 0.90), percentile(latencies, total_calls, 0.99),
           latencies[total_calls - 1]);
    if (first_error[0]) fprintf(stderr, "callbench: first error: %s\n", first_error);
    return errors ? 1 : 0;
}
