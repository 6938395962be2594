/* Plain libdbus client: sequential blocking Echo calls, p50/p99 and calls/s. */
#include <dbus/dbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}
static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "io.tessera.Bench.C";
    int calls = argc > 2 ? atoi(argv[2]) : 20000;
    DBusError error;
    dbus_error_init(&error);
    DBusConnection *connection = dbus_bus_get_private(DBUS_BUS_SESSION, &error);
    if (!connection) { fprintf(stderr, "connect: %s\n", error.message); return 1; }
    double *samples = calloc(calls, sizeof *samples), total = 0;
    for (int i = -1000; i < calls; i++) {
        const char *text = "hello";
        DBusMessage *call = dbus_message_new_method_call(name, "/io/tessera/Bench1", "io.tessera.Bench1", "Echo");
        DBusMessageIter iter;
        dbus_message_iter_init_append(call, &iter);
        dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &text);
        double start = now_us();
        DBusMessage *reply = dbus_connection_send_with_reply_and_block(connection, call, 5000, &error);
        double elapsed = now_us() - start;
        if (!reply) { fprintf(stderr, "call: %s\n", error.message); return 1; }
        dbus_message_unref(reply);
        dbus_message_unref(call);
        if (i >= 0) { samples[i] = elapsed; total += elapsed; }
    }
    qsort(samples, calls, sizeof *samples, cmp);
    printf("c->c sequential: n=%d p50=%.1f us p99=%.1f us calls/s=%.0f\n", calls, samples[calls / 2],
           samples[calls * 99 / 100], calls / (total / 1e6));
    dbus_connection_close(connection);
    dbus_connection_unref(connection);
    free(samples);
    return 0;
}
