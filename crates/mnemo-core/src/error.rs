//! One error type for the library crates. Each variant says what went wrong in terms a
//! user can act on; the binary adds the "what to do next" hint.

use thiserror::Error;

/// Result alias used across the library crates.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong inside the engine or a store.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// No record has this id (or id prefix).
    #[error("no {what} with id `{id}`")]
    NotFound { what: &'static str, id: String },
    /// An id prefix matches more than one record.
    #[error("id prefix `{prefix}` is ambiguous: it matches {count} {what}s; give more characters")]
    Ambiguous {
        what: &'static str,
        prefix: String,
        count: usize,
    },
    /// The caller passed a value that is not acceptable (bad salience, empty text, ...).
    #[error("invalid {field}: {reason}")]
    Invalid { field: String, reason: String },
    /// A line of an import file could not be used; nothing was imported.
    #[error("import line {line}: {reason}")]
    ImportLine { line: usize, reason: String },
    /// There is no database where one was expected, and the caller asked not to create one
    /// (a read-only command, or a path in a directory that does not exist).
    #[error("no database at {path}: {reason}")]
    NoDatabase { path: String, reason: String },
    /// The database was written by a newer mnemo than this one.
    #[error("database schema version {found} is newer than this mnemo understands ({supported}); upgrade mnemo")]
    SchemaTooNew { found: i64, supported: i64 },
    /// The database is locked by another process for longer than the busy timeout.
    #[error("database is busy (locked by another process): {0}")]
    Busy(String),
    /// The database server cannot be reached (down, restarting, the network): the same
    /// request may work in a moment.
    #[error("the database cannot be reached: {0}; try again in a moment")]
    Unavailable(String),
    /// The database file cannot be written (read-only file, directory or filesystem).
    #[error("database is read-only: {0}")]
    ReadOnly(String),
    /// A storage backend failed for another reason.
    #[error("storage error: {0}")]
    Storage(String),
    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A JSON value could not be encoded or decoded.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
    /// A model (embedder or LLM) failed; treated as unavailable (see [`Error::ModelCall`]).
    #[error("model error: {0}")]
    Model(String),
    /// A model provider's call failed, with the kind of failure kept so a face can answer
    /// differently (a server: 429 for rate limited, 400 for a rejected request, 502 else).
    #[error("model error: {message}")]
    ModelCall {
        kind: ModelErrorKind,
        message: String,
    },
}

/// Why a model provider's call failed, as far as a caller can act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ModelErrorKind {
    /// The provider asks us to slow down.
    RateLimited,
    /// The provider cannot be reached, failed on its side or answered unusably: the same
    /// request may work later.
    Unavailable,
    /// The provider rejected this request; sending it again cannot help.
    BadRequest,
    /// A missing or rejected API key.
    Auth,
    /// mnemo's model settings cannot work (unknown provider or model, malformed URL).
    Config,
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        Error::NotFound {
            what,
            id: id.into(),
        }
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
