//! The pipeline from the command line: `mnemo turn add` returns at once with jobs queued,
//! `mnemo work --once` runs them against a fake Ollama (`MNEMO_LLM_PROVIDER`, `OLLAMA_HOST`),
//! `mnemo jobs` and `mnemo usage` report, and an unreachable model leaves jobs waiting.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::fake_llm::{last_user_message, FakeOllama};
use common::Mnemo;
use serde_json::{json, Value};

/// A fake model for the pipeline's prompts.
fn model() -> FakeOllama {
    FakeOllama::start(model_reply)
}

fn model_reply(req: &Value) -> String {
    let system = req["messages"][0]["content"].as_str().unwrap_or("");
    let user = last_user_message(req);
    if system.starts_with("You are the memory manager") && user.contains("Lisbon") {
        json!({"memories": [
            {"kind": "fact", "topic": "home", "salience": 0.9, "content": "Lives in Lisbon"}
        ]})
        .to_string()
    } else if system.starts_with("You are the memory manager") {
        r#"{"memories": []}"#.into()
    } else if system.starts_with("You consolidate") {
        "Alex lives in Lisbon.".into()
    } else {
        "A short conversation.".into()
    }
}

fn with_model<'a>(c: &'a mut std::process::Command, url: &str) -> &'a mut std::process::Command {
    c.env("MNEMO_LLM_PROVIDER", "ollama")
        .env("OLLAMA_HOST", url)
        .env("MNEMO_MODEL", "qwen-fake")
}

fn run_ok(c: &mut std::process::Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn turn_add_queues_and_work_processes_with_the_configured_model() {
    let m = Mnemo::new();
    let started = Instant::now();
    m.ok(&["turn", "add", "--session", "s1", "I live in Lisbon"]);
    let out = m.ok(&[
        "turn",
        "add",
        "--session",
        "s1",
        "--role",
        "assistant",
        "Lovely city!",
    ]);
    assert!(out.contains("1 pipeline job(s) queued"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(10));

    let jobs = m.json(&["jobs"]);
    assert_eq!(jobs["counts"]["queued"], 1);
    assert_eq!(jobs["jobs"][0]["kind"], "extract");
    assert_eq!(jobs["jobs"][0]["first_seq"], 1);
    assert_eq!(jobs["jobs"][0]["last_seq"], 2);
    let listing = m.ok(&["jobs"]);
    assert!(listing.contains("queued 1"), "{listing}");
    assert!(listing.contains("session s1 turns 1-2"), "{listing}");

    let fake = model();
    let out = run_ok(with_model(&mut m.cmd(&["work", "--once"]), &fake.url));
    assert!(out.contains("done     extract"), "{out}");
    assert!(out.contains("3 done, 0 to retry, 0 failed"), "{out}");
    assert!(fake.requests().iter().all(|r| r["model"] == "qwen-fake"));

    let mems = m.json(&["list"]);
    assert_eq!(mems[0]["content"], "Lives in Lisbon");
    assert_eq!(mems[0]["meta"]["prompt_version"], "extract/1");
    assert_eq!(mems[0]["source_turns"].as_array().unwrap().len(), 2);
    let jobs = m.json(&["jobs", "--status", "done"]);
    assert_eq!(jobs["counts"]["done"], 3);

    let usage = m.json(&["usage", "--by", "task"]);
    let tasks: Vec<&str> = usage
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["key"].as_str().unwrap())
        .collect();
    assert_eq!(tasks, ["extract", "topic"]);
    assert_eq!(usage[0]["input_tokens"], 42);
    assert_eq!(usage[0]["models"], json!(["ollama/qwen-fake"]));
    let text = m.ok(&["usage"]);
    assert!(
        text.contains("ollama/qwen-fake") && text.contains("84"),
        "{text}"
    );
}

#[test]
fn an_unreachable_model_leaves_jobs_waiting_and_says_why() {
    let m = Mnemo::new();
    m.ok(&["turn", "add", "--session", "s", "hello"]);
    m.ok(&["turn", "add", "--session", "s", "--role", "assistant", "hi"]);
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let out = with_model(&mut m.cmd(&["work", "--once"]), &closed)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot reach ollama") && err.contains("1 job(s) wait"),
        "{err}"
    );
    let jobs = m.json(&["jobs"]);
    assert_eq!(jobs["counts"]["queued"], 1);
    assert_eq!(jobs["jobs"][0]["attempts"], 0);
    // Everything else works without a model.
    m.ok(&["remember", "likes tea"]);
    assert_eq!(m.json(&["list"]).as_array().unwrap().len(), 1);
}

#[test]
fn failed_jobs_can_be_shown_and_queued_again() {
    let m = Mnemo::new();
    let cfg = m.dir.path().join("c.toml");
    std::fs::write(&cfg, "[pipeline]\nmax_attempts = 1\n").unwrap();
    let cfg = cfg.to_str().unwrap();
    m.ok(&[
        "--config",
        cfg,
        "turn",
        "add",
        "--session",
        "s",
        "I live in Lisbon",
    ]);
    m.ok(&[
        "--config",
        cfg,
        "turn",
        "add",
        "-s",
        "s",
        "-r",
        "assistant",
        "ok",
    ]);
    let bad = FakeOllama::start(|_req: &Value| "no JSON at all".to_string());
    let out = run_ok(with_model(
        &mut m.cmd(&["--config", cfg, "work", "--once"]),
        &bad.url,
    ));
    assert!(out.contains("FAILED   extract"), "{out}");
    let jobs = m.json(&["jobs", "--status", "failed"]);
    let id = jobs["jobs"][0]["id"].as_str().unwrap().to_string();
    let shown = m.ok(&["jobs", "--show", &id[..8]]);
    assert!(
        shown.contains("unusable reply") && shown.contains("no JSON at all"),
        "{shown}"
    );
    let again = m.ok(&["jobs", "--retry-failed"]);
    assert!(again.contains("1 job(s) queued again"), "{again}");
    let fake = model();
    run_ok(with_model(
        &mut m.cmd(&["--config", cfg, "work", "--once"]),
        &fake.url,
    ));
    assert_eq!(m.json(&["list"])[0]["content"], "Lives in Lisbon");
    // Done now: the old attempt's error is shown as history, not as the job's state.
    let shown = m.ok(&["jobs", "--show", &id[..8]]);
    assert!(shown.contains("status:   done"), "{shown}");
    assert!(shown.contains("earlier attempt failed"), "{shown}");
    let listing = m.ok(&["jobs"]);
    assert!(
        !listing.contains("no JSON"),
        "a done job's old error listed: {listing}"
    );
}

#[test]
fn after_a_model_down_pause_work_says_when_and_retry_forces_the_job() {
    let m = Mnemo::new();
    m.ok(&["turn", "add", "--session", "s", "I live in Lisbon"]);
    m.ok(&["turn", "add", "--session", "s", "--role", "assistant", "ok"]);
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let out = with_model(&mut m.cmd(&["work", "--once"]), &closed)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("next attempt in 60s"), "{err}");

    // The model is back, but the job waits for its next attempt: work says so.
    let fake = model();
    let out = run_ok(with_model(&mut m.cmd(&["work", "--once"]), &fake.url));
    assert!(out.contains("not due yet: extract"), "{out}");
    assert!(
        out.contains("cannot reach ollama") && out.contains("jobs --retry"),
        "{out}"
    );
    assert!(fake.requests().is_empty());
    let listing = m.ok(&["jobs"]);
    assert!(listing.contains("next attempt"), "{listing}");
    assert!(listing.contains("(in "), "{listing}");

    // `jobs --retry` forces it.
    let id = m.json(&["jobs"])["jobs"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let again = m.ok(&["jobs", "--retry", &id[..8]]);
    assert!(again.contains("1 job(s) queued again"), "{again}");
    let out = run_ok(with_model(&mut m.cmd(&["work", "--once"]), &fake.url));
    assert!(out.contains("done     extract"), "{out}");
    assert_eq!(m.json(&["list"])[0]["content"], "Lives in Lisbon");
}

#[test]
fn a_worker_killed_mid_job_loses_nothing() {
    let m = Mnemo::new();
    let cfg = m.dir.path().join("c.toml");
    std::fs::write(&cfg, "[pipeline]\nlease_secs = 1\n").unwrap();
    let cfg = cfg.to_str().unwrap();
    m.ok(&[
        "--config",
        cfg,
        "turn",
        "add",
        "-s",
        "s",
        "I live in Lisbon",
    ]);
    m.ok(&[
        "--config",
        cfg,
        "turn",
        "add",
        "-s",
        "s",
        "-r",
        "assistant",
        "ok",
    ]);
    // The first extraction call hangs: the worker is killed while waiting for it.
    let first = std::sync::atomic::AtomicBool::new(true);
    let normal = model_reply;
    let fake = FakeOllama::start(move |req: &Value| {
        if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_secs(30));
        }
        normal(req)
    });
    let mut child = with_model(&mut m.cmd(&["--config", cfg, "work", "--once"]), &fake.url)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.requests().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let jobs = m.json(&["jobs"]);
    assert_eq!(jobs["jobs"][0]["status"], "running");
    assert_eq!(jobs["jobs"][0]["attempts"], 1);

    // A new worker after the lease has expired takes the job over.
    std::thread::sleep(Duration::from_millis(1100));
    let out = run_ok(with_model(
        &mut m.cmd(&["--config", cfg, "work", "--once"]),
        &fake.url,
    ));
    assert!(out.contains("3 done"), "{out}");
    assert_eq!(m.json(&["list"])[0]["content"], "Lives in Lisbon");
    let job = &m.json(&["jobs", "--kind", "extract"])["jobs"][0];
    assert_eq!(
        (job["status"].as_str(), job["attempts"].as_u64()),
        (Some("done"), Some(2))
    );
    assert!(job["last_error"]
        .as_str()
        .unwrap()
        .contains("lease of attempt 1 expired"));
}

#[test]
fn a_long_running_worker_stops_at_its_limit() {
    let m = Mnemo::new();
    m.ok(&["turn", "add", "-s", "s", "I live in Lisbon"]);
    m.ok(&["turn", "add", "-s", "s", "-r", "assistant", "ok"]);
    let fake = model();
    let out = run_ok(with_model(
        &mut m.cmd(&["work", "--limit", "3", "--poll", "0.05"]),
        &fake.url,
    ));
    assert!(out.contains("done     topic"), "{out}");
    assert_eq!(m.json(&["jobs"])["counts"]["done"], 3);
}
