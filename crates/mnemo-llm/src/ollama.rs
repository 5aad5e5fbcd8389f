//! Ollama's native chat API (`POST /api/chat`), the default provider because it runs
//! locally with no key. Streaming is NDJSON: one object per line with a piece of
//! `message.content`, the last with `done: true` and the token counts. Structured output
//! uses `format` (a JSON Schema, or `"json"` for old servers). A 404 "model not found"
//! becomes [`LlmError::UnknownModel`] with the `ollama pull` command to run.

use std::ops::ControlFlow;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Map, Value};
use ureq::http::Response;
use ureq::Body;

use crate::ndjson::{NdjsonError, NdjsonReader};
use crate::retry::Sleeper;
use crate::structured::{schema_instruction, with_system_instruction};
use crate::transport::{Failure, Transport};
use crate::{
    ChatRequest, ChatResponse, LlmConfig, LlmError, LlmProvider, StopReason, StructuredOutput,
    Usage,
};

const NAME: &str = "ollama";
/// Where `ollama serve` listens by default.
pub const DEFAULT_HOST: &str = "http://127.0.0.1:11434";
/// A small model that runs on a laptop and follows JSON schemas well.
pub const DEFAULT_MODEL: &str = "qwen2.5:7b";

/// A client for one Ollama server.
pub struct OllamaProvider {
    transport: Transport,
    model: String,
    max_tokens: u32,
    structured: StructuredOutput,
}

/// One NDJSON line, or the whole non-streaming reply.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Chunk {
    model: Option<String>,
    message: Option<ChunkMessage>,
    done: bool,
    done_reason: Option<String>,
    prompt_eval_count: Option<u32>,
    eval_count: Option<u32>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChunkMessage {
    content: String,
}

impl OllamaProvider {
    /// A provider for `cfg.base_url` (an `OLLAMA_HOST`-style value: `host`, `host:port`
    /// or a URL) or the default local server.
    pub fn new(cfg: &LlmConfig, sleeper: Arc<dyn Sleeper>) -> Result<Self, LlmError> {
        let base = normalize_host(cfg.base_url.as_deref().unwrap_or(DEFAULT_HOST));
        let hint = "is Ollama running? Start it with `ollama serve` (install: https://ollama.com), or set OLLAMA_HOST to where it listens".to_string();
        Ok(OllamaProvider {
            transport: Transport::new(NAME, base, cfg, sleeper, hint)?,
            model: cfg.model.clone().unwrap_or_else(|| DEFAULT_MODEL.into()),
            max_tokens: cfg.max_tokens,
            structured: cfg.structured_output,
        })
    }

    fn body(&self, req: &ChatRequest, model: &str, stream: bool) -> Value {
        let mut messages = req.messages.clone();
        let mut body = Map::new();
        if let Some(schema) = &req.json_schema {
            messages = with_system_instruction(&messages, &schema_instruction(schema));
            match self.structured {
                StructuredOutput::JsonSchema => body.insert("format".into(), schema.clone()),
                StructuredOutput::JsonObject => body.insert("format".into(), json!("json")),
                StructuredOutput::None => None,
            };
        }
        let mut options = Map::new();
        if let Some(t) = req.temperature {
            options.insert("temperature".into(), json!(t));
        }
        options.insert(
            "num_predict".into(),
            json!(req.max_tokens.unwrap_or(self.max_tokens)),
        );
        body.insert("model".into(), json!(model));
        body.insert("messages".into(), json!(messages));
        body.insert("stream".into(), json!(stream));
        body.insert("options".into(), Value::Object(options));
        Value::Object(body)
    }

    fn send(&self, req: &ChatRequest, stream: bool) -> Result<(Response<Body>, String), LlmError> {
        let model = req.model.clone().unwrap_or_else(|| self.model.clone());
        let body = self.body(req, &model, stream);
        let on_failure = |f: Failure| failure_to_error(f, &model);
        let response = self.transport.post("/api/chat", &[], &body, &on_failure)?;
        Ok((response, model))
    }
}

fn failure_to_error(f: Failure, model: &str) -> LlmError {
    let message = crate::transport::error_message(&f.body);
    if f.status == 404 && message.contains("not found") {
        return LlmError::UnknownModel {
            provider: NAME,
            model: model.to_string(),
            hint: format!("pull it with `ollama pull {model}` (Ollama said: {message})"),
        };
    }
    f.into_error(NAME, None)
}

/// Applies a final (`done`) chunk's counts and reason to the response.
fn finish(out: &mut ChatResponse, chunk: &Chunk) {
    if let Some(model) = &chunk.model {
        out.model = model.clone();
    }
    out.usage = Usage {
        input_tokens: chunk.prompt_eval_count.unwrap_or(0),
        output_tokens: chunk.eval_count.unwrap_or(0),
    };
    out.stop_reason = match chunk.done_reason.as_deref() {
        Some("length") => StopReason::MaxTokens,
        _ => StopReason::Complete,
    };
}

impl LlmProvider for OllamaProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn default_model(&self) -> &str {
        &self.model
    }

    fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let (response, model) = self.send(req, false)?;
        let chunk: Chunk = self.transport.read_json(response)?;
        if let Some(message) = chunk.error {
            return Err(LlmError::Stream {
                provider: NAME,
                message,
            });
        }
        let mut out = ChatResponse {
            model,
            content: chunk
                .message
                .as_ref()
                .map(|m| m.content.clone())
                .unwrap_or_default(),
            ..ChatResponse::default()
        };
        finish(&mut out, &chunk);
        Ok(out)
    }

    fn chat_stream(
        &self,
        req: &ChatRequest,
        on_token: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<ChatResponse, LlmError> {
        let (response, model) = self.send(req, true)?;
        let mut lines = NdjsonReader::new(self.transport.stream_reader(response));
        let mut out = ChatResponse {
            model,
            ..ChatResponse::default()
        };
        loop {
            let chunk: Chunk = match lines.next_value() {
                Ok(Some(chunk)) => chunk,
                Ok(None) => {
                    return Err(LlmError::Connection {
                        provider: NAME,
                        url: self.transport.url("/api/chat"),
                        detail: "the stream ended before the model finished".into(),
                    })
                }
                Err(NdjsonError::Io(e)) => return Err(self.transport.map_io_error(e)),
                Err(NdjsonError::Parse(detail)) => {
                    return Err(LlmError::bad_response(NAME, detail))
                }
            };
            if let Some(message) = chunk.error {
                return Err(LlmError::Stream {
                    provider: NAME,
                    message,
                });
            }
            let piece = chunk.message.as_ref().map_or("", |m| m.content.as_str());
            if !piece.is_empty() {
                out.content.push_str(piece);
                if on_token(piece).is_break() {
                    out.stop_reason = StopReason::Cancelled;
                    return Ok(out);
                }
            }
            if chunk.done {
                finish(&mut out, &chunk);
                return Ok(out);
            }
        }
    }
}

/// Turns an `OLLAMA_HOST`-style value into a base URL the way the Ollama CLI does: no
/// scheme means `http` and port 11434; `0.0.0.0` (a listen address) means this machine.
pub fn normalize_host(raw: &str) -> String {
    let raw = raw.trim().trim_end_matches('/');
    let (scheme, rest, explicit) = match raw.split_once("://") {
        Some((scheme, rest)) => (scheme, rest, true),
        None => ("http", raw, false),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.strip_prefix("0.0.0.0") {
        Some(port) => format!("127.0.0.1{port}"),
        None => authority.to_string(),
    };
    let has_port = match authority.strip_prefix('[') {
        Some(v6) => v6.contains("]:"),
        None => authority.contains(':'),
    };
    let port = if explicit || has_port { "" } else { ":11434" };
    format!("{scheme}://{authority}{port}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_like_the_ollama_cli() {
        let cases = [
            ("127.0.0.1:11434", "http://127.0.0.1:11434"),
            ("gpu-box", "http://gpu-box:11434"),
            ("0.0.0.0", "http://127.0.0.1:11434"),
            ("0.0.0.0:9999", "http://127.0.0.1:9999"),
            ("http://gpu-box", "http://gpu-box"),
            ("https://ollama.example.com/", "https://ollama.example.com"),
            ("http://localhost:11434/", "http://localhost:11434"),
            ("[::1]", "http://[::1]:11434"),
            ("[::1]:8000", "http://[::1]:8000"),
            ("proxy.local/ollama", "http://proxy.local:11434/ollama"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_host(input), want, "{input}");
        }
    }
}
