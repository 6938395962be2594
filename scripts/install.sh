#!/usr/bin/env bash
# Installs the release binaries and the session files under PREFIX (default ~/.local), replacing
# @bindir@ in the activation file and the systemd unit with the real path.
# Usage: scripts/install.sh PREFIX   |   scripts/install.sh --uninstall PREFIX
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

uninstall=0
if [[ "${1:-}" == "--uninstall" ]]; then uninstall=1; shift; fi
prefix=${1:?usage: $0 [--uninstall] PREFIX}
bindir="$prefix/bin"
files=(
    "$bindir/tesserad" "$bindir/tessera"
    "$prefix/share/dbus-1/services/io.tessera.Agent1.service"
    "$prefix/share/dbus-1/interfaces/io.tessera.Agent1.xml"
    "$prefix/share/systemd/user/tesserad.service"
    "$prefix/share/applications/tessera.desktop"
)

if ((uninstall)); then
    rm -f "${files[@]}"
    echo "install: removed Tessera from $prefix"
    exit 0
fi

release="$here/.build/release"
for tool in tesserad tessera; do
    [[ -x "$release/$tool" ]] || { echo "install: $release/$tool is missing; run \`make release\` first" >&2; exit 1; }
done
install -d "$bindir" "$prefix/share/dbus-1/services" "$prefix/share/dbus-1/interfaces" \
    "$prefix/share/systemd/user" "$prefix/share/applications"
install -m 0755 "$release/tesserad" "$release/tessera" "$bindir/"
sed "s|@bindir@|$bindir|g" "$here/dbus/io.tessera.Agent1.service" >"$prefix/share/dbus-1/services/io.tessera.Agent1.service"
sed "s|@bindir@|$bindir|g" "$here/desktop/tesserad.service" >"$prefix/share/systemd/user/tesserad.service"
install -m 0644 "$here/dbus/io.tessera.Agent1.xml" "$prefix/share/dbus-1/interfaces/"
install -m 0644 "$here/desktop/tessera.desktop" "$prefix/share/applications/"
echo "install: Tessera installed under $prefix (the session bus starts tesserad on first use)"
