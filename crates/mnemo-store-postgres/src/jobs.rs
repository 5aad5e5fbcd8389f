//! [`JobStore`] for PostgreSQL: the durable job queue shared by the workers of every
//! server on the database.
//!
//! - Leasing takes the next due job with `FOR UPDATE SKIP LOCKED`: concurrent workers
//!   never wait on, or take, the same job.
//! - A job's identity (kind, user, subject) is serialized with a transaction-level
//!   advisory lock, so `Dedup::Once` and `Dedup::Coalesce` hold across servers.
//! - Range jobs lock their session's row, so two servers recording turns of one session
//!   never cover a turn twice or skip one.

use crate::db::{Sql, Tx};
use mnemo_core::{
    ids, Dedup, Job, JobCounts, JobFilter, JobKind, JobStatus, JobStore, NewJob, NewTurn, RangeJob,
    Result, Timestamp, Turn, UsageFilter, UsageRecord, UsageRow,
};
use serde_json::Value;

use crate::errors::DbResult;
use crate::jobs_rows::{self, JOB_COLS};
use crate::lookup::{self, JOBS};
use crate::rows::json_text;
use crate::{turns, validate, PgStore};

impl JobStore for PgStore {
    fn enqueue_jobs(&self, jobs: &[NewJob], now: Timestamp) -> Result<Vec<Job>> {
        self.write(|c| jobs.iter().map(|j| enqueue(c, j, now)).collect())
    }

    fn add_turns_with_jobs(
        &self,
        new_turns: &[(NewTurn, u32)],
        ranges: &[RangeJob],
        now: Timestamp,
    ) -> Result<(Vec<Turn>, Vec<Job>)> {
        self.write(|c| {
            let mut recorded: Vec<Turn> = Vec::with_capacity(new_turns.len());
            for (turn, tokens) in new_turns {
                if let Some(first) = recorded.first().map(|t| &t.session_id) {
                    if *first != turn.session_id {
                        return Err(mnemo_core::Error::invalid(
                            "turns",
                            "turns recorded together must belong to one session",
                        )
                        .into());
                    }
                }
                recorded.push(turns::add_turn(c, turn, *tokens, now)?);
            }
            let jobs = match recorded.first() {
                Some(t) => {
                    let (user, session) = (t.user_id.clone(), t.session_id.clone());
                    enqueue_ranges(c, &user, &session, ranges, now)?
                }
                None => Vec::new(),
            };
            Ok((recorded, jobs))
        })
    }

    fn enqueue_ranges(
        &self,
        user_id: &str,
        session_id: &str,
        ranges: &[RangeJob],
        now: Timestamp,
    ) -> Result<Vec<Job>> {
        self.write(|c| enqueue_ranges(c, user_id, session_id, ranges, now))
    }

    fn lease_job(
        &self,
        worker: &str,
        kinds: &[JobKind],
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<Job>> {
        self.write(|c| lease(c, worker, kinds, now, lease_until))
    }

    fn complete_job(
        &self,
        id: &str,
        lease: &str,
        result: &Value,
        follow_ups: &[NewJob],
        now: Timestamp,
    ) -> Result<bool> {
        self.write(|c| {
            let n = c.execute(
                "UPDATE jobs SET status = 'done', result = $3, lease_owner = NULL, \
                 lease_until = NULL, updated_at = $4, finished_at = $4 \
                 WHERE id = $1 AND status = 'running' AND lease_owner = $2",
                &[&id, &lease, &json_text(result)?, &now],
            )?;
            if n == 0 {
                return Ok(false);
            }
            for job in follow_ups {
                enqueue(c, job, now)?;
            }
            Ok(true)
        })
    }

    fn fail_job(
        &self,
        id: &str,
        lease: &str,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Option<Job>> {
        self.write(|c| {
            let Some(job) = leased(c, id, lease)? else {
                return Ok(None);
            };
            match retry_at.filter(|_| job.attempts < job.max_attempts) {
                Some(at) => requeue(c, &job, error, at, now, false)?,
                None => set_failed(c, id, error, now)?,
            }
            jobs_rows::by_id(c, id)
        })
    }

    fn release_job(
        &self,
        id: &str,
        lease: &str,
        error: &str,
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        self.write(|c| {
            let Some(job) = leased(c, id, lease)? else {
                return Ok(false);
            };
            requeue(c, &job, error, run_at, now, true)?;
            Ok(true)
        })
    }

    fn get_job(&self, user_id: Option<&str>, id_or_prefix: &str) -> Result<Job> {
        self.read(|c| {
            let id = lookup::resolve(c, JOBS, user_id, id_or_prefix)?;
            jobs_rows::by_id(c, &id)?.ok_or_else(|| mnemo_core::Error::not_found("job", id).into())
        })
    }

    fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        self.read(|c| jobs_rows::list(c, filter))
    }

    fn job_counts(&self, user_id: Option<&str>, now: Timestamp) -> Result<JobCounts> {
        self.read(|c| jobs_rows::counts(c, user_id, &now))
    }

    fn idle_sessions(&self, before: Timestamp, limit: usize) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            Ok(c.query(
                "SELECT s.user_id, s.id FROM sessions s \
                 CROSS JOIN LATERAL (SELECT t.created_at FROM turns t \
                   WHERE t.user_id = s.user_id AND t.session_id = s.id \
                   ORDER BY t.seq DESC LIMIT 1) l \
                 WHERE s.ended_at IS NULL AND l.created_at < $1 \
                 ORDER BY l.created_at, s.id LIMIT $2",
                &[&before, &limit],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
        })
    }

    fn retry_job(&self, id: &str, now: Timestamp) -> Result<Job> {
        self.write(|c| {
            let job = c
                .query_opt(
                    &format!("SELECT {JOB_COLS} FROM jobs j WHERE j.id = $1 FOR UPDATE"),
                    &[&id],
                )?
                .map(|r| jobs_rows::job(&r))
                .transpose()?
                .ok_or_else(|| mnemo_core::Error::not_found("job", id))?;
            match job.status {
                JobStatus::Running => {
                    return Err(mnemo_core::Error::invalid(
                        "job",
                        format!(
                            "job {} is running now (its worker holds it until {}); it is \
                             queued again if that worker stops",
                            ids::short(&job.id),
                            job.lease_until.map(|t| t.to_rfc3339()).unwrap_or_default()
                        ),
                    )
                    .into());
                }
                // Waiting for a later attempt (backoff, a model-down pause): due now.
                JobStatus::Queued => {
                    c.execute(
                        "UPDATE jobs SET next_run_at = $2, updated_at = $2 WHERE id = $1",
                        &[&id, &now],
                    )?;
                    return Ok(jobs_rows::by_id(c, id)?
                        .ok_or_else(|| mnemo_core::Error::not_found("job", id))?);
                }
                JobStatus::Done | JobStatus::Failed => {}
            }
            c.execute(
                "UPDATE jobs SET attempts = 0, finished_at = NULL WHERE id = $1",
                &[&id],
            )?;
            let note = job.last_error.as_deref().unwrap_or("re-run requested");
            identity_lock(c, job.kind, &job.user_id, &job.subject)?;
            requeue(c, &job, note, now, now, false)?;
            Ok(jobs_rows::by_id(c, id)?.ok_or_else(|| mnemo_core::Error::not_found("job", id))?)
        })
    }

    fn record_usage(&self, u: &UsageRecord) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO llm_usage (job_id, user_id, agent_id, task, provider, model, \
                 input_tokens, output_tokens, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &u.job_id,
                    &u.user_id,
                    &u.agent_id,
                    &u.task,
                    &u.provider,
                    &u.model,
                    &i64::try_from(u.input_tokens).unwrap_or(i64::MAX),
                    &i64::try_from(u.output_tokens).unwrap_or(i64::MAX),
                    &u.at,
                ],
            )?;
            Ok(())
        })
    }

    fn usage(&self, filter: &UsageFilter) -> Result<Vec<UsageRow>> {
        self.read(|c| jobs_rows::usage(c, filter))
    }
}

/// Serializes writers of one job identity until the transaction ends.
fn identity_lock(c: &mut Tx<'_>, kind: JobKind, user: &str, subject: &str) -> DbResult<()> {
    c.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&format!(
            "job\u{1f}{}\u{1f}{user}\u{1f}{subject}",
            kind.as_str()
        )],
    )?;
    Ok(())
}

/// Inserts `j`, or returns the job it folds into (see [`Dedup`]).
fn enqueue(c: &mut Tx<'_>, j: &NewJob, now: Timestamp) -> DbResult<Job> {
    validate::scope(&j.scope.user_id, j.scope.agent_id.as_deref())?;
    validate::reference("job subject", &j.subject)?;
    identity_lock(c, j.kind, &j.scope.user_id, &j.subject)?;
    let status_clause = match j.dedup {
        Dedup::Once => "",
        Dedup::Coalesce => " AND status = 'queued'",
    };
    let existing: Option<String> = c
        .query_opt(
            &format!(
                "SELECT id FROM jobs WHERE kind = $1 AND user_id = $2 AND subject = $3{status_clause} \
                 ORDER BY pk DESC LIMIT 1"
            ),
            &[&j.kind.as_str(), &j.scope.user_id, &j.subject],
        )?
        .map(|r| r.get(0));
    let id = match existing {
        Some(id) => id,
        None => insert(c, j, now)?,
    };
    Ok(jobs_rows::by_id(c, &id)?.ok_or_else(|| mnemo_core::Error::not_found("job", id))?)
}

fn insert(c: &mut Tx<'_>, j: &NewJob, now: Timestamp) -> DbResult<String> {
    let id = ids::new_id();
    let max_attempts = i32::try_from(j.max_attempts.max(1)).unwrap_or(i32::MAX);
    c.execute(
        "INSERT INTO jobs (id, kind, user_id, agent_id, subject, session_id, first_seq, \
         last_seq, payload, status, attempts, max_attempts, next_run_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', 0, $10, $11, $12, $12)",
        &[
            &id,
            &j.kind.as_str(),
            &j.scope.user_id,
            &j.scope.agent_id,
            &j.subject,
            &j.session_id,
            &j.first_seq,
            &j.last_seq,
            &serde_json::to_string(&j.payload)?,
            &max_attempts,
            &j.run_at.unwrap_or(now),
            &now,
        ],
    )?;
    Ok(id)
}

/// Enqueues each range job the session needs (see the SQLite store), with the session's
/// row locked.
fn enqueue_ranges(
    c: &mut Tx<'_>,
    user_id: &str,
    session_id: &str,
    ranges: &[RangeJob],
    now: Timestamp,
) -> DbResult<Vec<Job>> {
    let Some(agent_id) = turns::lock_session(c, user_id, session_id)? else {
        return Err(mnemo_core::Error::not_found("session", session_id).into());
    };
    let user_id = user_id.to_owned();
    let last_turn: i64 = c
        .query_one(
            "SELECT coalesce(max(seq), 0) FROM turns WHERE session_id = $1 AND user_id = $2",
            &[&session_id, &user_id],
        )?
        .get(0);
    let mut out = Vec::new();
    let scope = mnemo_core::Scope {
        user_id: user_id.clone(),
        agent_id,
    };
    for r in ranges {
        let covered: i64 = c
            .query_one(
                "SELECT coalesce(max(last_seq), 0) FROM jobs \
                 WHERE session_id = $1 AND kind = $2 AND user_id = $3",
                &[&session_id, &r.kind.as_str(), &user_id],
            )?
            .get(0);
        let mut first = covered + 1;
        while last_turn - first + 1 >= r.min_turns.max(1) {
            let last = match r.max_turns {
                n if n > 0 => last_turn.min(first + n - 1),
                _ => last_turn,
            };
            let job = NewJob {
                session_id: Some(session_id.to_owned()),
                first_seq: Some(first),
                last_seq: Some(last),
                max_attempts: r.max_attempts,
                ..NewJob::new(
                    r.kind,
                    scope.clone(),
                    format!("{session_id}:{first}-{last}"),
                    Value::Null,
                )
            };
            out.push(enqueue(c, &job, now)?);
            first = last + 1;
        }
    }
    Ok(out)
}

fn lease(
    c: &mut Tx<'_>,
    worker: &str,
    kinds: &[JobKind],
    now: Timestamp,
    lease_until: Timestamp,
) -> DbResult<Option<Job>> {
    if kinds.is_empty() {
        return Ok(None);
    }
    let kind_names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    // Expired leases that used up the last attempt: the worker died every time.
    c.execute(
        "UPDATE jobs SET status = 'failed', lease_owner = NULL, lease_until = NULL, \
         last_error = 'the worker stopped (crashed or was killed) before finishing, on every attempt', \
         updated_at = $1, finished_at = $1 \
         WHERE id IN (SELECT id FROM jobs WHERE status = 'running' AND lease_until <= $1 \
         AND attempts >= max_attempts FOR UPDATE SKIP LOCKED)",
        &[&now],
    )?;
    let Some(row) = c.query_opt(
        &format!(
            "SELECT {JOB_COLS} FROM jobs j WHERE j.kind = ANY($2) AND \
             ((j.status = 'queued' AND j.next_run_at <= $1) \
              OR (j.status = 'running' AND j.lease_until <= $1)) \
             ORDER BY j.next_run_at, j.pk LIMIT 1 FOR UPDATE SKIP LOCKED"
        ),
        &[&now, &kind_names],
    )?
    else {
        return Ok(None);
    };
    let job = jobs_rows::job(&row)?;
    let token = format!("{worker}/{}/{}", job.attempts + 1, &ids::new_id()[..8]);
    let note = (job.status == JobStatus::Running).then(|| {
        format!(
            "lease of attempt {} expired: its worker stopped before finishing",
            job.attempts
        )
    });
    c.execute(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = $2, \
         lease_until = $3, last_error = coalesce($4, last_error), updated_at = $5 WHERE id = $1",
        &[&job.id, &token, &lease_until, &note, &now],
    )?;
    jobs_rows::by_id(c, &job.id)
}

/// The job, locked, if `lease` is its current lease.
fn leased(c: &mut Tx<'_>, id: &str, lease: &str) -> DbResult<Option<Job>> {
    let job = c
        .query_opt(
            &format!("SELECT {JOB_COLS} FROM jobs j WHERE j.id = $1 FOR UPDATE"),
            &[&id],
        )?
        .map(|r| jobs_rows::job(&r))
        .transpose()?;
    Ok(job.filter(|j| j.status == JobStatus::Running && j.lease_owner.as_deref() == Some(lease)))
}

/// Queues `job` again for `at`; when a twin with the same identity is already queued, that
/// one stands for both and this one is closed as folded into it.
fn requeue(
    c: &mut Tx<'_>,
    job: &Job,
    error: &str,
    at: Timestamp,
    now: Timestamp,
    undo_attempt: bool,
) -> DbResult<()> {
    identity_lock(c, job.kind, &job.user_id, &job.subject)?;
    let twin: Option<String> = c
        .query_opt(
            "SELECT id FROM jobs WHERE kind = $1 AND user_id = $2 AND subject = $3 \
             AND status = 'queued' AND id <> $4",
            &[&job.kind.as_str(), &job.user_id, &job.subject, &job.id],
        )?
        .map(|r| r.get(0));
    if let Some(twin) = twin {
        let result = serde_json::json!({ "folded_into": twin });
        c.execute(
            "UPDATE jobs SET status = 'done', result = $2, last_error = $3, lease_owner = NULL, \
             lease_until = NULL, updated_at = $4, finished_at = $4 WHERE id = $1",
            &[&job.id, &result.to_string(), &error, &now],
        )?;
        return Ok(());
    }
    c.execute(
        "UPDATE jobs SET status = 'queued', next_run_at = $2, last_error = $3, \
         lease_owner = NULL, lease_until = NULL, updated_at = $4, \
         attempts = CASE WHEN $5 THEN greatest(attempts - 1, 0) ELSE attempts END WHERE id = $1",
        &[&job.id, &at, &error, &now, &undo_attempt],
    )?;
    Ok(())
}

fn set_failed(c: &mut Tx<'_>, id: &str, error: &str, now: Timestamp) -> DbResult<()> {
    c.execute(
        "UPDATE jobs SET status = 'failed', last_error = $2, lease_owner = NULL, \
         lease_until = NULL, updated_at = $3, finished_at = $3 WHERE id = $1",
        &[&id, &error, &now],
    )?;
    Ok(())
}
