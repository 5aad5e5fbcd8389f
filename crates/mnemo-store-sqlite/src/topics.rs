//! Topics (named groups of memories with a consolidated summary) and session summaries.
//!
//! A topic is identified to people by its name within a scope, so `upsert_topic` matches on
//! (user, agent, name) first and keeps the stored id: re-consolidating a topic updates it
//! in place instead of creating a twin.

use mnemo_core::{Error, Scope, SessionSummary, Topic};
use rusqlite::{params, Connection, OptionalExtension};

use crate::errors::DbResult;
use crate::filters::{self, Conditions};
use crate::rows::{self, meta_text, ts_text, SUMMARY_COLS, TOPIC_COLS};
use crate::turns::{query_with_limit, session_agent};
use crate::validate;

pub(crate) fn upsert_topic(conn: &Connection, topic: &Topic) -> DbResult<Topic> {
    validate::topic(topic)?;
    let id = match id_by_name(conn, topic)? {
        Some(existing) => {
            replace_topic(conn, &existing, topic)?;
            existing
        }
        None => match owner(conn, &topic.id)? {
            Some(user) if user == topic.user_id => {
                replace_topic(conn, &topic.id, topic)?;
                topic.id.clone()
            }
            Some(_) => {
                return Err(Error::invalid(
                    "topic id",
                    format!("topic {} belongs to another user", topic.id),
                )
                .into())
            }
            None => {
                insert_topic(conn, topic)?;
                topic.id.clone()
            }
        },
    };
    by_id(conn, &id)?.ok_or_else(|| Error::not_found("topic", id).into())
}

/// The id of the topic with the same (user, agent, name), if any.
pub(crate) fn id_by_name(conn: &Connection, t: &Topic) -> DbResult<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT id FROM topics WHERE user_id = ?1 AND coalesce(agent_id, '') = ?2 \
             AND name = ?3",
        )?
        .query_row(
            params![t.user_id, t.agent_id.as_deref().unwrap_or(""), t.name],
            |r| r.get(0),
        )
        .optional()?)
}

/// The user of a stored topic, if it exists.
pub(crate) fn owner(conn: &Connection, id: &str) -> DbResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT user_id FROM topics WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

pub(crate) fn insert_topic(conn: &Connection, t: &Topic) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT INTO topics (id, user_id, agent_id, name, summary, updated_at, meta) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        t.id,
        t.user_id,
        t.agent_id,
        t.name,
        t.summary,
        ts_text(&t.updated_at),
        meta_text(&t.meta)?
    ])?;
    Ok(())
}

/// Overwrites the stored topic `stored_id` with `t`, keeping `stored_id`.
pub(crate) fn replace_topic(conn: &Connection, stored_id: &str, t: &Topic) -> DbResult<()> {
    set_topic(conn, stored_id, stored_id, t)
}

/// Overwrites the stored topic `stored_id` with `t`, including its id (imports).
pub(crate) fn set_topic(
    conn: &Connection,
    stored_id: &str,
    new_id: &str,
    t: &Topic,
) -> DbResult<()> {
    conn.prepare_cached(
        "UPDATE topics SET id = ?2, user_id = ?3, agent_id = ?4, name = ?5, summary = ?6, \
         updated_at = ?7, meta = ?8 WHERE id = ?1",
    )?
    .execute(params![
        stored_id,
        new_id,
        t.user_id,
        t.agent_id,
        t.name,
        t.summary,
        ts_text(&t.updated_at),
        meta_text(&t.meta)?
    ])?;
    Ok(())
}

fn by_id(conn: &Connection, id: &str) -> DbResult<Option<Topic>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {TOPIC_COLS} FROM topics p WHERE p.id = ?1"
        ))?
        .query_row([id], rows::topic)
        .optional()?)
}

pub(crate) fn list_topics(conn: &Connection, scope: &Scope) -> DbResult<Vec<Topic>> {
    let mut c = Conditions::new();
    filters::scope(&mut c, "p", scope, true);
    let sql = format!(
        "SELECT {TOPIC_COLS} FROM topics p WHERE {} ORDER BY p.name, p.id LIMIT ?",
        c.sql()
    );
    query_with_limit(conn, &sql, c, None, rows::topic)
}

pub(crate) fn add_summary(conn: &Connection, s: &SessionSummary) -> DbResult<()> {
    validate::summary(s)?;
    check_session(conn, s)?;
    insert_summary(conn, s)
}

/// Fails unless the summary's user has a session of the summary's session id.
pub(crate) fn check_session(conn: &Connection, s: &SessionSummary) -> DbResult<()> {
    match session_agent(conn, &s.user_id, &s.session_id)? {
        Some(_) => Ok(()),
        None => Err(Error::not_found("session", &s.session_id).into()),
    }
}

pub(crate) fn insert_summary(conn: &Connection, s: &SessionSummary) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT INTO summaries (id, user_id, agent_id, session_id, first_seq, last_seq, \
         summary, created_at, meta) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(summary_params(s)?)?;
    Ok(())
}

pub(crate) fn replace_summary(conn: &Connection, s: &SessionSummary) -> DbResult<()> {
    conn.prepare_cached(
        "UPDATE summaries SET user_id = ?2, agent_id = ?3, session_id = ?4, first_seq = ?5, \
         last_seq = ?6, summary = ?7, created_at = ?8, meta = ?9 WHERE id = ?1",
    )?
    .execute(summary_params(s)?)?;
    Ok(())
}

type SummaryParams<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    &'a str,
    i64,
    i64,
    &'a str,
    String,
    String,
);

fn summary_params(s: &SessionSummary) -> DbResult<SummaryParams<'_>> {
    Ok((
        &s.id,
        &s.user_id,
        s.agent_id.as_deref(),
        &s.session_id,
        s.first_seq,
        s.last_seq,
        &s.summary,
        ts_text(&s.created_at),
        meta_text(&s.meta)?,
    ))
}

pub(crate) fn list_summaries(
    conn: &Connection,
    scope: &Scope,
    session_id: Option<&str>,
) -> DbResult<Vec<SessionSummary>> {
    let mut c = Conditions::new();
    filters::scope(&mut c, "y", scope, true);
    if let Some(session) = session_id {
        c.and(
            "y.session_id = ?",
            [rusqlite::types::Value::Text(session.to_owned())],
        );
    }
    let sql = format!(
        "SELECT {SUMMARY_COLS} FROM summaries y WHERE {} \
         ORDER BY y.created_at, y.first_seq, y.id LIMIT ?",
        c.sql()
    );
    query_with_limit(conn, &sql, c, None, rows::summary)
}
