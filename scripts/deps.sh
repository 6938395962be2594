#!/usr/bin/env bash
# Installs what Tessera's build, tests and demo need on Debian 12, and only what is missing.
# Usage: scripts/deps.sh [--bench]   (--bench adds the peers and tools the benchmark compares with)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

# The release `tessera` is linked statically: libdbus-1.a (libdbus-1-dev), libc.a (libc6-dev),
# libstdc++.a and libgcc_eh.a (libstdc++-12-dev, libgcc-12-dev; the Swift runtime needs them).
apt_packages=(
    pkg-config libc6-dev libstdc++-12-dev libgcc-12-dev libdbus-1-dev libsecret-1-dev libsodium-dev
    libcurl4-openssl-dev
    dbus dbus-x11 gnome-keyring libsecret-tools
    dunst xvfb xauth libnotify-bin x11-utils imagemagick zbar-tools
    xfce4-panel xdotool
    python3 python3-venv
    # oidc-agent's real clients (oidc-token, liboidc-agent) for the compatibility socket's tests.
    oidc-agent-cli liboidc-agent-dev gcc
    openssh-server  # sshd on 127.0.0.1 for the ssh -R socket forwarding test
)
if [[ "${1:-}" == "--bench" ]]; then
    apt_packages+=(hyperfine linux-perf strace)
fi

missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "deps: installing ${missing[*]}"
    as_root=()
    [[ $(id -u) == 0 ]] || as_root=(sudo)
    "${as_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null || [[ -x /opt/swift/usr/bin/swift ]] || {
    echo "deps: no Swift toolchain found (expected swift on PATH or /opt/swift); install Swift 6.1 or newer" >&2
    exit 1
}

# The test OpenID provider (django-oauth-toolkit) runs from its own venv. Debian's python3 is used
# on purpose: it is what a fresh Debian 12 machine has.
venv="$here/.venv"
stamp="$venv/.tessera-provider-3.4.1"
if [[ ! -f "$stamp" ]]; then
    echo "deps: creating the provider venv in $venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check \
        "django-oauth-toolkit==3.4.1" "oauthlib==3.3.1" "Django>=4.2,<5.3" "cryptography"
    touch "$stamp"
fi

# PyNaCl: the Python client of the oidc-agent socket tests (the box/secretbox primitives
# oidc-agent's own Python library uses), in the same venv.
nacl_stamp="$venv/.tessera-pynacl-1.5.0"
if [[ ! -f "$nacl_stamp" ]]; then
    echo "deps: installing PyNaCl into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "PyNaCl==1.5.0"
    touch "$nacl_stamp"
fi
