//! The UI's chat: one exchange per request, streamed back as NDJSON lines so the page can
//! show the reply as it is generated.
//!
//! The exchange is the tools layer's one exchange (`begin_exchange`/`finish_exchange`, as
//! the terminal chat and the proxy): the user's message is recorded first (durable before
//! any model call), the context is assembled by the same tool `/v1/context` uses, the model
//! is streamed with it, and the reply is recorded with its usage (task `web-ui`), which
//! queues the pipeline's extraction (the page polls the session's memories to show what
//! was learned). Lines, in order:
//! `{"type":"context", "session_id", "context"}`, any number of `{"type":"token","text"}`,
//! then `{"type":"done", "turn", "job_ids"}` or `{"type":"error", "code", "message"}`.

use std::convert::Infallible;
use std::ops::ControlFlow;
use std::sync::Arc;

use axum::body::{Body as HttpBody, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use mnemo_engine::tools as t;
use mnemo_engine::{Engine, Pattern};
use mnemo_llm::{ChatRequest, LlmError, LlmProvider, StopReason};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::auth::Authed;
use crate::error::ApiError;
use crate::rest::{blocking, Body};
use crate::AppState;

/// One message to answer.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChatIn {
    /// The person's message.
    message: String,
    /// The conversation to continue; default a new one.
    session_id: Option<String>,
    /// How the context is assembled (default `hybrid`).
    pattern: Option<Pattern>,
    /// Tokens of context (default 2000).
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
    let begun = blocking(&s, move |e| {
        let mut x = t::ExchangeRequest::new(t::Face::WebUi, req.session_id, req.message);
        x.pattern = req.pattern;
        x.budget_tokens = req.budget_tokens;
        t::begin_exchange(e, &caller, x)
    })
    .await?;
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let first = line(&json!({
        "type": "context",
        "session_id": begun.session_id,
        "context": begun.prompt.context,
    }));
    let _ = tx.try_send(first);
    let engine = s.engine.clone();
    tokio::task::spawn_blocking(move || {
        let end = answer(&engine, provider, &begun, &tx);
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

/// Streams the reply to `tx` and finishes the exchange; returns the closing line. What was
/// streamed is recorded even when the stream broke or the page went away (marked in the
/// turn's `meta`), so nothing the person saw is lost.
fn answer(
    engine: &Engine,
    provider: Arc<dyn LlmProvider>,
    begun: &t::Exchange,
    tx: &mpsc::Sender<Bytes>,
) -> Value {
    let req = ChatRequest::new(begun.prompt.messages.clone());
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
    let (reply, failure) = match streamed {
        Ok(r) => (
            t::ModelReply {
                content: r.content,
                model: Some(r.model),
                provider: provider.name().to_owned(),
                usage: Some((r.usage.input_tokens.into(), r.usage.output_tokens.into())),
                cancelled: r.stop_reason == StopReason::Cancelled,
                truncated: r.stop_reason == StopReason::MaxTokens,
                error: None,
            },
            None,
        ),
        Err(e) => (
            t::ModelReply {
                content: raw,
                provider: provider.name().to_owned(),
                error: Some(e.to_string()),
                ..t::ModelReply::default()
            },
            Some(model_error(&e)),
        ),
    };
    match (t::finish_exchange(engine, begun, &reply), failure) {
        (Ok(done), None) => {
            for w in &done.warnings {
                tracing::warn!("{w}");
            }
            match done.turn {
                Some(turn) => json!({"type": "done", "turn": turn, "job_ids": done.job_ids}),
                None => json!({
                    "type": "error", "code": "empty_reply",
                    "message": "the model sent an empty reply",
                }),
            }
        }
        (Ok(_), Some(err)) => err,
        (Err(e), Some(err)) => {
            tracing::warn!(error = %e.message, "the partial chat reply could not be recorded");
            err
        }
        (Err(e), None) => json!({"type": "error", "code": e.code, "message": e.message}),
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
