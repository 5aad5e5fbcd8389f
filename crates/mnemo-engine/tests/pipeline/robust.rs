//! What a real small model does to the pipeline, through the real OpenAI client (the wire
//! format of llama.cpp's server): replies cut at the token limit, babble, loops, HTTP 400s.
//! None of it may become a silent success or a stored "fact".

use std::sync::{Arc, Mutex};

use mnemo_core::{Job, JobFilter, JobKind, JobStatus};
use mnemo_engine::{Engine, Exchange};
use mnemo_llm::testkit::server::{FakeServer, Recorded, Reply};
use mnemo_llm::ProviderKind;
use serde_json::{json, Value};

use crate::harness::{bare, llm_of, settings, step_of, user_text, Step};

/// An OpenAI chat completion with this finish reason and completion token count.
fn completion(content: &str, finish: &str, tokens: u64) -> Reply {
    Reply::json(
        200,
        &json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "smol-test",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": finish}],
            "usage": {"prompt_tokens": 50, "completion_tokens": tokens, "total_tokens": 50 + tokens}
        }),
    )
}

/// Conversation lines of an extraction prompt.
fn turn_lines(body: &Value) -> Vec<String> {
    user_text(body)
        .lines()
        .filter(|l| l.starts_with("USER: ") || l.starts_with("ASSISTANT: "))
        .map(str::to_owned)
        .collect()
}

/// A fake small model: `extract` answers extraction prompts; the other steps get sensible
/// answers unless `summary` says otherwise.
fn model(
    extract: impl Fn(&Recorded, &[String]) -> Reply + Send + Sync + 'static,
    summary: &'static str,
) -> (tempfile::TempDir, Engine, FakeServer) {
    let server = FakeServer::respond_with(move |req| match step_of(&req.body) {
        Step::Extract => extract(req, &turn_lines(&req.body)),
        Step::Reconcile => completion(
            r#"{"event": "ADD", "id": null, "text": "", "reason": "new"}"#,
            "stop",
            20,
        ),
        Step::Summarize => completion(summary, "stop", 30),
        _ => completion("A topic summary.", "stop", 10),
    });
    let (dir, engine, _clock) = bare(settings());
    let engine = engine.with_llm(llm_of(ProviderKind::OpenAi, &server.url));
    (dir, engine, server)
}

fn say(engine: &Engine, user: &str, assistant: &str) {
    engine
        .record_exchange(Exchange::from_reply(
            mnemo_core::Scope::user("alex"),
            "s1",
            user,
            assistant,
        ))
        .unwrap();
}

fn jobs(engine: &Engine, kind: JobKind) -> Vec<Job> {
    let mut all = engine
        .jobs(&JobFilter {
            kinds: vec![kind],
            ..JobFilter::default()
        })
        .unwrap();
    all.reverse();
    all
}

fn memories(engine: &Engine) -> Vec<String> {
    engine
        .list(&mnemo_core::MemoryFilter::scope(mnemo_core::Scope::user(
            "alex",
        )))
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect()
}

/// A cut reply: one complete item, then a half-written one.
const CUT: &str = r#"{"memories": [{"kind": "risk", "topic": "work", "salience": 0.9, "content": "The launch deadline is at risk"}, {"kind": "fact", "topic": "health", "salience": 1, "content": "Is allergic to pea"#;

#[test]
fn a_cut_reply_is_retried_larger_then_split_and_never_a_silent_success() {
    let limits = Arc::new(Mutex::new(Vec::new()));
    let seen = limits.clone();
    let (_d, engine, _server) = model(
        move |req, lines| {
            seen.lock()
                .unwrap()
                .push((lines.len(), req.body["max_tokens"].as_u64().unwrap_or(0)));
            let limit = req.body["max_tokens"].as_u64().unwrap_or(1024);
            if lines.len() > 1 {
                return completion(CUT, "length", limit);
            }
            let line = &lines[0];
            if line.starts_with("USER: ") {
                let content = line.trim_start_matches("USER: ");
                let reply = json!({"memories": [{"kind": "fact", "topic": "health", "salience": 0.9, "content": content}]});
                completion(&reply.to_string(), "stop", 40)
            } else {
                completion(r#"{"memories": []}"#, "stop", 5)
            }
        },
        "The user shared health and work news.",
    );
    say(
        &engine,
        "I have a peanut allergy",
        "Noted, I will keep peanuts out of recipes.",
    );
    engine.run_jobs("w", None).unwrap();
    let extract = jobs(&engine, JobKind::Extract);
    assert_eq!(extract.len(), 3, "the job and its two halves: {extract:#?}");
    assert!(extract.iter().all(|j| j.status == JobStatus::Done));
    assert!(
        extract[0].result["split"].is_array(),
        "{}",
        extract[0].result
    );
    assert!(extract[0].result["reason"]
        .as_str()
        .unwrap()
        .contains("token limit"));
    assert_eq!(memories(&engine), vec!["I have a peanut allergy"]);
    // The two-turn prompt was tried at the configured limit, then with a larger one.
    let limits = limits.lock().unwrap().clone();
    assert_eq!(limits[0], (2, 1024));
    assert_eq!(limits[1], (2, 2048));
    assert!(limits[2..].iter().all(|(n, _)| *n == 1), "{limits:?}");
}

#[test]
fn a_single_turn_still_cut_keeps_its_complete_items_and_fails_visibly() {
    let (_d, engine, _server) = model(
        |req, _| completion(CUT, "length", req.body["max_tokens"].as_u64().unwrap_or(1)),
        "Summary.",
    );
    engine
        .record_turn(mnemo_core::NewTurn {
            id: None,
            scope: mnemo_core::Scope::user("alex"),
            session_id: "s1".into(),
            role: mnemo_core::Role::User,
            content: "The launch slips; also I'm allergic to peanuts".into(),
            created_at: None,
            meta: Value::Null,
        })
        .unwrap();
    engine.end_session("alex", "s1").unwrap();
    engine.run_jobs("w", None).unwrap();
    let extract = jobs(&engine, JobKind::Extract);
    assert_eq!(extract.len(), 1);
    let job = &extract[0];
    assert_eq!(job.status, JobStatus::Failed, "{job:#?}");
    assert_eq!(
        job.attempts, 1,
        "failed at once: retrying cannot make it fit"
    );
    let error = job.last_error.clone().unwrap();
    assert!(
        error.contains("cut at the token limit") && error.contains("kept 1"),
        "{error}"
    );
    assert_eq!(memories(&engine), vec!["The launch deadline is at risk"]);
}

#[test]
fn babble_loops_and_long_topics_are_dropped_or_clipped_and_recorded() {
    let (_d, engine, _server) = model(
        |_, _| {
            let reply = json!({"memories": [
                {"kind": "fact", "topic": "assistant", "salience": 1, "content": "I'm just a personal assistant, I don't have a favourite food"},
                {"kind": "preference", "topic": "food preferences of the user when eating out at restaurants", "salience": 7, "content": "Prefers spicy food"},
                {"kind": "opinion", "topic": "x", "salience": 0.5, "content": "Went hiking. Went hiking. Went hiking. Went hiking."},
                {"kind": "mood", "topic": "life", "salience": 0.4, "content": "Enjoys long walks"}
            ]});
            completion(&reply.to_string(), "stop", 90)
        },
        "We talked about food. We talked about food. We talked about food. We talked about food.",
    );
    say(
        &engine,
        "I love spicy food",
        "Great! As an AI I can't taste it.",
    );
    engine.end_session("alex", "s1").unwrap();
    engine.run_jobs("w", None).unwrap();
    let job = &jobs(&engine, JobKind::Extract)[0];
    let dropped = job.result["dropped"].to_string();
    assert!(
        dropped.contains("assistant talking about itself"),
        "{dropped}"
    );
    assert!(dropped.contains("repeats"), "{dropped}");
    let adjusted = job.result["adjusted"].to_string();
    assert!(
        adjusted.contains("topic clipped") && adjusted.contains("salience 7"),
        "{adjusted}"
    );
    assert!(adjusted.contains("unknown kind `mood`"), "{adjusted}");
    let mut stored = memories(&engine);
    stored.sort();
    assert_eq!(stored, vec!["Enjoys long walks", "Prefers spicy food"]);
    let list = engine
        .list(&mnemo_core::MemoryFilter::scope(mnemo_core::Scope::user(
            "alex",
        )))
        .unwrap();
    let spicy = list
        .iter()
        .find(|m| m.content == "Prefers spicy food")
        .unwrap();
    assert_eq!(spicy.topic.as_deref(), Some("food preferences of the"));
    assert_eq!(spicy.salience, 1.0);
    // The looping session summary is rejected, not stored.
    let summary = &jobs(&engine, JobKind::Summarize)[0];
    assert_eq!(
        summary.status,
        JobStatus::Queued,
        "retried later: {summary:#?}"
    );
    assert!(summary.last_error.as_deref().unwrap().contains("repeats"));
    assert!(engine
        .store()
        .list_summaries(&mnemo_core::Scope::user("alex"), Some("s1"))
        .unwrap()
        .is_empty());
}

#[test]
fn a_bad_request_fails_at_once_and_a_context_overflow_splits_the_range() {
    let (_d, engine, _server) = model(
        |_, lines| {
            if lines.len() > 1 {
                return Reply::json(
                    400,
                    &json!({"error": {"message": "the request exceeds the available context size, try increasing it", "type": "exceed_context_size_error"}}),
                );
            }
            if lines[0].contains("broken") {
                return Reply::json(
                    400,
                    &json!({"error": {"message": "invalid grammar in response_format"}}),
                );
            }
            completion(r#"{"memories": []}"#, "stop", 5)
        },
        "Summary.",
    );
    say(&engine, "this one is broken", "ok");
    engine.run_jobs("w", None).unwrap();
    let extract = jobs(&engine, JobKind::Extract);
    assert!(extract[0].result["reason"]
        .as_str()
        .unwrap()
        .contains("context"));
    let user_half = extract
        .iter()
        .find(|j| j.first_seq == Some(1) && j.last_seq == Some(1))
        .unwrap();
    assert_eq!(user_half.status, JobStatus::Failed);
    assert_eq!(
        user_half.attempts, 1,
        "a 400 is not retried to max_attempts"
    );
    assert!(user_half
        .last_error
        .as_deref()
        .unwrap()
        .contains("HTTP 400"));
    let assistant_half = extract.iter().find(|j| j.first_seq == Some(2)).unwrap();
    assert_eq!(assistant_half.status, JobStatus::Done);
}

#[test]
fn a_summary_cut_twice_is_retried_later_not_stored() {
    let server = FakeServer::respond_with(|req| match step_of(&req.body) {
        Step::Summarize => completion(
            "The user talked about their trip and then",
            "length",
            req.body["max_tokens"].as_u64().unwrap_or(0),
        ),
        Step::Extract => completion(r#"{"memories": []}"#, "stop", 5),
        _ => completion("ok", "stop", 1),
    });
    let (_d, engine, _clock) = bare(settings());
    let engine = engine.with_llm(llm_of(ProviderKind::OpenAi, &server.url));
    say(&engine, "We went to Kyoto", "Sounds lovely");
    engine.end_session("alex", "s1").unwrap();
    engine.run_jobs("w", None).unwrap();
    let job = &jobs(&engine, JobKind::Summarize)[0];
    assert_eq!(job.status, JobStatus::Queued, "{job:#?}");
    assert!(job
        .last_error
        .as_deref()
        .unwrap()
        .contains("cut at the token limit"));
    let limits: Vec<u64> = server
        .requests()
        .iter()
        .filter(|r| step_of(&r.body) == Step::Summarize)
        .map(|r| r.body["max_tokens"].as_u64().unwrap())
        .collect();
    assert_eq!(limits, vec![1024, 2048]);
    assert!(engine
        .store()
        .list_summaries(&mnemo_core::Scope::user("alex"), Some("s1"))
        .unwrap()
        .is_empty());
}

#[test]
fn a_reply_that_loops_to_the_limit_is_not_asked_again_with_more_tokens() {
    let looping = format!(
        r#"{{"memories": [{{"kind": "fact", "topic": "x", "salience": 1, "content": "{}"#,
        "The user likes tea. ".repeat(60)
    );
    let (_d, engine, server) = model(
        move |req, _| {
            completion(
                &looping,
                "length",
                req.body["max_tokens"].as_u64().unwrap_or(0),
            )
        },
        "Summary.",
    );
    say(&engine, "I like tea", "Tea is nice");
    engine.run_jobs("w", None).unwrap();
    let extract = jobs(&engine, JobKind::Extract);
    assert_eq!(
        extract.len(),
        3,
        "split, then each half fails: {extract:#?}"
    );
    assert!(extract[1..].iter().all(|j| j.status == JobStatus::Failed));
    let limits: Vec<u64> = server
        .requests()
        .iter()
        .filter(|r| step_of(&r.body) == Step::Extract)
        .map(|r| r.body["max_tokens"].as_u64().unwrap())
        .collect();
    assert_eq!(
        limits,
        vec![1024, 1024, 1024],
        "one call per prompt, no larger retry"
    );
    assert!(memories(&engine).is_empty());
}
