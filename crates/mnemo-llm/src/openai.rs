//! OpenAI's Chat Completions API (`POST {base}/chat/completions`), which is also what
//! llama.cpp, vLLM, LM Studio and most hosted gateways speak, so the base URL is
//! configurable and the key is only required for api.openai.com. Streaming is SSE:
//! `data: {chunk}` lines with `choices[0].delta.content`, a usage-only chunk (asked for with
//! `stream_options.include_usage`) and `data: [DONE]`. Structured output uses
//! `response_format: json_schema` (strict) or, for servers that reject it, `json_object`
//! or nothing (see [`StructuredOutput`]).
//!
//! The default model `gpt-4o-mini` is only assumed for OpenAI itself: a compatible server
//! with no model configured is asked which it serves (`GET {base}/models`, the first one
//! listed, once per process), because vLLM, LM Studio and llama.cpp serving several models
//! reject a name they do not serve.

use std::ops::ControlFlow;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use serde_json::{json, Map, Value};
use ureq::http::Response;
use ureq::Body;

use crate::retry::Sleeper;
use crate::sse::SseReader;
use crate::structured::{schema_instruction, with_system_instruction};
use crate::transport::{error_message, host_of, trim_base, Failure, Transport};
use crate::{
    ChatRequest, ChatResponse, LlmConfig, LlmError, LlmProvider, StopReason, StructuredOutput,
    Usage,
};

const NAME: &str = "openai";
const KEY_VAR: &str = "OPENAI_API_KEY";
/// OpenAI's own endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Cheap, fast, and good at structured output.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

/// A client for OpenAI or an OpenAI-compatible server.
pub struct OpenAiProvider {
    transport: Transport,
    auth: Option<String>,
    /// OpenAI itself wants `max_completion_tokens` (its reasoning models reject
    /// `max_tokens`); compatible servers mostly know only `max_tokens`.
    max_tokens_field: &'static str,
    /// The configured model, or OpenAI's default for OpenAI itself; `None` for another
    /// server with no model configured (then [`Self::discovered`]).
    model: Option<String>,
    /// The model the server listed first, asked on first use.
    discovered: OnceLock<String>,
    max_tokens: u32,
    structured: StructuredOutput,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Completion {
    model: Option<String>,
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
    error: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Choice {
    /// Present in non-streaming replies.
    message: Option<Delta>,
    /// Present in streamed chunks.
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Delta {
    content: Option<String>,
    refusal: Option<String>,
}

/// `GET /models`: `{"object": "list", "data": [{"id": "..."}, ...]}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ModelList {
    data: Vec<ModelEntry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ModelEntry {
    id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireUsage {
    prompt_tokens: u32,
    completion_tokens: u32,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Usage {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
        }
    }
}

impl OpenAiProvider {
    /// A provider for `cfg.base_url` or api.openai.com. Fails without a key only when the
    /// URL is OpenAI's own.
    pub fn new(cfg: &LlmConfig, sleeper: Arc<dyn Sleeper>) -> Result<Self, LlmError> {
        let base = trim_base(cfg.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL));
        let key = cfg.api_key.as_ref().map(|k| k.expose().to_string());
        let official = host_of(&base).eq_ignore_ascii_case("api.openai.com");
        if key.is_none() && official {
            return Err(LlmError::MissingApiKey {
                provider: NAME,
                env_var: KEY_VAR,
            });
        }
        let hint = "check OPENAI_BASE_URL; for a local server (llama.cpp, vLLM, LM Studio) make sure it is running".to_string();
        Ok(OpenAiProvider {
            transport: Transport::new(NAME, base, cfg, sleeper, hint)?,
            auth: key.map(|k| format!("Bearer {k}")),
            max_tokens_field: if official {
                "max_completion_tokens"
            } else {
                "max_tokens"
            },
            model: cfg
                .model
                .clone()
                .or_else(|| official.then(|| DEFAULT_MODEL.into())),
            discovered: OnceLock::new(),
            max_tokens: cfg.max_tokens,
            structured: cfg.structured_output,
        })
    }

    /// The model to use when a request names none: the configured one, else the first
    /// model the server lists (asked once).
    fn resolve_model(&self) -> Result<String, LlmError> {
        if let Some(m) = self.model.as_ref().or(self.discovered.get()) {
            return Ok(m.clone());
        }
        let mut headers = Vec::new();
        if let Some(auth) = &self.auth {
            headers.push(("authorization", auth.as_str()));
        }
        let url = self.transport.url("/models");
        let on_failure = |f: Failure| f.into_error(NAME, Some(KEY_VAR));
        let response = self.transport.get("/models", &headers, &on_failure)?;
        let list: ModelList = self.transport.read_json(response)?;
        let Some(first) = list
            .data
            .into_iter()
            .map(|m| m.id)
            .find(|id| !id.is_empty())
        else {
            return Err(LlmError::Config(format!(
                "no model is configured and the server lists none at {url}; \
                 set `model` in [llm] or MNEMO_MODEL"
            )));
        };
        Ok(self.discovered.get_or_init(|| first).clone())
    }

    fn body(&self, req: &ChatRequest, model: &str, stream: bool) -> Value {
        let mut body = Map::new();
        let mut messages = req.messages.clone();
        if let Some(schema) = &req.json_schema {
            let format = match self.structured {
                StructuredOutput::JsonSchema => Some(json!({
                    "type": "json_schema",
                    "json_schema": {"name": schema_name(schema), "schema": schema, "strict": true},
                })),
                StructuredOutput::JsonObject => Some(json!({"type": "json_object"})),
                StructuredOutput::None => None,
            };
            if self.structured != StructuredOutput::JsonSchema {
                messages = with_system_instruction(&messages, &schema_instruction(schema));
            }
            if let Some(format) = format {
                body.insert("response_format".into(), format);
            }
        }
        body.insert("model".into(), json!(model));
        body.insert("messages".into(), json!(messages));
        body.insert("stream".into(), json!(stream));
        if stream {
            body.insert("stream_options".into(), json!({"include_usage": true}));
        }
        if let Some(t) = req.temperature {
            body.insert("temperature".into(), json!(t));
        }
        let max_tokens = req.max_tokens.unwrap_or(self.max_tokens);
        body.insert(self.max_tokens_field.into(), json!(max_tokens));
        Value::Object(body)
    }

    fn send(&self, req: &ChatRequest, stream: bool) -> Result<(Response<Body>, String), LlmError> {
        let model = match &req.model {
            Some(m) => m.clone(),
            None => self.resolve_model()?,
        };
        let body = self.body(req, &model, stream);
        let mut headers = Vec::new();
        if let Some(auth) = &self.auth {
            headers.push(("authorization", auth.as_str()));
        }
        let on_failure = |f: Failure| failure_to_error(f, &model);
        let response = self
            .transport
            .post("/chat/completions", &headers, &body, &on_failure)?;
        Ok((response, model))
    }

    fn stream_error(&self, error: &Value) -> LlmError {
        LlmError::Stream {
            provider: NAME,
            message: error_message(&json!({ "error": error }).to_string()),
        }
    }
}

/// The `json_schema.name` OpenAI requires (`[a-zA-Z0-9_-]{1,64}`): the schema's `title`
/// when it fits, else `"response"`.
fn schema_name(schema: &Value) -> String {
    let title: String = schema
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if title.trim_matches('_').is_empty() {
        "response".into()
    } else {
        title
    }
}

fn failure_to_error(f: Failure, model: &str) -> LlmError {
    let code = serde_json::from_str::<Value>(&f.body).ok().and_then(|v| {
        v.pointer("/error/code")
            .and_then(Value::as_str)
            .map(String::from)
    });
    let message = error_message(&f.body);
    let model_missing = code.as_deref() == Some("model_not_found")
        || (f.status == 404 && message.to_ascii_lowercase().contains("model"));
    if model_missing {
        return LlmError::UnknownModel {
            provider: NAME,
            model: model.to_string(),
            hint: format!("check the model name (`model` in [llm] or MNEMO_MODEL); the server said: {message}"),
        };
    }
    f.into_error(NAME, Some(KEY_VAR))
}

fn stop_reason(finish: Option<&str>) -> StopReason {
    match finish {
        Some("length") => StopReason::MaxTokens,
        _ => StopReason::Complete,
    }
}

impl LlmProvider for OpenAiProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn default_model(&self) -> &str {
        self.model
            .as_deref()
            .or(self.discovered.get().map(String::as_str))
            .unwrap_or("(the server's first model)")
    }

    fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let (response, model) = self.send(req, false)?;
        let completion: Completion = self.transport.read_json(response)?;
        let choice = completion
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| LlmError::bad_response(NAME, "the reply has no choices"))?;
        let message = choice.message.unwrap_or_default();
        if let (None, Some(refusal)) = (&message.content, message.refusal) {
            return Err(LlmError::bad_response(
                NAME,
                format!("the model refused: {refusal}"),
            ));
        }
        Ok(ChatResponse {
            content: message.content.unwrap_or_default(),
            model: completion.model.unwrap_or(model),
            usage: completion.usage.map(Usage::from).unwrap_or_default(),
            stop_reason: stop_reason(choice.finish_reason.as_deref()),
        })
    }

    fn chat_stream(
        &self,
        req: &ChatRequest,
        on_token: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<ChatResponse, LlmError> {
        let (response, model) = self.send(req, true)?;
        let mut events = SseReader::new(self.transport.stream_reader(response));
        let mut out = ChatResponse {
            model,
            ..ChatResponse::default()
        };
        let mut finished = false;
        loop {
            let event = match events.next_event() {
                Ok(Some(event)) => event,
                Ok(None) if finished => return Ok(out),
                Ok(None) => {
                    return Err(LlmError::Connection {
                        provider: NAME,
                        url: self.transport.url("/chat/completions"),
                        detail: "the stream ended before [DONE]".into(),
                    })
                }
                Err(e) => return Err(self.transport.map_io_error(e)),
            };
            if event.data.trim() == "[DONE]" {
                return Ok(out);
            }
            let chunk: Completion = serde_json::from_str(&event.data).map_err(|e| {
                LlmError::bad_response(NAME, format!("{e} in stream chunk `{}`", event.data))
            })?;
            if let Some(error) = &chunk.error {
                return Err(self.stream_error(error));
            }
            if let Some(m) = chunk.model {
                out.model = m;
            }
            if let Some(usage) = chunk.usage {
                out.usage = usage.into();
            }
            for choice in chunk.choices {
                if let Some(reason) = choice.finish_reason.as_deref() {
                    out.stop_reason = stop_reason(Some(reason));
                    finished = true;
                }
                let piece = choice.delta.and_then(|d| d.content).unwrap_or_default();
                if piece.is_empty() {
                    continue;
                }
                out.content.push_str(&piece);
                if on_token(&piece).is_break() {
                    out.stop_reason = StopReason::Cancelled;
                    return Ok(out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_official_api_gets_max_completion_tokens() {
        let cfg = |url: &str| LlmConfig {
            provider: crate::ProviderKind::OpenAi,
            base_url: Some(url.into()),
            api_key: Some(crate::ApiKey::new("sk")),
            ..LlmConfig::default()
        };
        let req = ChatRequest::default().with_max_tokens(99);
        let sleeper: Arc<dyn Sleeper> = Arc::new(crate::ThreadSleeper);
        let official = OpenAiProvider::new(&cfg(DEFAULT_BASE_URL), sleeper.clone()).unwrap();
        let body = official.body(&req, "m", false);
        assert_eq!(
            (body.get("max_tokens"), &body["max_completion_tokens"]),
            (None, &json!(99))
        );
        let local = OpenAiProvider::new(&cfg("http://127.0.0.1:8080/v1"), sleeper).unwrap();
        assert_eq!(local.body(&req, "m", false)["max_tokens"], 99);
    }

    #[test]
    fn schema_names_fit_openai_rules() {
        assert_eq!(schema_name(&json!({"title": "Memory list"})), "Memory_list");
        assert_eq!(schema_name(&json!({"type": "object"})), "response");
        assert_eq!(schema_name(&json!({"title": "!!"})), "response");
        assert_eq!(schema_name(&json!({"title": "x".repeat(99)})).len(), 64);
    }
}
