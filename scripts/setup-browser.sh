#!/usr/bin/env bash
# Installs a real headless browser for the web UI's browser tests
# (crates/mnemo-server/tests/ui_browser.rs): Debian's `chromium` and `chromium-driver`.
# A browser that a library downloads by itself cannot be fetched here, so the system
# packages are used. Idempotent: does nothing when both are already on PATH, unless
# MNEMO_FRESH=1 (scripts/test.sh --fresh), which runs the install step anyway so that a
# broken one is found on a machine that already has the browser.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have chromium && have chromedriver && [ "${MNEMO_FRESH:-0}" != 1 ]; then
    echo "chromium and chromedriver are installed: $(chromium --version 2>/dev/null | head -1)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
    have sudo || { echo "setup-browser.sh: run as root or install sudo" >&2; exit 1; }
else
    SUDO=
fi
have apt-get || { echo "setup-browser.sh: needs apt-get (Debian/Ubuntu); install chromium and chromedriver yourself" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium chromium-driver fonts-dejavu-core

have chromium && have chromedriver || { echo "setup-browser.sh: chromium or chromedriver still missing after install" >&2; exit 1; }
echo "installed: $(chromium --version 2>/dev/null | head -1); $(chromedriver --version | head -1)"
