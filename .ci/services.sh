#!/usr/bin/env bash
# Install the system services the test suite starts itself (Mosquitto for tests/live/test_mqtt.py).
# Idempotent: does nothing when everything is already there. Debian/Ubuntu (apt-get); needs root or sudo.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

packages=()
if ! have mosquitto || ! have mosquitto_passwd; then
    packages+=(mosquitto)
fi

if [ "${#packages[@]}" -eq 0 ]; then
    echo "services.sh: mosquitto already installed"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "services.sh: need root or sudo to install ${packages[*]}" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"
# The Debian package also enables a system-wide broker on port 1883; the tests start their own on a free
# port, so stop it where systemd runs (CI containers usually have no systemd: nothing to stop there).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
    $sudo systemctl stop mosquitto || true
fi
echo "services.sh: installed ${packages[*]}"
