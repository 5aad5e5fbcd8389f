//! Runs the real `mnemo` binary against a temporary database and home directory.

#![allow(dead_code, clippy::new_without_default)]

pub mod fake_llm;
pub mod pyenv;
pub mod server;
pub mod upstream;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

pub struct Mnemo {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
}

impl Mnemo {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let db = data.join("mnemo.db");
        Mnemo { dir, db }
    }

    /// Writes the config file every command of this `Mnemo` reads by default
    /// (`$HOME/.config/mnemo/config.toml`).
    pub fn write_config(&self, toml: &str) {
        let dir = self.dir.path().join(".config/mnemo");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), toml).unwrap();
    }

    /// A command with a clean environment: its own HOME, database and user.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mnemo"));
        c.env_clear()
            .env("HOME", self.dir.path())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MNEMO_DB", &self.db)
            .env("MNEMO_USER", "alex")
            .args(args)
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "mnemo {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs with `--json` and parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    /// Runs, asserts the exit code, returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(code), "mnemo {args:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
        err
    }
}
