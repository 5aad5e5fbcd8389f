//! Reading jobs and usage: the job row mapping, listing, counts and usage totals.

use mnemo_core::{Job, JobCounts, JobFilter, Timestamp, UsageFilter, UsageGroup, UsageRow};
use postgres::Row;

use crate::db::{Sql, Tx};

use crate::errors::DbResult;
use crate::rows::{json, parsed};
use crate::sql::{limit_value, p, query, Conditions};

/// Job columns, table alias `j`.
pub(crate) const JOB_COLS: &str = "j.id, j.kind, j.user_id, j.agent_id, j.subject, \
    j.session_id, j.first_seq, j.last_seq, j.payload, j.status, j.attempts, j.max_attempts, \
    j.next_run_at, j.lease_owner, j.lease_until, j.last_error, j.result, j.created_at, \
    j.updated_at, j.finished_at";

fn count(row: &Row, idx: usize) -> DbResult<u32> {
    let n: i32 = row.try_get(idx)?;
    Ok(u32::try_from(n).unwrap_or(0))
}

/// Reads a row selected with [`JOB_COLS`].
pub(crate) fn job(row: &Row) -> DbResult<Job> {
    Ok(Job {
        id: row.try_get(0)?,
        kind: parsed(row, 1)?,
        user_id: row.try_get(2)?,
        agent_id: row.try_get(3)?,
        subject: row.try_get(4)?,
        session_id: row.try_get(5)?,
        first_seq: row.try_get(6)?,
        last_seq: row.try_get(7)?,
        payload: json(row, 8)?,
        status: parsed(row, 9)?,
        attempts: count(row, 10)?,
        max_attempts: count(row, 11)?,
        next_run_at: row.try_get(12)?,
        lease_owner: row.try_get(13)?,
        lease_until: row.try_get(14)?,
        last_error: row.try_get(15)?,
        result: json(row, 16)?,
        created_at: row.try_get(17)?,
        updated_at: row.try_get(18)?,
        finished_at: row.try_get(19)?,
    })
}

pub(crate) fn by_id(c: &mut Tx<'_>, id: &str) -> DbResult<Option<Job>> {
    c.query_opt(
        &format!("SELECT {JOB_COLS} FROM jobs j WHERE j.id = $1"),
        &[&id],
    )?
    .map(|r| job(&r))
    .transpose()
}

pub(crate) fn list(c: &mut Tx<'_>, f: &JobFilter) -> DbResult<Vec<Job>> {
    let mut cond = Conditions::new();
    if let Some(u) = &f.user_id {
        cond.and("j.user_id = ?", [p(u.clone())]);
    }
    if let Some(s) = &f.session_id {
        cond.and("j.session_id = ?", [p(s.clone())]);
    }
    if !f.statuses.is_empty() {
        let names: Vec<String> = f.statuses.iter().map(|s| s.as_str().to_owned()).collect();
        cond.and("j.status = ANY(?)", [p(names)]);
    }
    if !f.kinds.is_empty() {
        let names: Vec<String> = f.kinds.iter().map(|k| k.as_str().to_owned()).collect();
        cond.and("j.kind = ANY(?)", [p(names)]);
    }
    let sql = format!(
        "SELECT {JOB_COLS} FROM jobs j WHERE {} ORDER BY j.created_at DESC, j.pk DESC LIMIT ?",
        cond.sql()
    );
    cond.params.push(p(limit_value(f.limit)));
    query(c, &sql, &cond.params)?.iter().map(job).collect()
}

pub(crate) fn counts(
    c: &mut Tx<'_>,
    user_id: Option<&str>,
    now: &Timestamp,
) -> DbResult<JobCounts> {
    let rows = c.query(
        "SELECT status, count(*), count(*) FILTER (WHERE status = 'queued' AND next_run_at <= $2) \
         FROM jobs WHERE $1::text IS NULL OR user_id = $1 GROUP BY status",
        &[&user_id, now],
    )?;
    let mut out = JobCounts::default();
    for r in rows {
        let status: String = r.get(0);
        let n = u64::try_from(r.get::<_, i64>(1)).unwrap_or(0);
        match status.as_str() {
            "queued" => {
                out.queued = n;
                out.ready = u64::try_from(r.get::<_, i64>(2)).unwrap_or(0);
            }
            "running" => out.running = n,
            "done" => out.done = n,
            _ => out.failed = n,
        }
    }
    Ok(out)
}

pub(crate) fn usage(c: &mut Tx<'_>, f: &UsageFilter) -> DbResult<Vec<UsageRow>> {
    let key = match f.group {
        UsageGroup::Model => "provider || '/' || model",
        UsageGroup::User => "user_id",
        UsageGroup::Task => "task",
        UsageGroup::Job => "coalesce(job_id, '(no job)')",
        UsageGroup::Day => "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    };
    let mut cond = Conditions::new();
    if let Some(u) = &f.user_id {
        cond.and("user_id = ?", [p(u.clone())]);
    }
    if let Some(since) = &f.since {
        cond.and("at >= ?", [p(*since)]);
    }
    let sql = format!(
        "SELECT {key} AS k, provider || '/' || model AS pm, count(*), sum(input_tokens)::bigint, \
         sum(output_tokens)::bigint FROM llm_usage WHERE {} GROUP BY k, pm \
         ORDER BY sum(input_tokens) + sum(output_tokens) DESC, k, pm",
        cond.sql()
    );
    let to_u64 = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(query(c, &sql, &cond.params)?
        .iter()
        .map(|r| UsageRow {
            key: r.get(0),
            model: r.get(1),
            calls: to_u64(r.get(2)),
            input_tokens: to_u64(r.get(3)),
            output_tokens: to_u64(r.get(4)),
        })
        .collect())
}
