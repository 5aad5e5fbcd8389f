//! `mnemo chat` on a real pseudo-terminal (through util-linux `script`), so the line editor,
//! Ctrl-C and Ctrl-D paths are the ones a person uses.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::fake_llm::{pipeline_reply, FakeOllama};
use common::Mnemo;

/// Runs `mnemo chat` under a pty. Each key is typed once the screen shows its `after`
/// text (empty: at once), so the test does not depend on how fast the machine is; returns
/// the whole screen.
fn on_pty(m: &Mnemo, server: &FakeOllama, keys: &[(&str, &str)]) -> String {
    on_pty_term(m, server, "dumb", keys)
}

/// Like `on_pty`, with this `TERM` (`xterm`: rustyline's raw mode, bracketed paste).
fn on_pty_term(m: &Mnemo, server: &FakeOllama, term: &str, keys: &[(&str, &str)]) -> String {
    let bin = env!("CARGO_BIN_EXE_mnemo");
    let mut child = Command::new("script")
        .args(["-qfec", &format!("{bin} chat --wait 30"), "/dev/null"])
        .env_clear()
        .env("HOME", m.dir.path())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TERM", term)
        .env("MNEMO_DB", &m.db)
        .env("MNEMO_USER", "alex")
        .env("MNEMO_LLM_PROVIDER", "ollama")
        .env("OLLAMA_HOST", &server.url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` is needed for the pty tests (apt-get install bsdutils)");
    let screen = Arc::new(Mutex::new(String::new()));
    let mut out = child.stdout.take().unwrap();
    let sink = screen.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let start = Instant::now();
    for (after, k) in keys {
        while !screen.lock().unwrap().contains(after) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "never saw {after:?}: {}",
                screen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        stdin.write_all(k.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "chat did not exit: {}",
            screen.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap();
    let text = screen.lock().unwrap().clone();
    text
}

#[test]
fn ctrl_d_ends_the_session_and_the_turns_are_kept() {
    let m = Mnemo::new();
    let server = FakeOllama::start(|req| {
        pipeline_reply(req, "Alex said hello.").unwrap_or_else(|| "Hello Alex, noted.".into())
    });
    let screen = on_pty(
        &m,
        &server,
        &[("you>", "My name is Alex\r"), ("noted.", "\x04")],
    );
    assert!(screen.contains("Hello Alex, noted."), "{screen}");
    assert!(
        screen.contains("summarized"),
        "Ctrl-D wrote no summary: {screen}"
    );
    let s = m.json(&["sessions"]);
    assert!(s[0]["ended_at"].is_string(), "{s}");
    assert_eq!(m.json(&["log"]).as_array().unwrap().len(), 2);
}

#[test]
fn ctrl_c_cancels_a_streaming_reply_and_the_chat_goes_on() {
    let m = Mnemo::new();
    let long = "word ".repeat(400);
    let server = FakeOllama::start_paced(Duration::from_millis(20), move |_| long.clone());
    let screen = on_pty(
        &m,
        &server,
        &[
            ("you>", "tell me a long story\r"),
            ("word word word", "\x03"),
            ("[reply cancelled]", "/session\r"),
            ("resume with", "/quit\r"),
        ],
    );
    assert!(screen.contains("[reply cancelled]"), "{screen}");
    assert!(
        screen.contains("resume with"),
        "the chat went on after Ctrl-C: {screen}"
    );
    let log = m.json(&["log"]);
    let reply = log[1]["content"].as_str().unwrap();
    assert!(
        reply.len() < 2000,
        "the whole reply was kept: {}",
        reply.len()
    );
    assert_eq!(log[1]["meta"]["cancelled"], true);
}

#[test]
fn a_line_typed_while_a_reply_streams_is_the_next_message() {
    let m = Mnemo::new();
    let server = FakeOllama::start_paced(Duration::from_millis(30), |req| {
        pipeline_reply(req, "A chat.").unwrap_or_else(|| {
            let q = common::fake_llm::last_user_message(req);
            format!("Reply to {q}: one two three four five six seven eight nine ten END-{q}")
        })
    });
    let screen = on_pty_term(
        &m,
        &server,
        "xterm",
        &[
            ("you>", "first question\r"),
            ("Reply to first", "second question\r"),
            ("END-second question", "/quit\r"),
        ],
    );
    let sent: Vec<String> = server
        .chat_requests()
        .iter()
        .map(common::fake_llm::last_user_message)
        .collect();
    assert_eq!(sent, ["first question", "second question"], "{screen}");
}

#[test]
fn a_block_pasted_with_bracketed_paste_keeps_its_lines_without_the_delimiters() {
    let m = Mnemo::new();
    let server = FakeOllama::start(|req| {
        pipeline_reply(req, "A chat.").unwrap_or_else(|| "Got it, pasted.".into())
    });
    let paste = "\x1b[200~\"\"\"\nline one\n\n  line three\n\"\"\"\x1b[201~\r";
    let screen = on_pty_term(
        &m,
        &server,
        "xterm",
        &[("you>", paste), ("pasted.", "/quit\r")],
    );
    let sent: Vec<String> = server
        .chat_requests()
        .iter()
        .map(common::fake_llm::last_user_message)
        .collect();
    assert_eq!(sent, ["line one\n\n  line three"], "{screen}");
}

#[test]
fn ctrl_c_during_the_wait_at_exit_leaves_at_once_and_hands_the_job_back() {
    let m = Mnemo::new();
    let cfg = m.dir.path().join(".config").join("mnemo");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config.toml"), "[pipeline]\nexit_wait_secs = 60\n").unwrap();
    // The pipeline's calls hang (up to 40 s, past the end of the test).
    let server = FakeOllama::start(|req| {
        if req["stream"] == true {
            return "Hello, noted.".into();
        }
        std::thread::sleep(Duration::from_secs(40));
        pipeline_reply(req, "A chat.").unwrap_or_default()
    });
    let started = Instant::now();
    let screen = on_pty(
        &m,
        &server,
        &[
            ("you>", "My name is Alex\r"),
            ("noted.", "\x04"),
            ("[memory] processing", "\x03"),
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "waited {:?}: {screen}",
        started.elapsed()
    );
    assert!(
        server.requests().iter().any(|r| r["stream"] != true),
        "the worker never started a job"
    );
    let jobs = m.json(&["jobs"]);
    assert_eq!(
        jobs["counts"]["running"], 0,
        "a lease outlived the chat: {jobs}"
    );
    assert!(jobs["counts"]["ready"].as_u64().unwrap() >= 1, "{jobs}");
}
