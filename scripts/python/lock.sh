#!/usr/bin/env bash
# Regenerates the hash-pinned Python locks from their .in files (pip-tools' pip-compile in
# a throwaway virtualenv). Run it after editing a requirements-*.in file and commit both.
# setup-pyenv.sh and pg.sh install a lock exactly (--require-hashes --no-deps) and rebuild
# their virtualenv whenever the lock's content changes.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
TOOLS="$(mktemp -d)"
trap 'rm -rf "$TOOLS"' EXIT
python3 -m venv "$TOOLS/venv"
"$TOOLS/venv/bin/pip" install -q --disable-pip-version-check "pip-tools==7.7.0"
for name in test pg; do
    (cd "$HERE" && PIP_FIND_LINKS= "$TOOLS/venv/bin/pip-compile" --quiet --generate-hashes \
        --strip-extras --no-emit-index-url --no-emit-find-links --allow-unsafe \
        --output-file "requirements-$name.txt" "requirements-$name.in")
    echo "locked: scripts/python/requirements-$name.txt"
done
