//! The in-process worker: a thread that runs due jobs while the chat goes on, so the user
//! never waits for extraction. It sleeps until work is enqueued through this engine (the
//! engine rings a bell on every enqueue) or `idle_poll` passes (work enqueued by another
//! process, retries coming due). When the model is down it pauses `model_down_secs`.
//!
//! Stopping is cooperative: [`WorkerHandle::stop`] lets the job in flight finish (a model
//! call is bounded by the client's timeout) and joins the thread. Dropping the handle only
//! asks the thread to stop; if the process exits first, the job's lease simply expires and
//! another worker re-runs it — that is what leases are for.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

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
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            name: "worker".into(),
            idle_poll: Duration::from_secs(5),
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
}

/// A running worker thread.
pub struct WorkerHandle {
    stop: Arc<AtomicBool>,
    engine: Engine,
    stats: Arc<Mutex<WorkerStats>>,
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

    /// Stops the worker: lets the job in flight finish, joins the thread, and returns
    /// the final counts.
    pub fn stop(mut self) -> WorkerStats {
        self.signal();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.stats()
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
        let engine = self.clone();
        let (flag, counts) = (Arc::clone(&stop), Arc::clone(&stats));
        let thread = std::thread::Builder::new()
            .name(format!("mnemo-{}", options.name))
            .spawn(move || work(&engine, &options, &flag, &counts))
            .map_err(|e| Error::io("starting the pipeline worker thread", e))?;
        Ok(WorkerHandle {
            stop,
            engine: self.clone(),
            stats,
            thread: Some(thread),
        })
    }
}

fn work(engine: &Engine, options: &WorkerOptions, stop: &AtomicBool, stats: &Mutex<WorkerStats>) {
    let name = worker_name(&options.name);
    let bell = &engine.pipeline.bell;
    let model_down_wait = Duration::from_secs(engine.pipeline.settings.model_down_secs);
    while !stop.load(Ordering::SeqCst) {
        let seen = bell.rings();
        let result = engine.run_next_job(&name);
        let mut s = stats.lock().unwrap_or_else(|e| e.into_inner());
        let wait = match result {
            Ok(Some(outcome)) => match outcome {
                JobOutcome::Done { .. } => {
                    s.done += 1;
                    None
                }
                JobOutcome::Retried { error, .. } => {
                    s.retried += 1;
                    s.last_error = Some(error);
                    None
                }
                JobOutcome::Failed { error, .. } => {
                    s.failed += 1;
                    s.last_error = Some(error);
                    None
                }
                JobOutcome::ModelDown { error, .. } => {
                    s.model_down += 1;
                    s.last_error = Some(error);
                    Some(model_down_wait)
                }
                JobOutcome::LostLease { .. } => None,
            },
            Ok(None) => Some(options.idle_poll),
            Err(e) => {
                s.last_error = Some(e.to_string());
                Some(options.idle_poll)
            }
        };
        drop(s);
        if wait == Some(options.idle_poll) {
            // Idle: embed records that wait for vectors (an embedder that was down).
            let _ = engine.backfill_vectors_every(Duration::from_secs(60));
        }
        if let Some(d) = wait {
            bell.wait(seen, d);
        }
    }
}
