//! The durable job queue for LLM work (issue 4): jobs live in the same database as the
//! turns they process, so they survive crashes and restarts, and a turn and the job that
//! will process it are committed together.
//!
//! Why a queue at all: the caller of `add_turn` must never wait for a model, a model call
//! can fail in many transient ways (429, timeouts, a malformed reply from a small model),
//! and a process can die mid-call. So every piece of LLM work is a row here:
//!
//! - **Leases.** A worker takes a job with [`JobStore::lease_job`], which marks it
//!   `running` until `lease_until`. A worker that dies leaves the lease to expire; the next
//!   `lease_job` after that takes the job again. Completing or failing a job checks the
//!   lease token, so a worker that lost its lease cannot overwrite the new owner's work.
//! - **Attempts and backoff.** Each lease counts an attempt. A failure either schedules
//!   the job again (`next_run_at`, chosen by the engine) or, after `max_attempts`, marks it
//!   `failed`: still listed, with its last error, and re-runnable with
//!   [`JobStore::retry_job`]. Nothing is dropped silently.
//! - **Idempotency.** A job is identified by `(kind, user, subject)`. [`Dedup::Once`] never
//!   enqueues a second job for the same subject (extraction of one turn range);
//!   [`Dedup::Coalesce`] folds into a job still waiting (consolidating a topic that was
//!   touched twice before the worker got to it).
//! - **Turn ranges.** Extraction and session summaries cover consecutive turns of one
//!   session; [`RangeJob`] asks the store to enqueue "everything since the last job of this
//!   kind", in the same transaction as the turns, so no turn is ever skipped or covered
//!   twice.
//!
//! Token usage of every model call is stored next to the jobs ([`UsageRecord`]), so cost
//! can be reported per job, per model and per user.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::time::{serde_ts, TimestampSchema};
use crate::{Error, NewTurn, Result, Scope, Timestamp, Turn};

/// What a job does. Every kind needs an LLM today; [`JobKind::needs_llm`] exists so a
/// worker without a model can still run kinds that do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Turn a range of turns into memory cells.
    Extract,
    /// Compare one cell with existing memories and ADD / UPDATE / DELETE / NOOP.
    Reconcile,
    /// Rewrite a topic's summary from its current memories.
    Topic,
    /// Summarize a range of turns of a session.
    Summarize,
}

impl JobKind {
    /// Every kind.
    pub const ALL: [JobKind; 4] = [
        JobKind::Extract,
        JobKind::Reconcile,
        JobKind::Topic,
        JobKind::Summarize,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Extract => "extract",
            JobKind::Reconcile => "reconcile",
            JobKind::Topic => "topic",
            JobKind::Summarize => "summarize",
        }
    }

    /// Whether running it calls a model.
    pub fn needs_llm(self) -> bool {
        true
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Waiting for `next_run_at`.
    Queued,
    /// Leased by a worker until `lease_until`.
    Running,
    /// Finished; `result` says what it did.
    Done,
    /// Gave up after `max_attempts` (or on an error that retrying cannot fix); re-runnable.
    Failed,
}

impl JobStatus {
    /// Every status.
    pub const ALL: [JobStatus; 4] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Done,
        JobStatus::Failed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }
}

macro_rules! named {
    ($t:ty, $what:literal) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $t {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                let lower = s.trim().to_ascii_lowercase();
                <$t>::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == lower)
                    .ok_or_else(|| {
                        let names: Vec<&str> = <$t>::ALL.iter().map(|v| v.as_str()).collect();
                        Error::invalid($what, format!("`{s}` is not one of {}", names.join(", ")))
                    })
            }
        }
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(
                d: D,
            ) -> std::result::Result<Self, D::Error> {
                String::deserialize(d)?
                    .parse()
                    .map_err(serde::de::Error::custom)
            }
        }
    };
}

named!(JobKind, "job kind");
named!(JobStatus, "job status");
crate::kind::string_enum_schema!(JobKind, "What a job does.");
crate::kind::string_enum_schema!(JobStatus, "Where a job is in its life.");

/// How a new job relates to existing jobs with the same `(kind, user, subject)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dedup {
    /// At most one job ever: enqueueing again returns the existing job, whatever its status.
    #[default]
    Once,
    /// At most one *queued* job: enqueueing again while one waits returns that one; once it
    /// has started (or finished), a new job is created, because the running one may already
    /// have read stale state.
    Coalesce,
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: JobKind,
    pub scope: Scope,
    /// What the job is about (a turn range, a topic name, a cell of an extraction); with
    /// `kind` and the user it is the job's identity.
    pub subject: String,
    pub session_id: Option<String>,
    /// Turn range, for jobs over turns.
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    /// Kind-specific input (JSON object). Never the only copy of user text that matters:
    /// turns stay in the log.
    pub payload: Value,
    pub max_attempts: u32,
    pub dedup: Dedup,
    /// Earliest run; `None` means now.
    pub run_at: Option<Timestamp>,
}

impl NewJob {
    /// A job with no turn range, run once, now.
    pub fn new(kind: JobKind, scope: Scope, subject: impl Into<String>, payload: Value) -> Self {
        NewJob {
            kind,
            scope,
            subject: subject.into(),
            session_id: None,
            first_seq: None,
            last_seq: None,
            payload,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            dedup: Dedup::Once,
            run_at: None,
        }
    }
}

/// Attempts before a job is marked failed, unless the caller says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Job {
    pub id: String,
    pub kind: JobKind,
    pub user_id: String,
    pub agent_id: Option<String>,
    pub subject: String,
    pub session_id: Option<String>,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub payload: Value,
    pub status: JobStatus,
    /// Leases taken so far (each is an attempt, including ones whose worker died).
    pub attempts: u32,
    pub max_attempts: u32,
    #[serde(with = "serde_ts")]
    #[schemars(with = "TimestampSchema")]
    pub next_run_at: Timestamp,
    /// The lease token of the current attempt while running.
    pub lease_owner: Option<String>,
    #[serde(with = "serde_ts::option")]
    #[schemars(with = "Option<TimestampSchema>")]
    pub lease_until: Option<Timestamp>,
    /// The last failure, kept after a later success too (for diagnosis).
    pub last_error: Option<String>,
    /// What the job did (kind-specific JSON), once done.
    pub result: Value,
    #[serde(with = "serde_ts")]
    #[schemars(with = "TimestampSchema")]
    pub created_at: Timestamp,
    #[serde(with = "serde_ts")]
    #[schemars(with = "TimestampSchema")]
    pub updated_at: Timestamp,
    #[serde(with = "serde_ts::option")]
    #[schemars(with = "Option<TimestampSchema>")]
    pub finished_at: Option<Timestamp>,
}

impl Job {
    /// The job's scope.
    pub fn scope(&self) -> Scope {
        Scope {
            user_id: self.user_id.clone(),
            agent_id: self.agent_id.clone(),
        }
    }
}

/// "Enqueue a job of `kind` over the turns of the session not yet covered by a job of
/// this kind, if there are at least `min_turns` of them" — split into jobs of at most
/// `max_turns` turns (0: no limit), so one prompt never holds an unbounded conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeJob {
    pub kind: JobKind,
    pub min_turns: i64,
    pub max_turns: i64,
    pub max_attempts: u32,
}

/// Which jobs to list.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// `None`: every user.
    pub user_id: Option<String>,
    pub statuses: Vec<JobStatus>,
    pub kinds: Vec<JobKind>,
    pub session_id: Option<String>,
    pub limit: Option<usize>,
}

/// Counts of jobs per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct JobCounts {
    pub queued: u64,
    pub running: u64,
    pub done: u64,
    pub failed: u64,
    /// Queued jobs whose `next_run_at` has come.
    pub ready: u64,
}

/// One model call's token counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UsageRecord {
    /// The job it was made for; `None` for calls outside the queue (a chat reply).
    pub job_id: Option<String>,
    pub user_id: String,
    pub agent_id: Option<String>,
    /// What it was for: `extract`, `reconcile`, `topic`, `summarize`, `chat`, ...
    pub task: String,
    pub provider: String,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(with = "serde_ts")]
    #[schemars(with = "TimestampSchema")]
    pub at: Timestamp,
}

/// How usage totals are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsageGroup {
    #[default]
    Model,
    User,
    Task,
    Job,
    /// The UTC day of the call (`YYYY-MM-DD`).
    Day,
}

/// Which usage to total.
#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub user_id: Option<String>,
    pub since: Option<Timestamp>,
    pub group: UsageGroup,
}

/// Totals of one group and one model (a group that used two models has two rows, so
/// each can be priced).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct UsageRow {
    /// The group's value: a `provider/model`, a user, a task or a job id.
    pub key: String,
    /// `provider/model`.
    pub model: String,
    pub calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Job queue storage. Every [`Store`](crate::Store) implements it. Every method is one
/// transaction.
pub trait JobStore: Send + Sync {
    /// Enqueues jobs (each deduplicated as it says) and returns the job now standing for
    /// each one: the new job, or the existing one it folded into.
    fn enqueue_jobs(&self, jobs: &[NewJob], now: Timestamp) -> Result<Vec<Job>>;

    /// Records turns (one session, in order) and, in the same transaction, enqueues the
    /// range jobs their session now needs. A crash can never leave a turn recorded whose
    /// extraction was not queued.
    fn add_turns_with_jobs(
        &self,
        turns: &[(NewTurn, u32)],
        ranges: &[RangeJob],
        now: Timestamp,
    ) -> Result<(Vec<Turn>, Vec<Job>)>;

    /// Enqueues the range jobs a session of `user_id` needs, up to its last turn (session
    /// end).
    fn enqueue_ranges(
        &self,
        user_id: &str,
        session_id: &str,
        ranges: &[RangeJob],
        now: Timestamp,
    ) -> Result<Vec<Job>>;

    /// Takes the next job that is due (queued and `next_run_at <= now`, or running with an
    /// expired lease) among `kinds`, marks it running under a fresh lease token until
    /// `lease_until`, and counts an attempt. A job whose expired lease used up its last
    /// attempt is marked failed instead of being handed out.
    fn lease_job(
        &self,
        worker: &str,
        kinds: &[JobKind],
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<Job>>;

    /// Marks a leased job done with its result and enqueues its follow-up jobs, atomically.
    /// Returns `false` (changing nothing) when `lease` is no longer the job's lease.
    fn complete_job(
        &self,
        id: &str,
        lease: &str,
        result: &Value,
        follow_ups: &[NewJob],
        now: Timestamp,
    ) -> Result<bool>;

    /// Records a failed attempt. With `retry_at`, and attempts left, the job is queued
    /// again for then; otherwise it is marked failed. Returns the job as it now stands, or
    /// `None` when `lease` is no longer the job's lease.
    fn fail_job(
        &self,
        id: &str,
        lease: &str,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Option<Job>>;

    /// Gives a leased job back without counting the attempt (the model is unreachable or
    /// not configured: not the job's fault), to run again at `run_at`.
    fn release_job(
        &self,
        id: &str,
        lease: &str,
        error: &str,
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool>;

    /// Gives a leased job back at once because its worker is stopping (Ctrl-C, SIGTERM,
    /// leaving a chat): the attempt is not counted and the job is due again now, so the
    /// next worker takes it without waiting for the lease to expire. Returns `false` when
    /// `lease` is no longer the job's lease (it finished or was taken over).
    fn release_lease(&self, id: &str, lease: &str, why: &str, now: Timestamp) -> Result<bool> {
        self.release_job(id, lease, why, now, now)
    }

    /// Sessions not ended whose last turn was recorded before `before`, oldest first, at
    /// most `limit`, as `(user id, session id)`: the conversations a worker closes as idle.
    fn idle_sessions(&self, before: Timestamp, limit: usize) -> Result<Vec<(String, String)>>;

    /// A job by id or unique id prefix (of a user, when given).
    fn get_job(&self, user_id: Option<&str>, id_or_prefix: &str) -> Result<Job>;

    /// Jobs matching the filter, newest first.
    fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>>;

    /// Counts per status (of one user, when given), and how many queued jobs are due.
    fn job_counts(&self, user_id: Option<&str>, now: Timestamp) -> Result<JobCounts>;

    /// Queues a failed (or done) job again with its attempts reset; a queued job waiting
    /// for a later attempt is made due now. A running job is refused.
    fn retry_job(&self, id: &str, now: Timestamp) -> Result<Job>;

    /// Stores one model call's token counts.
    fn record_usage(&self, usage: &UsageRecord) -> Result<()>;

    /// Usage totals per group and model, largest first.
    fn usage(&self, filter: &UsageFilter) -> Result<Vec<UsageRow>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in JobKind::ALL {
            assert_eq!(k.as_str().parse::<JobKind>().unwrap(), k);
            let j = serde_json::to_string(&k).unwrap();
            assert_eq!(serde_json::from_str::<JobKind>(&j).unwrap(), k);
        }
        for s in JobStatus::ALL {
            assert_eq!(s.to_string().parse::<JobStatus>().unwrap(), s);
        }
        let e = "paused".parse::<JobStatus>().unwrap_err().to_string();
        assert!(e.contains("queued, running"), "{e}");
    }
}
