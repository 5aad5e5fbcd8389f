//! Sessions and turns: the conversation log.
//!
//! The log is append-only from the pipeline's point of view: a turn gets the next sequence
//! number of its session inside the same transaction that inserts it (and creates the
//! session on its first turn), so concurrent writers can never produce duplicate or missing
//! sequence numbers.

use mnemo_core::{ids, time, Error, NewTurn, Scope, Session, Timestamp, Turn, TurnFilter};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use crate::errors::DbResult;
use crate::filters::{self, limit_value, Conditions};
use crate::lookup::{self, SESSIONS};
use crate::rows::{self, meta_text, opt_ts_text, ts_text, SESSION_COLS, TURN_COLS};
use crate::validate;

/// Records a turn, creating its session if this is its first turn.
pub(crate) fn add_turn(
    conn: &Connection,
    new: &NewTurn,
    tokens: u32,
    now: Timestamp,
) -> DbResult<Turn> {
    validate::scope(&new.scope.user_id, new.scope.agent_id.as_deref())?;
    validate::reference("session_id", &new.session_id)?;
    validate::meta(&new.meta)?;
    if let Some(id) = &new.id {
        mnemo_core::validate::id("turn id", id)?;
    }
    let created_at = time::truncate(new.created_at.unwrap_or(now));
    ensure_session(conn, &new.session_id, &new.scope, created_at)?;
    let seq: i64 = conn
        .prepare_cached(
            "SELECT coalesce(max(seq), 0) + 1 FROM turns WHERE user_id = ?1 AND session_id = ?2",
        )?
        .query_row([&new.scope.user_id, &new.session_id], |r| r.get(0))?;
    let turn = Turn {
        id: new.id.clone().unwrap_or_else(ids::new_id),
        user_id: new.scope.user_id.clone(),
        agent_id: new.scope.agent_id.clone(),
        session_id: new.session_id.clone(),
        seq,
        role: new.role,
        content: new.content.clone(),
        created_at,
        tokens,
        meta: new.meta.clone(),
    };
    insert_turn(conn, &turn)?;
    Ok(turn)
}

/// Creates the session on first use; refuses a session of this user that belongs to
/// another of their agents. Session ids are per user: another user's session of the same
/// id is a different session, and nothing here can tell that it exists.
fn ensure_session(
    conn: &Connection,
    id: &str,
    scope: &Scope,
    started_at: Timestamp,
) -> DbResult<()> {
    match session_agent(conn, &scope.user_id, id)? {
        None => {
            let session = Session {
                id: id.to_owned(),
                user_id: scope.user_id.clone(),
                agent_id: scope.agent_id.clone(),
                started_at,
                ended_at: None,
                meta: serde_json::Value::Null,
            };
            insert_session(conn, &session)
        }
        Some(agent) if agent == scope.agent_id => Ok(()),
        Some(agent) => Err(Error::invalid(
            "session_id",
            format!(
                "session `{id}` belongs to {}; use another session id for this agent",
                agent.map_or("no agent (user-wide)".to_owned(), |a| format!(
                    "agent `{a}`"
                ))
            ),
        )
        .into()),
    }
}

/// The agent of `user_id`'s session `id` (`Some(None)`: user-wide), if it exists.
pub(crate) fn session_agent(
    conn: &Connection,
    user_id: &str,
    id: &str,
) -> DbResult<Option<Option<String>>> {
    Ok(conn
        .prepare_cached("SELECT agent_id FROM sessions WHERE user_id = ?1 AND id = ?2")?
        .query_row([user_id, id], |r| r.get(0))
        .optional()?)
}

pub(crate) fn insert_session(conn: &Connection, s: &Session) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT INTO sessions (id, user_id, agent_id, started_at, ended_at, meta) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        s.id,
        s.user_id,
        s.agent_id,
        ts_text(&s.started_at),
        opt_ts_text(&s.ended_at),
        meta_text(&s.meta)?
    ])?;
    Ok(())
}

/// Overwrites a session's attributes (its id and user stay).
pub(crate) fn replace_session(conn: &Connection, s: &Session) -> DbResult<()> {
    conn.prepare_cached(
        "UPDATE sessions SET agent_id = ?2, started_at = ?3, ended_at = ?4, meta = ?5 \
         WHERE id = ?1 AND user_id = ?6",
    )?
    .execute(params![
        s.id,
        s.agent_id,
        ts_text(&s.started_at),
        opt_ts_text(&s.ended_at),
        meta_text(&s.meta)?,
        s.user_id
    ])?;
    Ok(())
}

pub(crate) fn insert_turn(conn: &Connection, t: &Turn) -> DbResult<()> {
    write_turn(
        conn,
        "INSERT INTO turns (id, user_id, agent_id, session_id, seq, role, content, \
         created_at, tokens, meta) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        t,
    )
}

/// Overwrites every attribute of a stored turn.
pub(crate) fn replace_turn(conn: &Connection, t: &Turn) -> DbResult<()> {
    write_turn(
        conn,
        "UPDATE turns SET user_id = ?2, agent_id = ?3, session_id = ?4, seq = ?5, role = ?6, \
         content = ?7, created_at = ?8, tokens = ?9, meta = ?10 WHERE id = ?1",
        t,
    )
}

/// Runs `sql` with every column of `t` bound as ?1..?10 (id first).
fn write_turn(conn: &Connection, sql: &str, t: &Turn) -> DbResult<()> {
    conn.prepare_cached(sql)?.execute(params![
        t.id,
        t.user_id,
        t.agent_id,
        t.session_id,
        t.seq,
        t.role.as_str(),
        t.content,
        ts_text(&t.created_at),
        t.tokens,
        meta_text(&t.meta)?
    ])?;
    Ok(())
}

pub(crate) fn list_turns(conn: &Connection, filter: &TurnFilter) -> DbResult<Vec<Turn>> {
    let conditions = filters::turns(filter);
    // Within one session the sequence number is the conversation order.
    let order = match (filter.session_id.is_some(), filter.newest_first) {
        (true, false) => "t.seq",
        (true, true) => "t.seq DESC",
        (false, false) => "t.created_at, t.session_id, t.seq",
        (false, true) => "t.created_at DESC, t.session_id DESC, t.seq DESC",
    };
    let sql = format!(
        "SELECT {TURN_COLS} FROM turns t WHERE {} ORDER BY {order} LIMIT ?",
        conditions.sql()
    );
    query_with_limit(conn, &sql, conditions, filter.limit, rows::turn)
}

/// Runs `sql` whose last placeholder is the `LIMIT`.
pub(crate) fn query_with_limit<T>(
    conn: &Connection,
    sql: &str,
    conditions: Conditions,
    limit: Option<usize>,
    map: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> DbResult<Vec<T>> {
    let mut params = conditions.into_params();
    params.push(rusqlite::types::Value::Integer(limit_value(limit)));
    let mut stmt = conn.prepare_cached(sql)?;
    let out = stmt
        .query_map(params_from_iter(params), map)?
        .collect::<rusqlite::Result<Vec<T>>>()?;
    Ok(out)
}

pub(crate) fn get_turns(conn: &Connection, user_id: &str, ids: &[String]) -> DbResult<Vec<Turn>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TURN_COLS} FROM turns t WHERE t.id = ?1 AND t.user_id = ?2"
    ))?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(turn) = stmt.query_row([id, user_id], rows::turn).optional()? {
            out.push(turn);
        }
    }
    Ok(out)
}

pub(crate) fn list_sessions(
    conn: &Connection,
    scope: &Scope,
    limit: Option<usize>,
) -> DbResult<Vec<Session>> {
    let mut c = Conditions::new();
    filters::scope(&mut c, "s", scope, true);
    let sql = format!(
        "SELECT {SESSION_COLS} FROM sessions s WHERE {} \
         ORDER BY s.started_at DESC, s.id DESC LIMIT ?",
        c.sql()
    );
    query_with_limit(conn, &sql, c, limit, rows::session)
}

pub(crate) fn get_session(conn: &Connection, user_id: &str, input: &str) -> DbResult<Session> {
    let id = lookup::resolve(conn, SESSIONS, Some(user_id), input)?;
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {SESSION_COLS} FROM sessions s WHERE s.user_id = ?1 AND s.id = ?2"
        ))?
        .query_row([user_id, &id], rows::session)?)
}

pub(crate) fn end_session(
    conn: &Connection,
    user_id: &str,
    id: &str,
    at: Timestamp,
) -> DbResult<()> {
    let changed = conn
        .prepare_cached("UPDATE sessions SET ended_at = ?2 WHERE id = ?1 AND user_id = ?3")?
        .execute(params![id, ts_text(&at), user_id])?;
    if changed == 0 {
        return Err(Error::not_found("session", id).into());
    }
    Ok(())
}
