//! The HTTP plumbing shared by the providers: one `ureq` agent per provider, JSON POSTs
//! with the retry loop, and the translation of transport failures into [`LlmError`]s that
//! name the provider and the URL. Provider modules only build bodies and parse replies.

use std::io::{self, BufReader};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use ureq::http::Response;
use ureq::Body;

use crate::retry::{parse_retry_after, unit_random, RetryPolicy, Sleeper};
use crate::{LlmConfig, LlmError};

/// How much of an error body is read: enough for any provider's message.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// A non-success HTTP answer, before the provider turns it into an error.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: u16,
    pub body: String,
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// The generic mapping: 401/403 (when the provider uses a key), 429, everything else.
    pub fn into_error(self, provider: &'static str, key_var: Option<&'static str>) -> LlmError {
        let message = error_message(&self.body);
        match (self.status, key_var) {
            (401 | 403, Some(env_var)) => LlmError::Unauthorized {
                provider,
                status: self.status,
                message,
                env_var,
            },
            (429, _) => LlmError::RateLimited {
                provider,
                message,
                retry_after: self.retry_after,
            },
            (status, _) => LlmError::Http {
                provider,
                status,
                message,
            },
        }
    }
}

/// The human message in an error body: `error.message` (OpenAI, Anthropic), `error` as a
/// string (Ollama), `message` or `detail` (other compatible servers), else the raw text.
pub(crate) fn error_message(body: &str) -> String {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        let candidates = [
            json.pointer("/error/message"),
            json.get("error"),
            json.get("message"),
            json.get("detail"),
        ];
        if let Some(text) = candidates.into_iter().flatten().find_map(|v| v.as_str()) {
            return text.to_string();
        }
    }
    let text = body.trim();
    if text.is_empty() {
        "(empty body)".to_string()
    } else {
        snippet(text, 300)
    }
}

/// The first `max` characters of `text`, for error messages.
pub(crate) fn snippet(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_string(),
    }
}

/// Sends JSON to one provider's server.
pub(crate) struct Transport {
    provider: &'static str,
    agent: ureq::Agent,
    base_url: String,
    timeout: Duration,
    connect_timeout: Duration,
    policy: RetryPolicy,
    sleeper: Arc<dyn Sleeper>,
    unreachable_hint: String,
}

impl Transport {
    /// `base_url` has no trailing slash; `unreachable_hint` says how to fix a refused
    /// connection for this provider.
    pub fn new(
        provider: &'static str,
        base_url: String,
        cfg: &LlmConfig,
        sleeper: Arc<dyn Sleeper>,
        unreachable_hint: String,
    ) -> Result<Self, LlmError> {
        check_url(&base_url)?;
        let mut builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(cfg.connect_timeout))
            .timeout_recv_response(Some(cfg.timeout))
            .timeout_per_read(Some(cfg.timeout))
            .timeout_per_write(Some(cfg.timeout))
            // The OS trust store, not a bundled one: behind a corporate TLS proxy only the
            // system knows the proxy's CA (and SSL_CERT_FILE is honoured).
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                    .build(),
            )
            .user_agent(concat!("mnemo/", env!("CARGO_PKG_VERSION")));
        if is_loopback(&base_url) {
            // A local server is never behind the corporate proxy that HTTP_PROXY names.
            builder = builder.proxy(None);
        }
        Ok(Transport {
            provider,
            agent: builder.build().new_agent(),
            base_url,
            timeout: cfg.timeout,
            connect_timeout: cfg.connect_timeout,
            policy: cfg.retry_policy(),
            sleeper,
            unreachable_hint,
        })
    }

    /// The full URL of an API path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// POSTs `body` to `path`, retrying retryable failures, and returns the successful
    /// response with its body unread. `on_failure` maps a non-2xx answer to an error.
    pub fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
        on_failure: &dyn Fn(Failure) -> LlmError,
    ) -> Result<Response<Body>, LlmError> {
        let url = self.url(path);
        let bytes = serde_json::to_vec(body)
            .map_err(|e| LlmError::Config(format!("cannot encode the request: {e}")))?;
        let mut retry = 0;
        loop {
            let (err, retry_after) = match self.post_once(&url, headers, &bytes, on_failure) {
                Ok(resp) => return Ok(resp),
                Err(failed) => failed,
            };
            if !err.is_retryable() {
                return Err(err);
            }
            match self.policy.delay(retry, retry_after, unit_random()) {
                Some(wait) => self.sleeper.sleep(wait),
                None => return Err(err),
            }
            retry += 1;
        }
    }

    /// GETs `path` once (no retries: used for discovery, not for work) and returns the
    /// successful response with its body unread.
    pub fn get(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        on_failure: &dyn Fn(Failure) -> LlmError,
    ) -> Result<Response<Body>, LlmError> {
        let mut request = self.agent.get(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.call().map_err(|e| self.map_ureq_error(e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(on_failure(self.read_failure(response)))
    }

    fn post_once(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        bytes: &[u8],
        on_failure: &dyn Fn(Failure) -> LlmError,
    ) -> Result<Response<Body>, (LlmError, Option<Duration>)> {
        let mut request = self
            .agent
            .post(url)
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .send(bytes)
            .map_err(|e| (self.map_ureq_error(e), None))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let failure = self.read_failure(response);
        let retry_after = failure.retry_after;
        Err((on_failure(failure), retry_after))
    }

    fn read_failure(&self, response: Response<Body>) -> Failure {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, self.sleeper.now()));
        // A body that cannot be read still leaves the status to report.
        let body = response
            .into_body()
            .with_config()
            .limit(ERROR_BODY_LIMIT)
            .lossy_utf8(true)
            .read_to_string()
            .unwrap_or_default();
        Failure {
            status,
            body,
            retry_after,
        }
    }

    /// Reads a whole successful response and decodes it as `T`.
    pub fn read_json<T: DeserializeOwned>(&self, response: Response<Body>) -> Result<T, LlmError> {
        let text = response
            .into_body()
            .read_to_string()
            .map_err(|e| self.map_ureq_error(e))?;
        serde_json::from_str(&text).map_err(|e| {
            LlmError::bad_response(self.provider, format!("{e} in `{}`", snippet(&text, 200)))
        })
    }

    /// A buffered reader over a successful response's body, for streaming.
    pub fn stream_reader(&self, response: Response<Body>) -> BufReader<impl io::Read> {
        BufReader::new(response.into_body().into_reader())
    }

    /// Maps an I/O error met while reading a streamed body.
    pub fn map_io_error(&self, e: io::Error) -> LlmError {
        self.map_ureq_error(ureq::Error::from(e))
    }

    fn map_ureq_error(&self, e: ureq::Error) -> LlmError {
        let provider = self.provider;
        let url = self.base_url.clone();
        let unreachable = |detail: String| LlmError::Unreachable {
            provider,
            url: url.clone(),
            detail,
            hint: self.unreachable_hint.clone(),
        };
        match e {
            ureq::Error::Timeout(which) => LlmError::Timeout {
                provider,
                url: url.clone(),
                after: match which {
                    ureq::Timeout::Connect | ureq::Timeout::Resolve => self.connect_timeout,
                    _ => self.timeout,
                },
            },
            ureq::Error::Io(io) if is_dns_failure(&io) => {
                unreachable(format!("host not found ({io})"))
            }
            ureq::Error::Io(io) => match io.kind() {
                io::ErrorKind::ConnectionRefused
                | io::ErrorKind::AddrNotAvailable
                | io::ErrorKind::HostUnreachable
                | io::ErrorKind::NetworkUnreachable => unreachable(io.to_string()),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => LlmError::Timeout {
                    provider,
                    url: url.clone(),
                    after: self.timeout,
                },
                _ => LlmError::Connection {
                    provider,
                    url: url.clone(),
                    detail: io.to_string(),
                },
            },
            ureq::Error::HostNotFound => unreachable("host not found".into()),
            ureq::Error::ConnectionFailed => unreachable("connection failed".into()),
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => {
                unreachable(format!("TLS error: {e}"))
            }
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => {
                LlmError::Config(format!("bad URL for {provider} ({url}): {e}"))
            }
            other => LlmError::Connection {
                provider,
                url: url.clone(),
                detail: other.to_string(),
            },
        }
    }
}

/// Name resolution failures come from the OS as uncategorised I/O errors; std's own
/// message prefix (Unix) or the OS text (Windows) identifies them.
fn is_dns_failure(e: &io::Error) -> bool {
    let text = e.to_string();
    ["failed to lookup address", "No such host is known"]
        .iter()
        .any(|needle| text.contains(needle))
}

fn check_url(url: &str) -> Result<(), LlmError> {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
    if ok {
        Ok(())
    } else {
        Err(LlmError::Config(format!(
            "`{url}` is not an http:// or https:// URL"
        )))
    }
}

/// The host part of an `http(s)://host[:port]/path` URL.
pub(crate) fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    authority.split(':').next().unwrap_or(authority)
}

fn is_loopback(url: &str) -> bool {
    let host = host_of(url);
    host.eq_ignore_ascii_case("localhost") || host == "::1" || host.starts_with("127.")
}

/// Trims trailing slashes so paths can be appended.
pub(crate) fn trim_base(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_from_each_wire_format() {
        let openai =
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#;
        assert_eq!(error_message(openai), "Incorrect API key provided");
        let anthropic =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(error_message(anthropic), "Overloaded");
        let ollama = r#"{"error":"model \"x\" not found, try pulling it first"}"#;
        assert!(error_message(ollama).starts_with("model \"x\" not found"));
        assert_eq!(error_message(r#"{"detail":"bad"}"#), "bad");
        assert_eq!(error_message("  Bad Gateway \n"), "Bad Gateway");
        assert_eq!(error_message(""), "(empty body)");
        assert_eq!(snippet(&"é".repeat(5), 3), "ééé...");
    }

    #[test]
    fn hosts_and_loopback() {
        assert_eq!(host_of("http://127.0.0.1:11434/api"), "127.0.0.1");
        assert_eq!(host_of("https://api.openai.com/v1"), "api.openai.com");
        assert_eq!(host_of("http://[::1]:8080"), "::1");
        assert_eq!(host_of("http://user:pw@host:1/x"), "host");
        assert!(is_loopback("http://localhost:11434"));
        assert!(is_loopback("http://[::1]:11434"));
        assert!(!is_loopback("https://api.anthropic.com"));
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("http://").is_err());
        assert_eq!(trim_base("http://x/v1/ "), "http://x/v1");
    }
}
