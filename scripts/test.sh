#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test of every crate.
# This is the command README.md names and .ci/run calls.
#
#   scripts/test.sh            # reuses your caches (cargo target and registry, venvs)
#   scripts/test.sh --fresh    # as a fresh machine would: every cache in a new empty folder
#
# --fresh points the cargo registry (CARGO_HOME), the build directory (CARGO_TARGET_DIR),
# the Python virtualenvs (XDG_CACHE_HOME: setup-pyenv.sh's and pg.sh's) and PostgreSQL's
# runtime copy (MNEMO_PG_RUNTIME) at a new directory ($MNEMO_FRESH_DIR, default a new one
# under /var/tmp), and has setup-browser.sh run its apt-get install even when Chromium is
# there (a system package cannot be taken away, so its install step is run instead). Your own
# caches are not touched. At the end it prints the time taken and the disk each cache used,
# then deletes the folder (--keep keeps it). Run it before submitting any change to how the
# tests are set up: a warm cache hides a missing install step.
set -euo pipefail
cd "$(dirname "$0")/.."

fresh=0 keep=0
for arg in "$@"; do
    case "$arg" in
        --fresh) fresh=1 ;;
        --keep) keep=1 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "test.sh: unknown option $arg (takes --fresh and --keep)" >&2; exit 2 ;;
    esac
done

if [ "$fresh" = 1 ]; then
    root="${MNEMO_FRESH_DIR:-$(mktemp -d /var/tmp/mnemo-fresh.XXXXXX)}"
    mkdir -p "$root"
    chmod 755 "$root"   # PostgreSQL's server user reads its runtime copy from here
    # Cargo's toolchain stays (rustup's), only its registry and git caches start empty.
    mkdir -p "$root/cargo-home"
    [ -d "${CARGO_HOME:-$HOME/.cargo}/bin" ] && ln -sfn "${CARGO_HOME:-$HOME/.cargo}/bin" "$root/cargo-home/bin"
    export CARGO_HOME="$root/cargo-home"
    export CARGO_TARGET_DIR="$root/target"
    export XDG_CACHE_HOME="$root/cache"
    export MNEMO_PG_RUNTIME="$root/pg-runtime"
    export MNEMO_FRESH=1
    unset MNEMO_PYENV MNEMO_PG_CACHE MNEMO_TEST_PG_URL
    echo "test.sh --fresh: every cache under $root" >&2
    start=$(date +%s)
    status=0
    scripts/setup-browser.sh >&2 || status=$?
    [ "$status" = 0 ] && { "$0" || status=$?; }
    echo "test.sh --fresh: exit $status after $(( $(date +%s) - start )) s; disk used:" >&2
    du -sh "$root"/* >&2 2>/dev/null || true
    if [ "$keep" = 1 ]; then echo "kept $root" >&2; else rm -rf "$root"; fi
    exit "$status"
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked --no-fail-fast

# The full LoCoMo dev half is not in the repository (licence and size); it is read from the
# shared folder beside it where that exists. Never skipped silently.
dev="${MNEMO_LOCOMO_DEV:-../shared/bench/locomo/locomo-dev.json}"
if [ -f "$dev" ]; then
    MNEMO_LOCOMO_DEV="$(cd "$(dirname "$dev")" && pwd)/$(basename "$dev")" \
        cargo test --locked -p mnemo-bench --test locomo_dev -- --ignored
else
    echo "SKIPPED: the LoCoMo dev-half test (tests/locomo_dev.rs): $dev not found." >&2
    echo "         The in-repository slice (conv-26) ran above; set MNEMO_LOCOMO_DEV to run it." >&2
fi
