//! Step 4: topic consolidation (the seeds' scenes). When reconciliation touches a topic,
//! a coalescing job rewrites the topic's summary from its *current* memories — superseded
//! and forgotten ones no longer count — so the summary follows what is true now. Several
//! touches before the worker gets to it fold into one job.

use mnemo_core::{ids, Dedup, Job, JobKind, Memory, MemoryFilter, NewJob, Scope, TimeView, Topic};
use mnemo_llm::{ChatRequest, Message};
use serde_json::json;

use super::extract::StepOutput;
use super::llm::{call_whole, cut_error, is_cut, text_of, StepError};
use super::{PipelineLlm, Prompt};
use crate::Engine;

/// Most memories a topic summary is written from (the most salient ones).
const MAX_MEMORIES: usize = 50;

/// The coalescing job that consolidates `topic` of `scope`.
pub fn job(scope: &Scope, topic: &str, max_attempts: u32) -> NewJob {
    let agent = scope.agent_id.as_deref().unwrap_or("");
    NewJob {
        dedup: Dedup::Coalesce,
        max_attempts,
        ..NewJob::new(
            JobKind::Topic,
            scope.clone(),
            format!("{agent}:{topic}"),
            json!({ "topic": topic }),
        )
    }
}

/// Whether `m`'s topic summary is older than `m` (or missing).
pub(crate) fn is_stale(engine: &Engine, m: &Memory) -> Result<bool, StepError> {
    let Some(name) = &m.topic else {
        return Ok(false);
    };
    let topics = engine.store.list_topics(&m.scope())?;
    Ok(!topics
        .iter()
        .any(|t| &t.name == name && t.agent_id == m.agent_id && t.updated_at >= m.updated_at))
}

/// Runs a topic job.
pub(crate) fn run(engine: &Engine, llm: &PipelineLlm, job: &Job) -> Result<StepOutput, StepError> {
    let name = job
        .payload
        .get("topic")
        .and_then(|t| t.as_str())
        .ok_or_else(|| StepError::Permanent("topic job without a topic".into()))?;
    let scope = job.scope();
    let filter = MemoryFilter {
        topic: Some(name.to_owned()),
        view: TimeView::Current,
        include_user_wide: false,
        ..MemoryFilter::scope(scope.clone())
    };
    let mut memories: Vec<Memory> = engine
        .store
        .list_memories(&filter)?
        .into_iter()
        .filter(|m| m.agent_id == scope.agent_id)
        .collect();
    if memories.is_empty() {
        return Ok(StepOutput {
            result: json!({"skipped": "the topic has no current memories"}),
            ..StepOutput::default()
        });
    }
    memories.sort_by(|a, b| b.salience.total_cmp(&a.salience));
    memories.truncate(MAX_MEMORIES);
    let prompt = Prompt::of(JobKind::Topic);
    let mut listing = format!("Topic: {name}\n\nMemories:\n");
    for m in &memories {
        listing.push_str(&format!("- ({}) {}\n", m.kind, m.content));
    }
    let req = ChatRequest::new(vec![Message::system(prompt.text), Message::user(listing)])
        .with_model(llm.model_for(JobKind::Topic))
        .with_temperature(0.05);
    let reply = call_whole(engine, llm, job, &req)?;
    if is_cut(&reply) {
        return Err(cut_error(&reply));
    }
    let (text, clipped) = super::guards::summary(&text_of(&reply)?).map_err(StepError::retry)?;
    let summary = text;
    let topic = engine.store.upsert_topic(&Topic {
        id: ids::new_id(),
        user_id: scope.user_id.clone(),
        agent_id: scope.agent_id.clone(),
        name: name.to_owned(),
        summary,
        updated_at: engine.now(),
        meta: json!({
            "model": reply.model,
            "prompt_version": prompt.version,
            "memories": memories.iter().map(|m| &m.id).collect::<Vec<_>>(),
        }),
    })?;
    Ok(StepOutput {
        result: json!({
            "topic": topic.id,
            "memories": memories.len(),
            "model": reply.model,
            "clipped": clipped,
        }),
        ..StepOutput::default()
    })
}
