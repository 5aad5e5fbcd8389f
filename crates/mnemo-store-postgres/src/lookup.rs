//! Resolving a full id or a short id prefix to one record (same rules as the SQLite
//! store): an exact id always wins; otherwise the normalised prefix must match exactly
//! one record, within the user when given.

use crate::db::{Sql, Tx};
use mnemo_core::{ids, Error};

use crate::errors::DbResult;

/// A table whose records have a public `id` and a `user_id`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Table {
    pub name: &'static str,
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
pub(crate) const JOBS: Table = Table {
    name: "jobs",
    what: "job",
};

/// The id of the one record of `table` that `input` names, within `user_id` when given.
pub(crate) fn resolve(
    c: &mut Tx<'_>,
    table: Table,
    user_id: Option<&str>,
    input: &str,
) -> DbResult<String> {
    let input = input.trim();
    let exact = c.query_opt(
        &format!(
            "SELECT id FROM {} WHERE id = $1 AND ($2::text IS NULL OR user_id = $2)",
            table.name
        ),
        &[&input, &user_id],
    )?;
    if let Some(row) = exact {
        return Ok(row.get(0));
    }
    let prefix = ids::normalize(input);
    if !ids::looks_like_id(&prefix) {
        return Err(Error::not_found(table.what, input).into());
    }
    // Ids starting with `prefix` sort in [prefix, prefix + U+10FFFF) in the "C" collation.
    let upper = format!("{prefix}\u{10FFFF}");
    let found = c.query(
        &format!(
            "SELECT id FROM {} WHERE id >= $1 AND id < $2 AND ($3::text IS NULL OR user_id = $3) \
             ORDER BY id LIMIT 2",
            table.name
        ),
        &[&prefix, &upper, &user_id],
    )?;
    match found.as_slice() {
        [] => Err(Error::not_found(table.what, input).into()),
        [one] => Ok(one.get(0)),
        _ => {
            let count: i64 = c
                .query_one(
                    &format!(
                        "SELECT count(*) FROM {} WHERE id >= $1 AND id < $2 \
                         AND ($3::text IS NULL OR user_id = $3)",
                        table.name
                    ),
                    &[&prefix, &upper, &user_id],
                )?
                .get(0);
            Err(Error::Ambiguous {
                what: table.what,
                prefix: input.to_owned(),
                count: usize::try_from(count).unwrap_or(usize::MAX),
            }
            .into())
        }
    }
}
