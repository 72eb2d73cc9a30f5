#!/usr/bin/env bash
# Prepares a fresh Debian/Ubuntu machine for labelbot: system packages, a virtualenv in .venv,
# and the project installed into it (editable, with the dev extra). Safe to run again: each step
# is skipped when already done. Sourced by run.sh and test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
VENV=${LABELBOT_VENV:-.venv}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "labelbot setup: installing Debian packages: ${missing[*]}" >&2
    if ! command -v apt-get >/dev/null; then
        echo "labelbot setup: apt-get not found; install ${missing[*]} by hand" >&2
        return 0
    fi
    as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || echo "labelbot setup: could not install ${missing[*]} (need root or sudo)" >&2
}

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "labelbot needs Python 3.11 or newer; found $("$PYTHON" --version)" >&2
    exit 1
}
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
# Fashion-MNIST: real product photos for the benchmark, the demo and the tests; PostgreSQL:
# the tests run the store against a real server (started by the tests, on loopback);
# haproxy: in front of two replicas in `labelbot bench --replicas`; chromium: the browser the
# console's tests drive through Playwright (never `playwright install`, which downloads one).
apt_install dataset-fashion-mnist postgresql haproxy chromium

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
stamp="$VENV/.labelbot-installed"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "labelbot setup: installing Python packages into $VENV (first run takes a few minutes)" >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".[dev]"
    echo "$want" >"$stamp"
fi
