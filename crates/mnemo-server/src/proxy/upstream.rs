//! The model server the proxy forwards to: the `[llm]` config's provider. OpenAI and
//! OpenAI-compatible servers take the OpenAI chat-completions body at
//! `{base_url}/chat/completions`, Ollama at `{host}/v1/chat/completions` (its own
//! OpenAI-compatible endpoint), so the request body the client sent (tools, temperature,
//! max_tokens, response_format, ...) passes through untouched. Anthropic gets it translated
//! to its Messages API ([`super::anthropic`]). The upstream's own API key replaces the
//! client's mnemo key; the mnemo key never leaves this process.
//!
//! Calls are blocking (`ureq`, one pooled agent); the proxy runs them under
//! `spawn_blocking`. Timeouts are the `[llm]` ones: `connect_timeout` to connect, `timeout`
//! for the response to start and between two reads of a stream.

use std::time::Duration;

use axum::http::StatusCode;
use mnemo_llm::{LlmConfig, ProviderKind, Task};
use serde_json::{json, Value};

/// Where and how to reach the upstream.
pub struct Upstream {
    kind: ProviderKind,
    /// `…/v1` without a trailing slash.
    base: String,
    api_key: Option<String>,
    /// The model for requests that name none (or name `mnemo`).
    pub(crate) default_model: Option<String>,
    pub(crate) timeout: Duration,
    /// `max_tokens` for Anthropic when the client gives none (Anthropic requires one).
    max_tokens: u32,
    agent: ureq::Agent,
}

/// The Messages API version sent to Anthropic.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// A failed upstream call, already in the OpenAI error shape.
#[derive(Debug)]
pub struct UpstreamError {
    pub status: StatusCode,
    pub body: Value,
}

impl UpstreamError {
    /// An OpenAI-shaped error of mnemo's own.
    pub fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        UpstreamError {
            status,
            body: openai_error(kind, &message.into()),
        }
    }
}

/// `{"error": {"message", "type", "param", "code"}}`.
pub fn openai_error(kind: &str, message: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": kind}})
}

impl Upstream {
    /// The upstream the `[llm]` config names.
    pub fn from_config(cfg: &LlmConfig) -> Self {
        let base = match cfg.provider {
            ProviderKind::OpenAi => cfg
                .base_url
                .clone()
                .unwrap_or_else(|| mnemo_llm::openai::DEFAULT_BASE_URL.into()),
            ProviderKind::Ollama => {
                let host = cfg
                    .base_url
                    .clone()
                    .unwrap_or_else(|| mnemo_llm::ollama::DEFAULT_HOST.into());
                let host = if host.contains("://") {
                    host
                } else {
                    format!("http://{host}")
                };
                format!("{}/v1", host.trim_end_matches('/'))
            }
            ProviderKind::Anthropic => cfg
                .base_url
                .clone()
                .unwrap_or_else(|| "https://api.anthropic.com".into()),
        };
        let base = base.trim_end_matches('/').to_owned();
        let mut builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(cfg.connect_timeout))
            .timeout_recv_response(Some(cfg.timeout))
            .timeout_per_read(Some(cfg.timeout))
            .timeout_per_write(Some(cfg.timeout))
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                    .build(),
            )
            .user_agent(concat!("mnemo/", env!("CARGO_PKG_VERSION")));
        if is_loopback(&base) {
            builder = builder.proxy(None);
        }
        Upstream {
            kind: cfg.provider,
            base,
            api_key: cfg.api_key.as_ref().map(|k| k.expose().to_owned()),
            default_model: cfg.model_for(Task::Chat).map(str::to_owned),
            timeout: cfg.timeout,
            max_tokens: cfg.max_tokens,
            agent: builder.build().new_agent(),
        }
    }

    /// The provider's name, for usage ("openai", "anthropic", "ollama").
    pub fn provider(&self) -> &'static str {
        self.kind.as_str()
    }

    /// Whether replies come in Anthropic's format (and need translating).
    pub fn is_anthropic(&self) -> bool {
        self.kind == ProviderKind::Anthropic
    }

    /// `{base}/v1/…` for Anthropic, whether or not the base URL ends in `/v1`.
    fn anthropic_url(&self, path: &str) -> String {
        let base = self.base.strip_suffix("/v1").unwrap_or(&self.base);
        format!("{base}/v1/{path}")
    }

    /// POSTs an OpenAI chat-completions body (translated for Anthropic); returns the
    /// response if it is a success, else the upstream's error with its status.
    pub fn chat(&self, body: &[u8]) -> Result<ureq::http::Response<ureq::Body>, UpstreamError> {
        let req = if self.is_anthropic() {
            let openai: Value = serde_json::from_slice(body).unwrap_or_default();
            let translated = super::anthropic::request(&openai, self.max_tokens);
            let req = self
                .agent
                .post(self.anthropic_url("messages"))
                .header("Content-Type", "application/json")
                .header("anthropic-version", ANTHROPIC_VERSION);
            let req = match &self.api_key {
                Some(k) => req.header("x-api-key", k),
                None => req,
            };
            req.send(translated.to_string().as_bytes())
        } else {
            let mut req = self
                .agent
                .post(format!("{}/chat/completions", self.base))
                .header("Content-Type", "application/json");
            if let Some(k) = &self.api_key {
                req = req.header("Authorization", format!("Bearer {k}"));
            }
            req.send(body)
        };
        let res = req.map_err(|e| self.transport_error(e))?;
        self.success(res)
    }

    /// The upstream's model list, in the OpenAI shape.
    pub fn models(&self) -> Result<Value, UpstreamError> {
        let res = if self.is_anthropic() {
            let req = self
                .agent
                .get(self.anthropic_url("models"))
                .header("anthropic-version", ANTHROPIC_VERSION);
            match &self.api_key {
                Some(k) => req.header("x-api-key", k).call(),
                None => req.call(),
            }
        } else {
            let req = self.agent.get(format!("{}/models", self.base));
            match &self.api_key {
                Some(k) => req.header("Authorization", format!("Bearer {k}")).call(),
                None => req.call(),
            }
        };
        let mut res = self.success(res.map_err(|e| self.transport_error(e))?)?;
        let list = read_json(res.body_mut())?;
        if !self.is_anthropic() {
            return Ok(list);
        }
        let data: Vec<Value> = list["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| json!({"id": m["id"], "object": "model", "created": 0, "owned_by": "anthropic"}))
            .collect();
        Ok(json!({"object": "list", "data": data}))
    }

    fn success(
        &self,
        mut res: ureq::http::Response<ureq::Body>,
    ) -> Result<ureq::http::Response<ureq::Body>, UpstreamError> {
        let status = res.status();
        if status.is_success() {
            return Ok(res);
        }
        let text = res
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .unwrap_or_default();
        let status = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let body = match serde_json::from_str::<Value>(&text) {
            Ok(v) if v.get("error").is_some_and(Value::is_object) => v,
            Ok(Value::Object(o)) if o.get("error").is_some_and(Value::is_string) => {
                openai_error("upstream_error", o["error"].as_str().unwrap_or_default())
            }
            _ => openai_error(
                "upstream_error",
                &format!(
                    "the model server answered {status}: {}",
                    snippet(&text, 300)
                ),
            ),
        };
        Err(UpstreamError { status, body })
    }

    /// A failure to talk to the upstream at all.
    pub fn transport_error(&self, e: ureq::Error) -> UpstreamError {
        match e {
            ureq::Error::Timeout(_) => UpstreamError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                format!(
                    "the model server at {} did not answer within {} s",
                    self.base,
                    self.timeout.as_secs_f64()
                ),
            ),
            ureq::Error::Io(ref io) if io.kind() == std::io::ErrorKind::TimedOut => {
                UpstreamError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream_timeout",
                    format!("the model server at {} stopped answering", self.base),
                )
            }
            other => UpstreamError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_unavailable",
                format!("cannot reach the model server at {}: {other}", self.base),
            ),
        }
    }
}

/// Reads a JSON body (at most 16 MiB); anything else is a bad gateway.
pub fn read_json(body: &mut ureq::Body) -> Result<Value, UpstreamError> {
    let text = body
        .with_config()
        .limit(16 << 20)
        .read_to_string()
        .map_err(|e| {
            UpstreamError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                format!("reading the model server's reply failed: {e}"),
            )
        })?;
    serde_json::from_str(&text).map_err(|_| {
        UpstreamError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            format!(
                "the model server's reply is not JSON: {}",
                snippet(&text, 200)
            ),
        )
    })
}

fn snippet(text: &str, n: usize) -> String {
    let s: String = text.chars().take(n).collect();
    if text.chars().count() > n {
        format!("{s}…")
    } else {
        s
    }
}

fn is_loopback(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    matches!(host, "127.0.0.1" | "localhost" | "[" | "::1") || url.contains("://[::1]")
}
