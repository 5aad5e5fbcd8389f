#!/usr/bin/env bash
# Creates (or reuses) the Python virtualenv the conformance tests run real clients from,
# clients that no one here wrote:
#   - Schemathesis checks /openapi.json against what the server answers;
#   - the official MCP SDK (`mcp`) drives `mnemo mcp` (stdio) and `mnemo serve` (/mcp);
#   - the official `openai` client talks to the OpenAI-compatible proxy of `mnemo serve`.
#
# What it installs is exactly scripts/python/requirements-test.txt: every package the tests
# import is declared in requirements-test.in, and the lock pins the whole set, transitive
# packages included, with hashes (`pip install --require-hashes --no-deps`). The venv
# records the lock's checksum; when the lock changes the venv is rebuilt from nothing, so a
# package left over from an earlier lock can never make a test pass.
#
#   scripts/setup-pyenv.sh            # prints the venv's path on its last line
#   MNEMO_PYENV=/path scripts/setup-pyenv.sh
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
LOCK="$HERE/python/requirements-test.txt"
VENV="${MNEMO_PYENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mnemo-pyenv}"
STAMP="$VENV/.mnemo-lock.sha256"
want="$(sha256sum "$LOCK" | cut -d' ' -f1)"

mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9   # test binaries run in parallel and may all call this at once

if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
    echo "setup-pyenv.sh: building $VENV from $LOCK" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2 || { echo "setup-pyenv.sh: python3 -m venv failed (install python3-venv)" >&2; exit 1; }
    PIP_FIND_LINKS= "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --require-hashes --no-deps -r "$LOCK" >&2
    "$VENV/bin/python" -m pip check >&2
    echo "$want" >"$STAMP"
fi
"$VENV/bin/schemathesis" --version >&2
echo "$VENV"
