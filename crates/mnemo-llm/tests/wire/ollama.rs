//! Ollama `/api/chat`: JSON replies, NDJSON streams, `format` for structured output, and
//! its error bodies (`{"error": "..."}`).

use std::time::{Duration, Instant};

use mnemo_llm::{LlmError, LlmProvider, ProviderKind, StopReason, StructuredOutput, Usage};
use serde_json::{json, Value};

use crate::server::{closed_port_url, FakeServer, Reply};
use crate::{build, config, hello, memory_schema, stream};

fn done_line(content: &str, done: bool) -> Value {
    let mut line = json!({
        "model": "qwen2.5:7b",
        "created_at": "2025-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": content},
        "done": done,
    });
    if done {
        line["done_reason"] = json!("stop");
        line["prompt_eval_count"] = json!(12);
        line["eval_count"] = json!(5);
    }
    line
}

fn ndjson(tokens: &[&str]) -> String {
    let mut lines: Vec<String> = tokens
        .iter()
        .map(|t| done_line(t, false).to_string())
        .collect();
    lines.push(done_line("", true).to_string());
    lines.join("\n") + "\n"
}

fn ollama(server: &FakeServer) -> Box<dyn LlmProvider> {
    build(&config(ProviderKind::Ollama, &server.url)).0
}

#[test]
fn chat_sends_the_native_request_and_reads_usage() {
    let server = FakeServer::start(vec![Reply::json(200, &done_line("Hi there!", true))]);
    let provider = ollama(&server);
    assert_eq!(provider.name(), "ollama");
    assert_eq!(provider.default_model(), "qwen2.5:7b");
    let req = hello().with_temperature(0.25).with_max_tokens(64);
    let reply = provider.chat(&req).unwrap();
    assert_eq!(reply.content, "Hi there!");
    assert_eq!(reply.model, "qwen2.5:7b");
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 12,
            output_tokens: 5
        }
    );
    assert_eq!(reply.stop_reason, StopReason::Complete);

    let got = server.single();
    assert_eq!(
        (got.method.as_str(), got.path.as_str()),
        ("POST", "/api/chat")
    );
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(
        got.body,
        json!({
            "model": "qwen2.5:7b",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hello?"}
            ],
            "stream": false,
            "options": {"temperature": 0.25, "num_predict": 64}
        })
    );
}

#[test]
fn request_model_overrides_the_default_and_length_means_max_tokens() {
    let mut line = done_line("cut", true);
    line["done_reason"] = json!("length");
    line["model"] = json!("llama3.2:1b");
    let server = FakeServer::start(vec![Reply::json(200, &line)]);
    let reply = ollama(&server)
        .chat(&hello().with_model(Some("llama3.2:1b")))
        .unwrap();
    assert_eq!(reply.stop_reason, StopReason::MaxTokens);
    assert_eq!(reply.model, "llama3.2:1b");
    let body = server.single().body;
    assert_eq!(body["model"], "llama3.2:1b");
    assert_eq!(body["options"]["num_predict"], 1024, "the config default");
}

#[test]
fn stream_assembles_ndjson_split_mid_line() {
    let tokens = ["Hel", "lo", ", wörld", "!"];
    let server = FakeServer::start(vec![Reply::stream(
        "application/x-ndjson",
        &ndjson(&tokens),
        7,
    )]);
    let (result, got) = stream(ollama(&server).as_ref(), &hello(), None);
    let reply = result.unwrap();
    assert_eq!(got, tokens);
    assert_eq!(reply.content, "Hello, wörld!");
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 12,
            output_tokens: 5
        }
    );
    assert_eq!(reply.stop_reason, StopReason::Complete);
    assert_eq!(server.single().body["stream"], true);
}

#[test]
fn cancel_returns_what_arrived_without_waiting_for_the_rest() {
    let lines: Vec<String> = ["one ", "two ", "three "]
        .iter()
        .map(|t| done_line(t, false).to_string() + "\n")
        .collect();
    let reply = Reply::stream_pieces("application/x-ndjson", lines, Duration::from_millis(5))
        .held(Duration::from_secs(3));
    let server = FakeServer::start(vec![reply]);
    let started = Instant::now();
    let (result, got) = stream(ollama(&server).as_ref(), &hello(), Some(2));
    let reply = result.unwrap();
    assert_eq!(got, ["one ", "two "]);
    assert_eq!(reply.content, "one two ");
    assert_eq!(reply.stop_reason, StopReason::Cancelled);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "did not wait for the stream to end"
    );
}

#[test]
fn structured_output_sends_the_schema_as_format() {
    let content = r#"{"facts":["likes tea"]}"#;
    let server = FakeServer::start(vec![Reply::json(200, &done_line(content, true))]);
    let req = hello().with_json_schema(memory_schema());
    let value = ollama(&server).chat_json(&req).unwrap();
    assert_eq!(value, json!({"facts": ["likes tea"]}));
    let body = server.single().body;
    assert_eq!(body["format"], memory_schema());
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(system.starts_with("Be brief.\n\n"), "{system}");
    assert!(
        system.contains("\"required\":[\"facts\"]"),
        "schema in the prompt: {system}"
    );
}

#[test]
fn json_object_mode_sends_format_json_and_chat_json_repairs_fences() {
    let content = "```json\n{'facts': ['likes tea',]}\n```";
    let server = FakeServer::start(vec![Reply::json(200, &done_line(content, true))]);
    let mut cfg = config(ProviderKind::Ollama, &server.url);
    cfg.structured_output = StructuredOutput::JsonObject;
    let value = build(&cfg)
        .0
        .chat_json(&hello().with_json_schema(memory_schema()))
        .unwrap();
    assert_eq!(value, json!({"facts": ["likes tea"]}));
    assert_eq!(server.single().body["format"], "json");
}

#[test]
fn missing_model_says_to_pull_it_and_is_not_retried() {
    let body = json!({"error": "model \"llama9\" not found, try pulling it first"});
    let server = FakeServer::start(vec![Reply::json(404, &body)]);
    let (provider, sleeper) = build(&config(ProviderKind::Ollama, &server.url));
    let err = provider
        .chat(&hello().with_model(Some("llama9")))
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::UnknownModel { model, .. } if model == "llama9"),
        "{err:?}"
    );
    assert!(err.to_string().contains("ollama pull llama9"), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(server.requests().len(), 1);
    assert!(sleeper.slept().is_empty());
}

#[test]
fn rate_limit_waits_for_retry_after_then_succeeds() {
    let server = FakeServer::start(vec![
        Reply::json(429, &json!({"error": "too many requests"})).with_header("retry-after", "2"),
        Reply::json(200, &done_line("ok", true)),
    ]);
    let (provider, sleeper) = build(&config(ProviderKind::Ollama, &server.url));
    assert_eq!(provider.chat(&hello()).unwrap().content, "ok");
    assert_eq!(sleeper.slept(), [Duration::from_secs(2)]);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn server_error_backs_off_then_succeeds() {
    let server = FakeServer::start(vec![
        Reply::json(
            500,
            &json!({"error": "llama runner process has terminated"}),
        ),
        Reply::stream("application/x-ndjson", &ndjson(&["fine"]), 64),
    ]);
    let (provider, sleeper) = build(&config(ProviderKind::Ollama, &server.url));
    let (result, _) = stream(provider.as_ref(), &hello(), None);
    assert_eq!(result.unwrap().content, "fine");
    let slept = sleeper.slept();
    assert_eq!(slept.len(), 1);
    assert!(slept[0] >= Duration::from_millis(250) && slept[0] <= Duration::from_millis(500));
}

#[test]
fn retries_stop_at_max_retries_with_the_last_error() {
    let fail = || Reply::json(503, &json!({"error": "busy"}));
    let server = FakeServer::start(vec![fail(), fail(), fail()]);
    let (provider, sleeper) = build(&config(ProviderKind::Ollama, &server.url));
    let err = provider.chat(&hello()).unwrap_err();
    assert!(
        matches!(&err, LlmError::Http { status: 503, message, .. } if message == "busy"),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 3, "one try and two retries");
    assert_eq!(sleeper.slept().len(), 2);
}

#[test]
fn bad_request_is_not_retried() {
    let server = FakeServer::start(vec![Reply::json(400, &json!({"error": "invalid options"}))]);
    let (provider, sleeper) = build(&config(ProviderKind::Ollama, &server.url));
    let err = provider.chat(&hello()).unwrap_err();
    assert!(
        err.to_string().contains("HTTP 400: invalid options"),
        "{err}"
    );
    assert!(sleeper.slept().is_empty());
}

#[test]
fn connection_refused_names_the_url_and_how_to_fix_it() {
    let url = closed_port_url();
    let (provider, sleeper) = build(&config(ProviderKind::Ollama, &url));
    let err = provider.chat(&hello()).unwrap_err();
    assert!(matches!(err, LlmError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&url) && text.contains("ollama serve") && text.contains("OLLAMA_HOST"),
        "{text}"
    );
    assert!(
        sleeper.slept().is_empty(),
        "a refused connection is not retried"
    );
}

#[test]
fn a_silent_server_times_out() {
    let server = FakeServer::start(vec![
        Reply::json(200, &done_line("late", true)).stalled(Duration::from_secs(3))
    ]);
    let mut cfg = config(ProviderKind::Ollama, &server.url);
    cfg.timeout = Duration::from_millis(300);
    cfg.max_retries = 0;
    let started = Instant::now();
    let err = build(&cfg).0.chat(&hello()).unwrap_err();
    assert!(matches!(err, LlmError::Timeout { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_timeout_is_retried() {
    let server = FakeServer::start(vec![
        Reply::json(200, &done_line("late", true)).stalled(Duration::from_secs(2)),
        Reply::json(200, &done_line("on time", true)),
    ]);
    let mut cfg = config(ProviderKind::Ollama, &server.url);
    cfg.timeout = Duration::from_millis(300);
    let (provider, sleeper) = build(&cfg);
    assert_eq!(provider.chat(&hello()).unwrap().content, "on time");
    assert_eq!(sleeper.slept().len(), 1);
}

#[test]
fn an_error_line_mid_stream_is_reported() {
    let text = format!(
        "{}\n{}\n",
        done_line("partial", false),
        json!({"error": "an error was encountered while running the model"})
    );
    let server = FakeServer::start(vec![Reply::stream("application/x-ndjson", &text, 16)]);
    let (result, got) = stream(ollama(&server).as_ref(), &hello(), None);
    let err = result.unwrap_err();
    assert_eq!(got, ["partial"]);
    assert!(
        matches!(&err, LlmError::Stream { message, .. } if message.contains("while running")),
        "{err:?}"
    );
}

#[test]
fn a_stream_cut_short_is_a_connection_error() {
    let text = format!("{}\n", done_line("partial", false));
    let server = FakeServer::start(vec![
        Reply::stream("application/x-ndjson", &text, 16).aborted()
    ]);
    let (result, _) = stream(ollama(&server).as_ref(), &hello(), None);
    let err = result.unwrap_err();
    assert!(matches!(err, LlmError::Connection { .. }), "{err:?}");
}

#[test]
fn garbage_is_a_bad_response() {
    let server = FakeServer::start(vec![Reply::text(200, "<html>proxy login</html>")]);
    let err = ollama(&server).chat(&hello()).unwrap_err();
    assert!(matches!(err, LlmError::BadResponse { .. }), "{err:?}");
    assert!(err.to_string().contains("proxy login"), "{err}");
}
