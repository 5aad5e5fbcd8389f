//! OpenAI `/chat/completions`: bearer auth, `response_format` modes, SSE streams ending in
//! `data: [DONE]` with a usage-only chunk, and `{"error": {"message": ...}}` bodies.

use std::time::{Duration, Instant};

use mnemo_llm::{
    LlmConfig, LlmError, LlmProvider, ProviderKind, StopReason, StructuredOutput, Usage,
};
use serde_json::{json, Value};

use crate::server::{closed_port_url, FakeServer, Reply};
use crate::{build, config, hello, memory_schema, stream};

fn completion(content: &str, finish: &str) -> Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "finish_reason": finish
        }],
        "usage": {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24}
    })
}

fn chunk(delta: Value, finish: Value) -> String {
    let c = json!({
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    });
    format!("data: {c}\n\n")
}

fn sse(tokens: &[&str]) -> String {
    let mut text = chunk(json!({"role": "assistant", "content": ""}), Value::Null);
    for t in tokens {
        text += &chunk(json!({"content": t}), Value::Null);
    }
    text += &chunk(json!({}), json!("stop"));
    let usage = json!({
        "id": "chatcmpl-1", "model": "gpt-4o-mini-2024-07-18", "choices": [],
        "usage": {"prompt_tokens": 20, "completion_tokens": 4}
    });
    text += &format!("data: {usage}\n\ndata: [DONE]\n\n");
    text
}

fn openai(server: &FakeServer) -> Box<dyn LlmProvider> {
    build(&config(ProviderKind::OpenAi, &format!("{}/v1", server.url))).0
}

#[test]
fn a_compatible_server_with_no_model_configured_is_asked_which_it_serves() {
    let server = FakeServer::respond_with(|req| match req.path.as_str() {
        "/v1/models" => Reply::json(
            200,
            &json!({"object": "list", "data": [
                {"id": "SmolLM2-135M-Instruct-Q8_0.gguf", "object": "model"},
                {"id": "other.gguf", "object": "model"}
            ]}),
        ),
        _ => Reply::json(200, &completion("Hi!", "stop")),
    });
    let mut cfg = config(ProviderKind::OpenAi, &format!("{}/v1", server.url));
    cfg.model = None;
    let provider = build(&cfg).0;
    assert_ne!(provider.default_model(), "gpt-4o-mini");
    provider.chat(&hello()).unwrap();
    provider.chat(&hello()).unwrap();
    let got = server.requests();
    let paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/v1/models", "/v1/chat/completions", "/v1/chat/completions"],
        "asked once"
    );
    assert_eq!(got[0].method, "GET");
    assert_eq!(got[0].header("authorization"), Some("Bearer sk-test-key"));
    assert_eq!(got[1].body["model"], "SmolLM2-135M-Instruct-Q8_0.gguf");
    assert_eq!(provider.default_model(), "SmolLM2-135M-Instruct-Q8_0.gguf");
}

#[test]
fn a_server_that_lists_no_model_gets_a_clear_error() {
    let server =
        FakeServer::respond_with(|_| Reply::json(200, &json!({"object": "list", "data": []})));
    let mut cfg = config(ProviderKind::OpenAi, &format!("{}/v1", server.url));
    cfg.model = None;
    let provider = build(&cfg).0;
    let err = provider.chat(&hello()).unwrap_err();
    assert!(matches!(err, LlmError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("MNEMO_MODEL"), "{err}");
    assert_eq!(
        server.requests().len(),
        1,
        "no chat request with a guessed model"
    );
}

#[test]
fn chat_sends_bearer_auth_and_reads_usage() {
    let server = FakeServer::start(vec![Reply::json(200, &completion("Hi!", "stop"))]);
    let provider = openai(&server);
    assert_eq!(
        (provider.name(), provider.default_model()),
        ("openai", "gpt-4o-mini")
    );
    let reply = provider.chat(&hello().with_temperature(0.0)).unwrap();
    assert_eq!(reply.content, "Hi!");
    assert_eq!(reply.model, "gpt-4o-mini-2024-07-18");
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 20,
            output_tokens: 4
        }
    );
    let got = server.single();
    assert_eq!(got.path, "/v1/chat/completions");
    assert_eq!(got.header("authorization"), Some("Bearer sk-test-key"));
    assert_eq!(
        got.body,
        json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hello?"}
            ],
            "stream": false,
            "temperature": 0.0,
            "max_tokens": 1024
        })
    );
}

#[test]
fn stream_assembles_sse_split_mid_line_and_reads_the_usage_chunk() {
    let tokens = ["The", " answer", " is", " 42", "."];
    let server = FakeServer::start(vec![Reply::stream("text/event-stream", &sse(&tokens), 11)]);
    let (result, got) = stream(openai(&server).as_ref(), &hello(), None);
    let reply = result.unwrap();
    assert_eq!(got, tokens);
    assert_eq!(reply.content, "The answer is 42.");
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 20,
            output_tokens: 4
        }
    );
    assert_eq!(reply.stop_reason, StopReason::Complete);
    let body = server.single().body;
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
}

#[test]
fn cancel_mid_stream() {
    let pieces = ["a", "b", "c"]
        .iter()
        .map(|t| chunk(json!({"content": t}), Value::Null))
        .collect();
    let reply = Reply::stream_pieces("text/event-stream", pieces, Duration::from_millis(5))
        .held(Duration::from_secs(3));
    let server = FakeServer::start(vec![reply]);
    let started = Instant::now();
    let (result, got) = stream(openai(&server).as_ref(), &hello(), Some(1));
    let reply = result.unwrap();
    assert_eq!((got.len(), reply.content.as_str()), (1, "a"));
    assert_eq!(reply.stop_reason, StopReason::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn structured_output_uses_a_strict_json_schema() {
    let server = FakeServer::start(vec![Reply::json(
        200,
        &completion(r#"{"facts":[]}"#, "stop"),
    )]);
    let value = openai(&server)
        .chat_json(&hello().with_json_schema(memory_schema()))
        .unwrap();
    assert_eq!(value, json!({"facts": []}));
    let body = server.single().body;
    assert_eq!(
        body["response_format"],
        json!({
            "type": "json_schema",
            "json_schema": {"name": "memories", "schema": memory_schema(), "strict": true}
        })
    );
    assert_eq!(
        body["messages"][0]["content"], "Be brief.",
        "prompt untouched"
    );
}

#[test]
fn fallback_modes_for_servers_without_json_schema() {
    for (mode, format) in [
        (StructuredOutput::JsonObject, json!({"type": "json_object"})),
        (StructuredOutput::None, Value::Null),
    ] {
        let server = FakeServer::start(vec![Reply::json(
            200,
            &completion("{\"facts\":[]}", "stop"),
        )]);
        let mut cfg = config(ProviderKind::OpenAi, &server.url);
        cfg.structured_output = mode;
        build(&cfg)
            .0
            .chat(&hello().with_json_schema(memory_schema()))
            .unwrap();
        let body = server.single().body;
        assert_eq!(body["response_format"], format, "{mode:?}");
        let system = body["messages"][0]["content"].as_str().unwrap();
        assert!(
            system.contains("JSON Schema") && system.contains("facts"),
            "{system}"
        );
    }
}

#[test]
fn unauthorized_carries_the_servers_message_and_is_not_retried() {
    let body = json!({"error": {
        "message": "Incorrect API key provided: sk-test-***. You can find your API key at https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error", "param": null, "code": "invalid_api_key"
    }});
    let server = FakeServer::start(vec![Reply::json(401, &body)]);
    let (provider, sleeper) = build(&config(ProviderKind::OpenAi, &server.url));
    let err = provider.chat(&hello()).unwrap_err();
    assert!(
        matches!(err, LlmError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("Incorrect API key provided") && text.contains("OPENAI_API_KEY"),
        "{text}"
    );
    assert!(sleeper.slept().is_empty());
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn unknown_model_is_reported_as_such() {
    let body = json!({"error": {
        "message": "The model `gpt-9` does not exist or you do not have access to it.",
        "type": "invalid_request_error", "param": null, "code": "model_not_found"
    }});
    let server = FakeServer::start(vec![Reply::json(404, &body)]);
    let err = openai(&server)
        .chat(&hello().with_model(Some("gpt-9")))
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::UnknownModel { model, .. } if model == "gpt-9"),
        "{err:?}"
    );
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn rate_limit_honours_an_http_date_retry_after() {
    let body =
        json!({"error": {"message": "Rate limit reached for gpt-4o-mini", "type": "requests"}});
    let server = FakeServer::start(vec![
        // The fake clock says 07:28:00, so this is 5 s away.
        Reply::json(429, &body).with_header("retry-after", "Wed, 21 Oct 2015 07:28:05 GMT"),
        Reply::json(200, &completion("ok", "stop")),
    ]);
    let (provider, sleeper) = build(&config(ProviderKind::OpenAi, &server.url));
    assert_eq!(provider.chat(&hello()).unwrap().content, "ok");
    assert_eq!(sleeper.slept(), [Duration::from_secs(5)]);
}

#[test]
fn rate_limit_with_a_long_retry_after_gives_up_with_the_wait() {
    let body = json!({"error": {"message": "quota", "type": "requests"}});
    let server = FakeServer::start(vec![
        Reply::json(429, &body).with_header("retry-after", "3600")
    ]);
    let (provider, sleeper) = build(&config(ProviderKind::OpenAi, &server.url));
    let err = provider.chat(&hello()).unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert!(err.to_string().contains("quota"), "{err}");
    assert!(sleeper.slept().is_empty());
}

#[test]
fn server_error_then_success() {
    let server = FakeServer::start(vec![
        Reply::text(502, "Bad Gateway"),
        Reply::stream("text/event-stream", &sse(&["ok"]), 1000),
    ]);
    let (provider, sleeper) = build(&config(ProviderKind::OpenAi, &server.url));
    let (result, _) = stream(provider.as_ref(), &hello(), None);
    assert_eq!(result.unwrap().content, "ok");
    assert_eq!(sleeper.slept().len(), 1);
}

#[test]
fn the_key_is_required_only_for_api_openai_com() {
    let cfg = LlmConfig {
        provider: ProviderKind::OpenAi,
        ..LlmConfig::default()
    };
    let err = cfg.build().err().expect("no key, no provider");
    assert!(
        matches!(
            err,
            LlmError::MissingApiKey {
                env_var: "OPENAI_API_KEY",
                ..
            }
        ),
        "{err:?}"
    );

    let server = FakeServer::start(vec![Reply::json(200, &completion("local", "stop"))]);
    let mut cfg = config(ProviderKind::OpenAi, &server.url);
    cfg.api_key = None;
    assert_eq!(build(&cfg).0.chat(&hello()).unwrap().content, "local");
    assert_eq!(server.single().header("authorization"), None);
}

#[test]
fn connection_refused_points_at_openai_base_url() {
    let url = closed_port_url();
    let (provider, _) = build(&config(ProviderKind::OpenAi, &url));
    let err = provider.chat(&hello()).unwrap_err();
    assert!(matches!(err, LlmError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&url) && text.contains("OPENAI_BASE_URL"),
        "{text}"
    );
}

#[test]
fn a_stalled_stream_times_out() {
    let reply = Reply::stream_pieces(
        "text/event-stream",
        vec![chunk(json!({"content": "slow"}), Value::Null)],
        Duration::ZERO,
    )
    .held(Duration::from_secs(3));
    let server = FakeServer::start(vec![reply]);
    let mut cfg = config(ProviderKind::OpenAi, &server.url);
    cfg.timeout = Duration::from_millis(300);
    let (result, got) = stream(build(&cfg).0.as_ref(), &hello(), None);
    let err = result.unwrap_err();
    assert_eq!(got, ["slow"]);
    assert!(matches!(err, LlmError::Timeout { .. }), "{err:?}");
}

#[test]
fn a_stream_without_done_is_a_connection_error() {
    let text = chunk(json!({"content": "partial"}), Value::Null);
    let server = FakeServer::start(vec![Reply::stream("text/event-stream", &text, 1000)]);
    let (result, _) = stream(openai(&server).as_ref(), &hello(), None);
    assert!(
        matches!(result, Err(LlmError::Connection { .. })),
        "{result:?}"
    );
}

#[test]
fn an_error_chunk_mid_stream_is_reported() {
    let text = chunk(json!({"content": "par"}), Value::Null)
        + "data: {\"error\":{\"message\":\"upstream overloaded\"}}\n\n";
    let server = FakeServer::start(vec![Reply::stream("text/event-stream", &text, 1000)]);
    let (result, _) = stream(openai(&server).as_ref(), &hello(), None);
    let err = result.unwrap_err();
    assert!(
        matches!(&err, LlmError::Stream { message, .. } if message == "upstream overloaded"),
        "{err:?}"
    );
}

#[test]
fn finish_reason_length_means_max_tokens() {
    let server = FakeServer::start(vec![Reply::json(200, &completion("[1, 2", "length"))]);
    let reply = openai(&server).chat(&hello()).unwrap();
    assert_eq!(reply.stop_reason, StopReason::MaxTokens);
}
