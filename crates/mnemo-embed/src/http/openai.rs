//! OpenAI-compatible embeddings: `POST {base}/embeddings` with `{"model", "input": [...]}`
//! and a Bearer key answers `{"data": [{"embedding": [...], "index": 0}, ...], ...}`.
//! The same shape is served by OpenAI, Azure-style gateways, vLLM, LM Studio, llama.cpp's
//! server and Ollama's `/v1`, so one client covers them.

use std::time::Duration;

use serde::Deserialize;

use super::{
    check_common, error_message, finish_batch, in_batches, EmbedRequest, JsonClient,
    DEFAULT_BATCH_SIZE, DEFAULT_TIMEOUT, PROBE_TEXT,
};
use crate::{EmbedError, Embedder};

/// OpenAI's endpoint, used when `OPENAI_BASE_URL` is not set.
pub const DEFAULT_OPENAI_BASE: &str = "https://api.openai.com/v1";

/// How to reach an OpenAI-compatible embeddings endpoint.
#[derive(Clone)]
pub struct OpenAiConfig {
    /// Base URL ending before `/embeddings`, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Bearer key; `None` sends no `Authorization` header (fine for local servers).
    pub api_key: Option<String>,
    /// Model name, e.g. `text-embedding-3-small`.
    pub model: String,
    /// Texts per request.
    pub batch_size: usize,
    /// Limit for one request.
    pub timeout: Duration,
    /// Vector length if known; `None` asks the server once when the embedder is built.
    pub dims: Option<usize>,
}

impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("batch_size", &self.batch_size)
            .field("timeout", &self.timeout)
            .field("dims", &self.dims)
            .finish()
    }
}

impl OpenAiConfig {
    /// Defaults: OpenAI's endpoint, no key, batches of 64, 60 s timeout, dims probed.
    pub fn new(model: impl Into<String>) -> Self {
        OpenAiConfig {
            base_url: DEFAULT_OPENAI_BASE.to_string(),
            api_key: None,
            model: model.into(),
            batch_size: DEFAULT_BATCH_SIZE,
            timeout: DEFAULT_TIMEOUT,
            dims: None,
        }
    }

    /// Like [`OpenAiConfig::new`] with `OPENAI_BASE_URL` and `OPENAI_API_KEY` when set.
    pub fn from_env(model: impl Into<String>) -> Self {
        let mut c = Self::new(model);
        let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(base) = var("OPENAI_BASE_URL") {
            c.base_url = base;
        }
        c.api_key = var("OPENAI_API_KEY");
        c
    }
}

/// Embeddings from an OpenAI-compatible server.
pub struct OpenAiEmbedder {
    client: JsonClient,
    url: String,
    api_key: Option<String>,
    model: String,
    model_id: String,
    batch_size: usize,
    dims: usize,
}

impl std::fmt::Debug for OpenAiEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiEmbedder")
            .field("url", &self.url)
            .field("model_id", &self.model_id)
            .field("dims", &self.dims)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct EmbedResponse {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    embedding: Vec<f32>,
    index: usize,
}

impl OpenAiEmbedder {
    /// Builds the embedder; when `config.dims` is `None` this embeds one probe text to learn
    /// the dimensions, so a bad key, a missing model or a dead server is reported here.
    pub fn new(config: OpenAiConfig) -> Result<Self, EmbedError> {
        check_common(&config.model, config.batch_size)?;
        let base = config.base_url.trim().trim_end_matches('/');
        let mut e = OpenAiEmbedder {
            client: JsonClient::new(config.timeout),
            url: format!("{base}/embeddings"),
            api_key: config.api_key,
            model_id: format!("openai:{}", config.model),
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
            .post(&self.url, self.api_key.as_deref(), &body)?;
        match reply.status {
            200..=299 => {}
            status @ (401 | 403) => {
                let hint = if self.api_key.is_none() {
                    "no API key was sent: set OPENAI_API_KEY".to_string()
                } else {
                    format!(
                        "check OPENAI_API_KEY ({})",
                        error_message(&reply.body).to_lowercase()
                    )
                };
                return Err(EmbedError::Unauthorized {
                    url: self.url.clone(),
                    status,
                    hint,
                });
            }
            404 => {
                return Err(EmbedError::UnknownModel {
                    model: self.model.clone(),
                    url: self.url.clone(),
                    hint: format!(
                        "check the model name and the base URL ({})",
                        error_message(&reply.body)
                    ),
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
                reason: format!(
                    "expected {{\"data\": [{{\"embedding\": [...], \"index\": 0}}]}}: {e}"
                ),
            })?;
        let mut items = parsed.data;
        // The API may answer out of order; `index` is authoritative.
        items.sort_by_key(|it| it.index);
        if items.iter().enumerate().any(|(i, it)| it.index != i) {
            return Err(EmbedError::BadResponse {
                url: self.url.clone(),
                reason: "the `index` fields are not 0..n".into(),
            });
        }
        let vectors = items.into_iter().map(|it| it.embedding).collect();
        finish_batch(&self.url, texts.len(), vectors, dims)
    }
}

impl Embedder for OpenAiEmbedder {
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
