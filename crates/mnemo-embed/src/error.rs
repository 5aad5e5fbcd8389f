//! The one error type of this crate. Every variant names what the user can act on: the URL
//! that could not be reached, the model to pull, the key to set, the file that is broken.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while loading or calling an embedder.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The embedding service could not be reached at all (connection refused, DNS, TLS).
    #[error("cannot reach the embedding service at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The embedding service did not answer within the configured timeout.
    #[error("the embedding service at {url} did not answer within {secs} s")]
    Timeout { url: String, secs: u64 },
    /// The service does not know this model; `hint` says how to get it.
    #[error("unknown embedding model `{model}` at {url}: {hint}")]
    UnknownModel {
        model: String,
        url: String,
        hint: String,
    },
    /// The service rejected the credentials (HTTP 401 or 403).
    #[error("the embedding service at {url} refused the request (HTTP {status}): {hint}")]
    Unauthorized {
        url: String,
        status: u16,
        hint: String,
    },
    /// The service answered with another HTTP error status.
    #[error("the embedding service at {url} answered HTTP {status}: {body}")]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    /// The service answered 2xx but not with the expected JSON shape.
    #[error("unexpected answer from the embedding service at {url}: {reason}")]
    BadResponse { url: String, reason: String },
    /// A vector does not have the number of dimensions the embedder (or index) expects.
    #[error("dimension mismatch for {context}: expected {expected}, got {got}")]
    DimensionMismatch {
        context: String,
        expected: usize,
        got: usize,
    },
    /// An embedding-table file is not in the expected format or is truncated.
    #[error("bad embedding table {}: {reason}", path.display())]
    BadFile { path: PathBuf, reason: String },
    /// Reading a file failed.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A local model failed while computing embeddings.
    #[error("the local embedding model failed: {0}")]
    Model(String),
    /// The embedder was configured with an unusable value (empty model name, batch size 0).
    #[error("invalid embedder configuration: {0}")]
    Config(String),
    /// The service failed moments ago and is left alone for a while (see
    /// [`crate::LazyEmbedder`]); nothing was sent.
    #[error("the embedder {model_id} is unavailable (tried again in {secs} s): {reason}")]
    Paused {
        model_id: String,
        reason: String,
        secs: u64,
    },
}

impl EmbedError {
    /// Whether the service cannot be used right now but may work later (unreachable, slow,
    /// a server error, paused), as opposed to a configuration or data problem.
    pub fn is_transient(&self) -> bool {
        match self {
            EmbedError::Unreachable { .. }
            | EmbedError::Timeout { .. }
            | EmbedError::Paused { .. } => true,
            EmbedError::Http { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            _ => false,
        }
    }
}
