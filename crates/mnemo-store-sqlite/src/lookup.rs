//! Resolving a full id or a short id prefix to one record.
//!
//! People type the 8-character short form the CLI shows (or any prefix of at least
//! [`ids::MIN_PREFIX`] hex digits, dashes and case ignored). An exact id always wins, so
//! session ids chosen by a caller (not hex) still resolve; otherwise the prefix must match
//! exactly one record, or the caller learns how many it matched.

use mnemo_core::{ids, Error};
use rusqlite::{Connection, OptionalExtension};

use crate::errors::DbResult;

/// A table whose records have a public `id` and a `user_id`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Table {
    pub name: &'static str,
    /// What one record is called in messages ("memory", "session").
    pub what: &'static str,
}

pub(crate) const MEMORIES: Table = Table {
    name: "memories",
    what: "memory",
};
pub(crate) const SESSIONS: Table = Table {
    name: "sessions",
    what: "session",
};
pub(crate) const API_KEYS: Table = Table {
    name: "api_keys",
    what: "API key",
};

/// The id of the one record of `table` that `input` names, within `user_id` when given.
pub(crate) fn resolve(
    conn: &Connection,
    table: Table,
    user_id: Option<&str>,
    input: &str,
) -> DbResult<String> {
    let input = input.trim();
    let exact = conn
        .prepare_cached(&format!(
            "SELECT id FROM {} WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)",
            table.name
        ))?
        .query_row(rusqlite::params![input, user_id], |r| r.get::<_, String>(0))
        .optional()?;
    if let Some(id) = exact {
        return Ok(id);
    }
    let prefix = ids::normalize(input);
    if !ids::looks_like_id(&prefix) {
        return Err(Error::not_found(table.what, input).into());
    }
    // Every id starting with `prefix` sorts in [prefix, prefix + U+10FFFF): an index range.
    let upper = format!("{prefix}\u{10FFFF}");
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id FROM {} WHERE id >= ?1 AND id < ?2 AND (?3 IS NULL OR user_id = ?3) \
         ORDER BY id LIMIT 2",
        table.name
    ))?;
    let found: Vec<String> = stmt
        .query_map(rusqlite::params![prefix, upper, user_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    match found.as_slice() {
        [] => Err(Error::not_found(table.what, input).into()),
        [one] => Ok(one.clone()),
        _ => {
            let count: i64 = conn
                .prepare_cached(&format!(
                    "SELECT count(*) FROM {} WHERE id >= ?1 AND id < ?2 \
                     AND (?3 IS NULL OR user_id = ?3)",
                    table.name
                ))?
                .query_row(rusqlite::params![prefix, upper, user_id], |r| r.get(0))?;
            Err(Error::Ambiguous {
                what: table.what,
                prefix: input.to_owned(),
                count: usize::try_from(count).unwrap_or(usize::MAX),
            }
            .into())
        }
    }
}
