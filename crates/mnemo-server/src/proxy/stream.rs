//! Streamed completions: the upstream's SSE lines are relayed to the client as they
//! arrive, while the reply text is collected from the `delta.content` of each chunk.
//!
//! A blocking thread reads the upstream and hands each line to the response body through
//! a small channel. The client's status comes from the upstream's: an upstream error
//! before the stream starts is answered as such (status and OpenAI-shaped body). Once the
//! stream runs, a failure is sent as a final `data: {"error": ...}` event. When the client
//! goes away the channel closes, the reader stops and drops the upstream response (which
//! closes that connection, stopping the generation), and the partial reply is recorded as
//! cancelled.

use std::io::{BufRead, BufReader};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use mnemo_engine::Engine;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;

use super::upstream::{openai_error, Upstream, UpstreamError};
use super::{error_response, record_reply, usage_of, Got, ReplyTo};

/// Lines buffered between the upstream reader and the client.
const CHANNEL: usize = 64;

type Chunk = Result<Bytes, std::io::Error>;

/// Forwards a streaming request and relays its reply.
pub(super) async fn relay(
    engine: Engine,
    upstream: Arc<Upstream>,
    body: Vec<u8>,
    to: ReplyTo,
) -> Response {
    let (started_tx, started_rx) = oneshot::channel();
    let (tx, rx) = mpsc::channel::<Chunk>(CHANNEL);
    tokio::task::spawn_blocking(move || {
        read_upstream(&engine, &upstream, &body, &to, started_tx, tx)
    });
    match started_rx.await {
        Ok(Ok(())) => (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            Body::from_stream(ReceiverStream::new(rx)),
        )
            .into_response(),
        Ok(Err(e)) => error_response(e),
        Err(_) => error_response(UpstreamError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the upstream reader stopped before answering",
        )),
    }
}

/// The blocking side: call the upstream, say whether the stream started, relay its lines,
/// record the reply.
fn read_upstream(
    engine: &Engine,
    upstream: &Upstream,
    body: &[u8],
    to: &ReplyTo,
    started: oneshot::Sender<Result<(), UpstreamError>>,
    tx: mpsc::Sender<Chunk>,
) {
    let res = match upstream.chat(body) {
        Ok(r) => r,
        Err(e) => {
            let _ = started.send(Err(e));
            return;
        }
    };
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !content_type.starts_with("text/event-stream") {
        let _ = started.send(Err(UpstreamError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            format!(
                "asked to stream, the model server answered `{content_type}` instead of text/event-stream"
            ),
        )));
        return;
    }
    if started.send(Ok(())).is_err() {
        return;
    }
    let mut translator = upstream
        .is_anthropic()
        .then(|| super::anthropic::StreamTranslator::new(engine.now().timestamp()));
    let mut reader = BufReader::new(res.into_body().into_reader());
    let mut reply = Collected::default();
    let mut line = Vec::with_capacity(512);
    // One SSE event (its lines up to the blank line) is relayed as one chunk.
    let mut event = Vec::with_capacity(1024);
    let mut cancelled = false;
    let mut failure = None;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(n) => {
                event.extend_from_slice(&line);
                let end_of_event = n == 0 || line.iter().all(|b| *b == b'\n' || *b == b'\r');
                if end_of_event && !event.is_empty() {
                    let out = match translator.as_mut() {
                        Some(t) => Bytes::from(translate(t, &event)),
                        None => Bytes::from(std::mem::take(&mut event)),
                    };
                    event.clear();
                    let out = reply.take(&out, to.hide_usage);
                    if !out.is_empty() && tx.blocking_send(Ok(out)).is_err() {
                        cancelled = true;
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            Err(e) => {
                let message = format!("the model server's stream broke off: {e}");
                let error = format!("data: {}\n\n", openai_error("upstream_error", &message));
                event.extend_from_slice(error.as_bytes());
                let _ = tx.blocking_send(Ok(Bytes::from(std::mem::take(&mut event))));
                failure = Some(message);
                break;
            }
        }
    }
    if !reply.done && failure.is_none() && !cancelled {
        let message = "the model server's stream ended without [DONE]; the reply is cut short";
        let error = format!("data: {}\n\n", openai_error("upstream_error", message));
        let _ = tx.blocking_send(Ok(Bytes::from(error)));
        failure = Some(message.into());
    }
    drop(reader);
    if cancelled {
        tracing::info!(session = %to.exchange.session_id, "client disconnected mid-stream; upstream request stopped");
    }
    let got = Got {
        text: reply.text,
        model: reply.model,
        usage: reply.usage,
        cancelled,
        error: failure,
    };
    record_reply(engine, to, got);
}

/// One Anthropic SSE event (lines up to a blank line) as OpenAI chunk events.
fn translate(t: &mut super::anthropic::StreamTranslator, event: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(event);
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .collect();
    if data.is_empty() {
        return Vec::new();
    }
    t.event(&data.join("\n")).into_bytes()
}

/// The reply text, model and usage gathered from SSE `data:` lines.
#[derive(Default)]
struct Collected {
    text: String,
    done: bool,
    model: Option<String>,
    usage: Option<(u64, u64)>,
}

impl Collected {
    /// Reads the events of `out` and returns those to relay: all of them, less a usage
    /// chunk (no choices) when `hide_usage` (the client did not ask for one).
    fn take(&mut self, out: &[u8], hide_usage: bool) -> Bytes {
        let mut relay = Vec::with_capacity(out.len());
        for event in out
            .split_inclusive(|b| *b == b'\n')
            .collect::<Vec<_>>()
            .split_inclusive(|line| line.iter().all(|b| *b == b'\n' || *b == b'\r'))
        {
            let event = event.concat();
            if !(self.feed_event(&event) && hide_usage) {
                relay.extend_from_slice(&event);
            }
        }
        Bytes::from(relay)
    }

    /// Every line of one event; true when the event is only a usage chunk (no choices),
    /// which a client that did not ask for one is not sent.
    fn feed_event(&mut self, event: &[u8]) -> bool {
        let mut usage_only = false;
        for line in event.split(|b| *b == b'\n') {
            usage_only |= self.feed(line);
        }
        usage_only
    }

    fn feed(&mut self, line: &[u8]) -> bool {
        let Ok(line) = std::str::from_utf8(line) else {
            return false;
        };
        let Some(data) = line.trim_end().strip_prefix("data:") else {
            return false;
        };
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return false;
        }
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            return false;
        };
        if let Some(s) = v["choices"][0]["delta"]["content"].as_str() {
            self.text.push_str(s);
        }
        if let Some(m) = v["model"].as_str().filter(|m| !m.is_empty()) {
            self.model = Some(m.to_owned());
        }
        if let Some(u) = usage_of(&v["usage"]) {
            self.usage = Some(u);
            return v["choices"].as_array().is_some_and(Vec::is_empty);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_are_collected_until_done() {
        let mut c = Collected::default();
        for l in [
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n",
            "\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"Dark \"}}]}\n",
            "data:{\"choices\":[{\"delta\":{\"content\":\"mode.\"}}]}\r\n",
            ": keep-alive\n",
            "data: not json\n",
            "data: [DONE]\n",
        ] {
            c.feed(l.as_bytes());
        }
        assert_eq!(c.text, "Dark mode.");
        assert!(c.done);
        assert_eq!(c.usage, None);
    }

    #[test]
    fn the_usage_chunk_is_counted_and_known_as_usage_only() {
        let mut c = Collected::default();
        let last = b"data: {\"model\":\"m-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3}}\n\n";
        assert!(c.feed_event(last));
        assert_eq!(c.usage, Some((12, 3)));
        assert_eq!(c.model.as_deref(), Some("m-1"));
        let text = b"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"usage\":null}\n\n";
        assert!(!c.feed_event(text));
        // Of two events in one piece, the usage chunk alone is held back.
        let both = [&text[..], &last[..]].concat();
        assert_eq!(&c.take(&both, true)[..], &text[..]);
        assert_eq!(&c.take(&both, false)[..], &both[..]);
    }
}
