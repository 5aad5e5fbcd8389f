//! The chat when the model misbehaves (issue 10, item 10): a stream broken mid-reply, an
//! HTTP error, an empty reply, a reply cut at the output limit, and multi-line input.
//! The real binary and Ollama client against a fake Ollama that can be told to misbehave.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::fake_llm::{last_user_message, FakeOllama, Reply};
use common::Mnemo;
use serde_json::Value;

fn chat(m: &Mnemo, server: &FakeOllama, args: &[&str], input: &str) -> Output {
    let mut a = vec!["chat", "--wait", "0"];
    a.extend_from_slice(args);
    let mut child = m
        .cmd(&a)
        .env("MNEMO_LLM_PROVIDER", "ollama")
        .env("OLLAMA_HOST", &server.url)
        .env("MNEMO_MODEL", "fake-model")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// Only chat requests misbehave; the pipeline's get a plain answer.
fn server(chat_reply: impl Fn(&Value) -> Reply + Send + Sync + 'static) -> FakeOllama {
    FakeOllama::start_replies(Duration::ZERO, move |req| {
        if req["stream"] == true {
            chat_reply(req)
        } else {
            Reply::Text(r#"{"memories": []}"#.into())
        }
    })
}

fn assistant_turns(m: &Mnemo) -> Vec<Value> {
    m.json(&["log"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["role"] == "assistant")
        .cloned()
        .collect()
}

#[test]
fn a_stream_broken_mid_reply_is_reported_on_its_own_line_and_the_partial_reply_kept() {
    let m = Mnemo::new();
    let s = server(|_| Reply::Broken("The first half of a long answer".into()));
    let out = chat(&m, &s, &[], "tell me something\n/session\n");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("The first half of a long answer\n"),
        "{stdout:?}"
    );
    let line = stderr
        .lines()
        .find(|l| l.contains("broke off"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.starts_with("error: the reply broke off"), "{line}");
    assert!(!stderr.contains("could not be reached"), "{stderr}");
    // The chat went on, and the partial reply is in the log, marked.
    assert!(stdout.contains("resume with"), "{stdout}");
    let turns = assistant_turns(&m);
    assert_eq!(turns[0]["content"], "The first half of a long answer");
    assert_eq!(turns[0]["meta"]["partial"], true, "{}", turns[0]);

    let out = chat(&m, &s, &["--once", "again?"], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("broke off") && stderr.contains("partial"),
        "{stderr}"
    );
}

#[test]
fn only_errors_about_reaching_the_model_say_it_could_not_be_reached() {
    let m = Mnemo::new();
    let s = server(|_| Reply::Status(400, "the prompt is longer than the context".into()));
    let out = chat(&m, &s, &[], "hello\n");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("did not answer") && stderr.contains("400"),
        "{stderr}"
    );
    assert!(stderr.contains("longer than the context"), "{stderr}");
    assert!(!stderr.contains("could not be reached"), "{stderr}");

    // A missing key is a setup problem, not an unreachable model; --once has no REPL hints.
    let out = m
        .cmd(&["chat", "--once", "hello"])
        .env("MNEMO_LLM_PROVIDER", "openai")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("not set up") && stderr.contains("OPENAI_API_KEY"),
        "{stderr}"
    );
    assert!(!stderr.contains("could not be reached"), "{stderr}");
    assert!(
        !stderr.contains("/memories"),
        "REPL hint in --once: {stderr}"
    );
    // The message was kept all the same.
    assert!(m.ok(&["log"]).contains("hello"));
}

#[test]
fn empty_and_cut_replies_are_reported() {
    let m = Mnemo::new();
    let s = server(|req| {
        if last_user_message(req).contains("empty") {
            Reply::Text(String::new())
        } else {
            Reply::Cut("A long answer that goes on and".into())
        }
    });
    let out = chat(&m, &s, &["--once", "say nothing: empty"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("empty reply"),
        "{}",
        text(&out.stderr)
    );

    let out = chat(&m, &s, &[], "say nothing: empty\ntell me more\n");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        stderr.contains("[the model returned an empty reply"),
        "{stderr}"
    );
    assert!(stdout.contains("goes on and\n"), "{stdout}");
    assert!(
        stderr.contains("[reply cut off at the model's output limit]"),
        "{stderr}"
    );
    let turns = assistant_turns(&m);
    assert_eq!(turns.len(), 1, "the empty reply was stored: {turns:?}");
    assert_eq!(turns[0]["meta"]["truncated"], true);
}

#[test]
fn a_typed_block_keeps_its_lines_and_drops_its_delimiters() {
    let m = Mnemo::new();
    let s = server(|_| Reply::Text("ok".into()));
    chat(
        &m,
        &s,
        &[],
        "\"\"\"\nfirst line\n\n  indented third\n\"\"\"\nafter\n",
    );
    let sent: Vec<String> = s.chat_requests().iter().map(last_user_message).collect();
    assert_eq!(sent, ["first line\n\n  indented third", "after"]);
}

#[test]
fn usage_shows_whole_model_names() {
    let m = Mnemo::new();
    let s = server(|_| Reply::Text("ok".into()));
    let long = "hf.co/bartowski/SmolLM2-135M-Instruct-GGUF:Q8_0";
    let out = m
        .cmd(&["chat", "--wait", "0", "--once", "hi"])
        .env("MNEMO_LLM_PROVIDER", "ollama")
        .env("OLLAMA_HOST", &s.url)
        .env("MNEMO_MODEL", long)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let usage = m.ok(&["usage"]);
    assert!(usage.contains(&format!("ollama/{long}")), "{usage}");
}
