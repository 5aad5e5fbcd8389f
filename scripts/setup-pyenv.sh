#!/usr/bin/env bash
# Creates (or reuses) the Python virtualenv the API conformance test runs Schemathesis
# from: a real OpenAPI client that no one here wrote, checking /openapi.json against what
# the server answers. Reused across runs; delete the folder to rebuild it.
#
#   scripts/setup-pyenv.sh            # prints the venv's path on its last line
#   MNEMO_PYENV=/path scripts/setup-pyenv.sh
set -euo pipefail

VENV="${MNEMO_PYENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mnemo-pyenv}"
# Pinned so CI runs the same checks every time.
SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" >&2
fi
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "schemathesis==$SCHEMATHESIS_VERSION" >&2
fi
"$VENV/bin/schemathesis" --version >&2
echo "$VENV"
