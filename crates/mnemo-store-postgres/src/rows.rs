//! Mapping between rows and the core records: one column list and one reader per record
//! type, used by every query that returns it. Aliases as in the SQLite store: memories
//! `m`, turns `t`, sessions `s`, history `h`, topics `p`, summaries `y`, jobs `j`.

use std::str::FromStr;

use mnemo_core::{Error, HistoryEvent, Memory, Session, SessionSummary, Topic, Turn};
use postgres::Row;
use serde_json::Value;

use crate::errors::DbResult;

/// Memory columns; provenance is loaded separately for the rows returned.
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

/// The stored form of `meta` (and of job payloads and results): JSON text.
pub(crate) fn json_text(v: &Value) -> DbResult<String> {
    Ok(serde_json::to_string(v)?)
}

pub(crate) fn json(row: &Row, idx: usize) -> DbResult<Value> {
    let s: String = row.try_get(idx)?;
    Ok(serde_json::from_str(&s)?)
}

pub(crate) fn parsed<T: FromStr<Err = Error>>(row: &Row, idx: usize) -> DbResult<T> {
    let s: String = row.try_get(idx)?;
    Ok(s.parse()?)
}

pub(crate) fn non_negative(row: &Row, idx: usize) -> DbResult<u64> {
    let n: i64 = row.try_get(idx)?;
    u64::try_from(n)
        .map_err(|_| Error::Storage(format!("negative count {n} in column {idx}")).into())
}

/// Reads a row selected with [`MEMORY_COLS`]; `source_turns` is left empty.
pub(crate) fn memory(row: &Row) -> DbResult<Memory> {
    Ok(Memory {
        id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        agent_id: row.try_get(2)?,
        session_id: row.try_get(3)?,
        kind: parsed(row, 4)?,
        key: row.try_get(5)?,
        content: row.try_get(6)?,
        topic: row.try_get(7)?,
        salience: row.try_get(8)?,
        pinned: row.try_get(9)?,
        expires_at: row.try_get(10)?,
        valid_from: row.try_get(11)?,
        valid_to: row.try_get(12)?,
        superseded_by: row.try_get(13)?,
        deleted: row.try_get(14)?,
        created_at: row.try_get(15)?,
        updated_at: row.try_get(16)?,
        access_count: non_negative(row, 17)?,
        last_accessed: row.try_get(18)?,
        meta: json(row, 19)?,
        source_turns: Vec::new(),
    })
}

/// Reads a row selected with [`TURN_COLS`].
pub(crate) fn turn(row: &Row) -> DbResult<Turn> {
    let tokens: i64 = row.try_get(8)?;
    Ok(Turn {
        id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        agent_id: row.try_get(2)?,
        session_id: row.try_get(3)?,
        seq: row.try_get(4)?,
        role: parsed(row, 5)?,
        content: row.try_get(6)?,
        created_at: row.try_get(7)?,
        tokens: u32::try_from(tokens).unwrap_or(u32::MAX),
        meta: json(row, 9)?,
    })
}

/// Reads a row selected with [`SESSION_COLS`].
pub(crate) fn session(row: &Row) -> DbResult<Session> {
    Ok(Session {
        id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        agent_id: row.try_get(2)?,
        started_at: row.try_get(3)?,
        ended_at: row.try_get(4)?,
        meta: json(row, 5)?,
    })
}

/// Reads a row selected with [`HISTORY_COLS`].
pub(crate) fn history(row: &Row) -> DbResult<HistoryEvent> {
    Ok(HistoryEvent {
        id: row.try_get(0)?,
        memory_id: row.try_get(1)?,
        user_id: row.try_get(2)?,
        op: parsed(row, 3)?,
        old_content: row.try_get(4)?,
        new_content: row.try_get(5)?,
        actor: parsed(row, 6)?,
        reason: row.try_get(7)?,
        at: row.try_get(8)?,
        meta: json(row, 9)?,
    })
}

/// Reads a row selected with [`TOPIC_COLS`].
pub(crate) fn topic(row: &Row) -> DbResult<Topic> {
    Ok(Topic {
        id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        agent_id: row.try_get(2)?,
        name: row.try_get(3)?,
        summary: row.try_get(4)?,
        updated_at: row.try_get(5)?,
        meta: json(row, 6)?,
    })
}

/// Reads a row selected with [`SUMMARY_COLS`].
pub(crate) fn summary(row: &Row) -> DbResult<SessionSummary> {
    Ok(SessionSummary {
        id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        agent_id: row.try_get(2)?,
        session_id: row.try_get(3)?,
        first_seq: row.try_get(4)?,
        last_seq: row.try_get(5)?,
        summary: row.try_get(6)?,
        created_at: row.try_get(7)?,
        meta: json(row, 8)?,
    })
}

/// Maps every row with `read`.
pub(crate) fn all<T>(rows: &[Row], read: fn(&Row) -> DbResult<T>) -> DbResult<Vec<T>> {
    rows.iter().map(read).collect()
}
