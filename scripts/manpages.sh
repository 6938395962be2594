#!/usr/bin/env bash
# Writes tessera's man pages (tessera.1, tessera-token.1, …) into OUTDIR, generated from the
# binary's own argument parser with swift-argument-parser's generate-manual tool (built from the
# package's resolved checkout; no network needed once `swift build` has resolved it).
# Usage: scripts/manpages.sh PATH/TO/tessera OUTDIR
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tessera=$1 out=$2
swift=${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}
scratch=()
[[ -n "${TESSERA_SCRATCH_PATH:-}" ]] && scratch=(--scratch-path "$TESSERA_SCRATCH_PATH")

(cd "$here" && "$swift" build "${scratch[@]}" --product generate-manual >/dev/null)
tool="$(cd "$here" && "$swift" build "${scratch[@]}" --show-bin-path)/generate-manual"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A fixed date keeps the pages reproducible: the date of the last commit, else today.
date=$(git -C "$here" log -1 --format=%cs 2>/dev/null || date +%F)
"$tool" "$tessera" --multi-page --date "$date" --output-directory "$work"
rm -f "$work/tessera.help.1"
for page in "$work"/*.1; do
    name=$(basename "$page")
    # man(1) users type `man tessera-token`, as with git-commit(1).
    # Cross-references and titles use the same hyphenated names; the help page is not installed.
    perl -ne 'next if /^\.Xr tessera\.help /; s{^(\.(?:Xr|Dt) )(tessera[.\w]*)}{my ($m, $n) = ($1, $2); $n =~ tr/./-/; $m . $n}ei; print' \
        "$page" >"$out/${name//./-}"
done
for page in "$out"/*-1; do mv "$page" "${page%-1}.1"; done
