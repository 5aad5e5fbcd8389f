//! Embedders that call a server: Ollama's `/api/embed` and any OpenAI-compatible
//! `/embeddings` endpoint.
//!
//! Both are synchronous (ureq) because the engine calls embedders from plain threads; both
//! send texts in batches of a configurable size, check every answer's shape and vector
//! length, L2-normalise what comes back, and turn transport and HTTP failures into
//! [`EmbedError`] variants that say what to do (which URL is down, which model to pull, which
//! key to set).

mod ollama;
mod openai;

use std::time::Duration;

use serde::Serialize;

pub use ollama::{OllamaConfig, OllamaEmbedder};
pub use openai::{OpenAiConfig, OpenAiEmbedder};

use crate::similarity::normalize;
use crate::EmbedError;

/// Default number of texts per request.
pub const DEFAULT_BATCH_SIZE: usize = 64;
/// Default limit for one request, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest response body read (a batch of 64 x 3072-d vectors is about 4 MB of JSON).
const MAX_BODY_BYTES: u64 = 256 * 1024 * 1024;
/// Text probed to learn a model's dimensions when the caller did not give them.
const PROBE_TEXT: &str = "dimension probe";

/// The request body both APIs accept.
#[derive(Serialize)]
struct EmbedRequest<'a> {
    model: &'a str,
    input: &'a [&'a str],
}

/// A blocking JSON-over-HTTP client with one overall timeout per request.
#[derive(Debug)]
struct JsonClient {
    agent: ureq::Agent,
    timeout: Duration,
}

/// What came back: status and body text (HTTP errors are not transport errors here).
struct Reply {
    status: u16,
    body: String,
}

impl JsonClient {
    fn new(timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        JsonClient { agent, timeout }
    }

    fn post(
        &self,
        url: &str,
        bearer: Option<&str>,
        body: &impl Serialize,
    ) -> Result<Reply, EmbedError> {
        let json = serde_json::to_string(body).map_err(|e| EmbedError::Config(e.to_string()))?;
        let mut req = self
            .agent
            .post(url)
            .header("Content-Type", "application/json");
        if let Some(key) = bearer {
            req = req.header("Authorization", format!("Bearer {key}"));
        }
        let mut resp = req.send(json).map_err(|e| self.transport_error(url, e))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_string()
            .map_err(|e| self.transport_error(url, e))?;
        Ok(Reply { status, body })
    }

    fn transport_error(&self, url: &str, e: ureq::Error) -> EmbedError {
        let timed_out = match &e {
            ureq::Error::Timeout(_) => true,
            ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::TimedOut,
            _ => false,
        };
        if timed_out {
            EmbedError::Timeout {
                url: url.to_string(),
                secs: self.timeout.as_secs(),
            }
        } else {
            EmbedError::Unreachable {
                url: url.to_string(),
                reason: e.to_string(),
            }
        }
    }
}

/// The human part of an error body: Ollama's `{"error": "..."}`, OpenAI's
/// `{"error": {"message": "..."}}`, or the raw text, shortened.
fn error_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let msg = parsed.as_ref().and_then(|v| {
        let e = v.get("error")?;
        e.as_str()
            .or_else(|| e.get("message").and_then(|m| m.as_str()))
            .map(str::to_string)
    });
    let msg = msg.unwrap_or_else(|| body.trim().to_string());
    if msg.chars().count() > 300 {
        msg.chars().take(300).collect::<String>() + "..."
    } else {
        msg
    }
}

/// Checks one batch's vectors (count and length) and normalises them.
fn finish_batch(
    url: &str,
    sent: usize,
    mut vectors: Vec<Vec<f32>>,
    dims: Option<usize>,
) -> Result<Vec<Vec<f32>>, EmbedError> {
    if vectors.len() != sent {
        return Err(EmbedError::BadResponse {
            url: url.to_string(),
            reason: format!("sent {sent} texts, got {} vectors", vectors.len()),
        });
    }
    let expected = dims.unwrap_or_else(|| vectors.first().map_or(0, Vec::len));
    for v in &mut vectors {
        if v.len() != expected || expected == 0 {
            return Err(EmbedError::DimensionMismatch {
                context: format!("vectors from {url}"),
                expected,
                got: v.len(),
            });
        }
        normalize(v);
    }
    Ok(vectors)
}

/// Runs `call` on successive batches of at most `batch_size` texts and concatenates.
fn in_batches(
    texts: &[&str],
    batch_size: usize,
    mut call: impl FnMut(&[&str]) -> Result<Vec<Vec<f32>>, EmbedError>,
) -> Result<Vec<Vec<f32>>, EmbedError> {
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(batch_size.max(1)) {
        out.extend(call(chunk)?);
    }
    Ok(out)
}

fn check_common(model: &str, batch_size: usize) -> Result<(), EmbedError> {
    if model.trim().is_empty() {
        return Err(EmbedError::Config("the model name is empty".into()));
    }
    if batch_size == 0 {
        return Err(EmbedError::Config("batch size must be at least 1".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_message_shapes() {
        assert_eq!(
            error_message(r#"{"error":"model \"x\" not found"}"#),
            "model \"x\" not found"
        );
        assert_eq!(
            error_message(r#"{"error":{"message":"bad key","type":"invalid_request_error"}}"#),
            "bad key"
        );
        assert_eq!(error_message("  plain text \n"), "plain text");
        assert!(error_message(&"x".repeat(1000)).ends_with("..."));
    }

    #[test]
    fn finish_batch_checks_count_and_dims() {
        let ok = finish_batch("u", 2, vec![vec![3.0, 4.0], vec![1.0, 0.0]], Some(2)).unwrap();
        assert!((ok[0][0] - 0.6).abs() < 1e-6);
        assert!(matches!(
            finish_batch("u", 3, vec![vec![1.0]], None),
            Err(EmbedError::BadResponse { .. })
        ));
        assert!(matches!(
            finish_batch("u", 2, vec![vec![1.0, 2.0], vec![1.0]], None),
            Err(EmbedError::DimensionMismatch {
                expected: 2,
                got: 1,
                ..
            })
        ));
    }
}
