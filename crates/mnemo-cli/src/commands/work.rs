//! `mnemo work`: runs the memory pipeline's queue with the configured model.
//!
//! `--once` runs what is due and exits (cron, tests, after a chat was killed); plain
//! `mnemo work` keeps running, waiting for new jobs and retries, and closes sessions idle
//! for `session_idle_secs`. Each job's result is printed as soon as it is recorded.
//!
//! Stopping loses nothing. The jobs run on the engine's worker thread while this thread
//! watches for signals: the first Ctrl-C (or SIGTERM, SIGHUP: a systemd or container stop)
//! lets the job in flight finish for up to `--grace` seconds, then gives it back (its lease
//! released, the attempt not counted) and exits; a second Ctrl-C gives it back and exits at
//! once. Only `kill -9` leaves a lease to expire, and then the next worker takes it over.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use mnemo_core::{ids, JobFilter, JobStatus};
use mnemo_engine::pipeline::{DrainReport, JobOutcome};
use mnemo_engine::{Engine, PipelineLlm, WorkerHandle, WorkerOptions};
use signal_hook::consts::{SIGHUP, SIGTERM};

use super::jobs::{one_line, until};
use super::open;
use crate::config::Config;
use crate::output::{when, Out};

#[derive(Debug, Args)]
pub struct WorkArgs {
    /// Run what is due now, then exit (retries scheduled for later are not waited for)
    #[arg(long)]
    pub once: bool,
    /// Stop after this many jobs
    #[arg(long, short = 'n')]
    pub limit: Option<usize>,
    /// Seconds between looks at the queue when it is empty
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub poll: f64,
    /// On Ctrl-C or SIGTERM, seconds to let the job in flight finish before handing it
    /// back to the queue (a second Ctrl-C hands it back at once)
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub grace: f64,
}

/// Ctrl-C presses so far.
static SIGNALS: AtomicU32 = AtomicU32::new(0);

pub fn work(cfg: &Config, a: WorkArgs) -> Result<()> {
    let llm = PipelineLlm::from_config(&cfg.llm)
        .context("the model for the memory pipeline cannot be set up; jobs keep waiting")?;
    let engine = open(cfg)?.with_llm(llm);
    let grace = secs("--grace", a.grace)?;
    let poll = secs("--poll", a.poll)?.max(Duration::from_millis(50));
    let mut stop = Stop::install(grace)?;
    let (tx, rx) = mpsc::channel();
    let worker = engine.spawn_worker(WorkerOptions {
        name: format!("work-{}", std::process::id()),
        idle_poll: poll,
        report: Some(tx),
        limit: a.limit.map(|n| n as u64),
        until_idle: a.once,
        close_idle_sessions: true,
    })?;
    let mut report = DrainReport::default();
    let (mut shown_closed, mut shown_down) = (0, 0);
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(outcome) => {
                tally(&mut report, &outcome);
                if !(a.once && cfg.json) {
                    print_outcome(cfg, &outcome)?;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            // The worker has ended (`--once` with nothing left, or `--limit` reached).
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let closed = worker.stats().sessions_closed;
        if closed > shown_closed && !cfg.json {
            println!(
                "closed {} idle session(s); their last turns are queued",
                closed - shown_closed
            );
            shown_closed = closed;
        }
        if stop.now(&engine, &worker)? {
            return Ok(());
        }
        if !a.once && report.outcomes.len() > shown_down {
            if let Some(JobOutcome::ModelDown { .. }) = report.outcomes.last() {
                eprintln!(
                    "warning: the model cannot be used; trying again in {}s (Ctrl-C stops)",
                    engine.pipeline_settings().model_down_secs
                );
                shown_down = report.outcomes.len();
            }
        }
    }
    worker.stop();
    if a.once {
        // Records that wait for vectors (an embedder that was down) get them now.
        report.vectors = Some(engine.backfill_vectors()?)
            .filter(|b| b.turns + b.memories > 0 || b.error.is_some());
        return finish_once(&engine, cfg, &report);
    }
    Ok(())
}

/// How a signal stops the worker: the first Ctrl-C (or SIGTERM, SIGHUP: a systemd or
/// container stop, a closed terminal) lets the job in flight finish for up to `grace`,
/// then hands it back; a second Ctrl-C hands it back at once.
struct Stop {
    term: Arc<AtomicBool>,
    grace: Duration,
    since: Option<Instant>,
}

impl Stop {
    fn install(grace: Duration) -> Result<Stop> {
        let _ = ctrlc::set_handler(|| {
            SIGNALS.fetch_add(1, Ordering::SeqCst);
        });
        let term = Arc::new(AtomicBool::new(false));
        for sig in [SIGTERM, SIGHUP] {
            signal_hook::flag::register(sig, Arc::clone(&term))
                .context("installing the SIGTERM/SIGHUP handler")?;
        }
        Ok(Stop {
            term,
            grace,
            since: None,
        })
    }

    fn signals(&self) -> u32 {
        SIGNALS
            .load(Ordering::SeqCst)
            .max(u32::from(self.term.load(Ordering::SeqCst)))
    }

    /// Whether to exit now (the job in flight, if any, handed back).
    fn now(&mut self, engine: &Engine, worker: &WorkerHandle) -> Result<bool> {
        let in_flight = engine.has_job_in_flight();
        match (self.signals(), self.since) {
            (0, _) => return Ok(false),
            (1, None) => {
                self.since = Some(Instant::now());
                worker.request_stop();
                if in_flight {
                    eprintln!(
                        "stopping: letting the job in flight finish (up to {}s; Ctrl-C again to stop now)",
                        self.grace.as_secs_f64()
                    );
                }
                return Ok(false);
            }
            (1, Some(since)) if since.elapsed() < self.grace && in_flight => return Ok(false),
            _ => {}
        }
        let n = engine.release_in_flight("`mnemo work` was stopped during this job")?;
        if n > 0 {
            eprintln!(
                "stopped; {n} job in progress handed back to the queue (it runs again next time)"
            );
        }
        Ok(true)
    }
}

fn secs(flag: &str, v: f64) -> Result<Duration> {
    if !v.is_finite() || v < 0.0 {
        bail!("{flag} must be 0 or more seconds (got {v})");
    }
    Ok(Duration::from_secs_f64(v.min(86_400.0)))
}

fn tally(r: &mut DrainReport, o: &JobOutcome) {
    match o {
        JobOutcome::Done { .. } => r.done += 1,
        JobOutcome::Retried { .. } => r.retried += 1,
        JobOutcome::Failed { .. } => r.failed += 1,
        JobOutcome::ModelDown { error, .. } => r.model_down = Some(error.clone()),
        JobOutcome::LostLease { .. } => {}
    }
    r.outcomes.push(o.clone());
}

fn print_outcome(cfg: &Config, o: &JobOutcome) -> Result<()> {
    let mut out = Out::new();
    if cfg.json {
        out.line(serde_json::to_string(o)?)?;
    } else {
        out.line(outcome_line(o))?;
    }
    out.flush()
}

/// The end of `work --once`: totals, and when nothing could run, why and until when.
fn finish_once(engine: &Engine, cfg: &Config, r: &DrainReport) -> Result<()> {
    let mut out = Out::new();
    if cfg.json {
        out.json(r)?;
        out.flush()?;
    } else {
        if let Some(v) = &r.vectors {
            out.line(vectors_line(v))?;
        }
        let c = engine.job_counts(None)?;
        out.line(format!(
            "ran {}: {} done, {} to retry, {} failed · queue: {} waiting ({} due), {} failed",
            r.outcomes.len(),
            r.done,
            r.retried,
            r.failed,
            c.queued,
            c.ready,
            c.failed
        ))?;
        if r.model_down.is_none() && c.queued > c.ready {
            out.line(next_attempt(engine)?)?;
        }
        out.flush()?;
    }
    if let Some(why) = &r.model_down {
        let waiting = engine.job_counts(None)?.queued;
        bail!(
            "the model cannot be used: {why}; {waiting} job(s) wait (next attempt in {}s; `mnemo jobs` shows when)",
            engine.pipeline_settings().model_down_secs
        );
    }
    Ok(())
}

/// "embedded 2 turns and 1 memories that waited for vectors (model)".
fn vectors_line(v: &mnemo_engine::BackfillReport) -> String {
    format!(
        "embedded {} turns and {} memories that waited for vectors ({}){}",
        v.turns,
        v.memories,
        v.model_id,
        v.error
            .as_ref()
            .map_or(String::new(), |e| format!("; stopped: {e}"))
    )
}

/// "the next of N waiting job(s) is due at ... (in 42s): last error ..." for jobs that are
/// queued but not due (a retry's backoff, a pause after the model was down).
fn next_attempt(engine: &Engine) -> Result<String> {
    let filter = JobFilter {
        statuses: vec![JobStatus::Queued],
        ..JobFilter::default()
    };
    let now = engine.now();
    let Some(next) = engine
        .jobs(&filter)?
        .into_iter()
        .filter(|j| j.next_run_at > now)
        .min_by_key(|j| j.next_run_at)
    else {
        return Ok(String::new());
    };
    let why = next
        .last_error
        .as_deref()
        .map(|e| format!(" after: {}", one_line(e, 120)))
        .unwrap_or_default();
    Ok(format!(
        "not due yet: {} {} at {} ({}){why}\n  `mnemo jobs --retry {}` runs it now",
        next.kind,
        ids::short(&next.id),
        when(&next.next_run_at),
        until(&next.next_run_at, &now),
        ids::short(&next.id),
    ))
}

pub(crate) fn outcome_line(o: &JobOutcome) -> String {
    match o {
        JobOutcome::Done { job, kind } => format!("done     {kind:<9} {}", ids::short(job)),
        JobOutcome::Retried {
            job,
            kind,
            error,
            at,
        } => format!(
            "retry    {kind:<9} {} at {}: {}",
            ids::short(job),
            when(at),
            one_line(error, 120)
        ),
        JobOutcome::Failed { job, kind, error } => {
            format!(
                "FAILED   {kind:<9} {}: {}",
                ids::short(job),
                one_line(error, 120)
            )
        }
        JobOutcome::ModelDown { job, kind, error } => format!(
            "waiting  {kind:<9} {}: {}",
            ids::short(job),
            one_line(error, 120)
        ),
        JobOutcome::LostLease { job, kind } => {
            format!(
                "skipped  {kind:<9} {} (another worker took it over)",
                ids::short(job)
            )
        }
    }
}
