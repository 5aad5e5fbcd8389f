//! Running jobs: lease the next due job, run its step, and record the outcome — done with
//! its follow-ups, retried with backoff, failed for good after `max_attempts`, or put back
//! untouched when the model is down. Also the engine's read API for jobs and usage.

use mnemo_core::{
    ids, Job, JobCounts, JobFilter, JobKind, Result, Scope, Timestamp, UsageFilter, UsageRecord,
    UsageRow,
};
use serde::Serialize;

use super::extract::StepOutput;
use super::llm::StepError;
use super::{extract, reconcile, summaries, topics, PipelineLlm};
use crate::Engine;

/// What running one job did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum JobOutcome {
    Done {
        job: String,
        kind: JobKind,
    },
    /// Failed this attempt; queued again for `at`.
    Retried {
        job: String,
        kind: JobKind,
        error: String,
        at: Timestamp,
    },
    /// Failed for good (attempts used up, or an error retrying cannot fix).
    Failed {
        job: String,
        kind: JobKind,
        error: String,
    },
    /// The model is unreachable or misconfigured; the job was put back as it was.
    ModelDown {
        job: String,
        kind: JobKind,
        error: String,
    },
    /// Another worker took the job over (this worker's lease had expired).
    LostLease {
        job: String,
        kind: JobKind,
    },
}

/// What draining the queue did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DrainReport {
    pub done: u64,
    pub retried: u64,
    pub failed: u64,
    /// Set when draining stopped because the model cannot be used (or none is configured).
    pub model_down: Option<String>,
    pub outcomes: Vec<JobOutcome>,
    /// Vectors made for records that waited for them (see [`Engine::backfill_vectors`]),
    /// when there were any, or why that stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vectors: Option<crate::BackfillReport>,
}

/// How often draining also embeds records that wait for vectors.
const BACKFILL_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

impl Engine {
    /// Whether a model is configured for the pipeline.
    pub fn has_llm(&self) -> bool {
        self.pipeline.llm.is_some()
    }

    /// Leases and runs the next due job. `None` when nothing is due, or when no model is
    /// configured (jobs then wait).
    pub fn run_next_job(&self, worker: &str) -> Result<Option<JobOutcome>> {
        let Some(llm) = self.pipeline.llm.clone() else {
            return Ok(None);
        };
        let kinds: Vec<JobKind> = JobKind::ALL.to_vec();
        let now = self.now();
        let until = now + self.pipeline.settings.lease();
        let leases = &self.pipeline.leases;
        let Some(job) = leases.lease_with(|| self.store.lease_job(worker, &kinds, now, until))?
        else {
            return Ok(None);
        };
        let lease = job.lease_owner.clone().unwrap_or_default();
        let step = run_step(self, &llm, &job);
        let settled = self.settle(&job, &lease, step).map(Some);
        leases.drop_lease(&job.id, &lease);
        settled
    }

    /// Runs due jobs until none is due, `limit` jobs have run, or the model turns out to
    /// be down. Jobs retried for later are not waited for. Then (at most every 30 s)
    /// embeds the records that wait for vectors.
    pub fn run_jobs(&self, worker: &str, limit: Option<usize>) -> Result<DrainReport> {
        let mut report = self.drain(worker, limit)?;
        report.vectors = self
            .backfill_vectors_every(BACKFILL_EVERY)?
            .filter(|b| b.turns + b.memories > 0 || b.error.is_some());
        Ok(report)
    }

    fn drain(&self, worker: &str, limit: Option<usize>) -> Result<DrainReport> {
        let mut report = DrainReport::default();
        if !self.has_llm() {
            if self.job_counts(None)?.ready > 0 {
                report.model_down = Some("no model is configured for the pipeline".into());
            }
            return Ok(report);
        }
        while limit.is_none_or(|l| report.outcomes.len() < l) {
            let Some(outcome) = self.run_next_job(worker)? else {
                break;
            };
            match &outcome {
                JobOutcome::Done { .. } => report.done += 1,
                JobOutcome::Retried { .. } => report.retried += 1,
                JobOutcome::Failed { .. } => report.failed += 1,
                JobOutcome::ModelDown { error, .. } => report.model_down = Some(error.clone()),
                JobOutcome::LostLease { .. } => {}
            }
            let stop = report.model_down.is_some();
            report.outcomes.push(outcome);
            if stop {
                break;
            }
        }
        Ok(report)
    }

    /// Jobs matching a filter, newest first.
    pub fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        self.store.list_jobs(filter)
    }

    /// A job by id or unique prefix.
    pub fn job(&self, id_or_prefix: &str) -> Result<Job> {
        self.store.get_job(None, id_or_prefix)
    }

    /// Counts of jobs per status (of one user, when given).
    pub fn job_counts(&self, user_id: Option<&str>) -> Result<JobCounts> {
        self.store.job_counts(user_id, self.now())
    }

    /// Queues a failed (or done) job again, attempts reset; makes a queued job that waits
    /// for a later attempt due now.
    pub fn retry_job(&self, id_or_prefix: &str) -> Result<Job> {
        let job = self.store.get_job(None, id_or_prefix)?;
        let job = self.store.retry_job(&job.id, self.now())?;
        self.pipeline.bell.ring();
        Ok(job)
    }

    /// Token usage totals, per group and model.
    pub fn usage(&self, filter: &UsageFilter) -> Result<Vec<UsageRow>> {
        self.store.usage(filter)
    }

    /// Records the tokens of a model call made outside the queue (a chat reply: `task`
    /// "chat"), so `mnemo usage` counts every call.
    pub fn record_usage(
        &self,
        scope: &Scope,
        task: &str,
        provider: &str,
        reply: &mnemo_llm::ChatResponse,
    ) -> Result<()> {
        self.store.record_usage(&UsageRecord {
            job_id: None,
            user_id: scope.user_id.clone(),
            agent_id: scope.agent_id.clone(),
            task: task.to_owned(),
            provider: provider.to_owned(),
            model: reply.model.clone(),
            input_tokens: u64::from(reply.usage.input_tokens),
            output_tokens: u64::from(reply.usage.output_tokens),
            at: self.now(),
        })
    }

    /// Records a step's result on the job.
    fn settle(
        &self,
        job: &Job,
        lease: &str,
        step: std::result::Result<StepOutput, StepError>,
    ) -> Result<JobOutcome> {
        let (id, kind, now) = (job.id.clone(), job.kind, self.now());
        let lost = || JobOutcome::LostLease {
            job: id.clone(),
            kind,
        };
        match step {
            Ok(out) => {
                let ok =
                    self.store
                        .complete_job(&job.id, lease, &out.result, &out.follow_ups, now)?;
                if !out.follow_ups.is_empty() {
                    self.pipeline.bell.ring();
                }
                Ok(if ok {
                    JobOutcome::Done { job: id, kind }
                } else {
                    lost()
                })
            }
            Err(StepError::ModelDown(error)) => {
                let at = now + secs(self.pipeline.settings.model_down_secs);
                let ok = self.store.release_job(&job.id, lease, &error, at, now)?;
                Ok(if ok {
                    JobOutcome::ModelDown {
                        job: id,
                        kind,
                        error,
                    }
                } else {
                    lost()
                })
            }
            Err(e) => {
                let error = e.to_string();
                let retry_at = match &e {
                    StepError::Retry { after, .. } => Some(now + self.backoff(job, *after)),
                    _ => None,
                };
                let Some(stored) = self.store.fail_job(&job.id, lease, &error, retry_at, now)?
                else {
                    return Ok(lost());
                };
                Ok(match (stored.status, retry_at) {
                    (mnemo_core::JobStatus::Queued, Some(at)) => JobOutcome::Retried {
                        job: id,
                        kind,
                        error,
                        at,
                    },
                    _ => JobOutcome::Failed {
                        job: id,
                        kind,
                        error,
                    },
                })
            }
        }
    }

    /// Exponential backoff from `retry_base_secs`, doubled per attempt, capped, with a
    /// little per-job jitter so jobs that failed together do not retry together. A wait
    /// the provider asked for (`Retry-After`) is honoured when longer.
    fn backoff(&self, job: &Job, asked: Option<std::time::Duration>) -> chrono::Duration {
        let s = &self.pipeline.settings;
        let exp = job.attempts.saturating_sub(1).min(20);
        let base = s
            .retry_base_secs
            .saturating_mul(1u64 << exp)
            .min(s.retry_max_secs);
        let jitter = u64::from(job.id.bytes().fold(0u8, |a, b| a.wrapping_add(b))) % 16;
        let computed = base + base * jitter / 64;
        let asked = asked.map_or(0, |d| d.as_secs());
        secs(computed.max(asked))
    }
}

fn secs(s: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
}

/// Dispatches a job to its step.
fn run_step(
    engine: &Engine,
    llm: &PipelineLlm,
    job: &Job,
) -> std::result::Result<StepOutput, StepError> {
    match job.kind {
        JobKind::Extract => extract::run(engine, llm, job),
        JobKind::Reconcile => reconcile::run(engine, llm, job),
        JobKind::Topic => topics::run(engine, llm, job),
        JobKind::Summarize => summaries::run(engine, llm, job),
    }
}

/// A worker name unique to this process and call, for lease tokens.
pub(crate) fn worker_name(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), &ids::new_id()[..6])
}
