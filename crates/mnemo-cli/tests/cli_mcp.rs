//! mnemo's MCP faces driven by the official MCP Python SDK (PyPI `mcp`), a client no one
//! here wrote: `mnemo mcp` over stdio as a child process of the SDK, and `mnemo serve` over
//! streamable HTTP at `/mcp` with two users' API keys. Each run initialises, lists the
//! tools, adds a memory, searches it (with explain), reads it as a resource and through
//! the prompt, records a conversation, makes malformed calls (each an MCP error, the
//! server still answering), and forgets the memory; over HTTP a second user's key sees
//! and changes none of the first user's memories, and no key gets 401.
//! The checks are in `tests/python/mcp_client.py`.

mod common;

use std::process::Command;

use common::server::{create_key, Server};
use common::{pyenv, Mnemo};

fn run_client(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("OK {what}")),
        "the MCP Python SDK's checks failed over {what}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_mcp_sdk_drives_mnemo_mcp_over_stdio() {
    let venv = pyenv::venv();
    let m = Mnemo::new();
    let mut py = Command::new(venv.join("bin/python"));
    py.arg(pyenv::script("mcp_client.py"))
        .args(["stdio", env!("CARGO_BIN_EXE_mnemo")])
        .env_clear()
        .env("HOME", m.dir.path())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("MNEMO_DB", &m.db)
        .env("MNEMO_USER", "alex");
    run_client(&mut py, "stdio");
    // What the stdio session left behind is alex's, in the real database.
    let listed = m.json(&["list", "--all"]);
    let text = listed.to_string();
    assert!(text.contains("dark mode"), "{text}");
}

#[test]
fn the_mcp_sdk_drives_mnemo_serve_over_streamable_http_per_tenant() {
    let venv = pyenv::venv();
    let m = Mnemo::new();
    let anna = create_key(&m, "anna", &[]);
    let ben = create_key(&m, "ben", &[]);
    let s = Server::start(&m, &["--no-worker"]);
    let mut py = Command::new(venv.join("bin/python"));
    py.arg(pyenv::script("mcp_client.py"))
        .args(["http", &s.url, &anna, &ben]);
    run_client(&mut py, "http");
    // The REST face agrees: ben has nothing, anna's memory was forgotten by anna.
    let (st, ben_list) = s.call("GET", "/v1/memories?view=all", Some(&ben), None);
    assert_eq!(st, 200);
    assert_eq!(ben_list["memories"], serde_json::json!([]), "{ben_list}");
    let (_, anna_list) = s.call("GET", "/v1/memories?view=all", Some(&anna), None);
    assert!(anna_list.to_string().contains("dark mode"), "{anna_list}");
}
