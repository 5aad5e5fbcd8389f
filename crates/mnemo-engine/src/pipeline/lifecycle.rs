//! The edges of a worker's life: what a process gives back when it stops, and the
//! sessions nobody ends.
//!
//! **Leases in flight.** A job is leased for `lease_secs` (minutes: longer than the slowest
//! model call). A worker that is stopped mid-job (Ctrl-C, SIGTERM, leaving a chat) would
//! leave the job `running` until that lease expired, and `mnemo jobs --retry` refuses a
//! running job. So every lease this process takes is noted here, and a stopping process
//! gives them back ([`Engine::release_in_flight`]): the job is due again at once and the
//! interrupted attempt is not counted. A `kill -9` cannot do that; then the lease expires
//! and another worker takes the job over, as before.
//!
//! **Idle sessions.** A session ends when the chat is left; a hook that records turns
//! with `mnemo turn add` never says so. A worker closes sessions whose last turn is older
//! than `session_idle_secs` ([`Engine::close_idle_sessions`]), which queues their
//! session-end work (extraction of the last turns, the summary), so nothing recorded
//! stays unprocessed forever.

use std::sync::Mutex;

use mnemo_core::{Job, Result};

use crate::Engine;

/// The leases this process holds, `(job id, lease token)`, and whether it has stopped
/// taking new ones. Leasing happens under the same lock, so a job is never leased in the
/// store without being listed here, and none is leased once the process has given its
/// leases back.
#[derive(Debug, Default)]
pub(crate) struct Leases(Mutex<LeaseState>);

#[derive(Debug, Default)]
struct LeaseState {
    held: Vec<(String, String)>,
    closed: bool,
}

impl Leases {
    /// Runs `lease` (the store call that leases a job) unless leases were given back, and
    /// notes the job it leased.
    pub(crate) fn lease_with(
        &self,
        lease: impl FnOnce() -> Result<Option<Job>>,
    ) -> Result<Option<Job>> {
        let mut state = self.lock();
        if state.closed {
            return Ok(None);
        }
        let job = lease()?;
        if let Some(j) = &job {
            state
                .held
                .push((j.id.clone(), j.lease_owner.clone().unwrap_or_default()));
        }
        Ok(job)
    }

    pub(crate) fn drop_lease(&self, job: &str, lease: &str) {
        self.lock().held.retain(|(j, l)| !(j == job && l == lease));
    }

    /// Stops further leasing and returns the leases held.
    fn close(&self) -> Vec<(String, String)> {
        let mut state = self.lock();
        state.closed = true;
        std::mem::take(&mut state.held)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LeaseState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Sessions closed per look, so one pass over a large backlog stays short.
const IDLE_BATCH: usize = 100;

impl Engine {
    /// Gives back every lease this engine's workers hold (the jobs are due again now, the
    /// interrupted attempts not counted) and returns how many were released; from then on
    /// this engine's workers lease nothing more. Call it when the process stops before its
    /// jobs finish; a worker that later finishes such a job finds its lease gone and
    /// records nothing.
    pub fn release_in_flight(&self, why: &str) -> Result<usize> {
        let held = self.pipeline.leases.close();
        let now = self.now();
        let mut released = 0;
        for (job, lease) in held {
            if self.store.release_lease(&job, &lease, why, now)? {
                released += 1;
            }
        }
        Ok(released)
    }

    /// Whether a worker of this engine is running a job now.
    pub fn has_job_in_flight(&self) -> bool {
        !self.pipeline.leases.lock().held.is_empty()
    }

    /// Ends the sessions idle for `session_idle_secs` (of every user) and queues their
    /// session-end work; returns their ids. Does nothing when the setting is 0.
    pub fn close_idle_sessions(&self) -> Result<Vec<String>> {
        let idle = self.pipeline.settings.session_idle_secs;
        if idle == 0 {
            return Ok(Vec::new());
        }
        // Capped at a century so the subtraction cannot overflow.
        let secs = i64::try_from(idle.min(3_155_760_000)).unwrap_or(0);
        let before = self.now() - chrono::Duration::seconds(secs);
        let idle = self.store.idle_sessions(before, IDLE_BATCH)?;
        for (user, id) in &idle {
            self.end_session(user, id)?;
        }
        Ok(idle.into_iter().map(|(_, id)| id).collect())
    }
}
