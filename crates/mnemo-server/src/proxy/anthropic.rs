//! Translation between the OpenAI chat-completions format the proxy speaks to clients and
//! Anthropic's Messages API, for an `[llm] provider = "anthropic"` upstream.
//!
//! Requests: system and developer messages become `system`; user, assistant and tool
//! messages become `messages` (text parts, assistant `tool_calls` as `tool_use` blocks,
//! `tool` messages as `tool_result` blocks); `tools`, `max_tokens` (or
//! `max_completion_tokens`, else the config's), `temperature`, `top_p`, `stop` and
//! `stream` carry over. Fields Anthropic has no equivalent for (`response_format`, `n`,
//! `presence_penalty`, ...) cannot pass through and are dropped.
//!
//! Replies: a message becomes a `chat.completion`; a stream's events
//! (`message_start`, `content_block_*`, `message_delta`, `message_stop`, `error`) become
//! `chat.completion.chunk` events ending with `data: [DONE]`.

use serde_json::{json, Map, Value};

/// The OpenAI request body as an Anthropic Messages body.
pub fn request(openai: &Value, default_max_tokens: u32) -> Value {
    let mut system = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    for m in openai["messages"].as_array().into_iter().flatten() {
        match m["role"].as_str().unwrap_or_default() {
            "system" | "developer" => system.push(text_of(&m["content"])),
            "assistant" => {
                let mut blocks = text_blocks(&m["content"]);
                for call in m["tool_calls"].as_array().into_iter().flatten() {
                    let args = call["function"]["arguments"].as_str().unwrap_or("{}");
                    blocks.push(json!({
                        "type": "tool_use",
                        "id": call["id"],
                        "name": call["function"]["name"],
                        "input": serde_json::from_str::<Value>(args).unwrap_or(json!({})),
                    }));
                }
                push(&mut messages, "assistant", blocks);
            }
            "tool" => push(
                &mut messages,
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": m["tool_call_id"],
                    "content": text_of(&m["content"]),
                })],
            ),
            _ => push(&mut messages, "user", text_blocks(&m["content"])),
        }
    }
    let mut out = Map::new();
    out.insert("model".into(), openai["model"].clone());
    out.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        out.insert("system".into(), Value::String(system.join("\n\n")));
    }
    let max = openai
        .get("max_tokens")
        .or_else(|| openai.get("max_completion_tokens"))
        .filter(|v| v.is_u64())
        .cloned()
        .unwrap_or(json!(default_max_tokens));
    out.insert("max_tokens".into(), max);
    for key in ["temperature", "top_p", "stream"] {
        if let Some(v) = openai.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    match &openai["stop"] {
        Value::String(s) => {
            out.insert("stop_sequences".into(), json!([s]));
        }
        Value::Array(a) => {
            out.insert("stop_sequences".into(), Value::Array(a.clone()));
        }
        _ => {}
    }
    if let Some(tools) = openai["tools"].as_array().filter(|t| !t.is_empty()) {
        let tools: Vec<Value> = tools
            .iter()
            .map(|t| {
                json!({
                    "name": t["function"]["name"],
                    "description": t["function"]["description"],
                    "input_schema": t["function"].get("parameters").cloned()
                        .unwrap_or(json!({"type": "object"})),
                })
            })
            .collect();
        out.insert("tools".into(), Value::Array(tools));
    }
    Value::Object(out)
}

/// Appends blocks to the conversation, merging consecutive turns of one role (Anthropic
/// wants them alternating).
fn push(messages: &mut Vec<Value>, role: &str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    if let Some(last) = messages.last_mut().filter(|m| m["role"] == role) {
        if let Some(content) = last["content"].as_array_mut() {
            content.extend(blocks);
            return;
        }
    }
    messages.push(json!({"role": role, "content": blocks}));
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn text_blocks(content: &Value) -> Vec<Value> {
    let text = text_of(content);
    if text.is_empty() {
        Vec::new()
    } else {
        vec![json!({"type": "text", "text": text})]
    }
}

fn finish_reason(stop: &Value) -> Value {
    match stop.as_str() {
        Some("max_tokens") => json!("length"),
        Some("tool_use") => json!("tool_calls"),
        Some(_) => json!("stop"),
        None => Value::Null,
    }
}

/// An Anthropic message as a `chat.completion`.
pub fn response(msg: &Value, created: i64) -> Value {
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in msg["content"].as_array().into_iter().flatten() {
        match block["type"].as_str() {
            Some("text") => text.push_str(block["text"].as_str().unwrap_or_default()),
            Some("tool_use") => calls.push(json!({
                "id": block["id"],
                "type": "function",
                "function": {"name": block["name"], "arguments": block["input"].to_string()},
            })),
            _ => {}
        }
    }
    let mut message = json!({"role": "assistant", "content": text});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let input = msg["usage"]["input_tokens"].as_u64().unwrap_or(0);
    let output = msg["usage"]["output_tokens"].as_u64().unwrap_or(0);
    json!({
        "id": msg["id"],
        "object": "chat.completion",
        "created": created,
        "model": msg["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(&msg["stop_reason"])}],
        "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output},
    })
}

/// Turns Anthropic stream events into OpenAI chunk events.
pub struct StreamTranslator {
    id: String,
    model: String,
    created: i64,
    /// Anthropic content-block index → OpenAI tool-call index.
    tool_index: Vec<(u64, usize)>,
    /// Input tokens, from `message_start`.
    input_tokens: u64,
}

impl StreamTranslator {
    pub fn new(created: i64) -> Self {
        StreamTranslator {
            id: String::new(),
            model: String::new(),
            created,
            tool_index: Vec::new(),
            input_tokens: 0,
        }
    }

    /// The OpenAI SSE text for one Anthropic event (its `data:` JSON); may be empty.
    pub fn event(&mut self, data: &str) -> String {
        let Ok(ev) = serde_json::from_str::<Value>(data) else {
            return String::new();
        };
        match ev["type"].as_str().unwrap_or_default() {
            "message_start" => {
                self.id = ev["message"]["id"].as_str().unwrap_or("msg").to_owned();
                self.model = ev["message"]["model"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                self.input_tokens = ev["message"]["usage"]["input_tokens"].as_u64().unwrap_or(0);
                self.chunk(json!({"role": "assistant", "content": ""}), Value::Null)
            }
            "content_block_start" if ev["content_block"]["type"] == "tool_use" => {
                let n = self.tool_index.len();
                self.tool_index.push((ev["index"].as_u64().unwrap_or(0), n));
                let b = &ev["content_block"];
                self.chunk(
                    json!({"tool_calls": [{"index": n, "id": b["id"], "type": "function",
                        "function": {"name": b["name"], "arguments": ""}}]}),
                    Value::Null,
                )
            }
            "content_block_delta" => match ev["delta"]["type"].as_str() {
                Some("text_delta") => {
                    self.chunk(json!({"content": ev["delta"]["text"]}), Value::Null)
                }
                Some("input_json_delta") => {
                    let block = ev["index"].as_u64().unwrap_or(0);
                    let n = self
                        .tool_index
                        .iter()
                        .find(|(b, _)| *b == block)
                        .map_or(0, |(_, n)| *n);
                    self.chunk(
                        json!({"tool_calls": [{"index": n,
                            "function": {"arguments": ev["delta"]["partial_json"]}}]}),
                        Value::Null,
                    )
                }
                _ => String::new(),
            },
            // The finish chunk, then the call's usage in a chunk of its own with no choices,
            // as OpenAI's `stream_options.include_usage` sends it.
            "message_delta" => {
                let output = ev["usage"]["output_tokens"].as_u64().unwrap_or(0);
                let mut usage = self.chunk_value(json!({}), Value::Null);
                usage["choices"] = json!([]);
                usage["usage"] = json!({"prompt_tokens": self.input_tokens,
                    "completion_tokens": output, "total_tokens": self.input_tokens + output});
                let finish = self.chunk(json!({}), finish_reason(&ev["delta"]["stop_reason"]));
                format!("{finish}data: {usage}\n\n")
            }
            "message_stop" => "data: [DONE]\n\n".into(),
            "error" => {
                let e = &ev["error"];
                format!(
                    "data: {}\n\n",
                    json!({"error": {"message": e["message"], "type": e["type"], "param": null, "code": e["type"]}})
                )
            }
            _ => String::new(),
        }
    }

    fn chunk(&self, delta: Value, finish: Value) -> String {
        format!("data: {}\n\n", self.chunk_value(delta, finish))
    }

    fn chunk_value(&self, delta: Value, finish: Value) -> Value {
        json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_becomes_a_messages_body() {
        let body = json!({
            "model": "claude-x", "max_tokens": 50, "temperature": 0.2, "stop": "END",
            "messages": [
                {"role": "system", "content": "Be brief.\n\n<memory>dark mode</memory>"},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                    "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
                {"role": "user", "content": [{"type": "text", "text": "and?"}]}
            ],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
        });
        let a = request(&body, 1024);
        assert_eq!(a["system"], "Be brief.\n\n<memory>dark mode</memory>");
        assert_eq!(a["max_tokens"], 50);
        assert_eq!(a["stop_sequences"], json!(["END"]));
        let roles: Vec<&str> = a["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["user", "assistant", "user"]);
        assert_eq!(a["messages"][1]["content"][0]["input"], json!({"a": 1}));
        assert_eq!(a["messages"][2]["content"][0]["type"], "tool_result");
        assert_eq!(a["messages"][2]["content"][1]["text"], "and?");
        assert_eq!(a["tools"][0]["input_schema"], json!({"type": "object"}));
        assert_eq!(request(&json!({"messages": []}), 1024)["max_tokens"], 1024);
    }

    #[test]
    fn a_stream_becomes_chunks_ending_with_done() {
        let mut t = StreamTranslator::new(0);
        let out: String = [
            r#"{"type":"message_start","message":{"id":"m1","model":"claude-x"}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Dark"}}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1}}"#,
            r#"{"type":"message_stop"}"#,
        ]
        .iter()
        .map(|e| t.event(e))
        .collect();
        assert!(out.contains(r#""content":"Dark""#), "{out}");
        assert!(out.contains(r#""finish_reason":"stop""#), "{out}");
        assert!(out.ends_with("data: [DONE]\n\n"), "{out}");
    }
}
