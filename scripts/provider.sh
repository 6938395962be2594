#!/usr/bin/env bash
# Runs Tessera's test OpenID provider (django-oauth-toolkit 3.4.1, Tests/Provider) in the
# foreground for the demo and manual use, on 127.0.0.1. Prints the issuer URL and the seeded
# users and clients, then serves until Ctrl-C. The database lives in a temp dir removed on exit.
#
# Usage: scripts/provider.sh [--port N]
# Lifetimes from the environment, e.g.:
#   DEVICE_FLOW_INTERVAL=1 ACCESS_TOKEN_EXPIRE_SECONDS=60 scripts/provider.sh --port 9000
# Headless device approval (loopback only): curl ISSUER/test/device/USER_CODE/approve  (or deny, expire)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
python="$here/.venv/bin/python"
[[ -x "$python" ]] || "$here/scripts/deps.sh"

port=0
while (($#)); do
    case "$1" in
        --port) port="$2"; shift ;;
        *) echo "usage: $0 [--port N]" >&2; exit 2 ;;
    esac
    shift
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/tessera-provider.XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$python" "$here/Tests/Provider/serve.py" --prepare "$dir/provider.sqlite3" >/dev/null
: "${DEVICE_FLOW_INTERVAL:=2}"
export DEVICE_FLOW_INTERVAL
"$python" -u "$here/Tests/Provider/serve.py" --db "$dir/provider.sqlite3" --port "$port"
