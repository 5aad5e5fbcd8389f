#!/usr/bin/env bash
# Creates (or reuses) the Python virtualenv the conformance tests run real clients from,
# clients that no one here wrote:
#   - Schemathesis checks /openapi.json against what the server answers;
#   - the official MCP SDK (`mcp`) drives `mnemo mcp` (stdio) and `mnemo serve` (/mcp);
#   - the official `openai` client talks to the OpenAI-compatible proxy of `mnemo serve`.
# Reused across runs; delete the folder to rebuild it.
#
#   scripts/setup-pyenv.sh            # prints the venv's path on its last line
#   MNEMO_PYENV=/path scripts/setup-pyenv.sh
set -euo pipefail

VENV="${MNEMO_PYENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mnemo-pyenv}"
# Pinned so CI runs the same checks every time.
SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
MCP_VERSION="${MCP_VERSION:-2.3.0}"
OPENAI_VERSION="${OPENAI_VERSION:-3.51.0}"
PACKAGES=(
    "schemathesis==$SCHEMATHESIS_VERSION"
    "mcp==$MCP_VERSION"
    "openai==$OPENAI_VERSION"
)

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" >&2
fi
# Installs only when a pinned version is missing.
if ! "$VENV/bin/python" - "${PACKAGES[@]}" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version

for spec in sys.argv[1:]:
    name, wanted = spec.split("==")
    try:
        if version(name) != wanted:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PACKAGES[@]}" >&2
fi
"$VENV/bin/schemathesis" --version >&2
echo "$VENV"
