#!/usr/bin/env bash
# Installs Tessera under a prefix, or removes what an earlier run installed.
#
# Usage: scripts/install.sh [PREFIX]                 (default: $HOME/.local)
#        scripts/install.sh --uninstall [PREFIX]
# Environment: TESSERA_BIN_DIR  where the release binaries are (default: `swift build -c release
#              --show-bin-path`); SWIFT (the toolchain's swift); DESTDIR (staging root for packagers);
#              TESSERA_NO_MANPAGES=1 (skip the man pages).
#
# Installs: bin/tessera, bin/tesserad; the D-Bus activation file (Exec = the installed tesserad) in
# share/dbus-1/services; the introspection XML in share/dbus-1/interfaces; the systemd user unit
# (share/systemd/user, where systemd looks for a prefix in XDG_DATA_HOME or XDG_DATA_DIRS);
# share/applications/tessera.desktop; bash, zsh and fish completions; the man pages. Every file
# written is listed in share/tessera/installed-files, which --uninstall reads.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

uninstall=0
if [[ "${1:-}" == "--uninstall" ]]; then uninstall=1; shift; fi
prefix=${1:-$HOME/.local}
[[ "$prefix" == /* ]] || prefix="$(pwd)/$prefix"
prefix=${prefix%/}
dest=${DESTDIR:-}
manifest="$dest$prefix/share/tessera/installed-files"

if ((uninstall)); then
    if [[ ! -f "$manifest" ]]; then
        echo "install: nothing to uninstall under $prefix ($manifest not found)" >&2
        exit 1
    fi
    if [[ -z "$dest" ]] && command -v systemctl >/dev/null && systemctl --user is-active -q tesserad.service 2>/dev/null; then
        systemctl --user stop tesserad.service || true
    fi
    while IFS= read -r file; do
        rm -f -- "$dest$file"
        rmdir -p --ignore-fail-on-non-empty -- "$(dirname "$dest$file")" 2>/dev/null || true
    done <"$manifest"
    rm -f -- "$manifest"
    rmdir -p --ignore-fail-on-non-empty -- "$(dirname "$manifest")" 2>/dev/null || true
    echo "Removed Tessera from $prefix."
    exit 0
fi

swift=${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}
bin_dir=${TESSERA_BIN_DIR:-$(cd "$here" && "$swift" build -c release --show-bin-path)}
for program in tessera tesserad; do
    [[ -x "$bin_dir/$program" ]] || { echo "install: $bin_dir/$program is missing; run \`make release\` first" >&2; exit 1; }
done

# Every put runs in this shell (never at the end of a pipeline) so `installed` sees each file.

# systemd reads user units from $XDG_DATA_HOME/systemd/user (~/.local/share/…) and from
# $XDG_DATA_DIRS/systemd/user (/usr/local/share/…, /usr/share/…): PREFIX/share fits both.
unit_dir="$prefix/share/systemd/user"

installed=()
put() { # put MODE TARGET  (content on stdin)
    local mode=$1 target=$2
    mkdir -p -- "$(dirname "$dest$target")"
    local tmp
    tmp=$(mktemp "$(dirname "$dest$target")/.tessera-install.XXXXXX")
    cat >"$tmp"
    chmod "$mode" "$tmp"
    mv -f -- "$tmp" "$dest$target"
    installed+=("$target")
}

put 755 "$prefix/bin/tessera" <"$bin_dir/tessera"
put 755 "$prefix/bin/tesserad" <"$bin_dir/tesserad"

# The shipped files say @bindir@; point them at this install.
bindir="$prefix/bin"
put 644 "$prefix/share/dbus-1/services/io.tessera.Agent1.service" \
    < <(sed -e "s|@bindir@|$bindir|g" "$here/dbus/io.tessera.Agent1.service")
put 644 "$prefix/share/dbus-1/interfaces/io.tessera.Agent1.xml" <"$here/dbus/io.tessera.Agent1.xml"
put 644 "$unit_dir/tesserad.service" < <(sed -e "s|@bindir@|$bindir|g" "$here/desktop/tesserad.service")
put 644 "$prefix/share/applications/tessera.desktop" \
    < <(sed -e "s|@bindir@|$bindir|g" -e "s|^Exec=tesserad|Exec=$bindir/tesserad|" "$here/desktop/tessera.desktop")
for icon in "$here"/desktop/*.svg; do
    [[ -f "$icon" ]] || continue
    put 644 "$prefix/share/icons/hicolor/scalable/apps/$(basename "$icon")" <"$icon"
done

# Completions and man pages come from the installed binary's own parser, so they always match it.
tessera="$dest$prefix/bin/tessera"
put 644 "$prefix/share/bash-completion/completions/tessera" < <("$tessera" --generate-completion-script bash)
put 644 "$prefix/share/zsh/site-functions/_tessera" < <("$tessera" --generate-completion-script zsh)
put 644 "$prefix/share/fish/vendor_completions.d/tessera.fish" < <("$tessera" --generate-completion-script fish)
# TESSERA_NO_MANPAGES=1 skips them (the tests do: generating needs a `swift build` of the tool).
if [[ "${TESSERA_NO_MANPAGES:-0}" != 1 ]]; then
    man_dir=$(mktemp -d)
    trap 'rm -rf "$man_dir"' EXIT
    "$here/scripts/manpages.sh" "$tessera" "$man_dir"
    for page in "$man_dir"/*.1; do
        put 644 "$prefix/share/man/man1/$(basename "$page")" <"$page"
    done
fi

count=${#installed[@]}
put 644 "$prefix/share/tessera/installed-files" < <(printf '%s\n' "${installed[@]}" "$prefix/share/tessera/installed-files" | sort -u)

if [[ -z "$dest" ]] && command -v systemctl >/dev/null && systemctl --user daemon-reload 2>/dev/null; then
    : # systemd now knows the unit; D-Bus activation starts it on the first call.
fi
echo "Installed Tessera in $prefix ($count files, listed in $prefix/share/tessera/installed-files)."
case ":${XDG_DATA_DIRS:-/usr/local/share:/usr/share}:${XDG_DATA_HOME:-$HOME/.local/share}:" in
    *":$prefix/share:"*) ;;
    *) echo "Note: the session bus finds the service only if $prefix/share is in XDG_DATA_DIRS (or is \$XDG_DATA_HOME); see README." ;;
esac
