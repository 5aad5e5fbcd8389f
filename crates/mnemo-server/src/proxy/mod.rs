//! An OpenAI-compatible memory proxy: an application points its OpenAI client at
//! `mnemo serve` (`base_url = http://HOST:7437/v1`, its mnemo API key as the API key) and
//! every chat completion gets the user's memory, with no other change.
//!
//! For each `POST /v1/chat/completions`:
//! 1. the user is the key's (an admin key may name one with `X-Mnemo-User` or the body's
//!    `user` field);
//! 2. the session is `X-Mnemo-Session`, or the body's `mnemo_session` (removed before
//!    forwarding), or one per user and UTC day (`proxy-YYYY-MM-DD-<hash of the user>`);
//! 3. the last user message is recorded (durable before anything is sent upstream; the
//!    pipeline is queued as for any turn);
//! 4. the memory context for it is assembled within [`CONTEXT_BUDGET`] tokens (the tools
//!    layer's context tool, as the chat does) and appended to the system message (one is
//!    added first when there is none);
//! 5. the body goes to the `[llm]` upstream with every other field as the client sent it
//!    ([`upstream`]; translated for Anthropic, [`anthropic`]), and the reply comes back as
//!    it arrives: streamed (SSE, relayed event by event, `data: [DONE]`) or not;
//! 6. the reply is recorded as an assistant turn. A client that disconnects mid-stream
//!    stops the upstream request; what had arrived is recorded, marked `cancelled`.
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
use axum::Router;
use mnemo_core::{NewTurn, Role};
use mnemo_engine::tools::{self, AddMessagesRequest, Caller, ContextToolRequest, MessageIn};
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
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
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
    caller: Caller,
    session_id: String,
    body: Vec<u8>,
    stream: bool,
    model: Option<String>,
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
    let messages = obj
        .get_mut("messages")
        .and_then(Value::as_array_mut)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| bad("`messages` must be a non-empty array"))?;
    let message = last_user_text(messages)
        .ok_or_else(|| bad("`messages` has no user message with text to answer"))?;

    let engine = state.engine.clone();
    let who = caller.clone();
    let sid = session_id.clone();
    let text = message.clone();
    let (session_id, block) =
        blocking(move || record_and_recall(&engine, &who, sid, text)).await??;
    if let Some(block) = block {
        inject(messages, &block);
    }
    let body = serde_json::to_vec(&req).map_err(|e| {
        UpstreamError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    })?;
    Ok(Prepared {
        caller,
        session_id,
        body,
        stream,
        model,
        upstream,
    })
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

/// Records the user's message and assembles the memory context for it. A message that is
/// already the session's last turn, unanswered, is a client's retry (the OpenAI clients
/// retry 5xx and timeouts by themselves) and is not recorded twice.
fn record_and_recall(
    engine: &Engine,
    caller: &Caller,
    session_id: String,
    message: String,
) -> Result<(String, Option<String>), UpstreamError> {
    let session_id = match unanswered(engine, caller, &session_id, &message)? {
        Some(full) => full,
        None => {
            tools::add_messages(
                engine,
                caller,
                AddMessagesRequest {
                    session_id: Some(session_id),
                    messages: vec![MessageIn {
                        role: Role::User,
                        content: message.clone(),
                        created_at: None,
                    }],
                    idempotency_key: None,
                },
            )?
            .session_id
        }
    };
    let ctx = tools::context(
        engine,
        caller,
        ContextToolRequest {
            message,
            session_id: Some(session_id.clone()),
            pattern: None,
            budget_tokens: Some(CONTEXT_BUDGET),
            max_memories: None,
            // The client sends its own history; only the memory block is added.
            max_recent_turns: Some(1),
        },
    )?;
    Ok((session_id, ctx.memory_block))
}

/// The session's full id when its last turn is this very user message, unanswered.
fn unanswered(
    engine: &Engine,
    caller: &Caller,
    session_id: &str,
    message: &str,
) -> Result<Option<String>, UpstreamError> {
    let session = match engine.session(&caller.user_id, session_id) {
        Ok(s) => s,
        Err(mnemo_core::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(tools::ToolError::from(e).into()),
    };
    let last = engine
        .turns(&mnemo_core::TurnFilter {
            scope: Some(caller.scope()),
            session_id: Some(session.id.clone()),
            newest_first: true,
            limit: Some(1),
            ..Default::default()
        })
        .map_err(tools::ToolError::from)?;
    Ok(last
        .first()
        .filter(|t| t.role == Role::User && t.content == message)
        .map(|_| session.id))
}

/// Records the assistant's reply (empty replies are not recorded).
fn record_reply(engine: &Engine, p: &ReplyTo, text: &str, cancelled: bool, error: Option<&str>) {
    if text.trim().is_empty() {
        return;
    }
    let turn = NewTurn {
        id: None,
        scope: p.caller.scope(),
        session_id: p.session_id.clone(),
        role: Role::Assistant,
        content: text.to_owned(),
        created_at: None,
        meta: json!({
            "via": "proxy",
            "model": p.model,
            "cancelled": cancelled,
            "partial": error.is_some(),
            "error": error,
        }),
    };
    if let Err(e) = engine.record_turn(turn) {
        tracing::error!(error = %e, "the proxy could not record a reply");
    }
}

/// Whose reply it is, for recording.
#[derive(Clone)]
struct ReplyTo {
    caller: Caller,
    session_id: String,
    model: Option<String>,
}

/// Step 5-6.
async fn forward(state: AppState, p: Prepared) -> Response {
    let to = ReplyTo {
        caller: p.caller,
        session_id: p.session_id,
        model: p.model,
    };
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
        let text = reply["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        record_reply(&engine, &to, &text, false, None);
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
