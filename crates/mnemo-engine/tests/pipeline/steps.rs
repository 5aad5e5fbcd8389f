//! What each step produces: extracted facts with provenance, supersession with history,
//! duplicates as NOOPs, topics, session summaries, memory tags.

use mnemo_core::{
    Actor, JobFilter, JobKind, JobStatus, Kind, Op, Role, TurnFilter, UsageFilter, UsageGroup,
};
use serde_json::json;

use crate::harness::{cells, Harness, Step};

#[test]
fn facts_are_extracted_with_provenance_and_their_topics_consolidated() {
    let h = Harness::new();
    h.model
        .on(
            Step::Extract,
            "name is Alex",
            &cells(&[
                ("fact", "personal", "Is called Alex"),
                ("plan", "rust cli project", "Is building a Rust CLI tool"),
            ]),
        )
        .on(
            Step::Topic,
            "Topic: rust cli project",
            "Alex is building a Rust CLI tool.",
        );
    let rec = h.say(
        "My name is Alex and I'm building a Rust CLI tool",
        "Nice to meet you, Alex!",
    );
    assert_eq!(rec.jobs.len(), 1, "extraction queued with the turns");
    assert_eq!(rec.jobs[0].kind, JobKind::Extract);
    assert!(
        h.contents().is_empty(),
        "nothing is extracted before a worker runs"
    );

    let report = h.drain();
    // extract, 2 reconciles (no similar memory: no model call), 2 topics
    assert_eq!((report.done, report.retried, report.failed), (5, 0, 0));
    let mut contents = h.contents();
    contents.sort();
    assert_eq!(contents, ["Is building a Rust CLI tool", "Is called Alex"]);
    assert!(h.requests(Step::Reconcile).is_empty());
    let current = h.current();
    let m = current.iter().find(|m| m.kind == Kind::Plan).unwrap();
    assert_eq!(
        (m.kind.clone(), m.topic.as_deref()),
        (Kind::Plan, Some("rust cli project"))
    );
    assert_eq!(
        m.source_turns,
        [rec.user_turn.id.clone(), rec.assistant_turn.id.clone()]
    );
    assert_eq!(m.meta["model"], "qwen-test");
    assert_eq!(m.meta["prompt_version"], "extract/1");
    assert_eq!(m.meta["reconcile"]["event"], "ADD");
    let view = h.engine.show("alex", &m.id).unwrap();
    assert_eq!(view.history[0].actor, Actor::Llm);

    let topics = h.engine.store().list_topics(&h.scope).unwrap();
    let names: Vec<&str> = topics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["personal", "rust cli project"]);
    assert_eq!(topics[1].summary, "Alex is building a Rust CLI tool.");
    assert_eq!(topics[1].meta["prompt_version"], "topic/1");
    assert_eq!(topics[1].meta["model"], "qwen-test");
    // Topic summaries ask for the summarize model.
    assert!(h
        .requests(Step::Topic)
        .iter()
        .all(|r| r.body["model"] == "qwen-small"));
    assert!(h
        .requests(Step::Extract)
        .iter()
        .all(|r| r.body["model"] == "qwen-test" && r.body["format"].is_object()));

    let usage = h
        .engine
        .usage(&UsageFilter {
            group: UsageGroup::Task,
            ..Default::default()
        })
        .unwrap();
    let tasks: Vec<(&str, u64)> = usage.iter().map(|u| (u.key.as_str(), u.calls)).collect();
    assert_eq!(tasks, [("topic", 2), ("extract", 1)]);
    assert_eq!(usage[1].input_tokens, 40);
}

#[test]
fn an_updated_preference_supersedes_the_old_one_with_history() {
    let h = Harness::new();
    h.model
        .on(
            Step::Extract,
            "dark mode",
            &cells(&[("preference", "editor", "Prefers dark mode in the editor")]),
        )
        .on(
            Step::Extract,
            "light mode",
            &cells(&[("preference", "editor", "Prefers light mode in the editor")]),
        )
        .on(
            Step::Reconcile,
            "light mode",
            r#"{"event": "UPDATE", "id": 0, "text": "Prefers light mode in the editor", "reason": "the preference changed"}"#,
        );
    h.say("I always use dark mode in my editor", "Noted.");
    h.drain();
    let old = h.current().remove(0);
    h.say("These days I switched to light mode", "Light it is.");
    h.drain();

    assert_eq!(h.contents(), ["Prefers light mode in the editor"]);
    let reconcile = h.requests(Step::Reconcile);
    assert_eq!(reconcile.len(), 1);
    let shown = crate::harness::user_text(&reconcile[0].body);
    assert!(
        shown.contains("[0] (preference, topic editor) Prefers dark mode"),
        "{shown}"
    );

    let view = h.engine.show("alex", &old.id).unwrap();
    assert!(!view.current);
    let new = h.current().remove(0);
    assert_eq!(view.memory.superseded_by.as_deref(), Some(new.id.as_str()));
    let closing = view.history.last().unwrap();
    assert_eq!((closing.op, closing.actor), (Op::Supersede, Actor::Llm));
    assert!(closing
        .reason
        .as_deref()
        .unwrap()
        .contains("the preference changed"));
    assert_eq!(new.meta["reconcile"]["prompt_version"], "reconcile/1");
    assert_eq!(new.meta["reconcile"]["model"], "qwen-test");
}

#[test]
fn a_retraction_forgets_the_old_memory_restorably() {
    let h = Harness::new();
    h.model
        .on(
            Step::Extract,
            "Windows",
            &cells(&[("fact", "computer", "Uses Windows")]),
        )
        .on(
            Step::Extract,
            "gave up",
            &cells(&[("fact", "computer", "No longer uses Windows")]),
        )
        .on(
            Step::Reconcile,
            "No longer",
            r#"{"event": "DELETE", "id": 0, "text": "", "reason": "not true any more"}"#,
        );
    h.say("I use Windows", "OK");
    h.drain();
    let old = h.current().remove(0);
    h.say("I gave up on it last week", "OK");
    h.drain();
    assert!(h.contents().is_empty());
    let view = h.engine.show("alex", &old.id).unwrap();
    assert!(view.memory.deleted);
    assert_eq!(view.history.last().unwrap().op, Op::Delete);
    h.engine.restore("alex", &old.id, Actor::User).unwrap();
}

#[test]
fn duplicates_are_noops_exact_ones_without_a_model_call() {
    let h = Harness::new();
    h.model
        .on(
            Step::Extract,
            "tea",
            &cells(&[("preference", "drinks", "Likes green tea")]),
        )
        .on(
            Step::Extract,
            "matcha",
            &cells(&[("preference", "drinks", "Enjoys green tea a lot")]),
        )
        .on(
            Step::Reconcile,
            "Enjoys green tea",
            r#"{"event": "NOOP", "id": 0, "text": "", "reason": "already known"}"#,
        );
    h.say("I like green tea", "Me too");
    h.drain();
    h.say("Did I mention I like green tea?", "You did");
    h.drain();
    assert_eq!(h.contents(), ["Likes green tea"]);
    assert!(
        h.requests(Step::Reconcile).is_empty(),
        "exact duplicate: no call"
    );
    h.say("matcha is my favourite", "Great");
    h.drain();
    assert_eq!(h.contents(), ["Likes green tea"], "near duplicate: NOOP");
    assert_eq!(h.requests(Step::Reconcile).len(), 1);
    let jobs = h
        .engine
        .jobs(&JobFilter {
            kinds: vec![JobKind::Reconcile],
            ..Default::default()
        })
        .unwrap();
    let events: Vec<&str> = jobs
        .iter()
        .map(|j| j.result["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["NOOP", "NOOP", "ADD"]);
    assert!(jobs.iter().all(|j| j.status == JobStatus::Done));
}

#[test]
fn session_summaries_cover_turn_ranges_every_n_turns_and_at_session_end() {
    let mut s = crate::harness::settings();
    s.summary_every = 4;
    let h = Harness::with_settings(s);
    h.model
        .on(Step::Summarize, "USER: one", "Alex counted to two.");
    h.say("one", "1");
    assert!(h
        .engine
        .jobs(&JobFilter {
            kinds: vec![JobKind::Summarize],
            ..Default::default()
        })
        .unwrap()
        .is_empty());
    let rec = h.say("two", "2");
    assert!(rec.jobs.iter().any(|j| j.kind == JobKind::Summarize));
    h.say("three", "3");
    h.engine.end_session("alex", "s1").unwrap();
    h.drain();

    let sums = h
        .engine
        .store()
        .list_summaries(&h.scope, Some("s1"))
        .unwrap();
    let ranges: Vec<(i64, i64)> = sums.iter().map(|s| (s.first_seq, s.last_seq)).collect();
    assert_eq!(ranges, [(1, 4), (5, 6)]);
    assert_eq!(sums[0].summary, "Alex counted to two.");
    assert_eq!(sums[0].meta["prompt_version"], "summarize/1");
    assert_eq!(sums[0].meta["model"], "qwen-test");
    let reqs = h.requests(Step::Summarize);
    assert!(reqs.iter().all(|r| r.body["model"] == "qwen-small"));
    // Summarized turns stay in the log.
    let turns = h
        .engine
        .turns(&TurnFilter {
            session_id: Some("s1".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(turns.len(), 6);
    assert_eq!(turns[5].role, Role::Assistant);
}

#[test]
fn memory_tags_are_stored_at_once_and_stripped_from_the_turn() {
    let h = Harness::new();
    let rec = h.say(
        "I'm vegetarian",
        "Good to know!\n[MEMORY: preference|Is vegetarian]",
    );
    assert_eq!(rec.assistant_turn.content, "Good to know!");
    // The reply's meta has the one shape of every chat face's: the tags as a count (the
    // memories they became carry the text).
    assert_eq!(rec.assistant_turn.meta["memory_tags"], json!(1));
    assert_eq!(rec.assistant_turn.meta["partial"], json!(false));
    assert_eq!(rec.tagged.len(), 1);
    let m = rec.tagged[0].memory();
    assert_eq!(
        (m.kind.clone(), m.content.as_str()),
        (Kind::Preference, "Is vegetarian")
    );
    assert_eq!(m.meta["prompt_version"], "memory-tag/1");
    assert_eq!(m.source_turns.len(), 2);
    // The extraction of the same fact later is an exact duplicate: NOOP.
    h.model.on(
        Step::Extract,
        "vegetarian",
        &cells(&[("preference", "diet", "Is vegetarian")]),
    );
    h.drain();
    assert_eq!(h.contents(), ["Is vegetarian"]);
}

#[test]
fn chat_calls_are_counted_next_to_pipeline_calls() {
    let h = Harness::new();
    let reply = mnemo_llm::ChatResponse {
        content: "hi".into(),
        model: "qwen-chat".into(),
        usage: mnemo_llm::Usage {
            input_tokens: 500,
            output_tokens: 20,
        },
        ..Default::default()
    };
    h.engine
        .record_usage(&h.scope, "chat", "ollama", &reply)
        .unwrap();
    let rows = h
        .engine
        .usage(&UsageFilter {
            user_id: Some("alex".into()),
            group: UsageGroup::Task,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].key.as_str(),
            rows[0].model.as_str(),
            rows[0].input_tokens
        ),
        ("chat", "ollama/qwen-chat", 500)
    );
}

#[test]
fn rerunning_an_extraction_reconciles_only_the_cells_that_are_new() {
    let h = Harness::new();
    h.model.on(
        Step::Extract,
        "Oslo",
        &cells(&[("fact", "home", "Lives in Oslo")]),
    );
    h.say("I live in Oslo and work as a nurse", "ok");
    h.drain();
    let kinds = |kind| JobFilter {
        kinds: vec![kind],
        ..Default::default()
    };
    let extraction = h.engine.jobs(&kinds(JobKind::Extract)).unwrap().remove(0);
    // A better model (or prompt) finds more in the same turns.
    h.model.fail_next(
        Step::Extract,
        crate::harness::ollama(&cells(&[
            ("fact", "home", "Lives in Oslo"),
            ("fact", "work", "Works as a nurse"),
        ])),
    );
    h.engine.retry_job(&extraction.id).unwrap();
    h.drain();
    let mut contents = h.contents();
    contents.sort();
    assert_eq!(contents, ["Lives in Oslo", "Works as a nurse"]);
    assert_eq!(h.engine.jobs(&kinds(JobKind::Reconcile)).unwrap().len(), 2);
}
