#!/usr/bin/env bash
# libFuzzer over every parser of untrusted input (`make fuzz`; not part of `make test`).
#
# How it is built, and why this way: SwiftPM has no fuzz-target kind, and a harness's
# LLVMFuzzerTestOneInput must live in a binary whose `main` is libFuzzer's. So SwiftPM builds the
# library targets once, instrumented (`--sanitize fuzzer --sanitize address`, into its own
# scratch path .build/fuzz so the normal build is untouched), and each harness in fuzz/harnesses
# is one `swiftc -parse-as-library -sanitize=fuzzer,address` call that imports those modules
# (debug, so `@testable import` reaches internal parsers) and links their object files. Nothing
# is copied from Sources: a harness always tests the code as it is.
#
# Usage: scripts/fuzz.sh [HARNESS...]         default: every harness in fuzz/harnesses
#   FUZZ_SECONDS=N   time per harness (default 90; 7 harnesses ≥ 10 minutes in total)
#   FUZZ_JOBS=N      fuzzing processes per harness (default 1)
# Corpora grow in .build/fuzz/corpus/<harness> (seeded from fuzz/seeds/<harness>); a crash
# leaves its input in fuzz/crashes/<harness>-crash-*, to be turned into a regression test.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
SWIFT=${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}
SWIFTC=${SWIFTC:-$(dirname "$SWIFT")/swiftc}
seconds=${FUZZ_SECONDS:-90}
jobs=${FUZZ_JOBS:-1}
scratch=.build/fuzz

echo "fuzz: building the libraries with -sanitize=fuzzer,address ($scratch)"
for target in TesseraAgent OIDCAgentProtocol; do
    "$SWIFT" build --scratch-path "$scratch" --target "$target" --sanitize fuzzer --sanitize address -q
done
bin=$("$SWIFT" build --scratch-path "$scratch" --show-bin-path)

# The C modules the Swift ones import: the system libraries' module maps and pkg-config include
# paths (as SwiftPM passes them), and CHardening's generated map.
cflags=()
# System libraries as Package.swift declares them: `.systemLibrary(name: "X", pkgConfig: "y"`.
packages=()
while read -r name package; do
    cflags+=(-Xcc "-fmodule-map-file=$here/Sources/$name/module.modulemap")
    packages+=("$package")
done < <(sed -n 's/.*\.systemLibrary(name: "\([^"]*\)", pkgConfig: "\([^"]*\)".*/\1 \2/p' Package.swift)
# C targets (CHardening, CLinuxShims, …): SwiftPM generates their module maps next to their objects.
c_objects=()
for map in "$bin"/*.build/module.modulemap; do
    target=$(basename "$(dirname "$map")" .build)
    [[ -d Sources/$target/include ]] || continue
    built=0
    for object in "$(dirname "$map")"/*.c.o; do [[ -f $object ]] && c_objects+=("$object") && built=1; done
    ((built)) || continue  # a C target the fuzzed libraries do not use
    cflags+=(-Xcc "-fmodule-map-file=$map" -Xcc "-I$here/Sources/$target/include")
done
for flag in $(pkg-config --cflags-only-I "${packages[@]}"); do cflags+=(-Xcc "$flag"); done

# The objects of the sources each target has now (its output-file-map), not every .o in its build
# directory: files moved or deleted since an earlier build leave stale objects behind.
objects=("${c_objects[@]}")
for target in Logging Posix DBus Keyring OIDC OIDCAgentProtocol TesseraNames TesseraAPI TesseraCore QRCode TesseraAgent; do
    [[ -f $bin/$target.build/output-file-map.json ]] || continue
    while IFS= read -r object; do objects+=("$object"); done < <(python3 -c '
import json, sys
for source, outputs in json.load(open(sys.argv[1])).items():
    if source.endswith(".swift") and "object" in outputs:
        print(outputs["object"])' "$bin/$target.build/output-file-map.json")
done

harnesses=("$@")
if ((${#harnesses[@]} == 0)); then
    for file in fuzz/harnesses/*.swift; do harnesses+=("$(basename "$file" .swift)"); done
fi

mkdir -p fuzz/crashes
total_runs=0 total_crashes=0 total_seconds=0
report=()
for name in "${harnesses[@]}"; do
    exe="$scratch/harness-$name"
    echo "fuzz: linking $name"
    "$SWIFTC" -parse-as-library -swift-version 6 -sanitize=fuzzer,address -use-ld=lld -g -module-name "Fuzz_${name//-/_}" \
        -I "$bin/Modules" "${cflags[@]}" fuzz/Support.swift "fuzz/harnesses/$name.swift" "${objects[@]}" \
        $(pkg-config --libs "${packages[@]}") -o "$exe"
    corpus="$scratch/corpus/$name"
    mkdir -p "$corpus"
    seeds=()
    [[ -d fuzz/seeds/$name ]] && seeds=("fuzz/seeds/$name")
    log="$scratch/$name.log"
    echo "fuzz: running $name for ${seconds}s"
    start=$(date +%s)
    status=0
    # -rss_limit_mb: Foundation plus ASan is heavy; a real leak still shows as growth past it.
    # SWIFT_BACKTRACE off: Swift's crash handler and ASan's fight over the dying process.
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$exe" "$corpus" "${seeds[@]}" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=8192 -print_final_stats=1 \
        $( ((jobs > 1)) && echo "-jobs=$jobs -workers=$jobs" ) -artifact_prefix="fuzz/crashes/$name-" >"$log" 2>&1 || status=$?
    elapsed=$(( $(date +%s) - start ))
    runs=$( (cat "$log" fuzz-*.log 2>/dev/null || true) | awk '/stat::number_of_executed_units/ {s+=$2} END {print s+0}')
    crashes=$( (cat "$log" fuzz-*.log 2>/dev/null || true) | grep -c -E 'Test unit written to' || true)
    rm -f fuzz-*.log  # libFuzzer's per-job logs (with FUZZ_JOBS > 1) land in the working directory
    ((status == 0)) || ((crashes > 0)) || crashes=1
    total_runs=$((total_runs + runs)); total_crashes=$((total_crashes + crashes)); total_seconds=$((total_seconds + elapsed))
    report+=("$(printf '%-12s %6ss %10s runs %4s crashes  corpus %s' "$name" "$elapsed" "$runs" "$crashes" "$(ls "$corpus" | wc -l)")")
    if ((crashes > 0)); then
        echo "fuzz: $name CRASHED — see $log and fuzz/crashes/$name-*"
        grep -m5 -E 'ERROR|Fatal error|SUMMARY' "$log" || true
    fi
done

echo
echo "fuzz results"
printf '%s\n' "${report[@]}"
printf 'total        %6ss %10s runs %4s crashes\n' "$total_seconds" "$total_runs" "$total_crashes"
((total_crashes == 0))
