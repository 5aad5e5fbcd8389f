//! The UI's chat: one exchange per request, streamed back as NDJSON lines so the page can
//! show the reply as it is generated.
//!
//! The user's message is recorded first (durable before any model call), then the context
//! is assembled by the same tool `/v1/context` uses, the model is streamed with it, and the
//! reply is recorded as the assistant turn, which queues the pipeline's extraction (the page
//! polls the session's memories to show what was learned). Lines, in order:
//! `{"type":"context", "session_id", "context"}`, any number of `{"type":"token","text"}`,
//! then `{"type":"done", "turn", "job_ids"}` or `{"type":"error", "code", "message"}`.

use std::convert::Infallible;
use std::ops::ControlFlow;
use std::sync::Arc;

use axum::body::{Body as HttpBody, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use mnemo_core::{NewTurn, Role};
use mnemo_engine::tools::{self as t, Caller};
use mnemo_engine::{Context, Engine, Pattern};
use mnemo_llm::{ChatRequest, LlmError, LlmProvider, StopReason};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::auth::Authed;
use crate::error::ApiError;
use crate::rest::{blocking, Body};
use crate::AppState;

/// One message to answer.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChatIn {
    message: String,
    /// The conversation to continue; default a new one.
    session_id: Option<String>,
    pattern: Option<Pattern>,
    budget_tokens: Option<u32>,
}

pub(crate) async fn chat(
    State(s): State<AppState>,
    Authed(c): Authed,
    Body(req): Body<ChatIn>,
) -> Result<Response, ApiError> {
    if req.message.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_value",
            "message: the message is empty; type something to send",
        ));
    }
    let Some(provider) = s.engine.llm().cloned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_model",
            "no model is configured: set [llm] provider and model in the config (or \
             MNEMO_LLM_PROVIDER and MNEMO_MODEL) and restart `mnemo serve`",
        ));
    };
    let caller = c.clone();
    let text = req.message.clone();
    let (session_id, ctx) = blocking(&s, move |e| prepare(e, &caller, req)).await?;
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let first = line(&json!({"type": "context", "session_id": session_id, "context": ctx}));
    let _ = tx.try_send(first);
    let engine = s.engine.clone();
    tokio::task::spawn_blocking(move || {
        let end = answer(&engine, &c, provider, (&session_id, &text), &ctx, &tx);
        let _ = tx.blocking_send(line(&end));
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        HttpBody::from_stream(body),
    )
        .into_response())
}

/// Records the user's message and assembles the context for it.
fn prepare(engine: &Engine, c: &Caller, req: ChatIn) -> t::ToolResult<(String, Context)> {
    let recorded = t::add_messages(
        engine,
        c,
        t::AddMessagesRequest {
            session_id: req.session_id,
            messages: vec![message(Role::User, &req.message)],
            idempotency_key: None,
        },
    )?;
    let ctx = t::context(
        engine,
        c,
        t::ContextToolRequest {
            message: req.message,
            session_id: Some(recorded.session_id.clone()),
            pattern: req.pattern,
            budget_tokens: req.budget_tokens,
            max_memories: None,
            max_recent_turns: None,
        },
    )?;
    Ok((recorded.session_id, ctx))
}

fn message(role: Role, content: &str) -> t::MessageIn {
    t::MessageIn {
        role,
        content: content.to_owned(),
        created_at: None,
    }
}

/// Streams the reply to `tx` and records it; returns the closing line. What was streamed is
/// recorded even when the stream broke or the page went away (marked in the turn's `meta`,
/// as the CLI chat marks it), so nothing the person saw is lost.
fn answer(
    engine: &Engine,
    c: &Caller,
    provider: Arc<dyn LlmProvider>,
    (session_id, message): (&str, &str),
    ctx: &Context,
    tx: &mpsc::Sender<Bytes>,
) -> Value {
    let req = ChatRequest::new(t::prompt_messages(t::SYSTEM_PROMPT, ctx, message));
    let mut raw = String::new();
    let mut on_token = |text: &str| {
        raw.push_str(text);
        let l = line(&json!({"type": "token", "text": text}));
        match tx.blocking_send(l) {
            Ok(()) => ControlFlow::Continue(()),
            // The page went away: stop generating.
            Err(_) => ControlFlow::Break(()),
        }
    };
    let streamed = provider.chat_stream(&req, &mut on_token);
    let (content, meta, failure) = match streamed {
        Ok(reply) => {
            // Counted like the CLI chat's replies (`mnemo usage`, task "chat").
            if let Err(e) = engine.record_usage(&c.scope(), "chat", provider.name(), &reply) {
                tracing::warn!(error = %e, "the chat reply's token usage could not be recorded");
            }
            let meta = json!({
                "source": "web-ui",
                "model": reply.model,
                "cancelled": reply.stop_reason == StopReason::Cancelled,
                "truncated": reply.stop_reason == StopReason::MaxTokens,
                "partial": false,
            });
            (reply.content, meta, None)
        }
        Err(e) => {
            let meta = json!({"source": "web-ui", "partial": true, "error": e.to_string()});
            (raw, meta, Some(model_error(&e)))
        }
    };
    if content.trim().is_empty() {
        return failure.unwrap_or_else(|| {
            json!({"type": "error", "code": "empty_reply", "message": "the model sent an empty reply"})
        });
    }
    let recorded = engine.record_turn(NewTurn {
        id: None,
        scope: c.scope(),
        session_id: session_id.to_owned(),
        role: Role::Assistant,
        content: content.trim().to_owned(),
        created_at: None,
        meta,
    });
    match (recorded, failure) {
        (Ok(_), Some(err)) => err,
        (Err(e), Some(err)) => {
            tracing::warn!(error = %e, "the partial chat reply could not be recorded");
            err
        }
        (Ok(r), None) => {
            let job_ids: Vec<String> = r.jobs.into_iter().map(|j| j.id).collect();
            json!({"type": "done", "turn": r.turn, "job_ids": job_ids})
        }
        (Err(e), None) => {
            let e = t::ToolError::from(e);
            json!({"type": "error", "code": e.code, "message": e.message})
        }
    }
}

/// The closing line for a model failure, saying plainly when the model is unreachable.
fn model_error(e: &LlmError) -> Value {
    // The same kinds and codes as every other face (`model_rate_limited`, `model_auth`, ...).
    let tool = t::ToolError::from(mnemo_engine::pipeline::model_error(e));
    let message = if tool.kind == t::ErrorKind::ModelUnavailable && is_unreachable(e) {
        format!("The model is unreachable: {e}")
    } else {
        e.to_string()
    };
    json!({"type": "error", "code": tool.code, "message": message})
}

fn is_unreachable(e: &LlmError) -> bool {
    matches!(
        e,
        LlmError::Unreachable { .. } | LlmError::Connection { .. } | LlmError::Timeout { .. }
    )
}

fn line(v: &Value) -> Bytes {
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_failures_close_the_stream_with_the_tools_codes() {
        let code = |e: LlmError| model_error(&e)["code"].as_str().unwrap().to_owned();
        let limited = LlmError::RateLimited {
            provider: "openai",
            message: "slow down".into(),
            retry_after: None,
        };
        assert_eq!(code(limited), "model_rate_limited");
        let key = LlmError::MissingApiKey {
            provider: "openai",
            env_var: "OPENAI_API_KEY",
        };
        assert_eq!(code(key), "model_auth");
        let rejected = LlmError::Http {
            provider: "openai",
            status: 400,
            message: "bad".into(),
        };
        assert_eq!(code(rejected), "model_bad_request");
        let down = LlmError::Unreachable {
            provider: "ollama",
            url: "http://127.0.0.1:9".into(),
            detail: "refused".into(),
            hint: "start it".into(),
        };
        let line = model_error(&down);
        assert_eq!(line["code"], "model_unavailable");
        assert!(line["message"]
            .as_str()
            .unwrap()
            .starts_with("The model is unreachable"));
    }
}
