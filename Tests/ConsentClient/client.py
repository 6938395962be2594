"""A desktop application's way to ask tesserad for tokens: GetToken through GLib's GDBus, with
`count` concurrent calls on one connection (one process, one caller). Prints one line per call,
`token <sha256 prefix>` or `error <D-Bus error name>: <message>`; never the token itself.

usage: client.py ACCOUNT [COUNT] [APPLICATION-HINT]
"""
import hashlib
import sys

from gi.repository import Gio, GLib

account = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 1
hint = sys.argv[3] if len(sys.argv) > 3 else None

bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
loop = GLib.MainLoop()
results = []
options = {"min-valid": GLib.Variant("u", 0)}
if hint:
    options["application"] = GLib.Variant("s", hint)


def done(connection, result, _):
    try:
        reply = connection.call_finish(result)
        token = reply.unpack()[0]
        results.append("token " + hashlib.sha256(token.encode()).hexdigest()[:12])
    except GLib.Error as error:
        name = Gio.DBusError.get_remote_error(error) or "?"
        Gio.DBusError.strip_remote_error(error)
        results.append("error %s: %s" % (name, error.message))
    if len(results) == count:
        loop.quit()


for _ in range(count):
    bus.call("io.tessera.Agent1", "/io/tessera/Agent1", "io.tessera.Agent1", "GetToken",
             GLib.Variant("(sa{sv})", (account, options)), GLib.VariantType("(sxa{sv})"),
             Gio.DBusCallFlags.NONE, 60000, None, done, None)
loop.run()
for line in results:
    print(line)
sys.exit(0 if all(line.startswith("token ") for line in results) else 1)
