#!/usr/bin/env bash
# Cached GetToken latency of one or more tesserad binaries, measured in the same throw-away session
# against the local provider: each binary in turn owns io.tessera.Agent1, logs one account in
# (device flow, approved through the provider's test endpoint), then a plain libdbus client makes
# CALLS sequential GetToken calls that all hit the cache. Rounds alternate the binaries so load
# from other processes hits each alike.
# Usage: bench/gettoken/run.sh [--calls N] [--rounds R] TESSERAD...   (needs scripts/deps.sh's .venv)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
calls=5000 rounds=3
while [[ $# -gt 0 ]]; do
    case $1 in
        --calls) calls=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --inner) shift; break ;;
        *) break ;;
    esac
done
(($#)) || { echo "usage: $0 [--calls N] [--rounds R] TESSERAD..." >&2; exit 2; }

if [[ ${TESSERA_BENCH_INNER:-} != 1 ]]; then
    out=$(mktemp -d "${TMPDIR:-/tmp}/gettoken-bench.XXXXXX")
    trap 'rm -rf "$out"' EXIT
    gcc -O2 -o "$out/gettoken-client" "$here/gettoken-client.c" $(pkg-config --cflags --libs dbus-1)
    binaries=()
    for binary in "$@"; do binaries+=("$(readlink -f "$binary")"); done
    exec env TESSERA_BENCH_INNER=1 BENCH_OUT="$out" "$root/scripts/session.sh" --no-notifications -- \
        "$here/run.sh" --calls "$calls" --rounds "$rounds" "${binaries[@]}"
fi

python="$root/.venv/bin/python"
work=$(mktemp -d "${TMPDIR:-/tmp}/gettoken-run.XXXXXX")
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
"$python" "$root/Tests/Provider/serve.py" --prepare "$work/template.sqlite3" >/dev/null
cp "$work/template.sqlite3" "$work/provider.sqlite3"
"$python" "$root/Tests/Provider/serve.py" --db "$work/provider.sqlite3" >"$work/provider.out" 2>"$work/provider.log" &
pids+=($!)
for _ in $(seq 200); do grep -q '^issuer=' "$work/provider.out" && break; sleep 0.05; done
issuer=$(sed -n 's/^issuer=//p' "$work/provider.out")

call() { gdbus call --session --dest io.tessera.Agent1 --object-path /io/tessera/Agent1 --method "io.tessera.Agent1.$1" "${@:2}"; }

for round in $(seq "$rounds"); do
    index=0
    for binary in "$@"; do
        index=$((index + 1))
        export XDG_CONFIG_HOME="$work/config-$round-$index"
        "$binary" --log-level warning 2>"$work/tesserad-$round-$index.log" &
        agent=$!
        for _ in $(seq 200); do
            gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
                --method org.freedesktop.DBus.NameHasOwner io.tessera.Agent1 | grep -q true && break
            sleep 0.02
        done
        call AddAccount bench "{'issuer': <'$issuer'>, 'client-id': <'tessera-device-public'>}" >/dev/null
        flow=$(call StartDeviceFlow bench "{'notify': <false>}")
        code=$(sed -n "s/.*'user-code': <'\([^']*\)'>.*/\1/p" <<<"$flow")
        path=$(sed -n "s/.*objectpath '\([^']*\)'.*/\1/p" <<<"$flow")
        "$python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10).read()' \
            "$issuer/test/device/$code/approve?user=alice"
        for _ in $(seq 200); do
            busctl --address="$DBUS_SESSION_BUS_ADDRESS" get-property io.tessera.Agent1 "$path" io.tessera.DeviceFlow1 State 2>/dev/null \
                | grep -q completed && break
            sleep 0.05
        done
        printf '%-60s round %d: ' "$binary" "$round"
        "$BENCH_OUT/gettoken-client" bench "$calls"
        kill "$agent"; wait "$agent" 2>/dev/null || true
    done
done
