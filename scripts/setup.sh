#!/usr/bin/env bash
# Set up everything `make demo`, `make test` and `make bench` need on a Debian machine:
# Mosquitto, InfluxDB and Chromium from Debian's packages (when missing) and the project in .venv.
# Never starts the system services: the demo, tests and benchmarks start their own servers.
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

missing=()
have mosquitto || missing+=(mosquitto)
have influxd || missing+=(influxdb)
# The console's browser tests drive Debian's Chromium (never a downloaded browser).
have chromium || missing+=(chromium)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "setup: missing ${missing[*]}." >&2
        echo "setup: install them as root on Debian/Ubuntu: apt-get install ${missing[*]}" >&2
        echo "setup: (elsewhere: Mosquitto 2.x and InfluxDB 1.x, with 'mosquitto' and 'influxd' on PATH)" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]} from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # policy-rc.d keeps the packages' system services from starting; we never use them.
    policy=/usr/sbin/policy-rc.d
    created_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created_policy=1
    fi
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: Python 3.11 or newer is needed ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed
if [ ! -e "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    touch "$stamp"
fi
