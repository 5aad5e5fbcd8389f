//! Memories, their provenance and their history (same rules as the SQLite store): every
//! write method takes the history event that explains it and stores both in the same
//! transaction; provenance lives in `memory_sources`, one row per turn in order.

use crate::db::{Sql, Tx};
use mnemo_core::{Error, HistoryEvent, Memory, MemoryFilter, Scope, Timestamp};
use postgres::types::ToSql;

use crate::errors::DbResult;
use crate::lookup::{self, MEMORIES};
use crate::rows::{self, json_text, HISTORY_COLS, MEMORY_COLS};
use crate::sql::{self, limit_value, p, query};
use crate::validate;

pub(crate) fn insert_memory(c: &mut Tx<'_>, m: &Memory, e: &HistoryEvent) -> DbResult<()> {
    validate::memory(m)?;
    validate::event_for(e, m)?;
    insert_row(c, m)?;
    insert_event(c, e)
}

pub(crate) fn update_memory(c: &mut Tx<'_>, m: &Memory, e: &HistoryEvent) -> DbResult<()> {
    validate::memory(m)?;
    validate::event_for(e, m)?;
    check_owner(c, m)?;
    replace_row(c, m)?;
    insert_event(c, e)
}

pub(crate) fn supersede_memory(
    c: &mut Tx<'_>,
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
    check_owner(c, old)?;
    replace_row(c, old)?;
    insert_event(c, old_event)?;
    insert_row(c, new)?;
    insert_event(c, new_event)
}

/// Fails unless `m.id` is stored, and stored for the same user.
fn check_owner(c: &mut Tx<'_>, m: &Memory) -> DbResult<()> {
    match memory_owner(c, &m.id)? {
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
pub(crate) fn memory_owner(c: &mut Tx<'_>, id: &str) -> DbResult<Option<String>> {
    Ok(
        c.query_opt("SELECT user_id FROM memories WHERE id = $1", &[&id])?
            .map(|r| r.get(0)),
    )
}

/// Inserts a memory row and its provenance.
pub(crate) fn insert_row(c: &mut Tx<'_>, m: &Memory) -> DbResult<()> {
    let values = row_values(m)?;
    c.execute(
        "INSERT INTO memories (id, user_id, agent_id, session_id, kind, key, content, topic, \
         salience, pinned, expires_at, valid_from, valid_to, superseded_by, deleted, \
         created_at, updated_at, access_count, last_accessed, meta) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20)",
        &values.refs(),
    )?;
    insert_sources(c, m)
}

/// Overwrites every attribute of a stored memory and its provenance.
pub(crate) fn replace_row(c: &mut Tx<'_>, m: &Memory) -> DbResult<()> {
    let values = row_values(m)?;
    c.execute(
        "UPDATE memories SET user_id = $2, agent_id = $3, session_id = $4, kind = $5, \
         key = $6, content = $7, topic = $8, salience = $9, pinned = $10, expires_at = $11, \
         valid_from = $12, valid_to = $13, superseded_by = $14, deleted = $15, \
         created_at = $16, updated_at = $17, access_count = $18, last_accessed = $19, \
         meta = $20 WHERE id = $1",
        &values.refs(),
    )?;
    c.execute("DELETE FROM memory_sources WHERE memory_id = $1", &[&m.id])?;
    insert_sources(c, m)
}

/// The 20 column values of a memory, in statement order.
struct RowValues(Vec<sql::Param>);

impl RowValues {
    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0.iter().map(|b| b.as_ref() as _).collect()
    }
}

fn row_values(m: &Memory) -> DbResult<RowValues> {
    let access_count = i64::try_from(m.access_count)
        .map_err(|_| Error::invalid("access_count", "too large to store"))?;
    Ok(RowValues(vec![
        p(m.id.clone()),
        p(m.user_id.clone()),
        p(m.agent_id.clone()),
        p(m.session_id.clone()),
        p(m.kind.as_str().to_owned()),
        p(m.key.clone()),
        p(m.content.clone()),
        p(m.topic.clone()),
        p(m.salience),
        p(m.pinned),
        p(m.expires_at),
        p(m.valid_from),
        p(m.valid_to),
        p(m.superseded_by.clone()),
        p(m.deleted),
        p(m.created_at),
        p(m.updated_at),
        p(access_count),
        p(m.last_accessed),
        p(json_text(&m.meta)?),
    ]))
}

fn insert_sources(c: &mut Tx<'_>, m: &Memory) -> DbResult<()> {
    if m.source_turns.is_empty() {
        return Ok(());
    }
    c.execute(
        "INSERT INTO memory_sources (memory_id, user_id, position, turn_id) \
         SELECT $1, $2, (pos - 1)::integer, turn FROM unnest($3::text[]) WITH ORDINALITY AS u(turn, pos)",
        &[&m.id, &m.user_id, &m.source_turns],
    )?;
    Ok(())
}

pub(crate) fn insert_event(c: &mut Tx<'_>, e: &HistoryEvent) -> DbResult<()> {
    write_event(
        c,
        "INSERT INTO history (id, memory_id, user_id, op, old_content, new_content, actor, \
         reason, at, meta) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        e,
    )
}

/// Overwrites every attribute of a stored history event.
pub(crate) fn replace_event(c: &mut Tx<'_>, e: &HistoryEvent) -> DbResult<()> {
    write_event(
        c,
        "UPDATE history SET memory_id = $2, user_id = $3, op = $4, old_content = $5, \
         new_content = $6, actor = $7, reason = $8, at = $9, meta = $10 WHERE id = $1",
        e,
    )
}

fn write_event(c: &mut Tx<'_>, sql: &str, e: &HistoryEvent) -> DbResult<()> {
    c.execute(
        sql,
        &[
            &e.id,
            &e.memory_id,
            &e.user_id,
            &e.op.as_str(),
            &e.old_content,
            &e.new_content,
            &e.actor.as_str(),
            &e.reason,
            &e.at,
            &json_text(&e.meta)?,
        ],
    )?;
    Ok(())
}

pub(crate) fn purge_memory(c: &mut Tx<'_>, user_id: &str, id: &str) -> DbResult<()> {
    // History first (it refers to the memory); the error below rolls it back when the
    // user has no such memory. Provenance rows go by cascade, vectors by trigger.
    c.execute(
        "DELETE FROM history WHERE memory_id = $1 AND user_id = $2",
        &[&id, &user_id],
    )?;
    let removed = c.execute(
        "DELETE FROM memories WHERE id = $1 AND user_id = $2",
        &[&id, &user_id],
    )?;
    if removed == 0 {
        return Err(Error::not_found("memory", id).into());
    }
    Ok(())
}

pub(crate) fn get_memory(c: &mut Tx<'_>, user_id: Option<&str>, input: &str) -> DbResult<Memory> {
    let id = lookup::resolve(c, MEMORIES, user_id, input)?;
    let row = c
        .query_opt(
            &format!("SELECT {MEMORY_COLS} FROM memories m WHERE m.id = $1"),
            &[&id],
        )?
        .ok_or_else(|| Error::not_found("memory", &id))?;
    let mut m = rows::memory(&row)?;
    load_sources(c, std::slice::from_mut(&mut m))?;
    Ok(m)
}

/// Fills in `source_turns` (in position order) of memories read with [`MEMORY_COLS`].
pub(crate) fn load_sources(c: &mut Tx<'_>, memories: &mut [Memory]) -> DbResult<()> {
    if memories.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = memories.iter().map(|m| m.id.as_str()).collect();
    let found = c.query(
        "SELECT memory_id, turn_id FROM memory_sources WHERE memory_id = ANY($1) \
         ORDER BY memory_id, position",
        &[&ids],
    )?;
    let mut by_id: std::collections::HashMap<String, Vec<String>> = Default::default();
    for r in found {
        by_id.entry(r.get(0)).or_default().push(r.get(1));
    }
    for m in memories {
        m.source_turns = by_id.get(&m.id).cloned().unwrap_or_default();
    }
    Ok(())
}

pub(crate) fn list_memories(
    c: &mut Tx<'_>,
    filter: &MemoryFilter,
    now: &Timestamp,
) -> DbResult<Vec<Memory>> {
    let mut cond = sql::memories(filter, now);
    let sql = format!(
        "SELECT {MEMORY_COLS} FROM memories m WHERE {} ORDER BY m.created_at DESC, m.id LIMIT ?",
        cond.sql()
    );
    cond.params.push(p(limit_value(filter.limit)));
    let mut found = rows::all(&query(c, &sql, &cond.params)?, rows::memory)?;
    load_sources(c, &mut found)?;
    Ok(found)
}

pub(crate) fn current_by_key(c: &mut Tx<'_>, scope: &Scope, key: &str) -> DbResult<Option<Memory>> {
    let row = c.query_opt(
        &format!(
            "SELECT {MEMORY_COLS} FROM memories m WHERE m.user_id = $1 \
             AND m.agent_id IS NOT DISTINCT FROM $2 AND m.key = $3 AND m.valid_to IS NULL \
             AND NOT m.deleted ORDER BY m.created_at DESC, m.id LIMIT 1"
        ),
        &[&scope.user_id, &scope.agent_id, &key],
    )?;
    let Some(row) = row else { return Ok(None) };
    let mut m = rows::memory(&row)?;
    load_sources(c, std::slice::from_mut(&mut m))?;
    Ok(Some(m))
}

pub(crate) fn history(
    c: &mut Tx<'_>,
    user_id: &str,
    memory_id: &str,
) -> DbResult<Vec<mnemo_core::HistoryEvent>> {
    let found = c.query(
        &format!(
            "SELECT {HISTORY_COLS} FROM history h WHERE h.memory_id = $1 AND h.user_id = $2 \
             ORDER BY h.at, h.pk"
        ),
        &[&memory_id, &user_id],
    )?;
    rows::all(&found, rows::history)
}

pub(crate) fn touch_memories(
    c: &mut Tx<'_>,
    user_id: &str,
    ids: &[String],
    at: Timestamp,
) -> DbResult<()> {
    // Counted once per mention, like one UPDATE per id.
    c.execute(
        "UPDATE memories m SET access_count = m.access_count + n.times, \
         last_accessed = CASE WHEN m.last_accessed IS NULL OR m.last_accessed < $2 \
         THEN $2 ELSE m.last_accessed END \
         FROM (SELECT id, count(*) AS times FROM unnest($1::text[]) AS u(id) GROUP BY id) n \
         WHERE m.id = n.id AND m.user_id = $3",
        &[&ids, &at, &user_id],
    )?;
    Ok(())
}
