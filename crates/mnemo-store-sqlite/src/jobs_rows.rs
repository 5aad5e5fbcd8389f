//! Reading jobs and usage: the job row mapping, listing, counts and usage totals.

use mnemo_core::{Job, JobCounts, JobFilter, Timestamp, UsageFilter, UsageGroup, UsageRow};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row};

use crate::errors::DbResult;
use crate::filters::{limit_value, Conditions};
use crate::jobs::bind;
use crate::rows::{json, opt_ts, parsed, ts, ts_text};

/// Job columns, table alias `j`.
pub(crate) const JOB_COLS: &str = "j.id, j.kind, j.user_id, j.agent_id, j.subject, \
    j.session_id, j.first_seq, j.last_seq, j.payload, j.status, j.attempts, j.max_attempts, \
    j.next_run_at, j.lease_owner, j.lease_until, j.last_error, j.result, j.created_at, \
    j.updated_at, j.finished_at";

fn count(row: &Row<'_>, idx: usize) -> rusqlite::Result<u32> {
    let n: i64 = row.get(idx)?;
    u32::try_from(n).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(idx, n))
}

/// Reads a row selected with [`JOB_COLS`].
pub(crate) fn job(row: &Row<'_>) -> rusqlite::Result<Job> {
    Ok(Job {
        id: row.get(0)?,
        kind: parsed(row, 1)?,
        user_id: row.get(2)?,
        agent_id: row.get(3)?,
        subject: row.get(4)?,
        session_id: row.get(5)?,
        first_seq: row.get(6)?,
        last_seq: row.get(7)?,
        payload: json(row, 8)?,
        status: parsed(row, 9)?,
        attempts: count(row, 10)?,
        max_attempts: count(row, 11)?,
        next_run_at: ts(row, 12)?,
        lease_owner: row.get(13)?,
        lease_until: opt_ts(row, 14)?,
        last_error: row.get(15)?,
        result: json(row, 16)?,
        created_at: ts(row, 17)?,
        updated_at: ts(row, 18)?,
        finished_at: opt_ts(row, 19)?,
    })
}

pub(crate) fn by_id(c: &Connection, id: &str) -> DbResult<Option<Job>> {
    Ok(
        c.prepare_cached(&format!("SELECT {JOB_COLS} FROM jobs j WHERE j.id = ?1"))?
            .query_row([id], job)
            .optional()?,
    )
}

fn text(s: &str) -> SqlValue {
    SqlValue::Text(s.to_owned())
}

/// `column IN (?, ?, ...)` over the given names.
fn any_of(c: &mut Conditions, column: &str, names: Vec<&str>) {
    if names.is_empty() {
        return;
    }
    let marks = vec!["?"; names.len()].join(", ");
    c.and(
        format!("{column} IN ({marks})"),
        names.into_iter().map(text),
    );
}

pub(crate) fn list(c: &Connection, f: &JobFilter) -> DbResult<Vec<Job>> {
    let mut cond = Conditions::new();
    if let Some(u) = &f.user_id {
        cond.and("j.user_id = ?", [text(u)]);
    }
    if let Some(s) = &f.session_id {
        cond.and("j.session_id = ?", [text(s)]);
    }
    any_of(
        &mut cond,
        "j.status",
        f.statuses.iter().map(|s| s.as_str()).collect(),
    );
    any_of(
        &mut cond,
        "j.kind",
        f.kinds.iter().map(|k| k.as_str()).collect(),
    );
    let sql = format!(
        "SELECT {JOB_COLS} FROM jobs j WHERE {} ORDER BY j.created_at DESC, j.pk DESC LIMIT ?",
        cond.sql()
    );
    let mut values = cond.into_params();
    values.push(SqlValue::Integer(limit_value(f.limit)));
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(bind(values), job)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(crate) fn counts(
    c: &Connection,
    user_id: Option<&str>,
    now: &Timestamp,
) -> DbResult<JobCounts> {
    let mut stmt = c.prepare_cached(
        "SELECT status, count(*), sum(status = 'queued' AND next_run_at <= ?2) FROM jobs \
         WHERE ?1 IS NULL OR user_id = ?1 GROUP BY status",
    )?;
    let mut out = JobCounts::default();
    let rows = stmt.query_map(rusqlite::params![user_id, ts_text(now)], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Option<i64>>(2)?,
        ))
    })?;
    for row in rows {
        let (status, n, ready) = row?;
        let n = u64::try_from(n).unwrap_or(0);
        match status.as_str() {
            "queued" => {
                out.queued = n;
                out.ready = u64::try_from(ready.unwrap_or(0)).unwrap_or(0);
            }
            "running" => out.running = n,
            "done" => out.done = n,
            _ => out.failed = n,
        }
    }
    Ok(out)
}

pub(crate) fn usage(c: &Connection, f: &UsageFilter) -> DbResult<Vec<UsageRow>> {
    let key = match f.group {
        UsageGroup::Model => "provider || '/' || model",
        UsageGroup::User => "user_id",
        UsageGroup::Task => "task",
        UsageGroup::Job => "coalesce(job_id, '(no job)')",
        // Timestamps are RFC 3339 UTC text: the day is its first ten characters.
        UsageGroup::Day => "substr(at, 1, 10)",
    };
    let mut cond = Conditions::new();
    if let Some(u) = &f.user_id {
        cond.and("user_id = ?", [text(u)]);
    }
    if let Some(since) = &f.since {
        cond.and("at >= ?", [text(&ts_text(since))]);
    }
    let sql = format!(
        "SELECT {key} AS k, provider || '/' || model AS pm, count(*), sum(input_tokens), \
         sum(output_tokens) FROM llm_usage WHERE {} GROUP BY k, pm \
         ORDER BY sum(input_tokens) + sum(output_tokens) DESC, k, pm",
        cond.sql()
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let to_u64 = |n: i64| u64::try_from(n).unwrap_or(0);
    let rows = stmt
        .query_map(bind(cond.into_params()), |r| {
            Ok(UsageRow {
                key: r.get(0)?,
                model: r.get(1)?,
                calls: to_u64(r.get(2)?),
                input_tokens: to_u64(r.get(3)?),
                output_tokens: to_u64(r.get(4)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}
