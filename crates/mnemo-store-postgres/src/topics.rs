//! Topics (named groups of memories with a consolidated summary) and session summaries.
//! `upsert_topic` matches on (user, agent, name) first and keeps the stored id, as the
//! SQLite store does.

use crate::db::{Sql, Tx};
use mnemo_core::{Error, Scope, SessionSummary, Topic};

use crate::errors::DbResult;
use crate::rows::{self, json_text, SUMMARY_COLS, TOPIC_COLS};
use crate::sql::{self, p, query, Conditions};
use crate::turns::session_agent;
use crate::validate;

pub(crate) fn upsert_topic(c: &mut Tx<'_>, topic: &Topic) -> DbResult<Topic> {
    validate::topic(topic)?;
    // Two servers consolidating the same topic at once: one waits for the other.
    c.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 1))",
        &[&format!(
            "topic\u{1f}{}\u{1f}{}\u{1f}{}",
            topic.user_id,
            topic.agent_id.as_deref().unwrap_or(""),
            topic.name
        )],
    )?;
    let id = match id_by_name(c, topic)? {
        Some(existing) => {
            set_topic(c, &existing, &existing, topic)?;
            existing
        }
        None => match owner(c, &topic.id)? {
            Some(user) if user == topic.user_id => {
                set_topic(c, &topic.id, &topic.id, topic)?;
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
                insert_topic(c, topic)?;
                topic.id.clone()
            }
        },
    };
    let row = c
        .query_opt(
            &format!("SELECT {TOPIC_COLS} FROM topics p WHERE p.id = $1"),
            &[&id],
        )?
        .ok_or_else(|| Error::not_found("topic", &id))?;
    rows::topic(&row)
}

/// The id of the topic with the same (user, agent, name), if any.
pub(crate) fn id_by_name(c: &mut Tx<'_>, t: &Topic) -> DbResult<Option<String>> {
    Ok(c.query_opt(
        "SELECT id FROM topics WHERE user_id = $1 AND coalesce(agent_id, '') = $2 \
             AND name = $3",
        &[&t.user_id, &t.agent_id.as_deref().unwrap_or(""), &t.name],
    )?
    .map(|r| r.get(0)))
}

/// The user of a stored topic, if it exists.
pub(crate) fn owner(c: &mut Tx<'_>, id: &str) -> DbResult<Option<String>> {
    Ok(
        c.query_opt("SELECT user_id FROM topics WHERE id = $1", &[&id])?
            .map(|r| r.get(0)),
    )
}

pub(crate) fn insert_topic(c: &mut Tx<'_>, t: &Topic) -> DbResult<()> {
    c.execute(
        "INSERT INTO topics (id, user_id, agent_id, name, summary, updated_at, meta) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &t.id,
            &t.user_id,
            &t.agent_id,
            &t.name,
            &t.summary,
            &t.updated_at,
            &json_text(&t.meta)?,
        ],
    )?;
    Ok(())
}

/// Overwrites the stored topic `stored_id` with `t`, its id becoming `new_id`.
pub(crate) fn set_topic(c: &mut Tx<'_>, stored_id: &str, new_id: &str, t: &Topic) -> DbResult<()> {
    c.execute(
        "UPDATE topics SET id = $2, user_id = $3, agent_id = $4, name = $5, summary = $6, \
         updated_at = $7, meta = $8 WHERE id = $1",
        &[
            &stored_id,
            &new_id,
            &t.user_id,
            &t.agent_id,
            &t.name,
            &t.summary,
            &t.updated_at,
            &json_text(&t.meta)?,
        ],
    )?;
    Ok(())
}

pub(crate) fn list_topics(c: &mut Tx<'_>, scope: &Scope) -> DbResult<Vec<Topic>> {
    let mut cond = Conditions::new();
    sql::scope(&mut cond, "p", scope, true);
    let sql = format!(
        "SELECT {TOPIC_COLS} FROM topics p WHERE {} ORDER BY p.name, p.id",
        cond.sql()
    );
    rows::all(&query(c, &sql, &cond.params)?, rows::topic)
}

pub(crate) fn add_summary(c: &mut Tx<'_>, s: &SessionSummary) -> DbResult<()> {
    validate::summary(s)?;
    check_session(c, s)?;
    insert_summary(c, s)
}

/// Fails unless the summary's user has a session of the summary's session id.
pub(crate) fn check_session(c: &mut Tx<'_>, s: &SessionSummary) -> DbResult<()> {
    match session_agent(c, &s.user_id, &s.session_id)? {
        Some(_) => Ok(()),
        None => Err(Error::not_found("session", &s.session_id).into()),
    }
}

pub(crate) fn insert_summary(c: &mut Tx<'_>, s: &SessionSummary) -> DbResult<()> {
    write_summary(
        c,
        "INSERT INTO summaries (id, user_id, agent_id, session_id, first_seq, last_seq, \
         summary, created_at, meta) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        s,
    )
}

pub(crate) fn replace_summary(c: &mut Tx<'_>, s: &SessionSummary) -> DbResult<()> {
    write_summary(
        c,
        "UPDATE summaries SET user_id = $2, agent_id = $3, session_id = $4, first_seq = $5, \
         last_seq = $6, summary = $7, created_at = $8, meta = $9 WHERE id = $1",
        s,
    )
}

fn write_summary(c: &mut Tx<'_>, sql: &str, s: &SessionSummary) -> DbResult<()> {
    c.execute(
        sql,
        &[
            &s.id,
            &s.user_id,
            &s.agent_id,
            &s.session_id,
            &s.first_seq,
            &s.last_seq,
            &s.summary,
            &s.created_at,
            &json_text(&s.meta)?,
        ],
    )?;
    Ok(())
}

pub(crate) fn list_summaries(
    c: &mut Tx<'_>,
    scope: &Scope,
    session_id: Option<&str>,
) -> DbResult<Vec<SessionSummary>> {
    let mut cond = Conditions::new();
    sql::scope(&mut cond, "y", scope, true);
    if let Some(session) = session_id {
        cond.and("y.session_id = ?", [p(session.to_owned())]);
    }
    let sql = format!(
        "SELECT {SUMMARY_COLS} FROM summaries y WHERE {} \
         ORDER BY y.created_at, y.first_seq, y.id",
        cond.sql()
    );
    rows::all(&query(c, &sql, &cond.params)?, rows::summary)
}
