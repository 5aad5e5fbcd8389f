//! Whole-user and whole-database operations: forgetting a user, counts, the user list.
//!
//! Forgetting is a privacy operation, so it goes further than deleting rows: it runs with
//! `secure_delete` (freed pages are zeroed) and merges the full-text indexes, so the
//! forgotten text does not linger in free pages or in not-yet-merged index segments.

use mnemo_core::{ForgetReport, Stats, Timestamp};
use rusqlite::Connection;

use crate::errors::DbResult;
use crate::rows::ts_text;
use crate::schema::user_version;

const FTS_TABLES: [&str; 4] = ["memories_fts", "turns_fts", "topics_fts", "summaries_fts"];

/// Deletes every record of `user_id`. Children go before parents so foreign keys hold.
pub(crate) fn forget_user(conn: &Connection, user_id: &str) -> DbResult<ForgetReport> {
    let del =
        |sql: &str| -> DbResult<u64> { Ok(conn.prepare_cached(sql)?.execute([user_id])? as u64) };
    let history = del("DELETE FROM history WHERE user_id = ?1 \
         OR memory_id IN (SELECT id FROM memories WHERE user_id = ?1)")?;
    let memories = del("DELETE FROM memories WHERE user_id = ?1")?;
    // A session's turns and summaries carry its user (the foreign key is (user, session)).
    let summaries = del("DELETE FROM summaries WHERE user_id = ?1")?;
    let turns = del("DELETE FROM turns WHERE user_id = ?1")?;
    let sessions = del("DELETE FROM sessions WHERE user_id = ?1")?;
    let topics = del("DELETE FROM topics WHERE user_id = ?1")?;
    // Migration 0003's trigger takes these with the user's sessions; a user who never had
    // one (memories and jobs only) needs them deleted here.
    del("DELETE FROM jobs WHERE user_id = ?1")?;
    del("DELETE FROM llm_usage WHERE user_id = ?1")?;
    // The memory change feed (0004) names the user: cut it up to the user's newest entry.
    // Cutting the front, not just the user's rows, keeps the feed whole from its first row
    // on, so an index that needed the cut rows finds the feed too short and rebuilds.
    del("DELETE FROM memory_changes WHERE seq <= \
         (SELECT max(seq) FROM memory_changes WHERE user_id = ?1)")?;
    for table in FTS_TABLES {
        conn.execute(
            &format!("INSERT INTO {table} ({table}) VALUES ('optimize')"),
            [],
        )?;
    }
    Ok(ForgetReport {
        sessions,
        turns,
        memories,
        history,
        topics,
        summaries,
    })
}

pub(crate) fn stats(conn: &Connection, now: &Timestamp) -> DbResult<Stats> {
    let count = |sql: &str| -> DbResult<u64> {
        let n: i64 = conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    let memories_current: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM memories WHERE deleted = 0 AND valid_to IS NULL \
             AND (expires_at IS NULL OR expires_at > ?1)",
        )?
        .query_row([ts_text(now)], |r| r.get(0))?;
    let page_count = count("PRAGMA page_count")?;
    let page_size = count("PRAGMA page_size")?;
    Ok(Stats {
        users: users(conn)?.len() as u64,
        sessions: count("SELECT count(*) FROM sessions")?,
        turns: count("SELECT count(*) FROM turns")?,
        memories_current: u64::try_from(memories_current).unwrap_or(0),
        memories_total: count("SELECT count(*) FROM memories")?,
        history_events: count("SELECT count(*) FROM history")?,
        topics: count("SELECT count(*) FROM topics")?,
        summaries: count("SELECT count(*) FROM summaries")?,
        schema_version: user_version(conn)?,
        db_bytes: page_count.saturating_mul(page_size),
    })
}

/// Every user that owns at least one record, sorted.
pub(crate) fn users(conn: &Connection) -> DbResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT user_id FROM sessions UNION SELECT user_id FROM turns \
         UNION SELECT user_id FROM memories UNION SELECT user_id FROM history \
         UNION SELECT user_id FROM topics UNION SELECT user_id FROM summaries ORDER BY 1",
    )?;
    let users = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(users)
}
