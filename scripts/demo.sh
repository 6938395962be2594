#!/usr/bin/env bash
# `make demo`: a narrated walk through Tessera in a throw-away desktop session (private bus,
# gnome-keyring, dunst on Xvfb) with the local OpenID provider: account add → login (the
# notification is screenshotted) → approval as the demo user → token → status → revoke.
# Nothing of the user's session is touched, and every process started here is stopped at the end.
#
# Environment: TESSERA_BIN_DIR (release binaries; default `swift build -c release --show-bin-path`),
#              TESSERA_DEMO_SCREENSHOT (default .demo/demo-login.png; the README shows a copy kept in desktop/).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

# Re-run inside a throw-away session; session.sh stops everything it started when we return.
if [[ -z "${TESSERA_SESSION_ROOT:-}" ]]; then
    exec "$here/scripts/session.sh" -- "$0" "$@"
fi

swift=${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}
bin=${TESSERA_BIN_DIR:-$(cd "$here" && "$swift" build -c release --show-bin-path)}
export PATH="$bin:$PATH"
root=$TESSERA_SESSION_ROOT
screenshot=${TESSERA_DEMO_SCREENSHOT:-$here/.demo/demo-login.png}
python=$here/.venv/bin/python

pids=()
cleanup() {
    local status=$?
    for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if ((status != 0)); then
        echo "demo: failed (exit $status); the last lines of the logs follow" >&2
        for log in "$root/tesserad.log" "$root/provider.log"; do
            [[ -s "$log" ]] && { echo "--- $log" >&2; tail -n 15 "$log" >&2; }
        done
    fi
    exit "$status"
}
trap cleanup EXIT

bold=$'\e[1m' dim=$'\e[2m' plain=$'\e[0m'
[[ -t 1 ]] || bold='' dim='' plain=''
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
note() { printf '%s%s%s\n' "$dim" "$*" "$plain"; }
run() { printf '%s$ %s%s\n' "$bold" "$*" "$plain"; "$@"; }
run_shell() { printf '%s$ %s%s\n' "$bold" "$1" "$plain"; sh -c "$1"; }
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local seconds=$1 what=$2; shift 2
    for _ in $(seq $((seconds * 20))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
    echo "demo: timed out waiting for $what" >&2
    return 1
}

say "Starting the local OpenID provider (django-oauth-toolkit on 127.0.0.1)"
[[ -x "$python" ]] || { echo "demo: no provider venv at $here/.venv; run scripts/deps.sh" >&2; exit 1; }
"$python" "$here/Tests/Provider/serve.py" --prepare "$root/provider-template.sqlite3"
cp "$root/provider-template.sqlite3" "$root/provider.sqlite3"
"$python" "$here/Tests/Provider/serve.py" --db "$root/provider.sqlite3" >"$root/provider.out" 2>"$root/provider.log" &
pids+=($!)
wait_for 20 "the provider" grep -q '^issuer=' "$root/provider.out"
issuer=$(sed -n 's/^issuer=//p' "$root/provider.out")
note "issuer: $issuer (users alice/bob, public device-flow client tessera-device-public)"

say "Starting tesserad on the session bus"
tesserad >"$root/tesserad.log" 2>&1 &
pids+=($!)
wait_for 10 "tesserad to own io.tessera.Agent1" \
    gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.GetNameOwner io.tessera.Agent1
note "$(tesserad --version) owns io.tessera.Agent1"

say "1. Add an account for the provider"
run tessera account add demo --issuer "$issuer" --client-id tessera-device-public -s openid -s offline_access

say "2. Log in with the device flow"
note "tessera prints the code and a QR code; tesserad shows the same code in a desktop notification."
# `script` gives the login a pseudo-terminal (so it draws the QR code) and keeps a copy of its output.
dunstctl close-all 2>/dev/null || true
script -qfec "tessera login demo" "$root/login.typescript" &
login=$!
pids+=("$login")
wait_for 20 "the user code" grep -q 'enter the code: ' "$root/login.typescript"
code=$(sed -n 's/.*enter the code: \([A-Za-z0-9-]*\).*/\1/p' "$root/login.typescript" | head -1)
wait_for 10 "the notification" sh -c '[ "$(dunstctl count displayed)" -ge 1 ]'
sleep 0.3   # let dunst draw it before the screenshot
mkdir -p "$(dirname "$screenshot")"
import -window root "$screenshot"
# Keep the notification and a margin, not the whole empty screen.
convert "$screenshot" -trim +repage -bordercolor black -border 16 "$screenshot"
note "Screenshot of the notification: $screenshot"

say "3. Approving code $code as the demo user alice"
note "(A person would open the URI in a browser, sign in and approve; the local provider has a test endpoint.)"
"$python" - "$issuer/test/device/$code/approve?user=alice" <<'PY'
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=10).read()
PY
wait "$login"

say "4. Get an access token (the refresh token stays in the keyring)"
run_shell 'tessera token demo | cut -c1-24'
note "(cut to 24 characters here; the whole token is one line)"
run_shell 'eval "$(tessera token demo --env)"; echo "issuer $OIDC_ISS, expires $(date -d @"$OIDC_EXP")"'
run tessera token demo --bearer-file

say "5. Status: service, accounts, login state, cached token expiry (never the tokens)"
run tessera status

say "6. Revoke the login at the provider"
run tessera revoke demo
note "Now a token needs a new login:"
status=0
run tessera token demo || status=$?
note "(exit status $status: login required)"

say "Done. Stopping tesserad and the provider; the throw-away session goes with them."
