#!/usr/bin/env bash
# Writes Sources/tesserad/hot-functions.order and Sources/tessera/hot-functions.order: the
# functions each binary runs, in the order the release link lays them out (Package.swift passes
# the lists to lld as --symbol-ordering-file). The kernel maps the 64 KiB around each page of code a
# process touches; with these functions scattered through 11 MB of code (the Swift runtime and
# FoundationEssentials are linked statically) most of it ended up resident, and every start of
# the CLI faulted in ~80 such windows.
# - tesserad: first what it runs from exec to its first reply, then what it runs serving: cached
#   and refreshed GetToken calls from the bus and from `tessera token`, password logins.
# - tessera: what `tessera token NAME` and `tessera --version` run (the commands scripts repeat).
#
# Run it inside the bench's set-up session (accounts logged in, release binaries built):
#   make release && BENCH_EXPLORE=bench/order-functions.sh bash bench/run.sh
# then relink with the new lists (SwiftPM does not track the files):
#   rm .build/release/tesserad .build/release/tessera && make release
# Regenerate after large changes to tesserad; a stale list only lays out less well (lld skips
# names that no longer exist), it never changes what runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
: "${BIN:?run through BENCH_EXPLORE (see the header)}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Lists a binary's functions from callgrind profiles (in order; each once): ARGS = PROFILE... BINARY.
cat >"$work/order.py" <<'EOF'
import re, sys

def functions(path, binary):
    """Functions of `binary` a callgrind profile saw run, callers and callees, first seen first."""
    seen, current_object, callee_object = {}, None, None
    for line in open(path, errors="replace"):
        key, _, value = line.rstrip("\n").partition("=")
        if key == "ob":
            current_object, callee_object = value, None
        elif key == "cob":
            callee_object = value
        elif key in ("fn", "cfn"):
            owner = callee_object if key == "cfn" and callee_object is not None else current_object
            name = re.sub(r"'\d+$", "", value)  # callgrind's recursion-depth suffix
            if owner == binary and not name.startswith("0x") and " " not in name and "(" not in name:
                seen.setdefault(name, None)
        elif key == "calls":
            callee_object = None
    return list(seen)

binary = sys.argv[-1]
ordered = []
for profile in sys.argv[1:-1]:
    ordered += [name for name in functions(profile, binary) if name not in set(ordered)]
print(f"{len(ordered)} functions of {binary.rsplit('/', 1)[-1]}", file=sys.stderr)
print("\n".join(ordered))
EOF

# The CLI first, against the bench's own tesserad (valgrind 3.19 cannot read Swift 6's DWARF 5:
# copies without debug information; the symbol table stays).
strip --strip-debug -o "$work/tessera" "$BIN/tessera"
valgrind --tool=callgrind --callgrind-out-file="$work/cli-token" --demangle=no --compress-strings=no --compress-pos=no \
    "$work/tessera" token fast >/dev/null 2>&1
valgrind --tool=callgrind --callgrind-out-file="$work/cli-version" --demangle=no --compress-strings=no --compress-pos=no \
    "$work/tessera" --version >/dev/null 2>&1
python3 "$work/order.py" "$work/cli-token" "$work/cli-version" "$work/tessera" >"$root/Sources/tessera/hot-functions.order"
# What valgrind cannot show: its CPU has no AVX-512, so glibc's ifunc resolvers (run by every
# start) picked other string functions there than on this machine. Both go first too.
nm "$BIN/tessera" | awk '{print $3}' |
    grep -E '_ifunc$|^_start$|^__(mem|str|stp|wmem|raw)[a-z_]*(evex|avx|erms)' >>"$root/Sources/tessera/hot-functions.order"


bus_pid_of() {
    dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.GetConnectionUnixProcessID "string:$1" 2>/dev/null | awk '/uint32/ {print $2}'
}
get_token=(--dest io.tessera.Agent1 --path /io/tessera/Agent1 --iface io.tessera.Agent1 --method GetToken
    --expect-sig 'sxa{sv}' --arg-string fast --arg-options "")

# The bench's tesserad makes way for one under callgrind (a copy without debug information too).
running=$(bus_pid_of io.tessera.Agent1)
if [[ -n "$running" ]]; then kill "$running"; sleep 1; fi
strip --strip-debug -o "$work/tesserad" "$BIN/tesserad"
valgrind --tool=callgrind --callgrind-out-file="$work/profile" --demangle=no --compress-strings=no \
    --compress-pos=no "$work/tesserad" >"$work/tesserad.log" 2>&1 &
profiled=$!
for _ in $(seq 600); do [[ -n "$(bus_pid_of io.tessera.Agent1)" ]] && break; sleep 0.1; done
[[ -n "$(bus_pid_of io.tessera.Agent1)" ]] || { cat "$work/tesserad.log" >&2; exit 1; }
dbus-send --session --print-reply --dest=io.tessera.Agent1 /io/tessera/Agent1 org.freedesktop.DBus.Peer.Ping >/dev/null
sleep 1
callgrind_control --dump "$profiled" >/dev/null 2>&1  # profile.1: start to first reply
sleep 1
"$root/bench/out/callbench" "${get_token[@]}" --calls 300 >/dev/null
"$root/bench/out/callbench" "${get_token[@]}" --clients 4 --calls 400 >/dev/null
for _ in 1 2; do
    printf '%s\n' alice-password | "$BIN/tessera" login pw --password --username alice >/dev/null 2>&1
done
"$BIN/tessera" token fast >/dev/null
"$BIN/tessera" token slow >/dev/null
sleep 1
kill "$profiled"
wait "$profiled" || true   # profile: everything after

python3 "$work/order.py" "$work/profile.1" "$work/profile" "$work/tesserad" >"$root/Sources/tesserad/hot-functions.order"
echo "wrote Sources/tesserad/hot-functions.order and Sources/tessera/hot-functions.order;" \
    "relink: rm .build/release/tesserad .build/release/tessera && make release" >&2
