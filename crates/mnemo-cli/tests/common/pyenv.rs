//! The project's Python virtualenv (`scripts/setup-pyenv.sh`), for tests that drive mnemo
//! with real clients no one here wrote (the MCP SDK, the `openai` client). If the venv
//! cannot be made, the test FAILS loudly: an unchecked face must not pass as a checked one.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The venv's directory, made or reused by the project script.
pub fn venv() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/setup-pyenv.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "scripts/setup-pyenv.sh failed, so the Python clients cannot check mnemo (needs python3 with venv and access to PyPI):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(
        stdout
            .lines()
            .last()
            .expect("the script prints the venv path")
            .trim(),
    )
}

/// A script under `tests/python/`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
}
