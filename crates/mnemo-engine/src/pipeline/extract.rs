//! Step 2: extraction (seeds 001 and 003). A range of turns becomes memory cells
//! {kind, topic, salience, content}. The reply is schema-constrained where the provider
//! allows it and repaired otherwise ([`mnemo_llm::extract_json`]: code fences, trailing
//! prose, single quotes, truncated arrays). A reply that cannot be used at all is a
//! retryable error recorded on the job — the seeds' `except: return []` silently lost the
//! memory. Items that are individually unusable (no content) are dropped and listed in the
//! job's result, so nothing disappears without a trace.
//!
//! The job completes by queueing one reconcile job per cell, atomically, so a crash
//! between the two can neither lose cells nor reconcile them twice.

use mnemo_core::{Job, JobKind, Kind, NewJob, Scope, Turn, TurnFilter};
use mnemo_llm::{ChatRequest, Message};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::llm::{call, json_of, StepError};
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
    let reply = call(engine, llm, job, &req)?;
    let value = json_of(&reply)?;
    let (cells, dropped) = parse_cells(&value)?;
    let source_turns: Vec<String> = turns.iter().map(|t| t.id.clone()).collect();
    let follow_ups = cells
        .iter()
        .map(|cell| reconcile_job(job, cell, &source_turns, &reply.model, prompt))
        .collect();
    Ok(StepOutput {
        result: json!({
            "model": reply.model,
            "prompt_version": prompt.version,
            "cells": cells,
            "dropped": dropped,
        }),
        follow_ups,
    })
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
            t.content
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

/// Reads the cells out of a reply. Accepts the schema's `{"memories": [...]}`, a bare
/// array (what the seeds asked for), and the seeds' field names (`cell_type`, `scene`).
/// Returns the usable cells and a note per dropped item; a reply with no list at all is
/// unusable (retryable).
pub fn parse_cells(value: &Value) -> Result<(Vec<Cell>, Vec<String>), StepError> {
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
    let mut cells = Vec::new();
    let mut dropped = Vec::new();
    for item in items {
        match cell(item) {
            Ok(c) if !cells.iter().any(|x: &Cell| x.content == c.content) => cells.push(c),
            Ok(_) => dropped.push("repeated in the same reply".to_owned()),
            Err(why) => dropped.push(format!(
                "{why}: {}",
                super::llm::snippet(&item.to_string(), 80)
            )),
        }
    }
    Ok((cells, dropped))
}

fn field<'a>(item: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|n| item.get(*n))
}

fn cell(item: &Value) -> Result<Cell, &'static str> {
    let content = match item {
        Value::String(s) => s.as_str(),
        _ => field(item, &["content", "text", "memory", "fact"])
            .and_then(Value::as_str)
            .ok_or("no content")?,
    };
    let content = clip(content.trim());
    if content.is_empty() {
        return Err("empty content");
    }
    let kind = field(item, &["kind", "cell_type", "type"])
        .and_then(Value::as_str)
        .map(|k| k.trim().to_ascii_lowercase())
        .filter(|k| CELL_KINDS.contains(&k.as_str()))
        .and_then(|k| k.parse().ok())
        .unwrap_or(Kind::Fact);
    let topic = field(item, &["topic", "scene"])
        .and_then(Value::as_str)
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty());
    let salience = match field(item, &["salience", "importance"]) {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.5),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0.5),
        _ => 0.5,
    };
    let salience = if salience.is_finite() {
        salience.clamp(0.0, 1.0)
    } else {
        0.5
    };
    Ok(Cell {
        kind,
        topic,
        salience: salience as f32,
        content,
    })
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
        let (cells, dropped) = parse_cells(&v).unwrap();
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
    }

    #[test]
    fn a_bare_array_is_accepted_and_a_reply_without_a_list_is_retryable() {
        let (cells, _) = parse_cells(&json!(["Lives in Oslo"])).unwrap();
        assert_eq!(cells[0].content, "Lives in Oslo");
        assert!(matches!(
            parse_cells(&json!({"answer": 42})),
            Err(StepError::Retry { .. })
        ));
        assert!(matches!(
            parse_cells(&json!(3)),
            Err(StepError::Retry { .. })
        ));
        let (cells, _) = parse_cells(&json!({"memories": []})).unwrap();
        assert!(cells.is_empty());
    }
}
