//! Turning PostgreSQL failures into [`mnemo_core::Error`].
//!
//! Inside the crate every fallible function returns [`DbResult`], whose error keeps either
//! a raw client error or an already-typed core error, so `?` works on both. The store
//! converts it once, at the public boundary, where it knows the (password-free) URL.

use mnemo_core::Error;
use postgres::error::SqlState;

/// The crate-internal error: a PostgreSQL failure not yet classified, or a core error.
#[derive(Debug)]
pub(crate) enum DbError {
    Sql(postgres::Error),
    Core(Error),
}

/// Result alias for crate-internal functions.
pub(crate) type DbResult<T> = std::result::Result<T, DbError>;

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
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
    /// Whether running the transaction again may succeed (a deadlock or a serialization
    /// failure between concurrent writers).
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            DbError::Sql(e) => matches!(
                e.code(),
                Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED
                    || *c == SqlState::T_R_SERIALIZATION_FAILURE
            ),
            DbError::Core(_) => false,
        }
    }

    /// Whether the connection broke (the server restarted, or dropped an idle
    /// connection): the same work on a new connection may succeed.
    pub(crate) fn is_closed(&self) -> bool {
        let DbError::Sql(e) = self else { return false };
        // An I/O error on the socket (reset by peer); 57P01-57P03: the server shut the
        // session down; class 08: connection exceptions.
        let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
        e.is_closed()
            || io
            || e.code().is_some_and(|c| {
                let code = c.code();
                code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
            })
    }

    /// Classifies the error; `label` is the database URL without its password.
    pub(crate) fn into_core(self, label: &str) -> Error {
        let closed = self.is_closed();
        match self {
            DbError::Core(e) => e,
            // The server is down or dropped us (and a new connection failed too).
            DbError::Sql(e) if closed => Error::Unavailable(format!("{label}: {}", describe(&e))),
            DbError::Sql(e) => map_pg(&e, label),
        }
    }
}

/// The whole story of a client error: the server's message, or the client's error with
/// its cause ("error connecting to server: Connection refused").
pub(crate) fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return match db.hint() {
            Some(h) => format!("{} ({h})", db.message()),
            None => db.message().to_owned(),
        };
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// Maps a client error to the core error a caller can act on.
pub(crate) fn map_pg(e: &postgres::Error, label: &str) -> Error {
    let Some(db) = e.as_db_error() else {
        return Error::Storage(format!("{label}: {}", describe(e)));
    };
    let code = db.code();
    let detail = match db.detail() {
        Some(d) => format!("{}: {d}", db.message()),
        None => db.message().to_owned(),
    };
    if *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE {
        // Writes are checked for NUL before they reach the server (`validate.rs`); this
        // is a read whose filter or query text holds one, which nothing stored can match.
        Error::invalid(
            "text",
            "contains a NUL character (\\0), which PostgreSQL text cannot hold; remove it",
        )
    } else if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
        Error::ReadOnly(format!("{label} ({detail})"))
    } else if *code == SqlState::LOCK_NOT_AVAILABLE || *code == SqlState::QUERY_CANCELED {
        Error::Busy(format!("{label} ({detail})"))
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE && detail.contains("extension") {
        Error::Storage(format!(
            "{label}: {detail}; ask the database's administrator to run \
             `CREATE EXTENSION vector;` in it once (mnemo needs pgvector)"
        ))
    } else if (*code == SqlState::UNDEFINED_FILE || *code == SqlState::FEATURE_NOT_SUPPORTED)
        && detail.contains("vector")
    {
        Error::Storage(format!(
            "{label}: the pgvector extension is not installed on this server ({detail}); \
             install pgvector (https://github.com/pgvector/pgvector) or use scripts/pg.sh"
        ))
    } else {
        Error::Storage(format!("{label}: {detail} (SQLSTATE {})", code.code()))
    }
}
