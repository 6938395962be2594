#!/usr/bin/env bash
# Round-trip latency and throughput of an Echo method over a session bus, through the same
# dbus-daemon: a plain C libdbus client/server pair (the floor), the C client calling the Swift
# DBus module's service (C → Swift), and Swift → Swift (the module on both sides). The C client
# also runs with CLIENTS concurrent connections against both services. Runs inside
# scripts/session.sh (its own bus).
# Usage: bench/dbus-roundtrip/run.sh [CALLS] [CLIENTS...]   (default 20000, clients 4 16 64; release build)
# BENCH_BIN=path runs an already built dbus-echo-bench instead (to compare two builds).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
calls=${1:-20000}
shift || true
clients=${*:-4 16 64}
scratch=${SCRATCH:-$root/.build}
out=$(mktemp -d "${TMPDIR:-/tmp}/dbus-bench.XXXXXX")
trap 'rm -rf "$out"' EXIT

cflags=$(pkg-config --cflags --libs dbus-1)
gcc -O2 -pthread -o "$out/echo-server" "$here/echo-server.c" $cflags
gcc -O2 -pthread -o "$out/echo-client" "$here/echo-client.c" $cflags
if [[ -n "${BENCH_BIN:-}" ]]; then
    bench=$BENCH_BIN
else
    swift build -c release --scratch-path "$scratch" --product dbus-echo-bench >/dev/null
    bench=$(swift build -c release --scratch-path "$scratch" --show-bin-path)/dbus-echo-bench
fi

"$root/scripts/session.sh" --no-keyring --no-notifications -- bash -c "
    set -euo pipefail
    await_name() {
        for _ in \$(seq 250); do
            dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
                org.freedesktop.DBus.GetNameOwner string:\$1 >/dev/null 2>&1 && return 0
            sleep 0.02
        done
        echo \"bench: \$1 did not appear on the bus\" >&2
        return 1
    }
    '$out/echo-server' io.tessera.Bench.C & cserver=\$!
    '$bench' --serve io.tessera.Bench.Swift & sserver=\$!
    trap 'kill \$cserver \$sserver 2>/dev/null || true' EXIT
    await_name io.tessera.Bench.C
    await_name io.tessera.Bench.Swift
    services='io.tessera.Bench.C=c->c io.tessera.Bench.Swift=c->swift'
    '$out/echo-client' $calls 1 \$services
    '$bench' --calls $calls
    for n in $clients; do '$out/echo-client' $calls \$n \$services; done
"
