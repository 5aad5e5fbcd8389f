//! Anthropic `/v1/messages`: `x-api-key` and `anthropic-version` headers, top-level
//! `system`, required `max_tokens`, typed SSE events, structured output as a forced tool
//! call, and `{"type":"error","error":{...}}` bodies and events.

use std::time::{Duration, Instant};

use mnemo_llm::{LlmConfig, LlmError, LlmProvider, ProviderKind, StopReason, Usage};
use serde_json::{json, Value};

use crate::server::{closed_port_url, FakeServer, Reply};
use crate::{build, config, hello, memory_schema, stream};

fn message(content: Value, stop: &str) -> Value {
    json!({
        "id": "msg_1", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content,
        "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": 30, "output_tokens": 7}
    })
}

fn event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn sse(deltas: &[Value], stop: &str) -> String {
    let mut text = event(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "content": [],
            "model": "claude-sonnet-4-5-20250929", "stop_reason": null,
            "usage": {"input_tokens": 30, "output_tokens": 1}
        }}),
    );
    text += &event(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    );
    text += &event("ping", json!({"type": "ping"}));
    for d in deltas {
        text += &event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": d}),
        );
    }
    text += &event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    );
    text += &event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 9}}),
    );
    text += &event("message_stop", json!({"type": "message_stop"}));
    text
}

fn text_deltas(tokens: &[&str]) -> Vec<Value> {
    tokens
        .iter()
        .map(|t| json!({"type": "text_delta", "text": t}))
        .collect()
}

fn anthropic(server: &FakeServer) -> Box<dyn LlmProvider> {
    build(&config(ProviderKind::Anthropic, &server.url)).0
}

#[test]
fn chat_sends_headers_top_level_system_and_max_tokens() {
    let content = json!([{"type": "text", "text": "Hello"}, {"type": "text", "text": " there"}]);
    let server = FakeServer::start(vec![Reply::json(200, &message(content, "end_turn"))]);
    let provider = anthropic(&server);
    assert_eq!(
        (provider.name(), provider.default_model()),
        ("anthropic", "claude-sonnet-4-5")
    );
    let reply = provider.chat(&hello()).unwrap();
    assert_eq!(reply.content, "Hello there");
    assert_eq!(reply.model, "claude-sonnet-4-5-20250929");
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 30,
            output_tokens: 7
        }
    );
    let got = server.single();
    assert_eq!(got.path, "/v1/messages");
    assert_eq!(got.header("x-api-key"), Some("sk-test-key"));
    assert_eq!(got.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(got.header("authorization"), None);
    assert_eq!(
        got.body,
        json!({
            "model": "claude-sonnet-4-5",
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "Hello?"}],
            "max_tokens": 1024,
            "stream": false
        })
    );
}

#[test]
fn stream_assembles_text_deltas_split_mid_line() {
    let tokens = ["Bon", "jour", " à", " vous"];
    let server = FakeServer::start(vec![Reply::stream(
        "text/event-stream",
        &sse(&text_deltas(&tokens), "max_tokens"),
        13,
    )]);
    let (result, got) = stream(anthropic(&server).as_ref(), &hello(), None);
    let reply = result.unwrap();
    assert_eq!(got, tokens);
    assert_eq!(reply.content, "Bonjour à vous");
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 30,
            output_tokens: 9
        }
    );
    assert_eq!(reply.stop_reason, StopReason::MaxTokens);
    assert_eq!(server.single().body["stream"], true);
}

#[test]
fn cancel_mid_stream() {
    let all = sse(&text_deltas(&["one", "two", "three"]), "end_turn");
    let pieces = all.split_inclusive("\n\n").map(String::from).collect();
    let reply = Reply::stream_pieces("text/event-stream", pieces, Duration::from_millis(5))
        .held(Duration::from_secs(3));
    let server = FakeServer::start(vec![reply]);
    let started = Instant::now();
    let (result, got) = stream(anthropic(&server).as_ref(), &hello(), Some(2));
    let reply = result.unwrap();
    assert_eq!(got, ["one", "two"]);
    assert_eq!(reply.stop_reason, StopReason::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn structured_output_is_a_forced_tool_call() {
    let content = json!([{"type": "tool_use", "id": "toolu_1", "name": "respond",
                          "input": {"facts": ["likes tea"]}}]);
    let server = FakeServer::start(vec![Reply::json(200, &message(content, "tool_use"))]);
    let value = anthropic(&server)
        .chat_json(&hello().with_json_schema(memory_schema()))
        .unwrap();
    assert_eq!(value, json!({"facts": ["likes tea"]}));
    let body = server.single().body;
    assert_eq!(body["tools"][0]["name"], "respond");
    assert_eq!(body["tools"][0]["input_schema"], memory_schema());
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "respond"})
    );
    assert_eq!(body["system"], "Be brief.");
}

#[test]
fn streamed_structured_output_with_a_non_object_schema_is_unwrapped() {
    let deltas = [
        json!({"type": "input_json_delta", "partial_json": ""}),
        json!({"type": "input_json_delta", "partial_json": "{\"value\": [\"a\","}),
        json!({"type": "input_json_delta", "partial_json": " \"b\"]}"}),
    ];
    let server = FakeServer::start(vec![Reply::stream(
        "text/event-stream",
        &sse(&deltas, "tool_use"),
        17,
    )]);
    let schema = json!({"type": "array", "items": {"type": "string"}});
    let (result, got) = stream(
        anthropic(&server).as_ref(),
        &hello().with_json_schema(schema.clone()),
        None,
    );
    let reply = result.unwrap();
    assert_eq!(got.len(), 2, "empty pieces are not handed out");
    assert_eq!(reply.content, r#"["a","b"]"#);
    let body = server.single().body;
    assert_eq!(
        body["tools"][0]["input_schema"]["properties"]["value"],
        schema
    );
}

#[test]
fn error_body_message_is_extracted() {
    let body = json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}});
    let server = FakeServer::start(vec![Reply::json(401, &body)]);
    let (provider, sleeper) = build(&config(ProviderKind::Anthropic, &server.url));
    let err = provider.chat(&hello()).unwrap_err();
    assert!(
        matches!(err, LlmError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("invalid x-api-key") && text.contains("ANTHROPIC_API_KEY"),
        "{text}"
    );
    assert!(sleeper.slept().is_empty());
}

#[test]
fn unknown_model_is_reported_as_such() {
    let body = json!({"type": "error", "error": {"type": "not_found_error", "message": "model: claude-nope"}});
    let server = FakeServer::start(vec![Reply::json(404, &body)]);
    let err = anthropic(&server)
        .chat(&hello().with_model(Some("claude-nope")))
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::UnknownModel { model, .. } if model == "claude-nope"),
        "{err:?}"
    );
}

#[test]
fn overloaded_then_rate_limited_then_success() {
    let overloaded =
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
    let limited =
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}});
    let ok = message(json!([{"type": "text", "text": "ok"}]), "end_turn");
    let server = FakeServer::start(vec![
        Reply::json(529, &overloaded),
        Reply::json(429, &limited).with_header("retry-after", "1"),
        Reply::json(200, &ok),
    ]);
    let (provider, sleeper) = build(&config(ProviderKind::Anthropic, &server.url));
    assert_eq!(provider.chat(&hello()).unwrap().content, "ok");
    let slept = sleeper.slept();
    assert_eq!(slept.len(), 2);
    assert!(slept[0] <= Duration::from_millis(500));
    assert_eq!(slept[1], Duration::from_secs(1));
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn an_error_event_mid_stream_is_reported() {
    let mut text = sse(&text_deltas(&["par"]), "end_turn");
    let cut = text.find("event: content_block_stop").unwrap();
    text.truncate(cut);
    text += &event(
        "error",
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    );
    let server = FakeServer::start(vec![Reply::stream("text/event-stream", &text, 1000)]);
    let (result, got) = stream(anthropic(&server).as_ref(), &hello(), None);
    let err = result.unwrap_err();
    assert_eq!(got, ["par"]);
    assert!(
        matches!(&err, LlmError::Stream { message, .. } if message == "Overloaded"),
        "{err:?}"
    );
}

#[test]
fn the_key_is_required_for_the_real_api() {
    let cfg = LlmConfig {
        provider: ProviderKind::Anthropic,
        ..LlmConfig::default()
    };
    let err = cfg.build().err().expect("no key, no provider");
    assert!(err.to_string().contains("set ANTHROPIC_API_KEY"), "{err}");
}

#[test]
fn connection_refused_names_the_url() {
    let url = closed_port_url();
    let (provider, _) = build(&config(ProviderKind::Anthropic, &url));
    let err = provider.chat(&hello()).unwrap_err();
    assert!(matches!(err, LlmError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");
}

#[test]
fn a_silent_server_times_out() {
    let ok = message(json!([{"type": "text", "text": "late"}]), "end_turn");
    let server = FakeServer::start(vec![Reply::json(200, &ok).stalled(Duration::from_secs(3))]);
    let mut cfg = config(ProviderKind::Anthropic, &server.url);
    cfg.timeout = Duration::from_millis(300);
    cfg.max_retries = 0;
    let err = build(&cfg).0.chat(&hello()).unwrap_err();
    assert!(matches!(err, LlmError::Timeout { .. }), "{err:?}");
}
