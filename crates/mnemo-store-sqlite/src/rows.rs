//! Mapping between rows and the core records.
//!
//! Each record type has one column list and one row reader, used by every query that
//! returns it, so a column added by a later migration is added in one place. Queries alias
//! the tables consistently: memories `m`, turns `t`, sessions `s`, history `h`, topics `p`,
//! summaries `y`.

use std::str::FromStr;

use mnemo_core::{
    time, Error, HistoryEvent, Memory, Session, SessionSummary, Timestamp, Topic, Turn,
};
use rusqlite::Row;
use serde_json::Value;

use crate::errors::{column_error, DbResult};

/// Memory columns. Provenance is not among them: it is loaded by
/// [`crate::memories::load_sources`] for the rows actually returned, because a correlated
/// subquery here would run for every row a sort has to consider, not just the final page.
pub(crate) const MEMORY_COLS: &str = "m.id, m.user_id, m.agent_id, m.session_id, m.kind, \
    m.key, m.content, m.topic, m.salience, m.pinned, m.expires_at, m.valid_from, m.valid_to, \
    m.superseded_by, m.deleted, m.created_at, m.updated_at, m.access_count, m.last_accessed, \
    m.meta";
/// Number of columns in [`MEMORY_COLS`]; a search score follows at this index.
pub(crate) const MEMORY_NCOLS: usize = 20;

pub(crate) const TURN_COLS: &str =
    "t.id, t.user_id, t.agent_id, t.session_id, t.seq, t.role, t.content, t.created_at, \
     t.tokens, t.meta";
pub(crate) const TURN_NCOLS: usize = 10;

pub(crate) const SESSION_COLS: &str =
    "s.id, s.user_id, s.agent_id, s.started_at, s.ended_at, s.meta";

pub(crate) const HISTORY_COLS: &str = "h.id, h.memory_id, h.user_id, h.op, h.old_content, \
    h.new_content, h.actor, h.reason, h.at, h.meta";

pub(crate) const TOPIC_COLS: &str =
    "p.id, p.user_id, p.agent_id, p.name, p.summary, p.updated_at, p.meta";
pub(crate) const TOPIC_NCOLS: usize = 7;

pub(crate) const SUMMARY_COLS: &str = "y.id, y.user_id, y.agent_id, y.session_id, \
    y.first_seq, y.last_seq, y.summary, y.created_at, y.meta";
pub(crate) const SUMMARY_NCOLS: usize = 9;

// --- values going in ----------------------------------------------------------------------

/// The stored form of a timestamp.
pub(crate) fn ts_text(t: &Timestamp) -> String {
    time::format(t)
}

/// The stored form of an optional timestamp.
pub(crate) fn opt_ts_text(t: &Option<Timestamp>) -> Option<String> {
    t.as_ref().map(time::format)
}

/// The stored form of `meta`: JSON text, `null` or an object.
pub(crate) fn meta_text(meta: &Value) -> DbResult<String> {
    Ok(serde_json::to_string(meta)?)
}

// --- values coming out --------------------------------------------------------------------

pub(crate) fn ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<Timestamp> {
    let s: String = row.get(idx)?;
    time::parse(&s).map_err(|e| column_error(idx, e))
}

pub(crate) fn opt_ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Timestamp>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| time::parse(&s).map_err(|e| column_error(idx, e)))
        .transpose()
}

pub(crate) fn json(row: &Row<'_>, idx: usize) -> rusqlite::Result<Value> {
    let s: String = row.get(idx)?;
    serde_json::from_str(&s).map_err(|e| column_error(idx, Error::Json(e)))
}

pub(crate) fn parsed<T: FromStr<Err = Error>>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    s.parse().map_err(|e| column_error(idx, e))
}

fn non_negative(row: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let n: i64 = row.get(idx)?;
    u64::try_from(n).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(idx, n))
}

/// Reads a row selected with [`MEMORY_COLS`]; `source_turns` is left empty.
pub(crate) fn memory(row: &Row<'_>) -> rusqlite::Result<Memory> {
    Ok(Memory {
        id: row.get(0)?,
        user_id: row.get(1)?,
        agent_id: row.get(2)?,
        session_id: row.get(3)?,
        kind: parsed(row, 4)?,
        key: row.get(5)?,
        content: row.get(6)?,
        topic: row.get(7)?,
        salience: row.get(8)?,
        pinned: row.get(9)?,
        expires_at: opt_ts(row, 10)?,
        valid_from: ts(row, 11)?,
        valid_to: opt_ts(row, 12)?,
        superseded_by: row.get(13)?,
        deleted: row.get(14)?,
        created_at: ts(row, 15)?,
        updated_at: ts(row, 16)?,
        access_count: non_negative(row, 17)?,
        last_accessed: opt_ts(row, 18)?,
        meta: json(row, 19)?,
        source_turns: Vec::new(),
    })
}

/// Reads a row selected with [`TURN_COLS`].
pub(crate) fn turn(row: &Row<'_>) -> rusqlite::Result<Turn> {
    Ok(Turn {
        id: row.get(0)?,
        user_id: row.get(1)?,
        agent_id: row.get(2)?,
        session_id: row.get(3)?,
        seq: row.get(4)?,
        role: parsed(row, 5)?,
        content: row.get(6)?,
        created_at: ts(row, 7)?,
        tokens: row.get(8)?,
        meta: json(row, 9)?,
    })
}

/// Reads a row selected with [`SESSION_COLS`].
pub(crate) fn session(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: row.get(0)?,
        user_id: row.get(1)?,
        agent_id: row.get(2)?,
        started_at: ts(row, 3)?,
        ended_at: opt_ts(row, 4)?,
        meta: json(row, 5)?,
    })
}

/// Reads a row selected with [`HISTORY_COLS`].
pub(crate) fn history(row: &Row<'_>) -> rusqlite::Result<HistoryEvent> {
    Ok(HistoryEvent {
        id: row.get(0)?,
        memory_id: row.get(1)?,
        user_id: row.get(2)?,
        op: parsed(row, 3)?,
        old_content: row.get(4)?,
        new_content: row.get(5)?,
        actor: parsed(row, 6)?,
        reason: row.get(7)?,
        at: ts(row, 8)?,
        meta: json(row, 9)?,
    })
}

/// Reads a row selected with [`TOPIC_COLS`].
pub(crate) fn topic(row: &Row<'_>) -> rusqlite::Result<Topic> {
    Ok(Topic {
        id: row.get(0)?,
        user_id: row.get(1)?,
        agent_id: row.get(2)?,
        name: row.get(3)?,
        summary: row.get(4)?,
        updated_at: ts(row, 5)?,
        meta: json(row, 6)?,
    })
}

/// Reads a row selected with [`SUMMARY_COLS`].
pub(crate) fn summary(row: &Row<'_>) -> rusqlite::Result<SessionSummary> {
    Ok(SessionSummary {
        id: row.get(0)?,
        user_id: row.get(1)?,
        agent_id: row.get(2)?,
        session_id: row.get(3)?,
        first_seq: row.get(4)?,
        last_seq: row.get(5)?,
        summary: row.get(6)?,
        created_at: ts(row, 7)?,
        meta: json(row, 8)?,
    })
}
