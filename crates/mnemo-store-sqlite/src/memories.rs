//! Memories, their provenance and their history.
//!
//! A memory row is never silently rewritten: every write method takes the history event
//! that explains it and stores both in the same transaction, so the history is complete by
//! construction. Provenance (`source_turns`) lives in `memory_sources`, one row per turn in
//! position order, so "which memories came from this turn" is an index lookup.

use mnemo_core::{Error, HistoryEvent, Memory, MemoryFilter, Scope, Timestamp};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use crate::errors::DbResult;
use crate::filters;
use crate::lookup::{self, MEMORIES};
use crate::rows::{self, meta_text, opt_ts_text, ts_text, HISTORY_COLS, MEMORY_COLS};
use crate::turns::query_with_limit;
use crate::validate;

pub(crate) fn insert_memory(conn: &Connection, m: &Memory, e: &HistoryEvent) -> DbResult<()> {
    validate::memory(m)?;
    validate::event_for(e, m)?;
    insert_row(conn, m)?;
    insert_event(conn, e)
}

pub(crate) fn update_memory(conn: &Connection, m: &Memory, e: &HistoryEvent) -> DbResult<()> {
    validate::memory(m)?;
    validate::event_for(e, m)?;
    check_owner(conn, m)?;
    replace_row(conn, m)?;
    insert_event(conn, e)
}

pub(crate) fn supersede_memory(
    conn: &Connection,
    old: &Memory,
    old_event: &HistoryEvent,
    new: &Memory,
    new_event: &HistoryEvent,
) -> DbResult<()> {
    validate::memory(old)?;
    validate::event_for(old_event, old)?;
    validate::memory(new)?;
    validate::event_for(new_event, new)?;
    if old.user_id != new.user_id {
        return Err(Error::invalid(
            "supersede",
            "a memory can only be superseded by a memory of the same user",
        )
        .into());
    }
    check_owner(conn, old)?;
    replace_row(conn, old)?;
    insert_event(conn, old_event)?;
    insert_row(conn, new)?;
    insert_event(conn, new_event)
}

/// Fails unless `m.id` is stored, and stored for the same user.
fn check_owner(conn: &Connection, m: &Memory) -> DbResult<()> {
    match memory_owner(conn, &m.id)? {
        None => Err(Error::not_found("memory", &m.id).into()),
        Some(user) if user == m.user_id => Ok(()),
        Some(_) => Err(Error::invalid(
            "user_id",
            format!("memory {} belongs to another user", m.id),
        )
        .into()),
    }
}

/// The user of a stored memory, if it exists.
pub(crate) fn memory_owner(conn: &Connection, id: &str) -> DbResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT user_id FROM memories WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

/// Inserts a memory row and its provenance.
pub(crate) fn insert_row(conn: &Connection, m: &Memory) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT INTO memories (id, user_id, agent_id, session_id, kind, key, content, topic, \
         salience, pinned, expires_at, valid_from, valid_to, superseded_by, deleted, \
         created_at, updated_at, access_count, last_accessed, meta) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
         ?18, ?19, ?20)",
    )?
    .execute(params_from_iter(row_params(m)?))?;
    insert_sources(conn, m)
}

/// Overwrites every attribute of a stored memory and its provenance.
pub(crate) fn replace_row(conn: &Connection, m: &Memory) -> DbResult<()> {
    conn.prepare_cached(
        "UPDATE memories SET user_id = ?2, agent_id = ?3, session_id = ?4, kind = ?5, \
         key = ?6, content = ?7, topic = ?8, salience = ?9, pinned = ?10, expires_at = ?11, \
         valid_from = ?12, valid_to = ?13, superseded_by = ?14, deleted = ?15, \
         created_at = ?16, updated_at = ?17, access_count = ?18, last_accessed = ?19, \
         meta = ?20 WHERE id = ?1",
    )?
    .execute(params_from_iter(row_params(m)?))?;
    conn.prepare_cached("DELETE FROM memory_sources WHERE memory_id = ?1")?
        .execute([&m.id])?;
    insert_sources(conn, m)
}

type Param = Box<dyn rusqlite::ToSql>;

/// The 20 column values of a memory, in the order of the insert and update statements.
fn row_params(m: &Memory) -> DbResult<Vec<Param>> {
    let access_count = i64::try_from(m.access_count)
        .map_err(|_| Error::invalid("access_count", "too large to store"))?;
    Ok(vec![
        Box::new(m.id.clone()),
        Box::new(m.user_id.clone()),
        Box::new(m.agent_id.clone()),
        Box::new(m.session_id.clone()),
        Box::new(m.kind.as_str().to_owned()),
        Box::new(m.key.clone()),
        Box::new(m.content.clone()),
        Box::new(m.topic.clone()),
        Box::new(f64::from(m.salience)),
        Box::new(m.pinned),
        Box::new(opt_ts_text(&m.expires_at)),
        Box::new(ts_text(&m.valid_from)),
        Box::new(opt_ts_text(&m.valid_to)),
        Box::new(m.superseded_by.clone()),
        Box::new(m.deleted),
        Box::new(ts_text(&m.created_at)),
        Box::new(ts_text(&m.updated_at)),
        Box::new(access_count),
        Box::new(opt_ts_text(&m.last_accessed)),
        Box::new(meta_text(&m.meta)?),
    ])
}

fn insert_sources(conn: &Connection, m: &Memory) -> DbResult<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO memory_sources (memory_id, position, turn_id) VALUES (?1, ?2, ?3)",
    )?;
    for (position, turn) in m.source_turns.iter().enumerate() {
        stmt.execute(params![m.id, position as i64, turn])?;
    }
    Ok(())
}

pub(crate) fn insert_event(conn: &Connection, e: &HistoryEvent) -> DbResult<()> {
    write_event(
        conn,
        "INSERT INTO history (id, memory_id, user_id, op, old_content, new_content, actor, \
         reason, at, meta) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        e,
    )
}

/// Overwrites every attribute of a stored history event.
pub(crate) fn replace_event(conn: &Connection, e: &HistoryEvent) -> DbResult<()> {
    write_event(
        conn,
        "UPDATE history SET memory_id = ?2, user_id = ?3, op = ?4, old_content = ?5, \
         new_content = ?6, actor = ?7, reason = ?8, at = ?9, meta = ?10 WHERE id = ?1",
        e,
    )
}

/// Runs `sql` with an event's attributes bound as ?1..?10 (id first).
fn write_event(conn: &Connection, sql: &str, e: &HistoryEvent) -> DbResult<()> {
    conn.prepare_cached(sql)?.execute(params![
        e.id,
        e.memory_id,
        e.user_id,
        e.op.as_str(),
        e.old_content,
        e.new_content,
        e.actor.as_str(),
        e.reason,
        ts_text(&e.at),
        meta_text(&e.meta)?
    ])?;
    Ok(())
}

pub(crate) fn purge_memory(conn: &Connection, user_id: &str, id: &str) -> DbResult<()> {
    // History first (it refers to the memory); the error below rolls it back when the
    // user has no such memory. Provenance rows go by cascade, index rows by trigger.
    conn.prepare_cached("DELETE FROM history WHERE memory_id = ?1 AND user_id = ?2")?
        .execute([id, user_id])?;
    let removed = conn
        .prepare_cached("DELETE FROM memories WHERE id = ?1 AND user_id = ?2")?
        .execute([id, user_id])?;
    if removed == 0 {
        return Err(Error::not_found("memory", id).into());
    }
    Ok(())
}

pub(crate) fn get_memory(
    conn: &Connection,
    user_id: Option<&str>,
    input: &str,
) -> DbResult<Memory> {
    let id = lookup::resolve(conn, MEMORIES, user_id, input)?;
    by_id(conn, &id)?.ok_or_else(|| Error::not_found("memory", id).into())
}

pub(crate) fn by_id(conn: &Connection, id: &str) -> DbResult<Option<Memory>> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {MEMORY_COLS} FROM memories m WHERE m.id = ?1"
        ))?
        .query_row([id], rows::memory)
        .optional()?;
    found.map(|m| with_sources(conn, m)).transpose()
}

/// Fills in `source_turns` of a memory read with [`MEMORY_COLS`].
pub(crate) fn with_sources(conn: &Connection, mut m: Memory) -> DbResult<Memory> {
    load_sources(conn, std::slice::from_mut(&mut m))?;
    Ok(m)
}

/// Fills in `source_turns` (in position order) of memories read with [`MEMORY_COLS`].
pub(crate) fn load_sources(conn: &Connection, memories: &mut [Memory]) -> DbResult<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT turn_id FROM memory_sources WHERE memory_id = ?1 ORDER BY position",
    )?;
    for m in memories {
        m.source_turns = stmt
            .query_map([&m.id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
    }
    Ok(())
}

pub(crate) fn list_memories(
    conn: &Connection,
    filter: &MemoryFilter,
    now: &Timestamp,
) -> DbResult<Vec<Memory>> {
    let conditions = filters::memories(filter, now);
    let sql = format!(
        "SELECT {MEMORY_COLS} FROM memories m WHERE {} ORDER BY m.created_at DESC, m.id LIMIT ?",
        conditions.sql()
    );
    let mut found = query_with_limit(conn, &sql, conditions, filter.limit, rows::memory)?;
    load_sources(conn, &mut found)?;
    Ok(found)
}

pub(crate) fn current_by_key(
    conn: &Connection,
    scope: &Scope,
    key: &str,
) -> DbResult<Option<Memory>> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {MEMORY_COLS} FROM memories m WHERE m.user_id = ?1 AND m.agent_id IS ?2 \
             AND m.key = ?3 AND m.valid_to IS NULL AND m.deleted = 0 \
             ORDER BY m.created_at DESC, m.id LIMIT 1"
        ))?
        .query_row(params![scope.user_id, scope.agent_id, key], rows::memory)
        .optional()?;
    found.map(|m| with_sources(conn, m)).transpose()
}

pub(crate) fn history(
    conn: &Connection,
    user_id: &str,
    memory_id: &str,
) -> DbResult<Vec<HistoryEvent>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {HISTORY_COLS} FROM history h WHERE h.memory_id = ?1 AND h.user_id = ?2 \
         ORDER BY h.at, h.pk"
    ))?;
    let out = stmt
        .query_map([memory_id, user_id], rows::history)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(out)
}

pub(crate) fn touch_memories(
    conn: &Connection,
    user_id: &str,
    ids: &[String],
    at: Timestamp,
) -> DbResult<()> {
    let at = ts_text(&at);
    let mut stmt = conn.prepare_cached(
        "UPDATE memories SET access_count = access_count + 1, \
         last_accessed = CASE WHEN last_accessed IS NULL OR last_accessed < ?2 \
         THEN ?2 ELSE last_accessed END WHERE id = ?1 AND user_id = ?3",
    )?;
    for id in ids {
        stmt.execute(params![id, at, user_id])?;
    }
    Ok(())
}
