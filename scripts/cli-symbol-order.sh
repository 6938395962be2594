#!/usr/bin/env bash
# Writes the link order of the CLI's hottest functions (Sources/tessera/symbol-order.txt): every
# function a run of `tessera token NAME` and `tessera --version` executes, in first-use order, so
# the release link (`--symbol-ordering-file`) packs them into a few pages of the 30 MB static
# binary instead of ~80 scattered 64 KiB windows, each a page fault at every start.
#
# Run inside the bench's session, which holds an account `fast` with a cached token:
#     BENCH_EXPLORE=scripts/cli-symbol-order.sh bash bench/run.sh
# Needs valgrind. The file is committed; a stale one only costs start-up time (lld skips names
# it does not find), so regenerate it when the fast path changes much.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BIN:?run through BENCH_EXPLORE (BIN is the release bin directory)}
out="$root/Sources/tessera/symbol-order.txt"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# valgrind cannot read lld's DWARF; a copy without it traces the same code.
cp "$bin/tessera" "$work/tessera" && strip -g "$work/tessera"
trace() {
    valgrind --tool=callgrind --demangle=no --compress-strings=no --callgrind-out-file="$work/cg.$1" "$work/tessera" "${@:2}" \
        >/dev/null 2>&1 || true
}
trace token token fast
trace version --version
# Functions in the order callgrind first names them (roughly first use), each once.
for file in "$work/cg.token" "$work/cg.version"; do
    sed -n 's/^fn=\(([0-9]*) \)\{0,1\}//p' "$file"
done | awk '!seen[$0]++' | grep -v '^0x' >"$out"
echo "wrote $(wc -l <"$out") symbols to $out"
