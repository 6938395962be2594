#!/usr/bin/env bash
# A bounded stress run against the real service (issue 12; not part of `make test`): fuzzed
# D-Bus calls to every method and object (some carrying a Unix fd), the fault provider's answers
# through logins and refreshes, and SIGKILLs during rotating refreshes. Prints the counts —
# tried, crashes, hangs, leaked fds, lost logins, secrets in the log, and the SIGKILL window.
#
# Usage: scripts/stress.sh        TESSERA_STRESS_CALLS=N (default 2000), TESSERA_STRESS_KILLS=N (30)
# The work is the StressTests suite (Tests/TesseraAgentTests/StressTests.swift), which only runs
# with TESSERA_STRESS=1, inside a throw-away session like every test.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
SWIFT=${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}
scripts/deps.sh
"$SWIFT" build --build-tests
log=$(mktemp)
status=0
TESSERA_STRESS=1 scripts/session.sh -- "$SWIFT" test --skip-build --no-parallel --filter StressTests >"$log" 2>&1 || status=$?
grep -E '^stress: ' "$log" || true
grep -E '✘|Test run with' "$log" | cut -c1-300 || true
rm -f "$log"
exit "$status"
