//! The same conversation through the OpenAI-compatible and Anthropic clients: structured
//! output (`response_format` json_schema; a forced tool call) carries extraction and
//! reconciliation, plain text carries summaries, and usage is counted from each format.

use mnemo_core::{Op, UsageFilter};
use mnemo_llm::ProviderKind;

use crate::harness::{cells, settings, Harness, Step};

fn conversation(kind: ProviderKind, model: &str) {
    let h = Harness::speaking(kind, settings());
    h.model
        .on(
            Step::Extract,
            "dark mode",
            &cells(&[("preference", "editor", "Prefers dark mode")]),
        )
        .on(
            Step::Extract,
            "light mode",
            &cells(&[("preference", "editor", "Prefers light mode")]),
        )
        .on(
            Step::Reconcile,
            "light mode",
            r#"{"event": "UPDATE", "id": 0, "text": "Prefers light mode", "reason": "changed"}"#,
        )
        .on(Step::Topic, "light mode", "Alex now prefers light mode.");
    h.say("I use dark mode", "OK");
    h.drain();
    let old = h.current().remove(0);
    h.say("I switched to light mode", "OK");
    h.drain();
    assert_eq!(h.contents(), ["Prefers light mode"]);
    let view = h.engine.show("alex", &old.id).unwrap();
    assert_eq!(view.history.last().unwrap().op, Op::Supersede);
    assert_eq!(h.current()[0].meta["model"], model);
    let topics = h.engine.store().list_topics(&h.scope).unwrap();
    assert_eq!(topics[0].summary, "Alex now prefers light mode.");
    let usage = h.engine.usage(&UsageFilter::default()).unwrap();
    assert_eq!(usage[0].model, format!("{kind}/{model}"));
    assert!(usage[0].input_tokens >= 40 && usage[0].output_tokens >= 8);
}

#[test]
fn openai_compatible_servers_run_the_pipeline() {
    conversation(ProviderKind::OpenAi, "gpt-test");
    let h = Harness::speaking(ProviderKind::OpenAi, settings());
    h.say("I use dark mode", "OK");
    h.drain();
    let req = &h.requests(Step::Extract)[0];
    assert_eq!(req.path, "/chat/completions");
    assert_eq!(req.body["response_format"]["type"], "json_schema");
}

#[test]
fn anthropic_runs_the_pipeline_through_forced_tool_calls() {
    conversation(ProviderKind::Anthropic, "claude-test");
    let h = Harness::speaking(ProviderKind::Anthropic, settings());
    h.say("I use dark mode", "OK");
    h.drain();
    let req = &h.requests(Step::Extract)[0];
    assert_eq!(req.path, "/v1/messages");
    assert_eq!(req.body["tool_choice"]["name"], "respond");
}
