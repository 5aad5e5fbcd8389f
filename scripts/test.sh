#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test of every crate.
# This is the command README.md names and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked

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
