//! Sessions and turns: the conversation log.
//!
//! A turn gets the next sequence number of its session while the session's row is locked
//! (`FOR UPDATE`), so two servers recording turns of one session at once never produce
//! duplicate or missing sequence numbers.

use crate::db::{Sql, Tx};
use mnemo_core::{ids, time, Error, NewTurn, Scope, Session, Timestamp, Turn, TurnFilter};

use crate::errors::DbResult;
use crate::lookup::{self, SESSIONS};
use crate::rows::{self, json_text, SESSION_COLS, TURN_COLS};
use crate::sql::{self, limit_value, p, query, Conditions};
use crate::validate;

/// Records a turn, creating its session if this is its first turn.
pub(crate) fn add_turn(
    c: &mut Tx<'_>,
    new: &NewTurn,
    tokens: u32,
    now: Timestamp,
) -> DbResult<Turn> {
    validate::scope(&new.scope.user_id, new.scope.agent_id.as_deref())?;
    validate::reference("session_id", &new.session_id)?;
    validate::text("content", &new.content)?;
    validate::meta(&new.meta)?;
    if let Some(id) = &new.id {
        mnemo_core::validate::id("turn id", id)?;
    }
    let created_at = time::truncate(new.created_at.unwrap_or(now));
    ensure_session(c, &new.session_id, &new.scope, created_at)?;
    let seq: i64 = c
        .query_one(
            "SELECT coalesce(max(seq), 0) + 1 FROM turns WHERE user_id = $1 AND session_id = $2",
            &[&new.scope.user_id, &new.session_id],
        )?
        .get(0);
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
    insert_turn(c, &turn)?;
    Ok(turn)
}

/// Creates the session on first use and locks its row; refuses a session of this user
/// that belongs to another of their agents. Session ids are per user: another user's
/// session of the same id is a different session, and nothing here reveals it.
fn ensure_session(c: &mut Tx<'_>, id: &str, scope: &Scope, started_at: Timestamp) -> DbResult<()> {
    c.execute(
        "INSERT INTO sessions (id, user_id, agent_id, started_at, ended_at, meta) \
         VALUES ($1, $2, $3, $4, NULL, 'null') ON CONFLICT (user_id, id) DO NOTHING",
        &[&id, &scope.user_id, &scope.agent_id, &started_at],
    )?;
    match lock_session(c, &scope.user_id, id)? {
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
        None => Err(Error::not_found("session", id).into()),
    }
}

/// The agent of `user_id`'s session `id` (`Some(None)`: user-wide), its row locked until
/// the transaction ends.
pub(crate) fn lock_session(
    c: &mut Tx<'_>,
    user_id: &str,
    id: &str,
) -> DbResult<Option<Option<String>>> {
    Ok(c.query_opt(
        "SELECT agent_id FROM sessions WHERE user_id = $1 AND id = $2 FOR UPDATE",
        &[&user_id, &id],
    )?
    .map(|r| r.get(0)))
}

/// The agent of `user_id`'s session `id` (`Some(None)`: user-wide), if it exists.
pub(crate) fn session_agent(
    c: &mut Tx<'_>,
    user_id: &str,
    id: &str,
) -> DbResult<Option<Option<String>>> {
    Ok(c.query_opt(
        "SELECT agent_id FROM sessions WHERE user_id = $1 AND id = $2",
        &[&user_id, &id],
    )?
    .map(|r| r.get(0)))
}

pub(crate) fn insert_session(c: &mut Tx<'_>, s: &Session) -> DbResult<()> {
    c.execute(
        "INSERT INTO sessions (id, user_id, agent_id, started_at, ended_at, meta) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &s.id,
            &s.user_id,
            &s.agent_id,
            &s.started_at,
            &s.ended_at,
            &json_text(&s.meta)?,
        ],
    )?;
    Ok(())
}

/// Overwrites a session's attributes (its id and user stay).
pub(crate) fn replace_session(c: &mut Tx<'_>, s: &Session) -> DbResult<()> {
    c.execute(
        "UPDATE sessions SET agent_id = $2, started_at = $3, ended_at = $4, meta = $5 \
         WHERE id = $1 AND user_id = $6",
        &[
            &s.id,
            &s.agent_id,
            &s.started_at,
            &s.ended_at,
            &json_text(&s.meta)?,
            &s.user_id,
        ],
    )?;
    Ok(())
}

pub(crate) fn insert_turn(c: &mut Tx<'_>, t: &Turn) -> DbResult<()> {
    write_turn(
        c,
        "INSERT INTO turns (id, user_id, agent_id, session_id, seq, role, content, \
         created_at, tokens, meta) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        t,
    )
}

/// Overwrites every attribute of a stored turn.
pub(crate) fn replace_turn(c: &mut Tx<'_>, t: &Turn) -> DbResult<()> {
    write_turn(
        c,
        "UPDATE turns SET user_id = $2, agent_id = $3, session_id = $4, seq = $5, role = $6, \
         content = $7, created_at = $8, tokens = $9, meta = $10 WHERE id = $1",
        t,
    )
}

fn write_turn(c: &mut Tx<'_>, sql: &str, t: &Turn) -> DbResult<()> {
    c.execute(
        sql,
        &[
            &t.id,
            &t.user_id,
            &t.agent_id,
            &t.session_id,
            &t.seq,
            &t.role.as_str(),
            &t.content,
            &t.created_at,
            &i64::from(t.tokens),
            &json_text(&t.meta)?,
        ],
    )?;
    Ok(())
}

pub(crate) fn list_turns(c: &mut Tx<'_>, filter: &TurnFilter) -> DbResult<Vec<Turn>> {
    let mut conditions = sql::turns(filter);
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
    conditions.params.push(p(limit_value(filter.limit)));
    rows::all(&query(c, &sql, &conditions.params)?, rows::turn)
}

pub(crate) fn get_turns(c: &mut Tx<'_>, user_id: &str, ids: &[String]) -> DbResult<Vec<Turn>> {
    let found = c.query(
        &format!("SELECT {TURN_COLS} FROM turns t WHERE t.user_id = $1 AND t.id = ANY($2)"),
        &[&user_id, &ids],
    )?;
    let by_id: std::collections::HashMap<String, Turn> = found
        .iter()
        .map(|r| rows::turn(r).map(|t| (t.id.clone(), t)))
        .collect::<DbResult<_>>()?;
    // In the order given, unknown ids left out.
    Ok(ids.iter().filter_map(|id| by_id.get(id).cloned()).collect())
}

pub(crate) fn list_sessions(
    c: &mut Tx<'_>,
    scope: &Scope,
    limit: Option<usize>,
) -> DbResult<Vec<Session>> {
    let mut cond = Conditions::new();
    sql::scope(&mut cond, "s", scope, true);
    let sql = format!(
        "SELECT {SESSION_COLS} FROM sessions s WHERE {} \
         ORDER BY s.started_at DESC, s.id DESC LIMIT ?",
        cond.sql()
    );
    cond.params.push(p(limit_value(limit)));
    rows::all(&query(c, &sql, &cond.params)?, rows::session)
}

pub(crate) fn get_session(c: &mut Tx<'_>, user_id: &str, input: &str) -> DbResult<Session> {
    let id = lookup::resolve(c, SESSIONS, Some(user_id), input)?;
    let row = c.query_one(
        &format!("SELECT {SESSION_COLS} FROM sessions s WHERE s.user_id = $1 AND s.id = $2"),
        &[&user_id, &id],
    )?;
    rows::session(&row)
}

pub(crate) fn end_session(c: &mut Tx<'_>, user_id: &str, id: &str, at: Timestamp) -> DbResult<()> {
    let changed = c.execute(
        "UPDATE sessions SET ended_at = $2 WHERE id = $1 AND user_id = $3",
        &[&id, &at, &user_id],
    )?;
    if changed == 0 {
        return Err(Error::not_found("session", id).into());
    }
    Ok(())
}
