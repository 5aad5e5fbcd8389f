//! Step 2: extraction (seeds 001 and 003). A range of turns becomes memory cells
//! {kind, topic, salience, content}. The reply is schema-constrained where the provider
//! allows it and repaired otherwise ([`mnemo_llm::extract_json`]: code fences, trailing
//! prose, single quotes, truncated arrays). A reply that cannot be used at all is a
//! retryable error recorded on the job — the seeds' `except: return []` silently lost the
//! memory. Items that are individually unusable (no content) are dropped and listed in the
//! job's result, so nothing disappears without a trace.
//!
//! Every cell passes the guards of [`super::guards`] (the assistant talking about itself,
//! repetition, topic names clipped, kind and salience validated); drops and adjustments are
//! listed in the job's result with their reasons.
//!
//! A reply cut at the token limit is never a success: it is asked again with a larger
//! limit; if it is still cut, a range of several turns is split in two jobs (fewer turns
//! per call), and a single turn keeps its complete items and fails visibly. A prompt that
//! does not fit the model's context is split the same way.
//!
//! The job completes by queueing one reconcile job per cell, atomically, so a crash
//! between the two can neither lose cells nor reconcile them twice.

use mnemo_core::{Job, JobKind, Kind, NewJob, Scope, Turn, TurnFilter};
use mnemo_llm::{ChatRequest, Message};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::guards;
use super::llm::{call_whole, is_cut, json_of, StepError};
use super::{PipelineLlm, Prompt};
use crate::Engine;

/// The kinds extraction may produce (the seeds' cell types).
pub const CELL_KINDS: [&str; 6] = ["fact", "preference", "plan", "decision", "task", "risk"];

/// Longest accepted cell text (characters); longer ones are cut at a word.
const MAX_CELL_CHARS: usize = 1000;

/// One extracted memory cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub kind: Kind,
    pub topic: Option<String>,
    pub salience: f32,
    pub content: String,
}

/// What a job's step produced: its result, and the jobs to queue with its completion.
#[derive(Debug, Default)]
pub struct StepOutput {
    pub result: Value,
    pub follow_ups: Vec<NewJob>,
}

/// The JSON Schema of the reply.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "memories": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string", "enum": CELL_KINDS},
                        "topic": {"type": "string"},
                        "salience": {"type": "number"},
                        "content": {"type": "string"}
                    },
                    "required": ["kind", "topic", "salience", "content"],
                    "additionalProperties": false
                }
            }
        },
        "required": ["memories"],
        "additionalProperties": false
    })
}

/// Runs an extraction job.
pub(crate) fn run(engine: &Engine, llm: &PipelineLlm, job: &Job) -> Result<StepOutput, StepError> {
    let turns = job_turns(engine, job)?;
    if turns.is_empty() {
        return Ok(StepOutput {
            result: json!({"skipped": "the turns are gone (forgotten?)"}),
            ..StepOutput::default()
        });
    }
    let topics: Vec<String> = engine
        .store
        .list_topics(&job.scope())?
        .into_iter()
        .map(|t| t.name)
        .collect();
    let prompt = Prompt::of(JobKind::Extract);
    let req = ChatRequest::new(vec![
        Message::system(prompt.text),
        Message::user(render(&turns, &topics)),
    ])
    .with_model(llm.model_for(JobKind::Extract))
    .with_temperature(0.1)
    .with_json_schema(schema());
    let reply = match call_whole(engine, llm, job, &req) {
        Err(StepError::TooLong(why)) if turns.len() > 1 => return Ok(split(job, &turns, &why)),
        other => other?,
    };
    let cut = is_cut(&reply);
    if cut && turns.len() > 1 {
        let why = format!(
            "the reply was cut at the token limit ({} tokens) after a larger limit, or looping",
            reply.usage.output_tokens
        );
        return Ok(split(job, &turns, &why));
    }
    let value = json_of(&reply)?;
    let parsed = parse_cells(&value)?;
    let source_turns: Vec<String> = turns.iter().map(|t| t.id.clone()).collect();
    let follow_ups: Vec<NewJob> = parsed
        .cells
        .iter()
        .map(|cell| reconcile_job(job, cell, &source_turns, &reply.model, prompt))
        .collect();
    if cut {
        // One turn whose reply does not fit: keep what is complete (a partial item is
        // dropped whole by the JSON repair), and fail so that the loss is visible.
        engine.store.enqueue_jobs(&follow_ups, engine.now())?;
        if !follow_ups.is_empty() {
            engine.pipeline.bell.ring();
        }
        return Err(StepError::Permanent(format!(
            "the reply was cut at the token limit ({} tokens) for a single turn, after a larger limit or looping; \
             kept {} complete memories, the rest is lost; raise `max_tokens` in [llm] (or use a larger model) \
             and run `mnemo jobs --retry {}`",
            reply.usage.output_tokens,
            follow_ups.len(),
            mnemo_core::ids::short(&job.id)
        )));
    }
    Ok(StepOutput {
        result: json!({
            "model": reply.model,
            "prompt_version": prompt.version,
            "cells": parsed.cells,
            "dropped": parsed.dropped,
            "adjusted": parsed.adjusted,
        }),
        follow_ups,
    })
}

/// Completes a job over too many turns for one call by queueing two jobs over its halves.
fn split(job: &Job, turns: &[Turn], why: &str) -> StepOutput {
    let mid = turns.len() / 2;
    let halves = [&turns[..mid], &turns[mid..]];
    let ranges: Vec<(i64, i64)> = halves
        .iter()
        .filter_map(|h| Some((h.first()?.seq, h.last()?.seq)))
        .collect();
    let follow_ups = ranges
        .iter()
        .map(|&(first, last)| {
            let session = job.session_id.clone().unwrap_or_default();
            NewJob {
                session_id: job.session_id.clone(),
                first_seq: Some(first),
                last_seq: Some(last),
                max_attempts: job.max_attempts,
                ..NewJob::new(
                    JobKind::Extract,
                    job.scope(),
                    format!("{session}:{first}-{last}"),
                    json!({ "split_from": job.id }),
                )
            }
        })
        .collect();
    StepOutput {
        result: json!({ "split": ranges, "reason": why }),
        follow_ups,
    }
}

/// The turns a range job covers, in order.
pub(crate) fn job_turns(engine: &Engine, job: &Job) -> Result<Vec<Turn>, StepError> {
    let (Some(session), Some(first), Some(last)) = (&job.session_id, job.first_seq, job.last_seq)
    else {
        return Err(StepError::Permanent(format!(
            "{} job {} has no turn range",
            job.kind, job.id
        )));
    };
    let filter = TurnFilter {
        session_id: Some(session.clone()),
        ..TurnFilter::default()
    };
    Ok(engine
        .store
        .list_turns(&filter)?
        .into_iter()
        .filter(|t| (first..=last).contains(&t.seq))
        .collect())
}

/// The conversation as the model sees it.
fn render(turns: &[Turn], topics: &[String]) -> String {
    let mut text = String::new();
    if !topics.is_empty() {
        text.push_str(&format!("Existing topics: {}\n\n", topics.join(", ")));
    }
    text.push_str("Conversation:\n");
    for t in turns {
        text.push_str(&format!(
            "{}: {}\n",
            t.role.as_str().to_uppercase(),
            crate::secrets::masked(&t.content)
        ));
    }
    text
}

fn reconcile_job(
    job: &Job,
    cell: &Cell,
    source_turns: &[String],
    model: &str,
    prompt: Prompt,
) -> NewJob {
    let scope = Scope {
        user_id: job.user_id.clone(),
        agent_id: job.agent_id.clone(),
    };
    let payload = json!({
        "cell": cell,
        "source_turns": source_turns,
        "model": model,
        "prompt_version": prompt.version,
        "extract_job": job.id,
    });
    NewJob {
        session_id: job.session_id.clone(),
        max_attempts: job.max_attempts,
        ..NewJob::new(
            JobKind::Reconcile,
            scope,
            format!("{}/{:016x}", job.id, fingerprint(cell)),
            payload,
        )
    }
}

/// A stable fingerprint of a cell (FNV-1a over kind and text). It is part of the
/// reconcile job's identity, so re-running an extraction (`mnemo jobs --retry`) queues
/// reconciliation for the cells that changed, and never twice for the same cell.
fn fingerprint(cell: &Cell) -> u64 {
    let text = format!("{}\u{0}{}", cell.kind, cell.content.to_lowercase());
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The cells of a reply, and what the guards did to the rest.
#[derive(Debug, Default)]
pub struct Parsed {
    pub cells: Vec<Cell>,
    /// One note per item dropped, with the reason.
    pub dropped: Vec<String>,
    /// One note per cell kept with a change (kind, salience, topic, length).
    pub adjusted: Vec<String>,
}

/// Reads the cells out of a reply. Accepts the schema's `{"memories": [...]}`, a bare
/// array (what the seeds asked for), and the seeds' field names (`cell_type`, `scene`).
/// Every item passes the guards; a reply with no list at all is unusable (retryable).
pub fn parse_cells(value: &Value) -> Result<Parsed, StepError> {
    let items = match value {
        Value::Array(items) => items,
        Value::Object(map) => match ["memories", "cells", "items"]
            .iter()
            .find_map(|k| map.get(*k))
        {
            Some(Value::Array(items)) => items,
            _ => {
                return Err(StepError::retry(format!(
                    "the extraction reply has no `memories` list: {}",
                    super::llm::snippet(&value.to_string(), 160)
                )))
            }
        },
        other => {
            return Err(StepError::retry(format!(
                "the extraction reply is not a JSON object: {}",
                super::llm::snippet(&other.to_string(), 160)
            )))
        }
    };
    let mut out = Parsed::default();
    for item in items {
        let quoted = || super::llm::snippet(&item.to_string(), 80);
        match cell(item) {
            Ok((c, _)) if out.cells.iter().any(|x: &Cell| x.content == c.content) => {
                out.dropped
                    .push(format!("repeated in the same reply: {}", quoted()));
            }
            Ok((c, notes)) => {
                if !notes.is_empty() {
                    out.adjusted
                        .push(format!("{}: {}", notes.join(", "), quoted()));
                }
                out.cells.push(c);
            }
            Err(why) => out.dropped.push(format!("{why}: {}", quoted())),
        }
    }
    Ok(out)
}

fn field<'a>(item: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|n| item.get(*n))
}

/// One item as a cell, with notes on what was changed; `Err` says why it was dropped.
fn cell(item: &Value) -> Result<(Cell, Vec<String>), String> {
    let content = match item {
        Value::String(s) => s.as_str(),
        _ => field(item, &["content", "text", "memory", "fact"])
            .and_then(Value::as_str)
            .ok_or("no content")?,
    };
    let mut notes = Vec::new();
    let content = content.trim();
    if content.is_empty() {
        return Err("empty content".into());
    }
    if guards::self_talk(content) {
        return Err("the assistant talking about itself, not a memory about the user".into());
    }
    if let Some(why) = guards::repetition(content) {
        return Err(why);
    }
    let clipped = clip(content);
    if clipped.len() < content.len() {
        notes.push(format!("content clipped to {MAX_CELL_CHARS} characters"));
    }
    let raw_kind = field(item, &["kind", "cell_type", "type"])
        .and_then(Value::as_str)
        .map(|k| k.trim().to_ascii_lowercase());
    let kind = match raw_kind.as_deref() {
        Some(k) if CELL_KINDS.contains(&k) => k.parse().unwrap_or(Kind::Fact),
        Some(other) => {
            notes.push(format!("unknown kind `{other}` stored as fact"));
            Kind::Fact
        }
        None => Kind::Fact,
    };
    let topic = match field(item, &["topic", "scene"]).and_then(Value::as_str) {
        Some(raw) => match guards::topic_name(raw) {
            Some((name, true)) => {
                notes.push(format!("topic clipped to `{name}`"));
                Some(name)
            }
            Some((name, false)) => Some(name),
            None => None,
        },
        None => None,
    };
    let raw = match field(item, &["salience", "importance"]) {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let salience = match raw {
        Some(x) if x.is_finite() && (0.0..=1.0).contains(&x) => x,
        Some(x) if x.is_finite() => {
            notes.push(format!("salience {x} clamped to 0..1"));
            x.clamp(0.0, 1.0)
        }
        Some(_) | None => {
            if field(item, &["salience", "importance"]).is_some() {
                notes.push("unusable salience replaced by 0.5".to_owned());
            }
            0.5
        }
    };
    Ok((
        Cell {
            kind,
            topic,
            salience: salience as f32,
            content: clipped,
        },
        notes,
    ))
}

fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_CELL_CHARS {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX_CELL_CHARS).collect();
    match cut.rfind(' ') {
        Some(i) => cut[..i].to_owned(),
        None => cut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_read_leniently_and_bad_items_are_listed() {
        let v = json!({"memories": [
            {"kind": "Preference", "topic": " UI ", "salience": 1.7, "content": " Prefers dark mode "},
            {"cell_type": "plan", "scene": "trip", "salience": "0.4", "content": "Visits Rome in May"},
            {"kind": "gossip", "content": "Has a cat"},
            {"kind": "fact", "content": "  "},
            {"kind": "fact", "content": "Prefers dark mode"}
        ]});
        let Parsed {
            cells,
            dropped,
            adjusted,
        } = parse_cells(&v).unwrap();
        assert_eq!(cells.len(), 3);
        assert_eq!(cells[0].kind, Kind::Preference);
        assert_eq!(cells[0].topic.as_deref(), Some("ui"));
        assert_eq!(cells[0].salience, 1.0);
        assert_eq!(cells[0].content, "Prefers dark mode");
        assert_eq!(
            (cells[1].kind.clone(), cells[1].salience),
            (Kind::Plan, 0.4)
        );
        assert_eq!(cells[2].kind, Kind::Fact, "unknown kinds become facts");
        assert_eq!(dropped.len(), 2, "{dropped:?}");
        assert_eq!(
            adjusted.len(),
            2,
            "salience 1.7 and kind gossip: {adjusted:?}"
        );
    }

    #[test]
    fn a_bare_array_is_accepted_and_a_reply_without_a_list_is_retryable() {
        let cells = parse_cells(&json!(["Lives in Oslo"])).unwrap().cells;
        assert_eq!(cells[0].content, "Lives in Oslo");
        assert!(matches!(
            parse_cells(&json!({"answer": 42})),
            Err(StepError::Retry { .. })
        ));
        assert!(matches!(
            parse_cells(&json!(3)),
            Err(StepError::Retry { .. })
        ));
        let cells = parse_cells(&json!({"memories": []})).unwrap().cells;
        assert!(cells.is_empty());
    }

    #[test]
    fn the_guards_drop_babble_and_clip_topics() {
        let v = json!({"memories": [
            {"kind": "fact", "topic": "self", "salience": 1, "content": "I'm just a personal assistant, I don't have preferences"},
            {"kind": "fact", "topic": "x", "salience": 0.5, "content": "Likes green tea a lot. Likes green tea a lot. Likes green tea a lot."},
            {"kind": "risk", "topic": "The health of the user and the allergies that they have", "salience": 0.9, "content": "Allergic to peanuts"}
        ]});
        let p = parse_cells(&v).unwrap();
        assert_eq!(p.cells.len(), 1);
        assert_eq!(p.cells[0].topic.as_deref(), Some("the health of the"));
        assert!(
            p.dropped[0].contains("assistant talking about itself"),
            "{:?}",
            p.dropped
        );
        assert!(p.dropped[1].contains("repeats"), "{:?}", p.dropped);
        assert!(p.adjusted[0].contains("topic clipped"), "{:?}", p.adjusted);
    }
}
