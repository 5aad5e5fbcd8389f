//! Stopping loses nothing and never waits for the whole queue (issue 10, items 3 and 4):
//! leaving a chat returns after a bounded wait, `mnemo work` stops on Ctrl-C or SIGTERM
//! after the job in flight (or at once on a second Ctrl-C), and an interrupted worker
//! hands its job back instead of leaving it `running` for the length of its lease.
//! Signals are sent to the real binary; the model is a fake Ollama that can hang.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::fake_llm::FakeOllama;
use common::Mnemo;
use serde_json::Value;

/// A model whose pipeline calls hang while `hang` is set (chat replies come at once).
fn hanging_model(hang: Arc<AtomicBool>) -> FakeOllama {
    FakeOllama::start(move |req| {
        if req["stream"] == true {
            return "Noted.".into();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while hang.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if req.get("format").is_some_and(|f| !f.is_null()) {
            r#"{"memories": []}"#.into()
        } else {
            "A summary.".into()
        }
    })
}

fn with_model<'a>(c: &'a mut Command, url: &str) -> &'a mut Command {
    c.env("MNEMO_LLM_PROVIDER", "ollama")
        .env("OLLAMA_HOST", url)
        .env("MNEMO_MODEL", "fake-model")
}

fn queue_two_extractions(m: &Mnemo) {
    for s in ["s1", "s2"] {
        m.ok(&["turn", "add", "-s", s, "I live in Lisbon"]);
        m.ok(&["turn", "add", "-s", s, "-r", "assistant", "ok"]);
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} failed");
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for the process to exit; returns how long that took and its stderr.
fn exit_within(mut child: Child, secs: u64) -> (Duration, String) {
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(secs) {
            child.kill().unwrap();
            panic!("did not exit within {secs}s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    (
        started.elapsed(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// No job is left `running`, and no interrupted attempt was counted.
fn nothing_running(m: &Mnemo) -> Value {
    let jobs = m.json(&["jobs"]);
    assert_eq!(jobs["counts"]["running"], 0, "{jobs}");
    for j in jobs["jobs"].as_array().unwrap() {
        if j["status"] == "queued" {
            assert_eq!(j["attempts"], 0, "{j}");
        }
    }
    jobs
}

#[test]
fn ctrl_c_lets_the_job_in_flight_finish_then_a_hung_one_is_handed_back() {
    let m = Mnemo::new();
    queue_two_extractions(&m);
    let hang = Arc::new(AtomicBool::new(true));
    let fake = hanging_model(hang.clone());
    let child = with_model(&mut m.cmd(&["work", "--grace", "1"]), &fake.url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the first model call", 20, || !fake.requests().is_empty());
    signal(&child, "-INT");
    let (took, stderr) = exit_within(child, 10);
    hang.store(false, Ordering::SeqCst);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(stderr.contains("handed back"), "{stderr}");
    let jobs = nothing_running(&m);
    assert_eq!(jobs["counts"]["queued"], 2, "{jobs}");
    // The job is due at once: the next worker need not wait for a lease to expire.
    assert_eq!(jobs["counts"]["ready"], 2, "{jobs}");
}

#[test]
fn a_second_ctrl_c_stops_at_once_and_sigterm_stops_too() {
    let m = Mnemo::new();
    queue_two_extractions(&m);
    let hang = Arc::new(AtomicBool::new(true));
    let fake = hanging_model(hang.clone());
    let child = with_model(&mut m.cmd(&["work"]), &fake.url)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the first model call", 20, || !fake.requests().is_empty());
    signal(&child, "-INT");
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "-INT");
    let (took, _) = exit_within(child, 10);
    assert!(
        took < Duration::from_secs(3),
        "took {took:?} (grace is 10s)"
    );
    nothing_running(&m);

    let child = with_model(&mut m.cmd(&["work", "--grace", "0.5"]), &fake.url)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let before = fake.requests().len();
    wait_for("a model call", 20, || fake.requests().len() > before);
    signal(&child, "-TERM");
    let (took, stderr) = exit_within(child, 10);
    hang.store(false, Ordering::SeqCst);
    assert!(took < Duration::from_secs(4), "took {took:?}");
    assert!(stderr.contains("handed back"), "{stderr}");
    nothing_running(&m);
}

#[test]
fn work_prints_each_job_as_it_ends() {
    let m = Mnemo::new();
    queue_two_extractions(&m);
    // The first extraction answers; the second hangs until the test has seen the first
    // line, so that line cannot come from a report printed at the end.
    let hang = Arc::new(AtomicBool::new(true));
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (flag, n) = (hang.clone(), calls.clone());
    let fake = FakeOllama::start(move |req| {
        if n.fetch_add(1, Ordering::SeqCst) > 0 {
            while flag.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if req.get("format").is_some_and(|f| !f.is_null()) {
            r#"{"memories": []}"#.into()
        } else {
            "ok".into()
        }
    });
    let mut child = with_model(&mut m.cmd(&["work", "--limit", "2"]), &fake.url)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(first.starts_with("done     extract"), "{first}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "printed only at the end"
    );
    hang.store(false, Ordering::SeqCst);
    let second = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(second.starts_with("done     extract"), "{second}");
    assert!(child.wait().unwrap().success());
}

#[test]
fn leaving_a_chat_does_not_wait_for_a_slow_model() {
    let m = Mnemo::new();
    let hang = Arc::new(AtomicBool::new(true));
    let fake = hanging_model(hang.clone());
    let mut child = with_model(&mut m.cmd(&["chat", "--wait", "1"]), &fake.url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"I live in Lisbon\nI play the violin\n")
        .unwrap();
    wait_for("the worker's first model call", 20, || {
        fake.requests().iter().any(|r| r["stream"] != true)
    });
    drop(stdin);
    let (took, stderr) = exit_within(child, 20);
    hang.store(false, Ordering::SeqCst);
    assert!(took < Duration::from_secs(4), "took {took:?}: {stderr}");
    assert!(stderr.contains("[memory] processing"), "{stderr}");
    assert!(stderr.contains("left queued"), "{stderr}");
    let jobs = nothing_running(&m);
    // Two extractions and the session-end summary wait for the next worker.
    assert!(jobs["counts"]["queued"].as_u64().unwrap() >= 3, "{jobs}");
}

#[test]
fn sigterm_ends_a_chat_at_once_and_hands_its_job_back() {
    let m = Mnemo::new();
    let hang = Arc::new(AtomicBool::new(true));
    let fake = hanging_model(hang.clone());
    let mut child = with_model(&mut m.cmd(&["chat"]), &fake.url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"I live in Lisbon\n").unwrap();
    wait_for("the worker's first model call", 20, || {
        fake.requests().iter().any(|r| r["stream"] != true)
    });
    signal(&child, "-TERM");
    let (took, _) = exit_within(child, 10);
    hang.store(false, Ordering::SeqCst);
    drop(stdin);
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let jobs = nothing_running(&m);
    assert_eq!(jobs["counts"]["ready"], 1, "{jobs}");
}
