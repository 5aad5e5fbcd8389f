//! The chat feeds the memory pipeline (issue 9): every exchange is recorded with its jobs,
//! the in-process worker runs them while the conversation goes on, `--once` gives them a
//! bounded chance before exiting, and nothing recorded stays unprocessed — not after a
//! `kill -9`, not in a session of user turns only, not in a session nobody ended.
//! The real binary and the real Ollama client against a fake Ollama server.

mod common;

use std::io::Write;
use std::process::{Child, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fake_llm::{last_user_message, FakeOllama};
use common::Mnemo;
use serde_json::{json, Value};

/// The fake model: chat replies "Noted.", extraction finds the dark-mode preference and
/// the violin, reconciliation adds, summaries say what they are.
fn model_reply(req: &Value) -> String {
    if req["stream"] == true {
        return "Noted.".into();
    }
    let all = req["messages"].to_string();
    if req.get("format").is_some_and(|f| !f.is_null()) {
        if all.contains("ADD") && all.contains("NOOP") {
            return r#"{"event": "ADD", "id": null, "text": "", "reason": "new"}"#.into();
        }
        let said = last_user_message(req);
        let mut cells = Vec::new();
        if said.contains("dark mode") {
            cells.push(json!({"kind": "preference", "topic": "ui", "salience": 0.8,
                              "content": "Prefers dark mode"}));
        }
        if said.contains("violin") {
            cells.push(json!({"kind": "fact", "topic": "music", "salience": 0.7,
                              "content": "Plays the violin"}));
        }
        return json!({ "memories": cells }).to_string();
    }
    if all.contains("Summarize this part of a conversation") {
        return "The user chatted about this and that.".into();
    }
    "Topic summary.".into()
}

fn with_model(c: &mut std::process::Command, url: &str) {
    c.env("MNEMO_LLM_PROVIDER", "ollama")
        .env("OLLAMA_HOST", url)
        .env("MNEMO_MODEL", "fake-model");
}

fn run(m: &Mnemo, url: &str, args: &[&str]) -> Output {
    let mut c = m.cmd(args);
    with_model(&mut c, url);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "mnemo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// An interactive (piped) chat whose stdin stays open.
fn spawn_chat(m: &Mnemo, url: &str, args: &[&str]) -> Child {
    let mut a = vec!["chat"];
    a.extend_from_slice(args);
    let mut c = m.cmd(&a);
    with_model(&mut c, url);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn contents(m: &Mnemo) -> Vec<String> {
    let mut v: Vec<String> = m
        .json(&["list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["content"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn write_config(m: &Mnemo, text: &str) -> String {
    let path = m
        .dir
        .path()
        .join("config")
        .join("mnemo")
        .join("config.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn chat_once_queues_the_extraction_of_its_exchange() {
    let m = Mnemo::new();
    let fake = FakeOllama::start(model_reply);
    // No time to process: the job must be in the queue, not lost.
    let out = run(
        &m,
        &fake.url,
        &[
            "--json",
            "chat",
            "--wait",
            "0",
            "--once",
            "I play the violin",
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["reply"], "Noted.", "{v}");
    let session = v["session"].as_str().unwrap();
    assert!(
        v["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["kind"] == "extract" && j["session_id"] == session),
        "{v}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("/memories"),
        "REPL hints in --once: {stderr}"
    );

    let jobs = m.json(&["jobs"]);
    let extract = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "extract")
        .unwrap_or_else(|| panic!("no extraction job: {jobs}"))
        .clone();
    assert_eq!(
        (extract["first_seq"].as_i64(), extract["last_seq"].as_i64()),
        (Some(1), Some(2))
    );
    assert_ne!(
        extract["status"], "running",
        "a lease outlived the chat: {extract}"
    );
}

#[test]
fn a_second_once_knows_what_the_first_said_after_work_or_the_bounded_wait() {
    // Through `mnemo work --once`.
    let m = Mnemo::new();
    let fake = FakeOllama::start(model_reply);
    run(
        &m,
        &fake.url,
        &["chat", "--wait", "0", "--once", "I prefer dark mode."],
    );
    run(&m, &fake.url, &["work", "--once"]);
    assert_eq!(contents(&m), ["Prefers dark mode"]);
    run(
        &m,
        &fake.url,
        &["chat", "--once", "What UI preference did I mention?"],
    );
    let system = fake.system_prompts().last().unwrap().clone();
    assert!(system.contains("Prefers dark mode"), "{system}");

    // Through the bounded wait of `--once` alone.
    let m = Mnemo::new();
    let fake = FakeOllama::start(model_reply);
    let out = run(
        &m,
        &fake.url,
        // A generous bound for a loaded machine: the wait ends as soon as the jobs are done.
        &[
            "chat",
            "--wait",
            "20",
            "--once",
            "My name is Dana and I prefer dark mode.",
        ],
    );
    // The worker may have finished before the reply was printed; if not, the wait is
    // announced.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("left queued"), "{stderr}");
    assert_eq!(contents(&m), ["Prefers dark mode"]);
    run(
        &m,
        &fake.url,
        &["chat", "--once", "What UI preference did I mention?"],
    );
    let system = fake.system_prompts().last().unwrap().clone();
    assert!(system.contains("Prefers dark mode"), "{system}");
}

#[test]
fn jobs_of_a_chat_killed_with_sigkill_are_finished_by_work_once() {
    let m = Mnemo::new();
    let cfg = write_config(&m, "[pipeline]\nlease_secs = 1\n");
    // The pipeline's calls hang while the chat lives, so its worker holds a lease when
    // it is killed; afterwards the model answers normally.
    let hang = Arc::new(AtomicBool::new(true));
    let flag = hang.clone();
    let fake = FakeOllama::start(move |req| {
        while req["stream"] != true && flag.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        model_reply(req)
    });
    let mut chat = spawn_chat(&m, &fake.url, &["--config", &cfg]);
    let mut stdin = chat.stdin.take().unwrap();
    stdin
        .write_all(b"I prefer dark mode\nAnd I play the violin\n")
        .unwrap();
    stdin.flush().unwrap();
    wait_until("two replies and a leased job", 20, || {
        fake.chat_requests().len() == 2 && fake.requests().len() > 2
    });
    std::thread::sleep(Duration::from_millis(200));
    chat.kill().unwrap();
    chat.wait().unwrap();
    hang.store(false, Ordering::SeqCst);
    assert!(contents(&m).is_empty());
    std::thread::sleep(Duration::from_millis(1100));
    run(&m, &fake.url, &["--config", &cfg, "work", "--once"]);
    assert_eq!(contents(&m), ["Plays the violin", "Prefers dark mode"]);
}

#[test]
fn a_long_piped_session_is_summarized_while_it_goes_on() {
    let m = Mnemo::new();
    let cfg = write_config(&m, "[pipeline]\nsummary_every = 10\n");
    let fake = FakeOllama::start(model_reply);
    let mut chat = spawn_chat(&m, &fake.url, &["--config", &cfg]);
    let mut stdin = chat.stdin.take().unwrap();
    for i in 1..=13 {
        writeln!(stdin, "message number {i}").unwrap();
    }
    stdin.flush().unwrap();
    let summaries = || {
        // The chat creates the database when it starts; until then there is nothing.
        let out = m.run(&["export"]);
        if !out.status.success() {
            return 0;
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| serde_json::from_str::<Value>(l).unwrap()["type"] == "summary")
            .count()
    };
    // 26 turns: summaries of turns 1-10 and 11-20 while the session is still open.
    wait_until("two session summaries", 30, || summaries() >= 2);
    let sessions = m.json(&["sessions"]);
    assert!(sessions[0]["ended_at"].is_null(), "{sessions}");
    assert_eq!(m.json(&["log"]).as_array().unwrap().len(), 26);
    drop(stdin);
    let out = chat.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(m.json(&["sessions"])[0]["ended_at"].is_string());
}

#[test]
fn user_turns_only_are_extracted_and_idle_sessions_are_closed_by_the_worker() {
    let m = Mnemo::new();
    // Sessions are closed only by the second worker, so no step depends on timing.
    let cfg = write_config(&m, "[pipeline]\nextract_every_turns = 3\n");
    let idle_cfg = m.dir.path().join("idle.toml");
    std::fs::write(
        &idle_cfg,
        "[pipeline]\nextract_every_turns = 3\nsession_idle_secs = 1\n",
    )
    .unwrap();
    let idle_cfg = idle_cfg.to_str().unwrap();
    let fake = FakeOllama::start(model_reply);
    let add = |text: &str| {
        let out = m.ok(&[
            "--config", &cfg, "--json", "turn", "add", "-s", "notes", text,
        ]);
        serde_json::from_str::<Value>(&out).unwrap()
    };
    add("note: I play the violin");
    add("note: buy strings");
    let third = add("note: practice scales");
    assert!(
        third["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["kind"] == "extract"),
        "no extraction after three user turns: {third}"
    );
    add("note: I prefer dark mode");
    run(&m, &fake.url, &["--config", &cfg, "work", "--once"]);
    assert_eq!(contents(&m), ["Plays the violin"]);
    assert!(m.json(&["sessions"])[0]["ended_at"].is_null());

    // Nobody ends the session; once it is idle the worker closes it and processes the rest.
    std::thread::sleep(Duration::from_millis(1200));
    let out = run(&m, &fake.url, &["--config", idle_cfg, "work", "--once"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("closed 1 idle session"), "{stdout}");
    assert!(m.json(&["sessions"])[0]["ended_at"].is_string());
    assert_eq!(contents(&m), ["Plays the violin", "Prefers dark mode"]);
    let summaries = m.json(&["jobs", "--kind", "summarize", "--status", "done"]);
    assert_eq!(summaries["counts"]["failed"], 0);
    assert!(
        !summaries["jobs"].as_array().unwrap().is_empty(),
        "{summaries}"
    );
}
