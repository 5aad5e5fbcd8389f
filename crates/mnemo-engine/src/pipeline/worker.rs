//! The in-process worker: a thread that runs due jobs while the chat goes on, so the user
//! never waits for extraction; `mnemo work` runs the same loop. It sleeps until work is
//! enqueued through this engine (the engine rings a bell on every enqueue) or `idle_poll`
//! passes (work enqueued by another process, retries coming due); when it finds nothing
//! to do it closes idle sessions (see [`super::lifecycle`]). When the model is down it
//! pauses `model_down_secs`.
//!
//! Stopping is cooperative: [`WorkerHandle::stop`] lets the job in flight finish (a model
//! call is bounded by the client's timeout) and joins the thread. A caller that cannot
//! wait that long (leaving a chat, Ctrl-C) calls [`Engine::release_in_flight`] instead and
//! lets the process end: the job is due again at once for the next worker. If the process
//! dies first (`kill -9`), the job's lease simply expires and another worker re-runs it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mnemo_core::{Error, Result};
use serde::Serialize;

use super::run::worker_name;
use super::JobOutcome;
use crate::Engine;

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Prefix of the worker's name in lease tokens.
    pub name: String,
    /// How often to look for due jobs when nothing rang the bell.
    pub idle_poll: Duration,
    /// Each job's outcome is sent here as soon as it is recorded (`mnemo work` prints it).
    pub report: Option<Sender<JobOutcome>>,
    /// Stop after this many jobs.
    pub limit: Option<u64>,
    /// Stop when nothing is due, or when the model is found down (`mnemo work --once`).
    pub until_idle: bool,
    /// Close sessions idle for `session_idle_secs` when there is nothing else to do.
    pub close_idle_sessions: bool,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            name: "worker".into(),
            idle_poll: Duration::from_secs(5),
            report: None,
            limit: None,
            until_idle: false,
            close_idle_sessions: true,
        }
    }
}

/// What a worker has done so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WorkerStats {
    pub done: u64,
    pub retried: u64,
    pub failed: u64,
    /// Times the model was found down.
    pub model_down: u64,
    /// The last error (a job's, or the queue's own).
    pub last_error: Option<String>,
    /// Sessions closed because they were idle.
    pub sessions_closed: u64,
}

/// A running worker thread.
pub struct WorkerHandle {
    stop: Arc<AtomicBool>,
    engine: Engine,
    stats: Arc<Mutex<WorkerStats>>,
    /// Looks at the queue so far (each `run_next_job` call, found work or not).
    looks: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for WorkerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerHandle")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl WorkerHandle {
    /// What the worker has done so far.
    pub fn stats(&self) -> WorkerStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Asks the worker to look for work now.
    pub fn wake(&self) {
        self.engine.pipeline.bell.ring();
    }

    /// Whether the thread has ended (its limit reached, or `until_idle` and idle).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits until the worker has nothing left to do now — no job in flight and none of
    /// `user`'s jobs (every user's, with `None`) due — or `timeout` passes. `tick` is
    /// called about every half second with the jobs still due or running, for progress.
    /// Returns whether the worker went idle in time. Jobs retried for later, or waiting
    /// for a model that is down, do not count: they stay queued.
    pub fn wait_idle(
        &self,
        user: Option<&str>,
        timeout: Duration,
        tick: &mut dyn FnMut(u64),
    ) -> Result<bool> {
        let end = Instant::now() + timeout;
        let mut last_tick = Instant::now();
        self.wake();
        loop {
            // Idle only if the worker looked at the queue after we saw nothing due and
            // nothing in flight: a job leased just before the count cannot slip through.
            let looks = self.looks.load(Ordering::SeqCst);
            let c = self.engine.job_counts(user)?;
            let busy = self.engine.has_job_in_flight();
            if c.ready == 0 && !busy {
                self.wake();
                let settle = Instant::now() + Duration::from_millis(500);
                while self.looks.load(Ordering::SeqCst) == looks
                    && Instant::now() < settle
                    && !self.is_finished()
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                if self.engine.job_counts(user)?.ready == 0 && !self.engine.has_job_in_flight() {
                    return Ok(true);
                }
            }
            if Instant::now() >= end {
                return Ok(false);
            }
            if last_tick.elapsed() >= Duration::from_millis(500) {
                tick(c.ready + u64::from(busy));
                last_tick = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the worker: lets the job in flight finish, joins the thread, and returns
    /// the final counts.
    pub fn stop(mut self) -> WorkerStats {
        self.signal();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.stats()
    }

    /// Asks the worker to stop after the job in flight, without waiting for it.
    pub fn request_stop(&self) {
        self.signal();
    }

    fn signal(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.engine.pipeline.bell.ring();
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.signal();
    }
}

impl Engine {
    /// Starts a worker thread that runs this engine's due jobs until stopped. Without a
    /// model configured it still starts, and jobs wait.
    pub fn spawn_worker(&self, options: WorkerOptions) -> Result<WorkerHandle> {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(WorkerStats::default()));
        let looks = Arc::new(AtomicU64::new(0));
        let engine = self.clone();
        let shared = Shared {
            stop: Arc::clone(&stop),
            stats: Arc::clone(&stats),
            looks: Arc::clone(&looks),
        };
        let thread = std::thread::Builder::new()
            .name(format!("mnemo-{}", options.name))
            .spawn(move || work(&engine, &options, &shared))
            .map_err(|e| Error::io("starting the pipeline worker thread", e))?;
        Ok(WorkerHandle {
            stop,
            engine: self.clone(),
            stats,
            looks,
            thread: Some(thread),
        })
    }
}

/// What the worker thread shares with its handle.
struct Shared {
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<WorkerStats>>,
    looks: Arc<AtomicU64>,
}

fn work(engine: &Engine, options: &WorkerOptions, shared: &Shared) {
    let name = worker_name(&options.name);
    let bell = &engine.pipeline.bell;
    let model_down_wait = Duration::from_secs(engine.pipeline.settings.model_down_secs);
    let mut ran = 0u64;
    if options.close_idle_sessions {
        close_idle(engine, shared);
    }
    while !shared.stop.load(Ordering::SeqCst) && options.limit.is_none_or(|l| ran < l) {
        let seen = bell.rings();
        let result = engine.run_next_job(&name);
        shared.looks.fetch_add(1, Ordering::SeqCst);
        let wait = match result {
            Ok(Some(outcome)) => {
                ran += 1;
                let wait = count(&mut lock(&shared.stats), &outcome, model_down_wait);
                if let Some(tx) = &options.report {
                    let _ = tx.send(outcome);
                }
                if wait.is_some() && options.until_idle {
                    break;
                }
                wait
            }
            Ok(None) if options.until_idle => break,
            Ok(None) => {
                // Nothing due: a good moment to close sessions nobody ended.
                if options.close_idle_sessions && close_idle(engine, shared) > 0 {
                    continue;
                }
                Some(options.idle_poll)
            }
            Err(e) => {
                lock(&shared.stats).last_error = Some(e.to_string());
                if options.until_idle {
                    break;
                }
                Some(options.idle_poll)
            }
        };
        if wait == Some(options.idle_poll) {
            // Idle: embed records that wait for vectors (an embedder that was down).
            let _ = engine.backfill_vectors_every(Duration::from_secs(60));
        }
        if let Some(d) = wait {
            bell.wait(seen, d);
        }
    }
}

/// Adds an outcome to the counts; returns how long to pause (the model is down).
fn count(s: &mut WorkerStats, outcome: &JobOutcome, model_down_wait: Duration) -> Option<Duration> {
    match outcome {
        JobOutcome::Done { .. } => s.done += 1,
        JobOutcome::Retried { error, .. } => {
            s.retried += 1;
            s.last_error = Some(error.clone());
        }
        JobOutcome::Failed { error, .. } => {
            s.failed += 1;
            s.last_error = Some(error.clone());
        }
        JobOutcome::ModelDown { error, .. } => {
            s.model_down += 1;
            s.last_error = Some(error.clone());
            return Some(model_down_wait);
        }
        JobOutcome::LostLease { .. } => {}
    }
    None
}

fn close_idle(engine: &Engine, shared: &Shared) -> usize {
    match engine.close_idle_sessions() {
        Ok(ids) => {
            lock(&shared.stats).sessions_closed += ids.len() as u64;
            ids.len()
        }
        Err(e) => {
            lock(&shared.stats).last_error = Some(e.to_string());
            0
        }
    }
}

fn lock(stats: &Mutex<WorkerStats>) -> std::sync::MutexGuard<'_, WorkerStats> {
    stats.lock().unwrap_or_else(|e| e.into_inner())
}
