//! The OpenAI-compatible proxy of `mnemo serve`, driven by the official `openai` Python
//! client (PyPI `openai`), a client no one here wrote. The upstream is a local fake that
//! speaks the OpenAI chat-completions wire format exactly (`tests/python/
//! fake_openai_upstream.py`) and logs what it received; mnemo's own pipeline uses the same
//! upstream, so a stated preference becomes a memory for real.
//!
//! `tests/python/proxy_client.py` checks: seed 004's story (dark mode said in a first
//! conversation, asked about in a second) for one user without streaming and another with
//! streaming, asserting on the memory block the upstream received, on what the client got
//! and on the turns recorded; every field the client sent passes through, the upstream key
//! replaces the mnemo key; an upstream 500 (stream or not), a timeout and a non-JSON reply
//! come back with their status and an OpenAI-shaped body, the user's message recorded
//! first; a client that disconnects mid-stream stops the upstream and the partial reply is
//! recorded as cancelled; an admin key acts for the body's `user`; a bad key gets 401;
//! `/v1/models` lists the upstream's models.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::server::{create_key, Server};
use common::{pyenv, Mnemo};

/// The fake upstream, killed when dropped.
struct Upstream {
    child: Child,
    url: String,
}

impl Upstream {
    fn start(python: &std::path::Path) -> Upstream {
        let mut child = Command::new(python)
            .arg(pyenv::script("fake_openai_upstream.py"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("the fake upstream did not start: {line:?}"))
            .trim()
            .to_owned();
        Upstream {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_openai_client_gets_memory_through_the_proxy() {
    let venv = pyenv::venv();
    let python = venv.join("bin/python");
    let up = Upstream::start(&python);
    let m = Mnemo::new();
    let anna = create_key(&m, "anna", &[]);
    let ben = create_key(&m, "ben", &[]);
    let admin = create_key(&m, "root", &["--admin"]);
    let config = m.dir.path().join("proxy.toml");
    // A short timeout so the slow upstream times out quickly; no retries of pipeline calls.
    std::fs::write(&config, "[llm]\ntimeout = 1.5\nmax_retries = 0\n").unwrap();
    let base = format!("{}/v1", up.url);
    let s = Server::start_with(
        &m,
        &[],
        &[
            ("MNEMO_CONFIG", config.to_str().unwrap()),
            ("MNEMO_LLM_PROVIDER", "openai"),
            ("OPENAI_BASE_URL", &base),
            ("OPENAI_API_KEY", "sk-upstream-secret"),
            ("MNEMO_MODEL", "pipeline-model"),
        ],
    );
    let out = Command::new(&python)
        .arg(pyenv::script("proxy_client.py"))
        .args([&s.url, &up.url, &anna, &ben, &admin])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK proxy"),
        "the openai client's checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `mnemo usage --by task` shows Ben's three streamed completions with their tokens.
    let lines = m.json(&["--user", "ben", "usage", "--by", "task"]);
    let proxy = lines
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["key"] == "proxy")
        .unwrap_or_else(|| panic!("no proxy line in {lines}"));
    assert_eq!(
        (
            &proxy["calls"],
            &proxy["input_tokens"],
            &proxy["output_tokens"]
        ),
        (
            &serde_json::json!(3),
            &serde_json::json!(30),
            &serde_json::json!(15)
        ),
        "{lines}"
    );
}

#[test]
fn an_anthropic_upstream_is_translated_both_ways() {
    let venv = pyenv::venv();
    let python = venv.join("bin/python");
    let up = Upstream::start(&python);
    let m = Mnemo::new();
    let anna = create_key(&m, "anna", &[]);
    let config = m.dir.path().join("proxy.toml");
    // A completion may take longer than a REST request may.
    std::fs::write(
        &config,
        "[llm]\ntimeout = 3\n[server]\nrequest_timeout_secs = 1\n",
    )
    .unwrap();
    let s = Server::start_with(
        &m,
        &["--no-worker"],
        &[
            ("MNEMO_CONFIG", config.to_str().unwrap()),
            ("MNEMO_LLM_PROVIDER", "anthropic"),
            ("ANTHROPIC_BASE_URL", &up.url),
            ("ANTHROPIC_API_KEY", "sk-ant-upstream"),
            ("MNEMO_MODEL", "claude-fake"),
        ],
    );
    let out = Command::new(&python)
        .arg(pyenv::script("proxy_client.py"))
        .args(["anthropic", &s.url, &up.url, &anna])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK anthropic"),
        "the openai client's checks against an Anthropic upstream failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
