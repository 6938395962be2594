/* Cached GetToken over the session bus: sequential blocking calls from one libdbus connection,
 * p50/p99 and calls/s. The token itself is never printed. Usage: gettoken-client ACCOUNT [CALLS] */
#include <dbus/dbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../common/clock.h"

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s ACCOUNT [CALLS]\n", argv[0]); return 2; }
    const char *account = argv[1];
    int calls = argc > 2 ? atoi(argv[2]) : 5000;
    DBusError error;
    dbus_error_init(&error);
    DBusConnection *connection = dbus_bus_get_private(DBUS_BUS_SESSION, &error);
    if (!connection) { fprintf(stderr, "connect: %s\n", error.message); return 1; }
    double *samples = calloc(calls, sizeof *samples), total = 0;
    for (int i = -200; i < calls; i++) {
        DBusMessage *call = dbus_message_new_method_call("io.tessera.Agent1", "/io/tessera/Agent1",
                                                         "io.tessera.Agent1", "GetToken");
        DBusMessageIter iter, options;
        dbus_message_iter_init_append(call, &iter);
        dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &account);
        dbus_message_iter_open_container(&iter, DBUS_TYPE_ARRAY, "{sv}", &options);
        dbus_message_iter_close_container(&iter, &options);
        double start = now_us();
        DBusMessage *reply = dbus_connection_send_with_reply_and_block(connection, call, 5000, &error);
        double elapsed = now_us() - start;
        if (!reply) { fprintf(stderr, "GetToken: %s: %s\n", error.name, error.message); return 1; }
        dbus_message_unref(reply);
        dbus_message_unref(call);
        if (i >= 0) { samples[i] = elapsed; total += elapsed; }
    }
    qsort(samples, calls, sizeof *samples, compare_doubles);
    printf("cached GetToken: n=%d p50=%.1f us p99=%.1f us calls/s=%.0f\n", calls, samples[calls / 2],
           samples[calls * 99 / 100], calls / (total / 1e6));
    dbus_connection_close(connection);
    dbus_connection_unref(connection);
    free(samples);
    return 0;
}
