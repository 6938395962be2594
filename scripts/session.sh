#!/usr/bin/env bash
# Runs a command inside a throw-away desktop session: its own HOME and XDG directories, a private
# session bus, an unlocked gnome-keyring, and dunst on an Xvfb display. Every process started here
# is stopped when the command ends, whatever its outcome.
#
# Usage: scripts/session.sh [--no-keyring] [--no-notifications] -- CMD [ARGS...]
# The command sees DBUS_SESSION_BUS_ADDRESS, DISPLAY, HOME, XDG_*_HOME, XDG_RUNTIME_DIR and
# TESSERA_SESSION_ROOT (the temp directory, removed afterwards unless TESSERA_KEEP_SESSION=1).
set -euo pipefail

with_keyring=1 with_notifications=1
while (($#)); do
    case "$1" in
        --no-keyring) with_keyring=0 ;;
        --no-notifications) with_notifications=0 ;;
        --) shift; break ;;
        *) break ;;
    esac
    shift
done
(($#)) || { echo "usage: $0 [--no-keyring] [--no-notifications] -- CMD [ARGS...]" >&2; exit 2; }

root=$(mktemp -d "${TMPDIR:-/tmp}/tessera-session.XXXXXX")
pids=()
cleanup() {
    local status=$?
    for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
        kill -9 "$pid" 2>/dev/null || true
    done
    # Bus-activated helpers (e.g. a second keyring daemon) are children of the bus; catch strays.
    pkill -f -- "$root" 2>/dev/null || true
    [[ "${TESSERA_KEEP_SESSION:-0}" == 1 ]] || rm -rf "$root"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export HOME="$root/home" XDG_CONFIG_HOME="$root/home/.config" XDG_DATA_HOME="$root/home/.local/share"
export XDG_CACHE_HOME="$root/home/.cache" XDG_RUNTIME_DIR="$root/run" NO_AT_BRIDGE=1
export TESSERA_SESSION_ROOT="$root"
mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"

if ((with_notifications)); then
    # Find a free X display number; Xvfb -displayfd tells us which one it took.
    exec {dfd}<> <(:)
    Xvfb -displayfd "$dfd" -screen 0 1024x768x24 -nolisten tcp >"$root/xvfb.log" 2>&1 &
    pids+=($!)
    read -r -t 10 display <&"$dfd" || { echo "session: Xvfb did not start (see $root/xvfb.log)" >&2; exit 1; }
    export DISPLAY=":$display"
fi

# DISPLAY and the XDG variables are set before the bus starts: bus-activated services inherit them.
bus_info=$(dbus-daemon --session --fork --nopidfile --print-address=1 --print-pid=1)
export DBUS_SESSION_BUS_ADDRESS=$(sed -n 1p <<<"$bus_info")
pids+=("$(sed -n 2p <<<"$bus_info")")

if ((with_keyring)); then
    export TESSERA_KEYRING_PASSWORD="tessera-test-keyring"
    keyring_env=$(printf %s "$TESSERA_KEYRING_PASSWORD" |
        gnome-keyring-daemon --unlock --components=secrets --daemonize 2>"$root/keyring.log")
    # gnome-keyring 42 prints no GNOME_KEYRING_PID when it daemonizes, and may claim its bus name a
    # moment after returning: ask the bus who owns the name, and wait for it.
    pid=""
    for _ in $(seq 100); do
        pid=$(dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
            org.freedesktop.DBus.GetConnectionUnixProcessID string:org.freedesktop.secrets 2>/dev/null |
            awk '/uint32/ {print $2}') || true
        [[ -n "$pid" ]] && break
        sleep 0.02
    done
    if [[ -z "$pid" ]]; then
        echo "session: gnome-keyring-daemon did not start (see $root/keyring.log)" >&2
        exit 1
    fi
    pids+=("$pid")
    export GNOME_KEYRING_CONTROL=$(sed -n 's/^GNOME_KEYRING_CONTROL=//p' <<<"$keyring_env")
fi

if ((with_notifications)); then
    dunst -config /dev/null >"$root/dunst.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        dbus-send --session --print-reply --dest=org.freedesktop.Notifications /org/freedesktop/Notifications \
            org.freedesktop.Notifications.GetServerInformation >/dev/null 2>&1 && break
        sleep 0.05
    done
fi

"$@"
