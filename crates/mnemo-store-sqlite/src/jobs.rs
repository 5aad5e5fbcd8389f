//! [`JobStore`] for SQLite: the durable job queue of the memory pipeline (issue 4).
//!
//! Every method runs in one immediate transaction, so two workers (the chat's in-process
//! worker and `mnemo work` in another terminal) can never lease the same job, and a turn
//! and its extraction job are committed together. Row mapping and usage totals live in
//! `jobs_rows`.

use mnemo_core::{
    ids, Dedup, Job, JobCounts, JobFilter, JobKind, JobStatus, JobStore, NewJob, NewTurn, RangeJob,
    Result, Timestamp, Turn, UsageFilter, UsageRecord, UsageRow,
};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use serde_json::Value;

use crate::errors::DbResult;
use crate::jobs_rows::{self, JOB_COLS};
use crate::lookup::{self, Table};
use crate::rows::{meta_text, ts_text};
use crate::{turns, validate, SqliteStore};

const JOBS: Table = Table {
    name: "jobs",
    what: "job",
};

impl JobStore for SqliteStore {
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
            let mut recorded = Vec::with_capacity(new_turns.len());
            for (turn, tokens) in new_turns {
                if let Some(first) = recorded.first().map(|t: &Turn| &t.session_id) {
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
                Some(t) => enqueue_ranges(c, &t.user_id, &t.session_id, ranges, now)?,
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
            let n = c
                .prepare_cached(
                    "UPDATE jobs SET status = 'done', result = ?3, lease_owner = NULL, \
                     lease_until = NULL, updated_at = ?4, finished_at = ?4 \
                     WHERE id = ?1 AND status = 'running' AND lease_owner = ?2",
                )?
                .execute(params![id, lease, meta_text(result)?, ts_text(&now)])?;
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

    fn idle_sessions(&self, before: Timestamp, limit: usize) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT user_id, id FROM (SELECT s.id, s.user_id, s.pk, \
                 (SELECT t.created_at FROM turns t \
                 WHERE t.user_id = s.user_id AND t.session_id = s.id \
                 ORDER BY t.seq DESC LIMIT 1) AS last_at \
                 FROM sessions s WHERE s.ended_at IS NULL) \
                 WHERE last_at IS NOT NULL AND last_at < ?1 ORDER BY last_at, pk LIMIT ?2",
            )?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = stmt.query_map(params![ts_text(&before), limit], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<(String, String)>>>()?)
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

    fn retry_job(&self, id: &str, now: Timestamp) -> Result<Job> {
        self.write(|c| {
            let job =
                jobs_rows::by_id(c, id)?.ok_or_else(|| mnemo_core::Error::not_found("job", id))?;
            match job.status {
                JobStatus::Running => {
                    return Err(mnemo_core::Error::invalid(
                        "job",
                        format!(
                            "job {} is running now (its worker holds it until {}); it is queued \
                             again if that worker stops",
                            ids::short(&job.id),
                            job.lease_until.map(|t| ts_text(&t)).unwrap_or_default()
                        ),
                    )
                    .into());
                }
                // Waiting for a later attempt (backoff, a model-down pause): due now.
                JobStatus::Queued => {
                    c.prepare_cached(
                        "UPDATE jobs SET next_run_at = ?2, updated_at = ?2 WHERE id = ?1",
                    )?
                    .execute(params![id, ts_text(&now)])?;
                    return Ok(jobs_rows::by_id(c, id)?
                        .ok_or_else(|| mnemo_core::Error::not_found("job", id))?);
                }
                JobStatus::Done | JobStatus::Failed => {}
            }
            c.prepare_cached("UPDATE jobs SET attempts = 0, finished_at = NULL WHERE id = ?1")?
                .execute([id])?;
            let note = job.last_error.as_deref().unwrap_or("re-run requested");
            requeue(c, &job, note, now, now, false)?;
            Ok(jobs_rows::by_id(c, id)?.ok_or_else(|| mnemo_core::Error::not_found("job", id))?)
        })
    }

    fn record_usage(&self, u: &UsageRecord) -> Result<()> {
        self.write(|c| {
            c.prepare_cached(
                "INSERT INTO llm_usage (job_id, user_id, agent_id, task, provider, model, \
                 input_tokens, output_tokens, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                u.job_id,
                u.user_id,
                u.agent_id,
                u.task,
                u.provider,
                u.model,
                i64::try_from(u.input_tokens).unwrap_or(i64::MAX),
                i64::try_from(u.output_tokens).unwrap_or(i64::MAX),
                ts_text(&u.at)
            ])?;
            Ok(())
        })
    }

    fn usage(&self, filter: &UsageFilter) -> Result<Vec<UsageRow>> {
        self.read(|c| jobs_rows::usage(c, filter))
    }
}

/// Inserts `j`, or returns the job it folds into (see [`Dedup`]).
fn enqueue(c: &Connection, j: &NewJob, now: Timestamp) -> DbResult<Job> {
    validate::scope(&j.scope.user_id, j.scope.agent_id.as_deref())?;
    validate::reference("job subject", &j.subject)?;
    let status_clause = match j.dedup {
        Dedup::Once => "",
        Dedup::Coalesce => " AND status = 'queued'",
    };
    let existing: Option<String> = c
        .prepare_cached(&format!(
            "SELECT id FROM jobs WHERE kind = ?1 AND user_id = ?2 AND subject = ?3{status_clause} \
             ORDER BY pk DESC LIMIT 1"
        ))?
        .query_row(params![j.kind.as_str(), j.scope.user_id, j.subject], |r| {
            r.get(0)
        })
        .optional()?;
    let id = match existing {
        Some(id) => id,
        None => insert(c, j, now)?,
    };
    Ok(jobs_rows::by_id(c, &id)?.ok_or_else(|| mnemo_core::Error::not_found("job", id))?)
}

fn insert(c: &Connection, j: &NewJob, now: Timestamp) -> DbResult<String> {
    let id = ids::new_id();
    let now_text = ts_text(&now);
    c.prepare_cached(
        "INSERT INTO jobs (id, kind, user_id, agent_id, subject, session_id, first_seq, \
         last_seq, payload, status, attempts, max_attempts, next_run_at, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'queued', 0, ?10, ?11, ?12, ?12)",
    )?
    .execute(params![
        id,
        j.kind.as_str(),
        j.scope.user_id,
        j.scope.agent_id,
        j.subject,
        j.session_id,
        j.first_seq,
        j.last_seq,
        serde_json::to_string(&j.payload)?,
        j.max_attempts.max(1),
        ts_text(&j.run_at.unwrap_or(now)),
        now_text
    ])?;
    Ok(id)
}

/// Enqueues each range job the session needs: the turns after the last one covered by a
/// job of that kind, when there are at least `min_turns` of them.
fn enqueue_ranges(
    c: &Connection,
    user_id: &str,
    session_id: &str,
    ranges: &[RangeJob],
    now: Timestamp,
) -> DbResult<Vec<Job>> {
    let Some(agent_id) = turns::session_agent(c, user_id, session_id)? else {
        return Err(mnemo_core::Error::not_found("session", session_id).into());
    };
    let user_id = user_id.to_owned();
    let last_turn: i64 = c
        .prepare_cached(
            "SELECT coalesce(max(seq), 0) FROM turns WHERE session_id = ?1 AND user_id = ?2",
        )?
        .query_row([session_id, &user_id], |r| r.get(0))?;
    let mut out = Vec::new();
    let scope = mnemo_core::Scope {
        user_id: user_id.clone(),
        agent_id,
    };
    for r in ranges {
        let covered: i64 = c
            .prepare_cached(
                "SELECT coalesce(max(last_seq), 0) FROM jobs \
                 WHERE session_id = ?1 AND kind = ?2 AND user_id = ?3",
            )?
            .query_row(params![session_id, r.kind.as_str(), user_id], |row| {
                row.get(0)
            })?;
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
    c: &Connection,
    worker: &str,
    kinds: &[JobKind],
    now: Timestamp,
    lease_until: Timestamp,
) -> DbResult<Option<Job>> {
    if kinds.is_empty() {
        return Ok(None);
    }
    let now_text = ts_text(&now);
    // Expired leases that used up the last attempt: the worker died every time.
    c.prepare_cached(
        "UPDATE jobs SET status = 'failed', lease_owner = NULL, lease_until = NULL, \
         last_error = 'the worker stopped (crashed or was killed) before finishing, on every attempt', \
         updated_at = ?1, finished_at = ?1 \
         WHERE status = 'running' AND lease_until <= ?1 AND attempts >= max_attempts",
    )?
    .execute([&now_text])?;
    // Kind names are fixed identifiers, never user text.
    let kind_list = kinds
        .iter()
        .map(|k| format!("'{}'", k.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {JOB_COLS} FROM jobs j WHERE kind IN ({kind_list}) AND \
         ((status = 'queued' AND next_run_at <= ?1) OR (status = 'running' AND lease_until <= ?1)) \
         ORDER BY next_run_at, pk LIMIT 1"
    );
    let Some(job) = c
        .prepare_cached(&sql)?
        .query_row([&now_text], jobs_rows::job)
        .optional()?
    else {
        return Ok(None);
    };
    let token = format!("{worker}/{}/{}", job.attempts + 1, &ids::new_id()[..8]);
    let note = (job.status == JobStatus::Running).then(|| {
        format!(
            "lease of attempt {} expired: its worker stopped before finishing",
            job.attempts
        )
    });
    c.prepare_cached(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = ?2, \
         lease_until = ?3, last_error = coalesce(?4, last_error), updated_at = ?5 WHERE id = ?1",
    )?
    .execute(params![
        job.id,
        token,
        ts_text(&lease_until),
        note,
        now_text
    ])?;
    jobs_rows::by_id(c, &job.id)
}

/// The job, if `lease` is its current lease.
fn leased(c: &Connection, id: &str, lease: &str) -> DbResult<Option<Job>> {
    Ok(jobs_rows::by_id(c, id)?
        .filter(|j| j.status == JobStatus::Running && j.lease_owner.as_deref() == Some(lease)))
}

/// Queues `job` again for `at`. When another job with the same identity is already
/// queued (a coalescing job enqueued while this one ran), that one stands for both and this
/// one is closed as folded into it.
fn requeue(
    c: &Connection,
    job: &Job,
    error: &str,
    at: Timestamp,
    now: Timestamp,
    undo_attempt: bool,
) -> DbResult<()> {
    let twin: Option<String> = c
        .prepare_cached(
            "SELECT id FROM jobs WHERE kind = ?1 AND user_id = ?2 AND subject = ?3 \
             AND status = 'queued' AND id <> ?4",
        )?
        .query_row(
            params![job.kind.as_str(), job.user_id, job.subject, job.id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(twin) = twin {
        let result = serde_json::json!({ "folded_into": twin });
        c.prepare_cached(
            "UPDATE jobs SET status = 'done', result = ?2, last_error = ?3, lease_owner = NULL, \
             lease_until = NULL, updated_at = ?4, finished_at = ?4 WHERE id = ?1",
        )?
        .execute(params![job.id, result.to_string(), error, ts_text(&now)])?;
        return Ok(());
    }
    c.prepare_cached(
        "UPDATE jobs SET status = 'queued', next_run_at = ?2, last_error = ?3, \
         lease_owner = NULL, lease_until = NULL, updated_at = ?4, \
         attempts = CASE WHEN ?5 THEN max(attempts - 1, 0) ELSE attempts END WHERE id = ?1",
    )?
    .execute(params![
        job.id,
        ts_text(&at),
        error,
        ts_text(&now),
        undo_attempt
    ])?;
    Ok(())
}

fn set_failed(c: &Connection, id: &str, error: &str, now: Timestamp) -> DbResult<()> {
    c.prepare_cached(
        "UPDATE jobs SET status = 'failed', last_error = ?2, lease_owner = NULL, \
         lease_until = NULL, updated_at = ?3, finished_at = ?3 WHERE id = ?1",
    )?
    .execute(params![id, error, ts_text(&now)])?;
    Ok(())
}

/// Positional parameters for a dynamic statement.
pub(crate) fn bind(values: Vec<rusqlite::types::Value>) -> impl rusqlite::Params {
    params_from_iter(values)
}
