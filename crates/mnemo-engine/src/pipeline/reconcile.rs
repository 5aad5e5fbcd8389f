//! Step 3: reconciliation (mem0's classic scheme). A new cell is compared with the
//! similar current memories of the same user, and the model decides:
//!
//! - ADD: stored as a new memory;
//! - UPDATE: the old memory is superseded (closed with `valid_to`, linked to the new one,
//!   history records both and the model's reason) — its key is kept;
//! - DELETE: the old memory is forgotten (closed and hidden, restorable, with the reason);
//! - NOOP: nothing is written.
//!
//! No model call is made when it cannot matter: with no similar memory the cell is added,
//! and an exact duplicate (same text ignoring case and spacing) is a NOOP. The model sees
//! memories by small numbers, never by id, so it cannot invent an id; a number it was not
//! shown makes the reply unusable (retried). Re-running a reconcile job after a crash is
//! safe: what the first run wrote is now an exact duplicate.

use mnemo_core::{Actor, Job, JobKind, Memory, MemoryFilter, NewJob, Scope, TimeView};
use mnemo_llm::{ChatRequest, Message};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{Cell, StepOutput};
use super::llm::{call_whole, cut_error, is_cut, json_of, StepError};
use super::{topics, PipelineLlm, Prompt};
use crate::{Engine, NewMemory, RememberOutcome};

/// The decision for one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Add,
    Update,
    Delete,
    Noop,
}

impl Event {
    fn as_str(self) -> &'static str {
        match self {
            Event::Add => "ADD",
            Event::Update => "UPDATE",
            Event::Delete => "DELETE",
            Event::Noop => "NOOP",
        }
    }
}

/// A decision with its target (an index into the candidates), text and reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub event: Event,
    pub target: Option<usize>,
    pub text: Option<String>,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
struct Payload {
    cell: Cell,
    #[serde(default)]
    source_turns: Vec<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    prompt_version: Option<String>,
}

/// The JSON Schema of the reply.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "event": {"type": "string", "enum": ["ADD", "UPDATE", "DELETE", "NOOP"]},
            "id": {"type": ["integer", "null"]},
            "text": {"type": "string"},
            "reason": {"type": "string"}
        },
        "required": ["event", "id", "text", "reason"],
        "additionalProperties": false
    })
}

/// Runs a reconcile job.
pub(crate) fn run(engine: &Engine, llm: &PipelineLlm, job: &Job) -> Result<StepOutput, StepError> {
    let payload: Payload = serde_json::from_value(job.payload.clone())
        .map_err(|e| StepError::Permanent(format!("reconcile job payload: {e}")))?;
    let scope = job.scope();
    let candidates = similar(engine, &scope, &payload.cell)?;
    let (decision, model) = if let Some(i) = candidates
        .iter()
        .position(|m| same_text(&m.content, &payload.cell.content))
    {
        let d = Decision {
            event: Event::Noop,
            target: Some(i),
            text: None,
            reason: "exact duplicate of an existing memory".into(),
        };
        (d, None)
    } else if candidates.is_empty() {
        let d = Decision {
            event: Event::Add,
            target: None,
            text: None,
            reason: "no similar memory".into(),
        };
        (d, None)
    } else {
        let (d, model) = ask(engine, llm, job, &candidates, &payload.cell)?;
        (d, Some(model))
    };
    apply(engine, job, &scope, &payload, &candidates, &decision, model)
}

/// Current memories of the scope similar to the cell: full-text neighbours, plus the
/// cell's topic's memories (a changed preference often shares few words with the old).
pub fn similar(engine: &Engine, scope: &Scope, cell: &Cell) -> Result<Vec<Memory>, StepError> {
    let limit = engine.pipeline.settings.similar_limit.max(1);
    let filter = MemoryFilter::scope(scope.clone());
    let mut out: Vec<Memory> = engine
        .store
        .search_memories(&cell.content, &filter, limit)?
        .into_iter()
        .map(|h| h.item)
        .collect();
    if let Some(topic) = &cell.topic {
        let by_topic = MemoryFilter {
            topic: Some(topic.clone()),
            view: TimeView::Current,
            limit: Some(limit),
            ..MemoryFilter::scope(scope.clone())
        };
        for m in engine.store.list_memories(&by_topic)? {
            if !out.iter().any(|o| o.id == m.id) {
                out.push(m);
            }
        }
    }
    out.truncate(limit * 2);
    Ok(out)
}

fn ask(
    engine: &Engine,
    llm: &PipelineLlm,
    job: &Job,
    candidates: &[Memory],
    cell: &Cell,
) -> Result<(Decision, String), StepError> {
    let prompt = Prompt::of(JobKind::Reconcile);
    let mut listing = String::from("Existing memories:\n");
    for (i, m) in candidates.iter().enumerate() {
        let topic = m.topic.as_deref().unwrap_or("-");
        listing.push_str(&format!(
            "[{i}] ({}, topic {topic}) {}\n",
            m.kind, m.content
        ));
    }
    let topic = cell.topic.as_deref().unwrap_or("-");
    listing.push_str(&format!(
        "\nNew memory: ({}, topic {topic}) {}\n",
        cell.kind, cell.content
    ));
    let req = ChatRequest::new(vec![Message::system(prompt.text), Message::user(listing)])
        .with_model(llm.model_for(JobKind::Reconcile))
        .with_temperature(0.0)
        .with_json_schema(schema());
    let reply = call_whole(engine, llm, job, &req)?;
    if is_cut(&reply) {
        // A cut decision may carry a half-written text: never act on it.
        return Err(cut_error(&reply));
    }
    let decision = parse_decision(&json_of(&reply)?, candidates.len())?;
    Ok((decision, reply.model))
}

/// Reads and checks a decision; `n` is the number of candidates shown.
pub fn parse_decision(v: &Value, n: usize) -> Result<Decision, StepError> {
    let bad = |why: String| StepError::retry(format!("unusable reconcile reply: {why}: {v}"));
    let event = match v
        .get("event")
        .and_then(Value::as_str)
        .map(str::to_uppercase)
    {
        Some(e) if e == "ADD" => Event::Add,
        Some(e) if e == "UPDATE" => Event::Update,
        Some(e) if e == "DELETE" => Event::Delete,
        Some(e) if e == "NOOP" || e == "NONE" => Event::Noop,
        other => return Err(bad(format!("event {other:?}"))),
    };
    let target = match v.get("id") {
        Some(Value::Number(x)) => x.as_u64().map(|x| x as usize),
        Some(Value::String(s)) => s.trim().trim_matches(['[', ']']).parse().ok(),
        _ => None,
    };
    if matches!(event, Event::Update | Event::Delete) && target.is_none_or(|t| t >= n) {
        return Err(bad(format!(
            "{} needs one of the ids 0..{n}",
            event.as_str()
        )));
    }
    let text = v
        .get("text")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let reason = v
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_owned();
    Ok(Decision {
        event,
        target: target.filter(|t| *t < n),
        text,
        reason,
    })
}

fn apply(
    engine: &Engine,
    job: &Job,
    scope: &Scope,
    p: &Payload,
    candidates: &[Memory],
    d: &Decision,
    reconcile_model: Option<String>,
) -> Result<StepOutput, StepError> {
    let target = d.target.and_then(|i| candidates.get(i));
    let reason = format!("{} by the pipeline: {}", d.event.as_str(), d.reason);
    let new_memory = |content: &str| NewMemory {
        kind: p.cell.kind.clone(),
        key: None,
        content: content.to_owned(),
        topic: p.cell.topic.clone(),
        salience: p.cell.salience,
        pinned: false,
        expires_at: None,
        session_id: job.session_id.clone(),
        source_turns: p.source_turns.clone(),
        meta: json!({
            "source": "pipeline",
            "model": p.model,
            "prompt_version": p.prompt_version,
            "reconcile": {
                "model": reconcile_model,
                "prompt_version": Prompt::of(JobKind::Reconcile).version,
                "event": d.event.as_str(),
            },
            "job": job.id,
        }),
        reason: Some(reason.clone()),
    };
    let text = d.text.clone().unwrap_or_else(|| p.cell.content.clone());
    let mut touched: Option<Memory> = None;
    let mut written: Option<String> = None;
    match (d.event, target) {
        (Event::Add, _) => {
            let out = engine.remember(scope, new_memory(&text), Actor::Llm)?;
            if !matches!(out, RememberOutcome::Unchanged { .. }) {
                written = Some(out.memory().id.clone());
                touched = Some(out.memory().clone());
            }
        }
        (Event::Update, Some(old)) if !same_text(&old.content, &text) => {
            let mut new = new_memory(&text);
            new.key = old.key.clone();
            new.topic = new.topic.or_else(|| old.topic.clone());
            new.content = check_text(&text)?;
            let out = engine.supersede(old.clone(), &old.scope(), new, Actor::Llm)?;
            written = Some(out.memory().id.clone());
            touched = Some(out.memory().clone());
        }
        (Event::Delete, Some(old)) => {
            let m = engine.forget(
                &old.user_id,
                &old.id,
                false,
                Some(reason.clone()),
                Actor::Llm,
            )?;
            written = Some(m.id.clone());
            touched = Some(m);
        }
        // A re-run after a crash lands here; make sure the topic still gets consolidated.
        (Event::Noop, Some(dup)) if topics::is_stale(engine, dup)? => {
            touched = Some(dup.clone());
        }
        _ => {}
    }
    let follow_ups: Vec<NewJob> = touched
        .as_ref()
        .and_then(|m| {
            m.topic
                .as_ref()
                .map(|t| topics::job(&m.scope(), t, job.max_attempts))
        })
        .into_iter()
        .collect();
    Ok(StepOutput {
        result: json!({
            "event": d.event.as_str(),
            "reason": d.reason,
            "target": target.map(|m| &m.id),
            "memory": written,
            "llm": reconcile_model.is_some(),
        }),
        follow_ups,
    })
}

fn check_text(text: &str) -> Result<String, StepError> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > crate::memories::MAX_CONTENT_CHARS {
        return Err(StepError::retry("the updated text is empty or too long"));
    }
    Ok(t.to_owned())
}

/// Text equality ignoring case and runs of whitespace.
pub fn same_text(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_checked_against_the_ids_shown() {
        let d = parse_decision(
            &json!({"event": "update", "id": 1, "text": "x", "reason": "r"}),
            2,
        )
        .unwrap();
        assert_eq!((d.event, d.target), (Event::Update, Some(1)));
        let d = parse_decision(&json!({"event": "DELETE", "id": "0", "text": ""}), 1).unwrap();
        assert_eq!((d.event, d.target, d.text), (Event::Delete, Some(0), None));
        assert!(parse_decision(&json!({"event": "UPDATE", "id": 5}), 2).is_err());
        assert!(parse_decision(&json!({"event": "MERGE", "id": 0}), 2).is_err());
        let d = parse_decision(&json!({"event": "NOOP", "id": null}), 2).unwrap();
        assert_eq!(d.event, Event::Noop);
    }

    #[test]
    fn same_text_ignores_case_and_spacing() {
        assert!(same_text("Prefers  dark mode", "prefers dark mode "));
        assert!(!same_text("Prefers dark mode", "Prefers light mode"));
    }
}
