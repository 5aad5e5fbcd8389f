//! The chat's in-process worker and how a chat ends.
//!
//! The worker runs the jobs each exchange queues while the conversation goes on; the
//! prompt never waits for it. When the chat ends (`--once` after its reply, or `/quit`,
//! Ctrl-D, end of input), the session-end work is queued and the worker gets a bounded,
//! announced wait (`exit_wait_secs` in `[pipeline]`, `--wait` on the command line) to
//! finish what is due. Then the chat exits: a job still in flight is given back (its
//! lease released, so `mnemo work` or the next chat takes it at once), and whatever is
//! left stays queued. Leaving never waits for the whole queue.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use mnemo_core::ids;
use mnemo_engine::{Engine, WorkerHandle, WorkerOptions};

use super::session::ChatSession;

/// The bounded wait at exit: `--wait` over `exit_wait_secs`.
pub fn exit_wait(engine: &Engine, flag: Option<f64>) -> Result<Duration> {
    let secs = flag.unwrap_or(engine.pipeline_settings().exit_wait_secs);
    if !secs.is_finite() || secs < 0.0 {
        bail!(
            "the wait at exit must be 0 or more seconds (got {secs}); see --wait / exit_wait_secs"
        );
    }
    Ok(Duration::from_secs_f64(secs.min(86_400.0)))
}

/// Starts the in-process worker when the pipeline has a model.
pub fn start_worker(engine: &Engine) -> Result<Option<WorkerHandle>> {
    if !engine.has_llm() {
        return Ok(None);
    }
    Ok(Some(engine.spawn_worker(WorkerOptions {
        name: format!("chat-{}", std::process::id()),
        ..Default::default()
    })?))
}

/// Gives the worker up to `wait` to finish the user's due jobs, saying so on stderr, then
/// gives back the job in flight, if any. Returns whether everything due was done.
pub fn wait_for_jobs(
    chat: &ChatSession,
    worker: Option<&WorkerHandle>,
    wait: Duration,
    quiet_when_idle: bool,
) -> Result<bool> {
    let engine = chat.engine;
    let user = chat.scope.user_id.as_str();
    let Some(worker) = worker else {
        let c = engine.job_counts(Some(user))?;
        if c.queued > 0 {
            eprintln!(
                "[memory] {} job(s) queued: no model is configured for the pipeline; see [llm] in `mnemo config`",
                c.queued
            );
        }
        return Ok(c.queued == 0);
    };
    let c = engine.job_counts(Some(user))?;
    if c.ready == 0 && !engine.has_job_in_flight() {
        return Ok(true);
    }
    if !quiet_when_idle || c.ready > 0 {
        eprintln!(
            "[memory] processing {} job(s)… (up to {}s)",
            c.ready + u64::from(engine.has_job_in_flight()),
            fmt_secs(wait)
        );
    }
    let started = Instant::now();
    let terminal = std::io::stderr().is_terminal();
    let done = worker.wait_idle(Some(user), wait, &mut |left| {
        if terminal {
            eprint!(
                "\r[memory] {left} job(s) left, {}s…   ",
                started.elapsed().as_secs()
            );
        }
    })?;
    if terminal && started.elapsed() >= Duration::from_millis(500) {
        eprintln!();
    }
    if done {
        return Ok(true);
    }
    let released = engine.release_in_flight("the chat ended before this job finished")?;
    let left = engine.job_counts(Some(user))?.ready;
    eprintln!(
        "[memory] {left} job(s) left queued{}; `mnemo work` or the next chat finishes them",
        if released > 0 {
            " (the one in progress was handed back)"
        } else {
            ""
        }
    );
    Ok(false)
}

/// Ends the session: queues its session-end work (extraction of its last turns, its
/// summary), gives the worker a bounded chance to run it, and says what happened.
pub fn finish(chat: &ChatSession, worker: Option<&WorkerHandle>, wait: Duration) -> Result<()> {
    let engine = chat.engine;
    if engine
        .session(&chat.scope.user_id, &chat.session_id)
        .is_err()
    {
        // Nothing was said: there is no session to close.
        return Ok(());
    }
    engine.end_session(&chat.scope.user_id, &chat.session_id)?;
    let short = ids::short(&chat.session_id);
    if worker.is_none() {
        eprintln!("[session {short} saved; its summary is queued: no model is configured]");
        return Ok(());
    }
    eprintln!("[session {short} saved]");
    wait_for_jobs(chat, worker, wait, true)?;
    let summarized = !engine
        .store()
        .list_summaries(&chat.scope, Some(&chat.session_id))?
        .is_empty();
    let why = worker
        .map(WorkerHandle::stats)
        .and_then(|s| s.last_error)
        .map(|e| format!(" ({e})"))
        .unwrap_or_default();
    if summarized {
        eprintln!("[memory] session {short} summarized");
    } else {
        eprintln!("[memory] summary queued{why}; `mnemo work` or the next chat writes it");
    }
    Ok(())
}

fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    }
}
