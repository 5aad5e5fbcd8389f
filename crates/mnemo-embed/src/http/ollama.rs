//! Ollama: `POST {host}/api/embed` with `{"model", "input": [...]}` answers
//! `{"embeddings": [[...], ...]}` (Ollama 0.3.4 and newer).

use std::time::Duration;

use serde::Deserialize;

use super::{
    check_common, error_message, finish_batch, in_batches, EmbedRequest, JsonClient,
    DEFAULT_BATCH_SIZE, DEFAULT_TIMEOUT, PROBE_TEXT,
};
use crate::{EmbedError, Embedder};

/// Where Ollama listens when `OLLAMA_HOST` is not set.
pub const DEFAULT_OLLAMA_HOST: &str = "http://127.0.0.1:11434";

/// How to reach an Ollama model.
#[derive(Debug, Clone)]
pub struct OllamaConfig {
    /// Base URL, e.g. `http://127.0.0.1:11434` (a bare `host:port` gets `http://`).
    pub host: String,
    /// Model name as `ollama list` shows it, e.g. `nomic-embed-text`.
    pub model: String,
    /// Texts per request.
    pub batch_size: usize,
    /// Limit for one request.
    pub timeout: Duration,
    /// Vector length if known; `None` asks the server once when the embedder is built.
    pub dims: Option<usize>,
}

impl OllamaConfig {
    /// Defaults: local Ollama, batches of 64, 60 s timeout, dims probed.
    pub fn new(model: impl Into<String>) -> Self {
        OllamaConfig {
            host: DEFAULT_OLLAMA_HOST.to_string(),
            model: model.into(),
            batch_size: DEFAULT_BATCH_SIZE,
            timeout: DEFAULT_TIMEOUT,
            dims: None,
        }
    }

    /// Like [`OllamaConfig::new`] with the host taken from `OLLAMA_HOST` when set.
    pub fn from_env(model: impl Into<String>) -> Self {
        let mut c = Self::new(model);
        if let Ok(host) = std::env::var("OLLAMA_HOST") {
            if !host.trim().is_empty() {
                c.host = host;
            }
        }
        c
    }
}

/// Embeddings from a local or remote Ollama server.
#[derive(Debug)]
pub struct OllamaEmbedder {
    client: JsonClient,
    url: String,
    model: String,
    model_id: String,
    batch_size: usize,
    dims: usize,
}

#[derive(Deserialize)]
struct EmbedResponse {
    embeddings: Vec<Vec<f32>>,
}

impl OllamaEmbedder {
    /// Builds the embedder; when `config.dims` is `None` this embeds one probe text to learn
    /// the dimensions, so an unreachable server or a missing model is reported here.
    pub fn new(config: OllamaConfig) -> Result<Self, EmbedError> {
        check_common(&config.model, config.batch_size)?;
        let mut e = OllamaEmbedder {
            client: JsonClient::new(config.timeout),
            url: format!("{}/api/embed", normalize_host(&config.host)),
            model_id: format!("ollama:{}", config.model),
            model: config.model,
            batch_size: config.batch_size,
            dims: config.dims.unwrap_or(0),
        };
        if config.dims.is_none() {
            e.dims = e.call(&[PROBE_TEXT], None)?[0].len();
        }
        Ok(e)
    }

    /// The endpoint this embedder posts to.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn call(&self, texts: &[&str], dims: Option<usize>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let body = EmbedRequest {
            model: &self.model,
            input: texts,
        };
        let reply = self
            .client
            .post(&self.url, None, &body)
            .map_err(|e| match e {
                EmbedError::Unreachable { url, reason } => EmbedError::Unreachable {
                    url,
                    reason: format!(
                        "{reason} (is Ollama running? start it with `ollama serve`, or set OLLAMA_HOST)"
                    ),
                },
                other => other,
            })?;
        match reply.status {
            200..=299 => {}
            404 if reply.body.contains("not found") && !reply.body.contains("page not found") => {
                return Err(EmbedError::UnknownModel {
                    model: self.model.clone(),
                    url: self.url.clone(),
                    hint: format!("run `ollama pull {}`", self.model),
                })
            }
            status => {
                return Err(EmbedError::Http {
                    url: self.url.clone(),
                    status,
                    body: error_message(&reply.body),
                })
            }
        }
        let parsed: EmbedResponse =
            serde_json::from_str(&reply.body).map_err(|e| EmbedError::BadResponse {
                url: self.url.clone(),
                reason: format!("expected {{\"embeddings\": [[...]]}}: {e}"),
            })?;
        finish_batch(&self.url, texts.len(), parsed.embeddings, dims)
    }
}

impl Embedder for OllamaEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dims(&self) -> usize {
        self.dims
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        in_batches(texts, self.batch_size, |chunk| {
            self.call(chunk, Some(self.dims))
        })
    }
}

/// `OLLAMA_HOST` may be `host`, `host:port` or a full URL; Ollama's own default port applies
/// when neither scheme nor port is given.
fn normalize_host(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    if host.contains("://") {
        return host.to_string();
    }
    let has_port = host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty());
    if has_port {
        format!("http://{host}")
    } else {
        format!("http://{host}:11434")
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_host;

    #[test]
    fn host_forms() {
        let cases = [
            ("http://127.0.0.1:11434", "http://127.0.0.1:11434"),
            ("http://gpu-box:8080/", "http://gpu-box:8080"),
            ("https://ollama.example", "https://ollama.example"),
            ("localhost:11435", "http://localhost:11435"),
            ("gpu-box", "http://gpu-box:11434"),
            ("0.0.0.0", "http://0.0.0.0:11434"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_host(input), want, "{input}");
        }
    }
}
