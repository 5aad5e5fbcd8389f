//! An OpenAI-compatible memory proxy: an application points its OpenAI client at
//! `mnemo serve` (`base_url = http://HOST:7437/v1`, its mnemo API key as the API key) and
//! every chat completion gets the user's memory, with no other change.
//!
//! For each `POST /v1/chat/completions`:
//! 1. the user is the key's (an admin key may name one with `X-Mnemo-User` or the body's
//!    `user` field);
//! 2. the session is `X-Mnemo-Session`, or the body's `mnemo_session` (removed before
//!    forwarding), or one per user and UTC day (`proxy-YYYY-MM-DD-<hash of the user>`);
//! 3. the exchange begins as every chat face's does (the tools layer's `begin_exchange`):
//!    the last user message is recorded (durable before anything is sent upstream; a
//!    client's retry of it is not recorded twice) and the memory context for it is
//!    assembled within [`CONTEXT_BUDGET`] tokens;
//! 4. the memory block is appended to the system message (one is added first when there
//!    is none);
//! 5. the body goes to the `[llm]` upstream with every other field as the client sent it
//!    ([`upstream`]; translated for Anthropic, [`anthropic`]), and the reply comes back as
//!    it arrives: streamed (SSE, relayed event by event, `data: [DONE]`) or not;
//! 6. the exchange finishes as every chat face's does (`finish_exchange`): the reply is
//!    recorded as an assistant turn and the call's tokens are counted in `mnemo usage`
//!    under the task `proxy` (the upstream's figures; a stream is asked for its usage
//!    chunk, which is not relayed to a client that did not ask for it). A client that
//!    disconnects mid-stream stops the upstream request; what had arrived is recorded,
//!    marked `cancelled`.
//!
//! Upstream errors come back with the upstream's status and an OpenAI-shaped error body;
//! mnemo's own errors use the same shape.

pub mod anthropic;
mod stream;
pub mod upstream;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mnemo_engine::tools::{self, Caller, Face};
use mnemo_engine::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;
pub use upstream::{openai_error, Upstream, UpstreamError};

/// Tokens of memory context added to a request.
pub const CONTEXT_BUDGET: u32 = 1500;
/// The header that names the session.
pub const SESSION_HEADER: &str = "x-mnemo-session";
/// The body field that names the session (removed before forwarding).
pub const SESSION_FIELD: &str = "mnemo_session";

/// `/v1/chat/completions` and `/v1/models`.
pub(crate) fn routes(r: crate::rest::Routes) -> crate::rest::Routes {
    r.add("post", "/v1/chat/completions", post(chat_completions))
        .add("get", "/v1/models", get(models))
}

/// The time limit of a proxy request: a completion may take as long as the `[llm]` timeout
/// allows (plus a little for recording and context), not the REST request timeout.
pub(crate) fn time_limit(state: &AppState, route: &str) -> Option<std::time::Duration> {
    let up = state.upstream.as_ref()?;
    (route == "/v1/chat/completions")
        .then(|| (up.timeout + std::time::Duration::from_secs(10)).max(state.timeout()))
}

/// An error in the OpenAI shape.
fn error_response(e: UpstreamError) -> Response {
    (e.status, axum::Json(e.body)).into_response()
}

impl From<ApiError> for UpstreamError {
    fn from(e: ApiError) -> Self {
        UpstreamError::new(e.status, e.code, e.detail)
    }
}

impl From<tools::ToolError> for UpstreamError {
    fn from(e: tools::ToolError) -> Self {
        ApiError::from(e).into()
    }
}

fn upstream_of(state: &AppState) -> Result<Arc<Upstream>, UpstreamError> {
    state.upstream.clone().ok_or_else(|| {
        UpstreamError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_upstream",
            "this server has no model configured to forward to; set [llm] in the config",
        )
    })
}

async fn models(State(state): State<AppState>, authed: Result<Authed, ApiError>) -> Response {
    let run = async {
        authed?;
        let up = upstream_of(&state)?;
        tokio::task::spawn_blocking(move || up.models())
            .await
            .map_err(|e| {
                UpstreamError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            })?
    };
    match run.await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => error_response(e),
    }
}

async fn chat_completions(
    State(state): State<AppState>,
    authed: Result<Authed, ApiError>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match prepare(&state, authed, &headers, &body).await {
        Ok(p) => forward(state, p).await,
        Err(e) => error_response(e),
    }
}

/// A request ready to go upstream.
struct Prepared {
    to: ReplyTo,
    body: Vec<u8>,
    stream: bool,
    upstream: Arc<Upstream>,
}

/// Steps 1-4: who, which session, record the message, add the memory context.
async fn prepare(
    state: &AppState,
    authed: Result<Authed, ApiError>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Prepared, UpstreamError> {
    let Authed(mut caller) = authed?;
    let upstream = upstream_of(state)?;
    let mut req: Value = serde_json::from_slice(body).map_err(|e| {
        UpstreamError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            format!("the body is not JSON: {e}"),
        )
    })?;
    let obj = req
        .as_object_mut()
        .ok_or_else(|| bad("the body must be a JSON object"))?;
    if caller.admin && headers.get(crate::auth::USER_HEADER).is_none() {
        if let Some(u) = obj
            .get("user")
            .and_then(Value::as_str)
            .filter(|u| !u.trim().is_empty())
        {
            caller = Caller {
                user_id: u.trim().to_owned(),
                agent_id: None,
                admin: true,
                actor: mnemo_core::Actor::User,
                reach: tools::Reach::Bounded,
            };
        }
    }
    let named = header_text(headers, SESSION_HEADER)?.or_else(|| {
        obj.remove(SESSION_FIELD)
            .and_then(|v| v.as_str().map(str::to_owned))
    });
    obj.remove(SESSION_FIELD);
    let session_id = named.unwrap_or_else(|| daily_session(&caller.user_id, state.engine.now()));
    let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if obj.get("model").is_none_or(|m| m.is_null() || m == "mnemo") {
        let model = upstream.default_model.clone().ok_or_else(|| {
            bad("give a `model`: the configured [llm] has no default model to use")
        })?;
        obj.insert("model".into(), Value::String(model));
    }
    let model = obj.get("model").and_then(Value::as_str).map(str::to_owned);
    // A stream's token counts come in a last chunk the client did not ask for; it is
    // taken out of what the client receives (stream.rs). (An Anthropic stream always
    // carries them; the translation makes that chunk.)
    let hide_usage = stream && !asks_stream_usage(obj);
    if hide_usage && !upstream.is_anthropic() {
        let options = obj.entry("stream_options").or_insert_with(|| json!({}));
        if let Some(o) = options.as_object_mut() {
            o.insert("include_usage".into(), Value::Bool(true));
        }
    }
    let messages = obj
        .get_mut("messages")
        .and_then(Value::as_array_mut)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| bad("`messages` must be a non-empty array"))?;
    let message = last_user_text(messages)
        .ok_or_else(|| bad("`messages` has no user message with text to answer"))?;

    let engine = state.engine.clone();
    let exchange = blocking(move || {
        let mut x = tools::ExchangeRequest::new(Face::Proxy, Some(session_id), message);
        x.budget_tokens = Some(CONTEXT_BUDGET);
        // The client sends its own history; only the memory block is added.
        x.max_recent_turns = Some(1);
        tools::begin_exchange(&engine, &caller, x)
    })
    .await??;
    if let Some(block) = &exchange.prompt.context.memory_block {
        inject(messages, block);
    }
    let prompt_tokens = messages.iter().map(message_tokens).sum();
    let body = serde_json::to_vec(&req).map_err(|e| {
        UpstreamError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    })?;
    Ok(Prepared {
        to: ReplyTo {
            exchange,
            model,
            provider: upstream.provider(),
            prompt_tokens,
            hide_usage,
        },
        body,
        stream,
        upstream,
    })
}

/// Whether the client asked for a stream's usage chunk itself.
fn asks_stream_usage(obj: &serde_json::Map<String, Value>) -> bool {
    obj.get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Tokens of one message's text, for usage when the upstream reports none.
fn message_tokens(m: &Value) -> u64 {
    let text = match &m["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    u64::from(mnemo_engine::tokens::count(&text))
}

fn bad(message: &str) -> UpstreamError {
    UpstreamError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

fn header_text(headers: &HeaderMap, name: &str) -> Result<Option<String>, UpstreamError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map(|s| s.trim().to_owned())
                .map_err(|_| bad("the X-Mnemo-Session header is not text"))
        })
        .transpose()
        .map(|v| v.filter(|s| !s.is_empty()))
}

/// One session per user and UTC day; the user's hash keeps users' ids apart.
fn daily_session(user: &str, now: mnemo_core::Timestamp) -> String {
    let hash = Sha256::digest(user.as_bytes());
    let short: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("proxy-{}-{short}", now.format("%Y-%m-%d"))
}

/// The text of the last user message (string content, or its text parts).
fn last_user_text(messages: &[Value]) -> Option<String> {
    let m = messages.iter().rev().find(|m| m["role"] == "user")?;
    let text = match &m["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p["type"] == "text")
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    Some(text).filter(|t| !t.trim().is_empty())
}

/// Appends the memory block to the first system (or developer) message, or adds one.
fn inject(messages: &mut Vec<Value>, block: &str) {
    let system = messages
        .iter_mut()
        .find(|m| m["role"] == "system" || m["role"] == "developer");
    match system {
        Some(m) => match &mut m["content"] {
            Value::String(s) => *s = tools::with_memory(s, Some(block)),
            Value::Array(parts) => parts.push(json!({"type": "text", "text": block})),
            other => *other = Value::String(block.to_owned()),
        },
        None => messages.insert(0, json!({"role": "system", "content": block})),
    }
}

/// Finishes the exchange with what the upstream sent: the reply turn (empty replies are
/// not recorded) and the call's usage under the task `proxy`.
fn record_reply(engine: &Engine, to: &ReplyTo, got: Got) {
    let usage = got.usage.unwrap_or_else(|| {
        (
            to.prompt_tokens,
            u64::from(mnemo_engine::tokens::count(&got.text)),
        )
    });
    let reply = tools::ModelReply {
        content: got.text,
        model: got.model.or_else(|| to.model.clone()),
        provider: to.provider.to_owned(),
        usage: Some(usage),
        cancelled: got.cancelled,
        truncated: false,
        error: got.error,
    };
    match tools::finish_exchange(engine, &to.exchange, &reply) {
        Ok(done) => done.warnings.iter().for_each(|w| tracing::warn!("{w}")),
        Err(e) => tracing::error!(error = %e.message, "the proxy could not record a reply"),
    }
}

/// What came back from the upstream, for recording.
#[derive(Debug, Default)]
struct Got {
    text: String,
    model: Option<String>,
    /// (prompt, completion) tokens as the upstream reported them.
    usage: Option<(u64, u64)>,
    cancelled: bool,
    error: Option<String>,
}

/// The exchange a reply finishes, and how to count it.
#[derive(Clone)]
struct ReplyTo {
    exchange: tools::Exchange,
    /// The model the request named.
    model: Option<String>,
    provider: &'static str,
    /// The forwarded messages' tokens, for usage when the upstream reports none.
    prompt_tokens: u64,
    /// The client did not ask for a stream's usage chunk: it is not relayed.
    hide_usage: bool,
}

/// The (prompt, completion) tokens of an OpenAI `usage` object.
fn usage_of(v: &Value) -> Option<(u64, u64)> {
    Some((
        v["prompt_tokens"].as_u64()?,
        v["completion_tokens"].as_u64()?,
    ))
}

/// Step 5-6.
async fn forward(state: AppState, p: Prepared) -> Response {
    let to = p.to;
    if p.stream {
        return stream::relay(state.engine.clone(), p.upstream, p.body, to).await;
    }
    let engine = state.engine.clone();
    let up = p.upstream;
    let body = p.body;
    let result = blocking(move || {
        let mut res = up.chat(&body)?;
        let mut reply = upstream::read_json(res.body_mut())?;
        if up.is_anthropic() {
            reply = anthropic::response(&reply, engine.now().timestamp());
        }
        if !reply["choices"].is_array() {
            return Err(UpstreamError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                "the model server's reply has no `choices`",
            ));
        }
        let got = Got {
            text: reply["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            model: reply["model"].as_str().map(str::to_owned),
            usage: usage_of(&reply["usage"]),
            ..Got::default()
        };
        record_reply(&engine, &to, got);
        Ok(reply)
    })
    .await;
    match result {
        Ok(Ok(reply)) => (
            [(header::CONTENT_TYPE, "application/json")],
            Body::from(reply.to_string()),
        )
            .into_response(),
        Ok(Err(e)) | Err(e) => error_response(e),
    }
}

/// Runs blocking work off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, UpstreamError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        UpstreamError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_goes_into_the_system_message_or_a_new_one() {
        let mut m = vec![json!({"role": "user", "content": "hi"})];
        inject(&mut m, "<memory>x</memory>");
        assert_eq!(m[0]["role"], "system");
        assert_eq!(m.len(), 2);
        let mut m = vec![
            json!({"role": "system", "content": "Be brief."}),
            json!({"role": "user", "content": "hi"}),
        ];
        inject(&mut m, "<memory>x</memory>");
        assert_eq!(m[0]["content"], "Be brief.\n\n<memory>x</memory>");
    }

    #[test]
    fn the_last_user_message_is_found_in_text_or_parts() {
        let m = vec![
            json!({"role": "user", "content": "first"}),
            json!({"role": "assistant", "content": "ok"}),
            json!({"role": "user", "content": [{"type": "text", "text": "second"},
                                                {"type": "image_url", "image_url": {"url": "x"}}]}),
        ];
        assert_eq!(last_user_text(&m).as_deref(), Some("second"));
        assert_eq!(
            last_user_text(&[json!({"role": "system", "content": "x"})]),
            None
        );
    }

    #[test]
    fn daily_sessions_differ_by_user_and_day() {
        let t = mnemo_core::time::parse("2026-01-02T10:00:00Z").unwrap();
        let a = daily_session("anna", t);
        assert!(a.starts_with("proxy-2026-01-02-"), "{a}");
        assert_ne!(a, daily_session("ben", t));
        assert_eq!(a, daily_session("anna", t + chrono::Duration::hours(5)));
    }
}
