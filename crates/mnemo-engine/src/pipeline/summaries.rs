//! Step 5: session summaries (seeds 000, 002, 004). A summarize job covers a range of
//! turns (`first_seq..=last_seq`) of one session: every `summary_every` turns, and the rest
//! when the session ends. The summary is stored with its range, so context assembly can
//! stop replaying those turns — the turns themselves stay in the log (seed 002 deletes
//! them; mnemo does not). A cheaper model may be configured for this task (seed 002 uses
//! Haiku for it).

use mnemo_core::{ids, Job, JobKind, SessionSummary};
use mnemo_llm::{ChatRequest, Message};
use serde_json::json;

use super::extract::{job_turns, StepOutput};
use super::llm::{call_whole, cut_error, is_cut, text_of, StepError};
use super::{PipelineLlm, Prompt};
use crate::Engine;

/// Runs a summarize job.
pub(crate) fn run(engine: &Engine, llm: &PipelineLlm, job: &Job) -> Result<StepOutput, StepError> {
    let turns = job_turns(engine, job)?;
    let (Some(first), Some(last)) = (turns.first(), turns.last()) else {
        return Ok(StepOutput {
            result: json!({"skipped": "the turns are gone (forgotten?)"}),
            ..StepOutput::default()
        });
    };
    let (first_seq, last_seq, session_id) = (first.seq, last.seq, first.session_id.clone());
    let scope = job.scope();
    // A re-run after a crash between storing and completing finds its own summary.
    if let Some(done) = engine
        .store
        .list_summaries(&scope, Some(&session_id))?
        .into_iter()
        .find(|s| s.first_seq == first_seq && s.last_seq == last_seq)
    {
        return Ok(StepOutput {
            result: json!({"summary": done.id, "existing": true}),
            ..StepOutput::default()
        });
    }
    let prompt = Prompt::of(JobKind::Summarize);
    let mut conversation = String::from("CONVERSATION:\n");
    for t in &turns {
        conversation.push_str(&format!(
            "{}: {}\n",
            t.role.as_str().to_uppercase(),
            crate::secrets::masked(&t.content)
        ));
    }
    let req = ChatRequest::new(vec![
        Message::system(prompt.text),
        Message::user(conversation),
    ])
    .with_model(llm.model_for(JobKind::Summarize))
    .with_temperature(0.2);
    let reply = call_whole(engine, llm, job, &req)?;
    if is_cut(&reply) {
        return Err(cut_error(&reply));
    }
    let (text, clipped) = super::guards::summary(&text_of(&reply)?).map_err(StepError::retry)?;
    let summary = SessionSummary {
        id: ids::new_id(),
        user_id: scope.user_id.clone(),
        agent_id: scope.agent_id.clone(),
        session_id,
        first_seq,
        last_seq,
        summary: text,
        created_at: engine.now(),
        meta: json!({
            "model": reply.model,
            "prompt_version": prompt.version,
            "source_turns": turns.iter().map(|t| &t.id).collect::<Vec<_>>(),
            "job": job.id,
        }),
    };
    engine.store.add_summary(&summary)?;
    Ok(StepOutput {
        result: json!({
            "summary": summary.id,
            "first_seq": first_seq,
            "last_seq": last_seq,
            "model": reply.model,
            "clipped": clipped,
        }),
        ..StepOutput::default()
    })
}
