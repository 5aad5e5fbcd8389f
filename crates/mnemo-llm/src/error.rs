//! The one error type of this crate. Every variant names the provider and, where the user
//! can do something about it, says what (set an env var, start Ollama, pull a model), so
//! the CLI can print the message as is. [`LlmError::is_retryable`] is the single place that
//! decides which failures the retry loop tries again.

use std::time::Duration;

use thiserror::Error;

/// Everything that can go wrong when talking to an LLM provider.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The provider needs an API key and none was configured.
    #[error("{provider} needs an API key: set {env_var} (or `api_key` in the [llm] config)")]
    MissingApiKey {
        provider: &'static str,
        env_var: &'static str,
    },
    /// The configuration cannot be used (unknown provider name, malformed URL, ...).
    #[error("invalid LLM configuration: {0}")]
    Config(String),
    /// No connection could be made (refused, host not found, TLS failure).
    #[error("cannot reach {provider} at {url}: {detail}; {hint}")]
    Unreachable {
        provider: &'static str,
        url: String,
        detail: String,
        hint: String,
    },
    /// The connection broke while sending the request or reading the reply (reset, closed).
    #[error("connection to {provider} at {url} broke: {detail}")]
    Connection {
        provider: &'static str,
        url: String,
        detail: String,
    },
    /// The provider does not know the requested model (or, for Ollama, it is not pulled).
    #[error("{provider} has no model `{model}`: {hint}")]
    UnknownModel {
        provider: &'static str,
        model: String,
        hint: String,
    },
    /// The provider rejected the API key (HTTP 401 or 403).
    #[error("{provider} rejected the request as unauthorized (HTTP {status}): {message}; check {env_var}")]
    Unauthorized {
        provider: &'static str,
        status: u16,
        message: String,
        env_var: &'static str,
    },
    /// The provider is rate limiting this client (HTTP 429).
    #[error("{provider} is rate limiting requests: {message}{}", retry_hint(*.retry_after))]
    RateLimited {
        provider: &'static str,
        message: String,
        retry_after: Option<Duration>,
    },
    /// Any other non-success HTTP status, with the message taken from the error body.
    #[error("{provider} returned HTTP {status}: {message}")]
    Http {
        provider: &'static str,
        status: u16,
        message: String,
    },
    /// No answer (or no next chunk of a stream) within the configured timeout.
    #[error("{provider} did not answer within {}s ({url}); raise `timeout` in the [llm] config or use a smaller model", .after.as_secs_f64())]
    Timeout {
        provider: &'static str,
        url: String,
        after: Duration,
    },
    /// The response could not be parsed (not the provider's wire format, or invalid JSON).
    #[error("{provider} sent a response that cannot be understood: {detail}")]
    BadResponse {
        provider: &'static str,
        detail: String,
    },
    /// The provider reported an error inside a successful (HTTP 200) reply, usually in the
    /// middle of a stream.
    #[error("{provider} reported an error mid-response: {message}")]
    Stream {
        provider: &'static str,
        message: String,
    },
}

/// What kind of failure an [`LlmError`] is, for callers that answer differently per kind
/// (the job queue: retry, pause or fail; a server: 429, 502 or 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The provider asks us to slow down (HTTP 429).
    RateLimited,
    /// The provider cannot be reached or failed on its side (refused, timeout, broken
    /// connection, 5xx, 408): the same request may work later.
    Unavailable,
    /// The provider rejected this request (a 4xx other than 401/403/408/429: bad format,
    /// context overflow): sending it again cannot help.
    BadRequest,
    /// A missing or rejected API key.
    Auth,
    /// mnemo's settings cannot work (unknown provider or model, malformed URL).
    Config,
    /// The provider answered, but not in a form that can be used.
    BadResponse,
}

fn retry_hint(after: Option<Duration>) -> String {
    match after {
        Some(d) => format!(" (retry after {}s)", d.as_secs()),
        None => String::new(),
    }
}

impl LlmError {
    /// Whether sending the same request again may succeed: rate limits, timeouts, broken
    /// connections and server-side errors (5xx, 408). Client errors (400, 401, 404), a
    /// refused connection and configuration problems are not retried: they need a fix.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::RateLimited { .. } | LlmError::Timeout { .. } => true,
            LlmError::Connection { .. } => true,
            LlmError::Http { status, .. } => *status >= 500 || *status == 408,
            _ => false,
        }
    }

    /// The kind of failure; see [`ErrorKind`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            LlmError::MissingApiKey { .. } | LlmError::Unauthorized { .. } => ErrorKind::Auth,
            LlmError::Config(_) | LlmError::UnknownModel { .. } => ErrorKind::Config,
            LlmError::Unreachable { .. }
            | LlmError::Connection { .. }
            | LlmError::Timeout { .. } => ErrorKind::Unavailable,
            LlmError::RateLimited { .. } => ErrorKind::RateLimited,
            LlmError::Http { status: 429, .. } => ErrorKind::RateLimited,
            LlmError::Http { status: 408, .. } => ErrorKind::Unavailable,
            LlmError::Http {
                status: 401 | 403, ..
            } => ErrorKind::Auth,
            LlmError::Http {
                status: 400..=499, ..
            } => ErrorKind::BadRequest,
            LlmError::Http { .. } => ErrorKind::Unavailable,
            LlmError::BadResponse { .. } | LlmError::Stream { .. } => ErrorKind::BadResponse,
        }
    }

    /// Whether the provider refused the request because the prompt does not fit the
    /// model's context window (a bad request that a shorter prompt would fix).
    pub fn is_context_overflow(&self) -> bool {
        let LlmError::Http { message, .. } = self else {
            return false;
        };
        if self.kind() != ErrorKind::BadRequest {
            return false;
        }
        let m = message.to_ascii_lowercase();
        let context =
            m.contains("context") || m.contains("too long") || m.contains("too many tokens");
        context
            && [
                "length", "window", "exceed", "too long", "maximum", "too many", "overflow",
            ]
            .iter()
            .any(|w| m.contains(w))
    }

    /// The wait the provider asked for, if it sent a `Retry-After` with a rate limit.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The provider this error came from, when there is one.
    pub fn provider(&self) -> Option<&'static str> {
        match self {
            LlmError::MissingApiKey { provider, .. }
            | LlmError::Unreachable { provider, .. }
            | LlmError::Connection { provider, .. }
            | LlmError::UnknownModel { provider, .. }
            | LlmError::Unauthorized { provider, .. }
            | LlmError::RateLimited { provider, .. }
            | LlmError::Http { provider, .. }
            | LlmError::Timeout { provider, .. }
            | LlmError::BadResponse { provider, .. }
            | LlmError::Stream { provider, .. } => Some(provider),
            LlmError::Config(_) => None,
        }
    }

    pub(crate) fn bad_response(provider: &'static str, detail: impl Into<String>) -> Self {
        LlmError::BadResponse {
            provider,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_table() {
        let http = |status| LlmError::Http {
            provider: "p",
            status,
            message: String::new(),
        };
        assert!(http(500).is_retryable());
        assert!(http(503).is_retryable());
        assert!(http(529).is_retryable());
        assert!(http(408).is_retryable());
        assert!(!http(400).is_retryable());
        assert!(!http(404).is_retryable());
        let unauthorized = LlmError::Unauthorized {
            provider: "p",
            status: 401,
            message: String::new(),
            env_var: "X",
        };
        assert!(!unauthorized.is_retryable());
        let limited = LlmError::RateLimited {
            provider: "p",
            message: "slow down".into(),
            retry_after: Some(Duration::from_secs(3)),
        };
        assert!(limited.is_retryable());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
        assert!(limited.to_string().contains("retry after 3s"));
    }

    #[test]
    fn kinds_keep_provider_failures_apart() {
        let http = |status: u16, message: &str| LlmError::Http {
            provider: "p",
            status,
            message: message.into(),
        };
        assert_eq!(http(400, "bad").kind(), ErrorKind::BadRequest);
        assert_eq!(http(422, "bad").kind(), ErrorKind::BadRequest);
        assert_eq!(http(404, "no route").kind(), ErrorKind::BadRequest);
        assert_eq!(http(408, "").kind(), ErrorKind::Unavailable);
        assert_eq!(http(429, "").kind(), ErrorKind::RateLimited);
        assert_eq!(http(502, "").kind(), ErrorKind::Unavailable);
        assert_eq!(http(403, "").kind(), ErrorKind::Auth);
        let missing = LlmError::MissingApiKey {
            provider: "openai",
            env_var: "OPENAI_API_KEY",
        };
        assert_eq!(missing.kind(), ErrorKind::Auth);
        let unreachable = LlmError::Unreachable {
            provider: "p",
            url: "u".into(),
            detail: "refused".into(),
            hint: "start it".into(),
        };
        assert_eq!(unreachable.kind(), ErrorKind::Unavailable);
        let overflow = http(
            400,
            "the request exceeds the available context size, try increasing it",
        );
        assert!(overflow.is_context_overflow());
        assert!(
            http(400, "This model's maximum context length is 4096 tokens").is_context_overflow()
        );
        assert!(!http(400, "invalid json").is_context_overflow());
        assert!(!http(500, "context length exceeded").is_context_overflow());
    }

    #[test]
    fn messages_say_what_to_do() {
        let e = LlmError::MissingApiKey {
            provider: "openai",
            env_var: "OPENAI_API_KEY",
        };
        assert!(e.to_string().contains("set OPENAI_API_KEY"));
        let e = LlmError::Timeout {
            provider: "ollama",
            url: "http://x".into(),
            after: Duration::from_millis(1500),
        };
        assert!(e.to_string().contains("1.5s"));
    }
}
