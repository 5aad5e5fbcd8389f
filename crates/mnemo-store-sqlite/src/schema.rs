//! Connection settings and schema migrations.
//!
//! Migrations are append-only SQL files embedded in the binary, so a mnemo binary always
//! carries the exact schema it was tested with. `PRAGMA user_version` records how many have
//! been applied; each one runs in its own immediate transaction together with the version
//! bump, so a crash mid-migration leaves the previous version intact. A database written by
//! a newer mnemo (higher version) is refused rather than guessed at.

use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use crate::errors::DbResult;
use mnemo_core::Error;

/// The migrations, in order; migration `i` (0-based) brings the schema to version `i + 1`.
/// Never edit or reorder an entry that has been released: add a new file instead.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_vectors.sql"),
    include_str!("migrations/0003_jobs.sql"),
    include_str!("migrations/0004_memory_changes.sql"),
    include_str!("migrations/0005_api_keys.sql"),
    include_str!("migrations/0006_sessions_per_user.sql"),
];

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a statement waits for another process's lock before failing with `Busy`.
const BUSY_TIMEOUT_MS: u32 = 5000;

/// Per-connection settings. Must run before anything else touches the database.
///
/// Durability: WAL with `synchronous=NORMAL`. A commit is appended to the WAL file before
/// SQLite returns, so a process crash (`kill -9`, panic, OOM kill) loses nothing that was
/// acknowledged; only an OS crash or power loss can lose the last few commits (never
/// corrupting the file). That meets "an acknowledged write survives a crash of mnemo" at a
/// fraction of the fsync cost of `FULL`, which matters for write throughput.
pub(crate) fn configure(conn: &Connection, file_backed: bool) -> DbResult<()> {
    conn.execute_batch(&format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};"))?;
    if file_backed {
        set_wal(conn)?;
        conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
    }
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Settings of a read-only connection (see [`configure`]).
pub(crate) fn configure_reader(conn: &Connection) -> DbResult<()> {
    conn.execute_batch(&format!(
        "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ON; PRAGMA query_only = ON;"
    ))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Switches the file to WAL. A fresh file needs an exclusive lock for that, and while
/// another connection (another mnemo process) is opening the same fresh file SQLite answers
/// "database is locked" at once instead of waiting on the busy timeout (measured: 1 in 4
/// runs of four concurrent opens), so this retries, backing off, for up to that timeout.
fn set_wal(conn: &Connection) -> DbResult<()> {
    let deadline = Instant::now() + Duration::from_millis(u64::from(BUSY_TIMEOUT_MS));
    let mut pause = Duration::from_millis(1);
    loop {
        // Returns the resulting mode as a row; read it so the statement completes.
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(_) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == ErrorCode::DatabaseBusy && Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The schema version recorded in the database.
pub(crate) fn user_version(conn: &Connection) -> DbResult<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the schema up to [`SCHEMA_VERSION`], or refuses a newer database.
pub(crate) fn migrate(conn: &mut Connection) -> DbResult<()> {
    check_not_too_new(user_version(conn)?)?;
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let target = index as i64 + 1;
        if user_version(conn)? >= target {
            continue;
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Re-read under the write lock: another process may have migrated meanwhile.
        let current = user_version(&tx)?;
        check_not_too_new(current)?;
        if current < target {
            tx.execute_batch(sql)?;
            tx.execute_batch(&format!("PRAGMA user_version = {target};"))?;
        }
        tx.commit()?;
    }
    Ok(())
}

fn check_not_too_new(found: i64) -> DbResult<()> {
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_opens_with_a_comment_saying_why() {
        for (i, sql) in MIGRATIONS.iter().enumerate() {
            assert!(
                sql.trim_start().starts_with("--"),
                "migration {} must open with a SQL comment",
                i + 1
            );
        }
    }

    #[test]
    fn a_fresh_database_migrates_to_the_latest_version_idempotently() {
        let mut conn = Connection::open_in_memory().unwrap();
        configure(&conn, false).unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        migrate(&mut conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!("PRAGMA user_version = {};", SCHEMA_VERSION + 1))
            .unwrap();
        match migrate(&mut conn) {
            Err(crate::errors::DbError::Core(Error::SchemaTooNew { found, supported })) => {
                assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            }
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    }
}
