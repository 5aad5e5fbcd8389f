//! The tools' error: an [`ErrorKind`] a face maps once (HTTP status, MCP error, exit code),
//! a stable machine-readable `code`, and a message for people. Built from
//! [`mnemo_core::Error`] so that storage and model failures keep their kind.

use std::sync::Arc;

use mnemo_core::{Error, ModelErrorKind};

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
    /// A model provider rejected the request as malformed (sending it again cannot help):
    /// 400.
    ModelRejected,
    /// The model is not usable as configured (a missing or rejected API key, an unknown
    /// model): 502, with its own code so an operator can tell it from an outage.
    ModelMisconfigured,
    /// The database is busy (locked by another process past the timeout): 503.
    Busy,
    /// The database or the process failed: 500.
    Storage,
}

/// An error of a tool call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ToolError {
    pub kind: ErrorKind,
    /// Stable, machine-readable (`invalid_value`, `not_found`, `ambiguous_id`, ...).
    pub code: &'static str,
    pub message: String,
    /// The engine error it was made from, for a face that maps those itself (the CLI's
    /// exit codes and hints). Not a `source`: the message already says it.
    engine: Option<Arc<Error>>,
}

/// Equal when kind, code and message are: what a client sees.
impl PartialEq for ToolError {
    fn eq(&self, other: &Self) -> bool {
        (self.kind, self.code, &self.message) == (other.kind, other.code, &other.message)
    }
}

impl Eq for ToolError {}

/// Result of a tool call.
pub type ToolResult<T> = Result<T, ToolError>;

impl ToolError {
    /// The engine error this came from; `None` for the tools' own checks.
    pub fn engine_error(&self) -> Option<&Error> {
        self.engine.as_deref()
    }

    /// A bad value in field `field`.
    pub fn invalid(field: &str, reason: impl std::fmt::Display) -> Self {
        ToolError {
            kind: ErrorKind::Invalid,
            code: "invalid_value",
            message: format!("invalid {field}: {reason}"),
            engine: None,
        }
    }

    /// A stale request.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ToolError {
            kind: ErrorKind::Conflict,
            code,
            message: message.into(),
            engine: None,
        }
    }

    /// No such record in the caller's data.
    pub fn not_found(what: &str, id: &str) -> Self {
        ToolError {
            kind: ErrorKind::NotFound,
            code: "not_found",
            message: format!("no {what} with id `{id}`"),
            engine: None,
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
            Error::Unavailable(_) => (ErrorKind::Busy, "storage_unavailable"),
            Error::Model(_) => (ErrorKind::ModelUnavailable, "model_unavailable"),
            Error::ModelCall { kind, .. } => model_kind(*kind),
            _ => (ErrorKind::Storage, "storage_error"),
        };
        ToolError {
            kind,
            code,
            message: e.to_string(),
            engine: Some(Arc::new(e)),
        }
    }
}

/// A model provider's failure kind as the tools' kind and code.
fn model_kind(kind: ModelErrorKind) -> (ErrorKind, &'static str) {
    match kind {
        ModelErrorKind::RateLimited => (ErrorKind::RateLimited, "model_rate_limited"),
        ModelErrorKind::BadRequest => (ErrorKind::ModelRejected, "model_bad_request"),
        ModelErrorKind::Auth => (ErrorKind::ModelMisconfigured, "model_auth"),
        ModelErrorKind::Config => (ErrorKind::ModelMisconfigured, "model_config"),
        _ => (ErrorKind::ModelUnavailable, "model_unavailable"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(kind: ModelErrorKind) -> ToolError {
        ToolError::from(Error::ModelCall {
            kind,
            message: "provider said no".into(),
        })
    }

    #[test]
    fn rate_limited_model_is_rate_limited() {
        let e = call(ModelErrorKind::RateLimited);
        assert_eq!(
            (e.kind, e.code),
            (ErrorKind::RateLimited, "model_rate_limited")
        );
        assert!(e.message.contains("provider said no"), "{}", e.message);
    }

    #[test]
    fn unavailable_model_is_unavailable() {
        let e = call(ModelErrorKind::Unavailable);
        assert_eq!(
            (e.kind, e.code),
            (ErrorKind::ModelUnavailable, "model_unavailable")
        );
        // A model error without a kind (an embedder) stays "unavailable".
        let e = ToolError::from(Error::Model("embedder down".into()));
        assert_eq!(
            (e.kind, e.code),
            (ErrorKind::ModelUnavailable, "model_unavailable")
        );
    }

    #[test]
    fn rejected_request_is_a_bad_request() {
        let e = call(ModelErrorKind::BadRequest);
        assert_eq!(
            (e.kind, e.code),
            (ErrorKind::ModelRejected, "model_bad_request")
        );
    }

    #[test]
    fn auth_and_config_are_misconfigured_with_their_own_codes() {
        let e = call(ModelErrorKind::Auth);
        assert_eq!(
            (e.kind, e.code),
            (ErrorKind::ModelMisconfigured, "model_auth")
        );
        let e = call(ModelErrorKind::Config);
        assert_eq!(
            (e.kind, e.code),
            (ErrorKind::ModelMisconfigured, "model_config")
        );
    }
}
