//! The tools' error: an [`ErrorKind`] a face maps once (HTTP status, MCP error, exit code),
//! a stable machine-readable `code`, and a message for people. Built from
//! [`mnemo_core::Error`] so that storage and model failures keep their kind.

use mnemo_core::Error;

/// What class of failure; each face maps these in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is wrong (a bad value, an empty text, an ambiguous id prefix): 400.
    Invalid,
    /// No record with that id in the caller's data: 404.
    NotFound,
    /// The request was valid but the data moved under it (a stale confirmation): 409.
    Conflict,
    /// A model provider asked us to slow down: 429.
    RateLimited,
    /// A model provider could not be reached or failed: 502/503.
    ModelUnavailable,
    /// The database is busy (locked by another process past the timeout): 503.
    Busy,
    /// The database or the process failed: 500.
    Storage,
}

/// An error of a tool call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ToolError {
    pub kind: ErrorKind,
    /// Stable, machine-readable (`invalid_value`, `not_found`, `ambiguous_id`, ...).
    pub code: &'static str,
    pub message: String,
}

/// Result of a tool call.
pub type ToolResult<T> = Result<T, ToolError>;

impl ToolError {
    /// A bad value in field `field`.
    pub fn invalid(field: &str, reason: impl std::fmt::Display) -> Self {
        ToolError {
            kind: ErrorKind::Invalid,
            code: "invalid_value",
            message: format!("invalid {field}: {reason}"),
        }
    }

    /// A stale request.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ToolError {
            kind: ErrorKind::Conflict,
            code,
            message: message.into(),
        }
    }

    /// No such record in the caller's data.
    pub fn not_found(what: &str, id: &str) -> Self {
        ToolError {
            kind: ErrorKind::NotFound,
            code: "not_found",
            message: format!("no {what} with id `{id}`"),
        }
    }
}

impl From<Error> for ToolError {
    fn from(e: Error) -> Self {
        let (kind, code) = match &e {
            Error::Invalid { .. } => (ErrorKind::Invalid, "invalid_value"),
            Error::ImportLine { .. } => (ErrorKind::Invalid, "invalid_import"),
            Error::Json(_) => (ErrorKind::Invalid, "invalid_json"),
            Error::Ambiguous { .. } => (ErrorKind::Invalid, "ambiguous_id"),
            Error::NotFound { .. } => (ErrorKind::NotFound, "not_found"),
            Error::Busy(_) => (ErrorKind::Busy, "storage_busy"),
            Error::Model(_) => (ErrorKind::ModelUnavailable, "model_unavailable"),
            _ => (ErrorKind::Storage, "storage_error"),
        };
        ToolError {
            kind,
            code,
            message: e.to_string(),
        }
    }
}
