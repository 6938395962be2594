/* Plain libdbus Echo service, replying inline from its message handler (the C baseline). */
#include <dbus/dbus.h>
#include <stdio.h>
#include <string.h>

static DBusHandlerResult handle(DBusConnection *connection, DBusMessage *message, void *data) {
    (void)data;
    if (!dbus_message_is_method_call(message, "io.tessera.Bench1", "Echo"))
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
    DBusMessageIter in, out;
    const char *text = "";
    if (dbus_message_iter_init(message, &in) && dbus_message_iter_get_arg_type(&in) == DBUS_TYPE_STRING)
        dbus_message_iter_get_basic(&in, &text);
    DBusMessage *reply = dbus_message_new_method_return(message);
    dbus_message_iter_init_append(reply, &out);
    dbus_message_iter_append_basic(&out, DBUS_TYPE_STRING, &text);
    dbus_connection_send(connection, reply, NULL);
    dbus_message_unref(reply);
    return DBUS_HANDLER_RESULT_HANDLED;
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "io.tessera.Bench.C";
    DBusError error;
    dbus_error_init(&error);
    DBusConnection *connection = dbus_bus_get_private(DBUS_BUS_SESSION, &error);
    if (!connection) { fprintf(stderr, "connect: %s\n", error.message); return 1; }
    DBusObjectPathVTable vtable = { .message_function = handle };
    dbus_connection_register_object_path(connection, "/io/tessera/Bench1", &vtable, NULL);
    if (dbus_bus_request_name(connection, name, DBUS_NAME_FLAG_DO_NOT_QUEUE, &error) != 1) {
        fprintf(stderr, "name: %s\n", error.message ? error.message : "taken");
        return 1;
    }
    while (dbus_connection_read_write_dispatch(connection, -1)) {}
    return 0;
}
