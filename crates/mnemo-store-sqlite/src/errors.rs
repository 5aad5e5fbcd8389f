//! Turning SQLite failures into [`mnemo_core::Error`].
//!
//! Inside the crate every fallible function returns [`DbResult`], whose error keeps either a
//! raw `rusqlite` error or an already-typed core error, so `?` works on both. The store
//! converts it once, at the public boundary, where it knows the database path: the variants
//! a person can act on (read-only, busy, not a database) name the file.

use mnemo_core::Error;
use rusqlite::ErrorCode;

/// The crate-internal error: a SQLite failure not yet classified, or a typed core error.
#[derive(Debug)]
pub(crate) enum DbError {
    Sql(rusqlite::Error),
    Core(Error),
}

/// Result alias for crate-internal functions.
pub(crate) type DbResult<T> = std::result::Result<T, DbError>;

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::Sql(e)
    }
}

impl From<Error> for DbError {
    fn from(e: Error) -> Self {
        DbError::Core(e)
    }
}

impl From<serde_json::Error> for DbError {
    fn from(e: serde_json::Error) -> Self {
        DbError::Core(Error::Json(e))
    }
}

impl DbError {
    /// Classifies the error; `path` is the database file, for messages.
    pub(crate) fn into_core(self, path: &str) -> Error {
        match self {
            DbError::Core(e) => e,
            DbError::Sql(e) => map_sqlite(e, path),
        }
    }
}

/// Maps a `rusqlite` error to the core error a caller can act on.
pub(crate) fn map_sqlite(e: rusqlite::Error, path: &str) -> Error {
    match &e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            let detail = msg.clone().unwrap_or_else(|| f.to_string());
            match f.code {
                ErrorCode::ReadOnly => Error::ReadOnly(format!("{path} ({detail})")),
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                    Error::Busy(format!("{path} ({detail})"))
                }
                ErrorCode::NotADatabase => Error::Storage(format!(
                    "{path} is not a mnemo database (SQLite: {detail}); \
                     point mnemo at another file or move this one away"
                )),
                ErrorCode::DatabaseCorrupt => Error::Storage(format!(
                    "{path} is corrupt (SQLite: {detail}); restore it from a backup or an export"
                )),
                ErrorCode::DiskFull => Error::Storage(format!("disk full writing {path}")),
                ErrorCode::CannotOpen => {
                    Error::Storage(format!("cannot open database {path} ({detail})"))
                }
                ErrorCode::PermissionDenied => {
                    Error::ReadOnly(format!("{path} (permission denied: {detail})"))
                }
                ErrorCode::ConstraintViolation => Error::invalid("record", detail),
                _ => Error::Storage(format!("{detail} ({path})")),
            }
        }
        rusqlite::Error::FromSqlConversionFailure(col, _, inner) => Error::Storage(format!(
            "{path}: unreadable value in result column {col}: {inner}"
        )),
        _ => Error::Storage(format!("{e} ({path})")),
    }
}

/// Wraps a core error raised while reading a column, so row-mapping closures (which must
/// return `rusqlite::Error`) can report a corrupt stored value.
pub(crate) fn column_error(col: usize, e: Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some("msg".into()))
    }

    #[test]
    fn classifies_the_failures_a_person_can_act_on() {
        let p = "/tmp/x.db";
        assert!(matches!(
            map_sqlite(failure(rusqlite::ffi::SQLITE_READONLY), p),
            Error::ReadOnly(m) if m.contains(p)
        ));
        assert!(matches!(
            map_sqlite(failure(rusqlite::ffi::SQLITE_BUSY), p),
            Error::Busy(_)
        ));
        assert!(matches!(
            map_sqlite(failure(rusqlite::ffi::SQLITE_LOCKED), p),
            Error::Busy(_)
        ));
        assert!(matches!(
            map_sqlite(failure(rusqlite::ffi::SQLITE_NOTADB), p),
            Error::Storage(m) if m.contains("not a mnemo database") && m.contains(p)
        ));
        assert!(matches!(
            map_sqlite(failure(rusqlite::ffi::SQLITE_CONSTRAINT), p),
            Error::Invalid { .. }
        ));
        assert!(matches!(
            map_sqlite(rusqlite::Error::QueryReturnedNoRows, p),
            Error::Storage(_)
        ));
    }
}
