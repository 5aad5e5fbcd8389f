//! Whole-user and whole-database operations: forgetting a user, counts, the user list.
//!
//! Forgetting deletes every row naming the user, in every table (jobs, usage, vectors,
//! epochs and the change feed included). PostgreSQL reuses the freed space after
//! (auto)vacuum; an operator who must also scrub free space runs `VACUUM FULL`.

use crate::db::{Sql, Tx};
use mnemo_core::{ForgetReport, Stats, Timestamp};

use crate::errors::DbResult;
use crate::schema;

pub(crate) fn forget_user(c: &mut Tx<'_>, user_id: &str) -> DbResult<ForgetReport> {
    let mut del = |sql: &str| -> DbResult<u64> { Ok(c.execute(sql, &[&user_id])?) };
    let history = del("DELETE FROM history WHERE user_id = $1 \
         OR memory_id IN (SELECT id FROM memories WHERE user_id = $1)")?;
    let memories = del("DELETE FROM memories WHERE user_id = $1")?;
    // A session's turns and summaries carry its user (the foreign key is (user, session)).
    let summaries = del("DELETE FROM summaries WHERE user_id = $1")?;
    let turns = del("DELETE FROM turns WHERE user_id = $1")?;
    let sessions = del("DELETE FROM sessions WHERE user_id = $1")?;
    let topics = del("DELETE FROM topics WHERE user_id = $1")?;
    del("DELETE FROM jobs WHERE user_id = $1")?;
    del("DELETE FROM llm_usage WHERE user_id = $1")?;
    del("DELETE FROM vectors WHERE user_id = $1")?;
    // A re-created user must never repeat an epoch the forgotten one had: move the
    // sequence past them before the rows go.
    c.execute(
        "SELECT setval('index_epoch_seq', greatest((SELECT last_value FROM index_epoch_seq), \
         (SELECT max(epoch) FROM index_epochs WHERE user_id = $1)))",
        &[&user_id],
    )?;
    let mut del = |sql: &str| -> DbResult<u64> { Ok(c.execute(sql, &[&user_id])?) };
    del("DELETE FROM index_epochs WHERE user_id = $1")?;
    // Cut the feed up to the user's newest entry, so an index that needed the cut rows
    // finds the feed too short and rebuilds (as the SQLite store does).
    del("DELETE FROM memory_changes WHERE seq <= \
         (SELECT max(seq) FROM memory_changes WHERE user_id = $1)")?;
    Ok(ForgetReport {
        sessions,
        turns,
        memories,
        history,
        topics,
        summaries,
    })
}

pub(crate) fn stats(c: &mut Tx<'_>, now: &Timestamp) -> DbResult<Stats> {
    let mut count = |sql: &str| -> DbResult<u64> {
        let n: i64 = c.query_one(sql, &[])?.get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    };
    let sessions = count("SELECT count(*) FROM sessions")?;
    let turns = count("SELECT count(*) FROM turns")?;
    let memories_total = count("SELECT count(*) FROM memories")?;
    let history_events = count("SELECT count(*) FROM history")?;
    let topics = count("SELECT count(*) FROM topics")?;
    let summaries = count("SELECT count(*) FROM summaries")?;
    let db_bytes = count("SELECT pg_database_size(current_database())")?;
    let memories_current: i64 = c
        .query_one(
            "SELECT count(*) FROM memories WHERE NOT deleted AND valid_to IS NULL \
             AND (expires_at IS NULL OR expires_at > $1)",
            &[now],
        )?
        .get(0);
    Ok(Stats {
        users: users(c)?.len() as u64,
        sessions,
        turns,
        memories_current: u64::try_from(memories_current).unwrap_or(0),
        memories_total,
        history_events,
        topics,
        summaries,
        schema_version: schema::version(&mut c.tx)?,
        db_bytes,
    })
}

/// Every user that owns at least one record, sorted (byte order, as SQLite).
pub(crate) fn users(c: &mut Tx<'_>) -> DbResult<Vec<String>> {
    Ok(c.query(
        "SELECT user_id FROM sessions UNION SELECT user_id FROM turns \
             UNION SELECT user_id FROM memories UNION SELECT user_id FROM history \
             UNION SELECT user_id FROM topics UNION SELECT user_id FROM summaries ORDER BY 1",
        &[],
    )?
    .iter()
    .map(|r| r.get(0))
    .collect())
}
