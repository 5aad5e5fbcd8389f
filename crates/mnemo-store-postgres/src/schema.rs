//! Schema migrations of the PostgreSQL backend.
//!
//! Append-only SQL files embedded in the binary, numbered like SQLite's, tracked in the
//! table `mnemo_schema` (one row: the version). Several servers may start at once against
//! one database, so migrating takes a transaction-level advisory lock first and re-reads
//! the version under it; each migration commits together with its version bump. A database
//! written by a newer mnemo is refused with [`Error::SchemaTooNew`].

use mnemo_core::Error;
use postgres::Client;

use crate::errors::DbResult;

/// The migrations, in order; migration `i` (0-based) brings the schema to version `i + 1`.
/// Never edit or reorder an entry that has been released: add a new file instead.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_api_keys.sql"),
    include_str!("migrations/0003_sessions_per_user.sql"),
];

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// An arbitrary constant naming mnemo's migration lock among advisory locks.
const MIGRATION_LOCK: i64 = 0x6d6e_656d_6f00;

/// The recorded schema version (0 for an empty database).
pub(crate) fn version(client: &mut impl postgres::GenericClient) -> DbResult<i64> {
    let exists: bool = client
        .query_one("SELECT to_regclass('mnemo_schema') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = client.query_opt("SELECT version FROM mnemo_schema", &[])?;
    Ok(row.map_or(0, |r| r.get(0)))
}

/// Brings the schema up to [`SCHEMA_VERSION`], or refuses a newer database.
pub(crate) fn migrate(client: &mut Client) -> DbResult<()> {
    check_not_too_new(version(client)?)?;
    if version(client)? == SCHEMA_VERSION {
        return Ok(());
    }
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS vector; \
         CREATE TABLE IF NOT EXISTS mnemo_schema (version bigint NOT NULL); ",
    )?;
    let mut current = version(&mut tx)?;
    check_not_too_new(current)?;
    if tx
        .query_opt("SELECT version FROM mnemo_schema", &[])?
        .is_none()
    {
        tx.execute("INSERT INTO mnemo_schema VALUES (0)", &[])?;
    }
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let target = index as i64 + 1;
        if current >= target {
            continue;
        }
        tx.batch_execute(sql)?;
        tx.execute("UPDATE mnemo_schema SET version = $1", &[&target])?;
        current = target;
    }
    tx.commit()?;
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
}
