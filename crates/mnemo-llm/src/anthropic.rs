//! Anthropic's Messages API (`POST {base}/v1/messages`). It differs from the others in
//! three ways this module absorbs: the system prompt is a top-level `system` field,
//! `max_tokens` is required, and there is no JSON mode, so structured output is a forced
//! tool call whose `input` (already parsed JSON) becomes the reply. Streaming is SSE with
//! typed events (`message_start`, `content_block_delta`, `message_delta`, `message_stop`,
//! `error`).

use std::ops::ControlFlow;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Map, Value};
use ureq::http::Response;
use ureq::Body;

use crate::retry::Sleeper;
use crate::sse::SseReader;
use crate::structured::{schema_instruction, with_system_instruction};
use crate::transport::{error_message, host_of, trim_base, Failure, Transport};
use crate::{
    ChatRequest, ChatResponse, LlmConfig, LlmError, LlmProvider, Role, StopReason,
    StructuredOutput, Usage,
};

const NAME: &str = "anthropic";
const KEY_VAR: &str = "ANTHROPIC_API_KEY";
const API_VERSION: &str = "2023-06-01";
/// The name of the forced tool that carries structured output.
const TOOL: &str = "respond";
/// Anthropic's endpoint (without `/v1`).
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// A capable default; set `model` for a cheaper one (e.g. for extraction).
pub const DEFAULT_MODEL: &str = "claude-sonnet-4-5";

/// A client for the Anthropic Messages API.
pub struct AnthropicProvider {
    transport: Transport,
    key: Option<String>,
    model: String,
    max_tokens: u32,
    structured: StructuredOutput,
}

/// How the reply's content is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Text,
    /// Forced tool call; `wrapped` when a non-object schema was put under `value`.
    Tool {
        wrapped: bool,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Message {
    model: Option<String>,
    content: Vec<Block>,
    stop_reason: Option<String>,
    usage: WireUsage,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
    name: Option<String>,
    input: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireUsage {
    input_tokens: Option<u32>,
    output_tokens: Option<u32>,
}

/// Any streamed event; only the fields of the event's `type` are present.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    message: Option<Message>,
    delta: Option<EventDelta>,
    usage: Option<WireUsage>,
    error: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EventDelta {
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<String>,
    partial_json: Option<String>,
    stop_reason: Option<String>,
}

impl AnthropicProvider {
    /// A provider for `cfg.base_url` or api.anthropic.com. The key is required for the
    /// real API; a different base URL (a gateway, a test server) may go without.
    pub fn new(cfg: &LlmConfig, sleeper: Arc<dyn Sleeper>) -> Result<Self, LlmError> {
        let mut base = trim_base(cfg.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL));
        if let Some(stripped) = base.strip_suffix("/v1") {
            base = stripped.to_string();
        }
        let key = cfg.api_key.as_ref().map(|k| k.expose().to_string());
        if key.is_none() && host_of(&base).eq_ignore_ascii_case("api.anthropic.com") {
            return Err(LlmError::MissingApiKey {
                provider: NAME,
                env_var: KEY_VAR,
            });
        }
        let hint = "check the network, or ANTHROPIC_BASE_URL".to_string();
        Ok(AnthropicProvider {
            transport: Transport::new(NAME, base, cfg, sleeper, hint)?,
            key,
            model: cfg.model.clone().unwrap_or_else(|| DEFAULT_MODEL.into()),
            max_tokens: cfg.max_tokens,
            structured: cfg.structured_output,
        })
    }

    fn body(&self, req: &ChatRequest, model: &str, stream: bool) -> (Value, Mode) {
        let mut body = Map::new();
        let mut messages = req.messages.clone();
        let mut mode = Mode::Text;
        if let Some(schema) = &req.json_schema {
            if self.structured == StructuredOutput::None {
                messages = with_system_instruction(&messages, &schema_instruction(schema));
            } else {
                let (input_schema, wrapped) = object_schema(schema);
                body.insert("tools".into(), tool_definition(input_schema));
                body.insert("tool_choice".into(), json!({"type": "tool", "name": TOOL}));
                mode = Mode::Tool { wrapped };
            }
        }
        let system: Vec<&str> = messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.content.as_str())
            .collect();
        if !system.is_empty() {
            body.insert("system".into(), json!(system.join("\n\n")));
        }
        let turns: Vec<Value> = messages
            .iter()
            .filter(|m| m.role != Role::System)
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        body.insert("model".into(), json!(model));
        body.insert("messages".into(), Value::Array(turns));
        body.insert(
            "max_tokens".into(),
            json!(req.max_tokens.unwrap_or(self.max_tokens)),
        );
        if let Some(t) = req.temperature {
            body.insert("temperature".into(), json!(t));
        }
        body.insert("stream".into(), json!(stream));
        (Value::Object(body), mode)
    }

    fn send(
        &self,
        req: &ChatRequest,
        stream: bool,
    ) -> Result<(Response<Body>, String, Mode), LlmError> {
        let model = req.model.clone().unwrap_or_else(|| self.model.clone());
        let (body, mode) = self.body(req, &model, stream);
        let mut headers = vec![("anthropic-version", API_VERSION)];
        if let Some(key) = &self.key {
            headers.push(("x-api-key", key.as_str()));
        }
        let on_failure = |f: Failure| failure_to_error(f, &model);
        let response = self
            .transport
            .post("/v1/messages", &headers, &body, &on_failure)?;
        Ok((response, model, mode))
    }

    fn stream_error(error: Option<&Value>) -> LlmError {
        let body = json!({ "error": error.cloned().unwrap_or(Value::Null) }).to_string();
        LlmError::Stream {
            provider: NAME,
            message: error_message(&body),
        }
    }
}

/// Tool input schemas must be objects: anything else is wrapped as `{value: schema}`.
fn object_schema(schema: &Value) -> (Value, bool) {
    let is_object = schema.get("type").and_then(Value::as_str) == Some("object")
        || (schema.get("type").is_none() && schema.get("properties").is_some());
    if is_object {
        (schema.clone(), false)
    } else {
        let wrapped = json!({
            "type": "object",
            "properties": {"value": schema},
            "required": ["value"],
        });
        (wrapped, true)
    }
}

/// The `tools` array with the one tool that carries structured output.
fn tool_definition(input_schema: Value) -> Value {
    json!([{
        "name": TOOL,
        "description": "Give the answer as structured data following the input schema.",
        "input_schema": input_schema,
    }])
}

/// The JSON text of a tool input, unwrapping `value` when the schema was wrapped.
fn tool_content(input: Value, wrapped: bool) -> String {
    let value = match (wrapped, input) {
        (true, Value::Object(mut map)) => map.remove("value").unwrap_or(Value::Null),
        (_, other) => other,
    };
    value.to_string()
}

fn failure_to_error(f: Failure, model: &str) -> LlmError {
    let kind = serde_json::from_str::<Value>(&f.body).ok().and_then(|v| {
        v.pointer("/error/type")
            .and_then(Value::as_str)
            .map(String::from)
    });
    let message = error_message(&f.body);
    if f.status == 404 && kind.as_deref() == Some("not_found_error") && message.contains("model") {
        return LlmError::UnknownModel {
            provider: NAME,
            model: model.to_string(),
            hint: format!(
                "check the model name (`model` in [llm] or MNEMO_MODEL); Anthropic said: {message}"
            ),
        };
    }
    f.into_error(NAME, Some(KEY_VAR))
}

fn stop_reason(reason: Option<&str>) -> StopReason {
    match reason {
        Some("max_tokens") => StopReason::MaxTokens,
        _ => StopReason::Complete,
    }
}

/// What the stream loop does after an event.
enum Flow {
    More,
    Done,
    Cancelled,
}

/// Folds one streamed event into `out`, handing text (or tool JSON) to `on_token`.
fn apply_event(
    event: Event,
    out: &mut ChatResponse,
    on_token: &mut dyn FnMut(&str) -> ControlFlow<()>,
) -> Result<Flow, LlmError> {
    match event.kind.as_str() {
        "message_start" => {
            if let Some(message) = event.message {
                out.model = message.model.unwrap_or(std::mem::take(&mut out.model));
                out.usage.input_tokens = message.usage.input_tokens.unwrap_or(0);
                out.usage.output_tokens = message.usage.output_tokens.unwrap_or(0);
            }
        }
        "content_block_delta" => {
            let delta = event.delta.unwrap_or_default();
            let piece = match delta.kind.as_deref() {
                Some("text_delta") => delta.text,
                Some("input_json_delta") => delta.partial_json,
                _ => None,
            };
            if let Some(piece) = piece.filter(|p| !p.is_empty()) {
                out.content.push_str(&piece);
                if on_token(&piece).is_break() {
                    return Ok(Flow::Cancelled);
                }
            }
        }
        "message_delta" => {
            if let Some(reason) = event.delta.and_then(|d| d.stop_reason) {
                out.stop_reason = stop_reason(Some(&reason));
            }
            if let Some(usage) = event.usage {
                let u = &mut out.usage;
                u.output_tokens = usage.output_tokens.unwrap_or(u.output_tokens);
                u.input_tokens = usage.input_tokens.unwrap_or(u.input_tokens);
            }
        }
        "message_stop" => return Ok(Flow::Done),
        "error" => return Err(AnthropicProvider::stream_error(event.error.as_ref())),
        _ => {} // ping, content_block_start/stop, future event types
    }
    Ok(Flow::More)
}

impl LlmProvider for AnthropicProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn default_model(&self) -> &str {
        &self.model
    }

    fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let (response, model, mode) = self.send(req, false)?;
        let message: Message = self.transport.read_json(response)?;
        let content = match mode {
            Mode::Text => message
                .content
                .iter()
                .filter_map(|b| (b.kind == "text").then_some(b.text.as_deref()).flatten())
                .collect::<String>(),
            Mode::Tool { wrapped } => {
                let input = message
                    .content
                    .into_iter()
                    .find(|b| b.kind == "tool_use" && b.name.as_deref() == Some(TOOL))
                    .and_then(|b| b.input)
                    .ok_or_else(|| {
                        LlmError::bad_response(NAME, "no `respond` tool call in the reply")
                    })?;
                tool_content(input, wrapped)
            }
        };
        Ok(ChatResponse {
            content,
            model: message.model.unwrap_or(model),
            usage: Usage {
                input_tokens: message.usage.input_tokens.unwrap_or(0),
                output_tokens: message.usage.output_tokens.unwrap_or(0),
            },
            stop_reason: stop_reason(message.stop_reason.as_deref()),
        })
    }

    fn chat_stream(
        &self,
        req: &ChatRequest,
        on_token: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<ChatResponse, LlmError> {
        let (response, model, mode) = self.send(req, true)?;
        let mut events = SseReader::new(self.transport.stream_reader(response));
        let mut out = ChatResponse {
            model,
            ..ChatResponse::default()
        };
        loop {
            let sse = match events.next_event() {
                Ok(Some(sse)) => sse,
                Ok(None) => {
                    return Err(LlmError::Connection {
                        provider: NAME,
                        url: self.transport.url("/v1/messages"),
                        detail: "the stream ended before message_stop".into(),
                    })
                }
                Err(e) => return Err(self.transport.map_io_error(e)),
            };
            let event: Event = serde_json::from_str(&sse.data).map_err(|e| {
                LlmError::bad_response(NAME, format!("{e} in `{}` event `{}`", sse.event, sse.data))
            })?;
            match apply_event(event, &mut out, on_token)? {
                Flow::More => {}
                Flow::Done => break,
                Flow::Cancelled => {
                    out.stop_reason = StopReason::Cancelled;
                    return Ok(out);
                }
            }
        }
        if let Mode::Tool { wrapped: true } = mode {
            let input: Value = serde_json::from_str(&out.content).map_err(|e| {
                LlmError::bad_response(NAME, format!("the streamed tool input is not JSON: {e}"))
            })?;
            out.content = tool_content(input, true);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_object_schemas_are_wrapped_and_unwrapped() {
        let obj = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        assert_eq!(object_schema(&obj), (obj.clone(), false));
        let untyped = json!({"properties": {}});
        assert!(!object_schema(&untyped).1);
        let arr = json!({"type": "array", "items": {"type": "string"}});
        let (wrapped, was) = object_schema(&arr);
        assert!(was);
        assert_eq!(wrapped["properties"]["value"], arr);
        assert_eq!(
            tool_content(json!({"value": ["a", "b"]}), true),
            r#"["a","b"]"#
        );
        assert_eq!(tool_content(json!({"a": 1}), false), r#"{"a":1}"#);
    }
}
