#!/usr/bin/env bash
# 10 000 Swift → Swift D-Bus calls (then 10 000 more with 16 in flight) through the DBus module,
# inside a throw-away session bus, checked for leaks; fails on any definite leak.
#
# Default: LeakSanitizer (an AddressSanitizer build of the bench). valgrind 3.19 (Debian 12) dies
# with an internal SIGSEGV inside Swift 6.3's libdispatch before reaching our code, so it is only
# used with LEAKCHECK=valgrind (e.g. on a newer valgrind).
# Usage: scripts/leakcheck.sh [CALLS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
calls=${1:-10000}
scratch=${SCRATCH:-$root/.build}
tool=${LEAKCHECK:-lsan}

if [[ "$tool" == valgrind ]]; then
    command -v valgrind >/dev/null || { echo "leakcheck: valgrind is not installed" >&2; exit 1; }
    swift build -c release --scratch-path "$scratch" --product dbus-echo-bench >/dev/null
    bench=$(swift build -c release --scratch-path "$scratch" --show-bin-path)/dbus-echo-bench
    exec "$root/scripts/session.sh" --no-keyring --no-notifications -- \
        valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=3 \
        "$bench" --calls "$calls" --concurrency 16
fi

scratch="$scratch-asan"
swift build --sanitize=address --scratch-path "$scratch" --product dbus-echo-bench >/dev/null
bench=$(swift build --sanitize=address --scratch-path "$scratch" --show-bin-path)/dbus-echo-bench
ASAN_OPTIONS=detect_leaks=1:exitcode=3 LSAN_OPTIONS=report_objects=0 \
    "$root/scripts/session.sh" --no-keyring --no-notifications -- "$bench" --calls "$calls" --concurrency 16
echo "leakcheck: $((calls * 2)) calls, no leaks reported by LeakSanitizer"
