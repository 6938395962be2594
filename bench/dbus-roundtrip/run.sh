#!/usr/bin/env bash
# Round-trip latency of an Echo method over a session bus: Swift → Swift (the DBus module on both
# sides) next to a plain C libdbus client/server pair. Runs inside scripts/session.sh (its own bus).
# Usage: bench/dbus-roundtrip/run.sh [CALLS]    (default 20000; release build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
calls=${1:-20000}
scratch=${SCRATCH:-$root/.build}
out=$(mktemp -d "${TMPDIR:-/tmp}/dbus-bench.XXXXXX")
trap 'rm -rf "$out"' EXIT

cflags=$(pkg-config --cflags --libs dbus-1)
gcc -O2 -o "$out/echo-server" "$here/echo-server.c" $cflags
gcc -O2 -o "$out/echo-client" "$here/echo-client.c" $cflags
swift build -c release --scratch-path "$scratch" --product dbus-echo-bench >/dev/null
bench=$(swift build -c release --scratch-path "$scratch" --show-bin-path)/dbus-echo-bench

"$root/scripts/session.sh" --no-keyring --no-notifications -- bash -c "
    set -euo pipefail
    '$out/echo-server' io.tessera.Bench.C & server=\$!
    trap 'kill \$server 2>/dev/null || true' EXIT
    for _ in \$(seq 100); do
        dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
            org.freedesktop.DBus.GetNameOwner string:io.tessera.Bench.C >/dev/null 2>&1 && break
        sleep 0.02
    done
    '$out/echo-client' io.tessera.Bench.C $calls
    '$bench' --calls $calls
"
