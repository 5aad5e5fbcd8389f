//! `mnemo chat` end to end: the real binary, the real Ollama client, a fake Ollama server.
//! Assertions are on what the model was sent (the injected memory), not only on replies.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};

use common::fake_llm::{last_user_message, pipeline_reply, FakeOllama};
use common::Mnemo;

/// Runs `mnemo chat` with `input` on stdin (script mode) against the fake server.
fn chat(m: &Mnemo, server: &FakeOllama, args: &[&str], input: &str) -> Output {
    // The wait at exit ends as soon as the jobs are done; generous for a loaded machine.
    let mut a = vec!["chat", "--wait", "30"];
    a.extend_from_slice(args);
    let mut cmd = m.cmd(&a);
    cmd.env("MNEMO_LLM_PROVIDER", "ollama")
        .env("OLLAMA_HOST", &server.url)
        .env("MNEMO_MODEL", "fake-model")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "chat failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

#[test]
fn seed_000_story_a_new_session_is_greeted_with_memory() {
    let m = Mnemo::new();
    let server = FakeOllama::start(|req| {
        if let Some(r) = pipeline_reply(
            req,
            "Alex introduced himself and is building a command-line tool in Rust.",
        ) {
            return r;
        }
        let msg = last_user_message(req);
        if msg.contains("Rust CLI") {
            "Nice to meet you, Alex! What does the CLI do?\n[MEMORY: fact|Alex is building a Rust CLI tool]".into()
        } else {
            "Welcome back!".into()
        }
    });
    let out = chat(
        &m,
        &server,
        &[],
        "My name is Alex and I'm building a Rust CLI tool\nremember user_name=Alex\nquit\n",
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(stdout.contains("Nice to meet you, Alex!"), "{stdout}");
    assert!(
        !stdout.contains("MEMORY"),
        "tag shown to the user: {stdout}"
    );
    assert!(stderr.contains("stored: user_name = Alex"), "{stderr}");
    // Quitting wrote the session summary through the memory pipeline.
    assert!(stderr.contains("summarized"), "{stderr}");

    // A new process and session: the prompt carries Alex and the Rust CLI tool.
    chat(&m, &server, &[], "Hey, what were we working on?\n");
    let prompts = server.system_prompts();
    let last = prompts.last().unwrap();
    assert!(last.contains("Alex"), "{last}");
    assert!(last.contains("Rust CLI tool"), "{last}");
    assert!(last.contains("not instructions"), "{last}");
    assert!(
        last.contains("command-line tool in Rust"),
        "past session summary missing: {last}"
    );
    assert_eq!(m.json(&["sessions"]).as_array().unwrap().len(), 2);
}

#[test]
fn seed_004_dark_mode_preference_is_in_the_second_sessions_prompt() {
    let m = Mnemo::new();
    let server = FakeOllama::start(|req| {
        if last_user_message(req).contains("dark mode") {
            "Got it, Dana. [MEMORY: preference|Dana prefers dark mode]".into()
        } else {
            "You mentioned dark mode.".into()
        }
    });
    chat(
        &m,
        &server,
        &["--once", "My name is Dana and I prefer dark mode."],
        "",
    );
    let out = chat(
        &m,
        &server,
        &["--once", "What UI preference did I mention?"],
        "",
    );
    assert!(text(&out.stdout).contains("You mentioned dark mode."));
    let req = server.chat_requests().last().unwrap().clone();
    let system = req["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("Dana prefers dark mode"), "{system}");
    assert_eq!(req["model"], "fake-model");
    assert_eq!(req["stream"], true);
}

#[test]
fn seed_002_tags_are_hidden_and_stored() {
    let m = Mnemo::new();
    let server = FakeOllama::start(|_| {
        "Sure. [MEMORY: preference|likes concise answers] Anything else?".into()
    });
    let out = chat(&m, &server, &["--once", "Keep answers short please"], "");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Sure.") && stdout.contains("Anything else?"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("MEMORY") && !stdout.contains("concise"),
        "{stdout}"
    );
    let mems = m.json(&["list", "--kind", "preference"]);
    assert_eq!(mems[0]["content"], "likes concise answers");
    assert_eq!(mems[0]["source_turns"].as_array().unwrap().len(), 2);
    // The stored assistant turn has no tag either.
    let log = m.ok(&["log"]);
    assert!(!log.contains("[MEMORY"), "{log}");
}

#[test]
fn sessions_resume_by_id_prefix_and_commands_work_offline() {
    let m = Mnemo::new();
    let server = FakeOllama::start(|_| "ok".into());
    chat(&m, &server, &["--once", "first message"], "");
    let sid = m.json(&["sessions"])[0]["id"].as_str().unwrap().to_string();
    let out = chat(
        &m,
        &server,
        &["--session", &sid[..8]],
        "/session\nsecond message\n/context\n/help\n/quit\n",
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&sid), "{stdout}");
    assert!(
        stdout.contains("this session")
            && stdout.contains("first message")
            && !stdout.contains("RecentTurn"),
        "/context: {stdout}"
    );
    assert!(stdout.contains("/memories"), "/help: {stdout}");
    let log = m.json(&["log", "--session", &sid[..8]]);
    assert_eq!(log.as_array().unwrap().len(), 4);
    // The replayed turns reached the model as messages.
    let req = server.chat_requests().last().unwrap().clone();
    assert_eq!(req["messages"][1]["content"], "first message");
}

#[test]
fn an_unreachable_model_gives_a_clear_message_and_memory_still_works() {
    let m = Mnemo::new();
    let out = m
        .cmd(&["chat"])
        .env("MNEMO_LLM_PROVIDER", "ollama")
        .env("OLLAMA_HOST", "http://127.0.0.1:9")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .unwrap()
                .write_all(b"hello?\nremember editor=helix\n/facts\n/memories\nq\n")?;
            c.wait_with_output()
        })
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("127.0.0.1:9"), "URL not named: {stderr}");
    assert!(stderr.to_lowercase().contains("ollama"), "{stderr}");
    assert!(stdout.contains("helix"), "/facts: {stdout}");
    assert!(stderr.contains("summary queued"), "{stderr}");
    // The user's message was kept even though no model answered.
    assert!(m.ok(&["log"]).contains("hello?"));
}

#[test]
fn forget_by_query_asks_before_deleting_several() {
    let m = Mnemo::new();
    m.ok(&["remember", "Likes green tea"]);
    m.ok(&["remember", "Likes black tea"]);
    let server = FakeOllama::start(|_| "ok".into());
    let out = chat(&m, &server, &[], "/forget tea\nn\n/memories\n");
    assert!(text(&out.stderr).contains("nothing forgotten"));
    assert_eq!(m.json(&["list"]).as_array().unwrap().len(), 2);
    chat(&m, &server, &[], "/forget tea\ny\n");
    assert!(m.json(&["list"]).as_array().unwrap().is_empty());
}

#[test]
fn a_budget_the_context_tool_refuses_is_a_clear_error_before_anything_is_recorded() {
    let m = Mnemo::new();
    m.ok(&["remember", "Likes green tea"]);
    let err = m.fails(&["chat", "--budget", "50", "--once", "hello"], 2);
    assert!(err.contains("--budget 100 to 32000"), "{err}");
    assert!(m.json(&["log"]).as_array().unwrap().is_empty());
}

#[test]
fn slash_remember_memories_and_forget_by_id_keep_the_session_and_the_users_name() {
    let m = Mnemo::new();
    let server = FakeOllama::start(|_| "ok".into());
    // A /remember before the session's first message (the session has no turns yet).
    let first = chat(&m, &server, &[], "/remember Likes rain\n");
    assert!(
        text(&first.stderr).contains("[memory] stored"),
        "{}",
        text(&first.stderr)
    );
    m.ok(&["forget", m.json(&["list"])[0]["id"].as_str().unwrap()]);
    let out = chat(
        &m,
        &server,
        &[],
        "hello\n/remember Prefers dark mode\nremember city=Lyon\n/memories\n/memories dark\n",
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(stderr.contains("[memory] stored: city = Lyon"), "{stderr}");
    assert_eq!(stdout.matches("Prefers dark mode").count(), 2, "{stdout}");
    let sid = m.json(&["sessions"])[0]["id"].as_str().unwrap().to_string();
    let list = m.json(&["list", "--key", "city"]);
    let city = &list[0];
    assert_eq!(city["content"], "Lyon");
    assert_eq!(city["session_id"], sid.as_str());
    let id = city["id"].as_str().unwrap().to_string();
    // Changes made in the chat are the user's; the same change from the CLI is the CLI's.
    let history = |m: &Mnemo| m.json(&["show", &id])["history"].clone();
    assert_eq!(history(&m)[0]["actor"], "user");
    chat(&m, &server, &[], &format!("/forget {id}\n"));
    assert_eq!(history(&m)[1]["op"], "delete");
    assert_eq!(history(&m)[1]["actor"], "user");
    m.ok(&["restore", &id]);
    assert_eq!(history(&m)[2]["actor"], "cli");
}

#[test]
fn what_was_said_in_an_earlier_session_reaches_the_prompt_without_any_extraction() {
    let m = Mnemo::new();
    m.ok(&[
        "turn",
        "add",
        "--session",
        "s1",
        "My sister Maya is getting married in Lisbon on June 14th",
    ]);
    m.ok(&[
        "turn",
        "add",
        "--session",
        "s1",
        "--role",
        "assistant",
        "Congratulations to Maya!",
    ]);
    // Nothing was extracted (no model ran): `mnemo context` shows what an agent would get.
    let shown = m.ok(&["context", "when is my sister's wedding?"]);
    assert!(shown.contains("Lisbon on June 14th"), "{shown}");
    assert!(shown.contains("Congratulations to Maya!"), "{shown}");
    let ctx = m.json(&["context", "when is my sister's wedding?"]);
    let items = ctx["items"].as_array().unwrap();
    assert!(items
        .iter()
        .any(|i| i["section"] == "past_turn" && i["session_id"] == "s1"));
    let nothing = m.ok(&["context", "what is the capital of Australia?"]);
    assert!(nothing.contains("nothing to inject"), "{nothing}");

    // The chat, in a new session, sends it to the model; a model that extracts nothing
    // (every pipeline call gets prose) changes nothing.
    let server = FakeOllama::start(|_| "I don't know.".into());
    chat(&m, &server, &["--once", "when is my sister's wedding?"], "");
    let prompts = server.system_prompts();
    let sent = prompts
        .iter()
        .find(|p| p.contains("Lisbon"))
        .unwrap_or_else(|| panic!("no prompt held the wedding: {prompts:#?}"));
    assert!(sent.contains("June 14th"), "{sent}");
    assert!(sent.contains("not instructions"), "{sent}");
}
