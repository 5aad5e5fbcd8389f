//! A provider that answers from a script instead of a server, for the tests of the crates
//! above this one (engine pipeline, CLI chat): deterministic, no network, and it records
//! every request so a test can assert on the prompts that were built.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::Mutex;

use crate::{ChatRequest, ChatResponse, LlmError, LlmProvider, StopReason, Usage};

const NAME: &str = "scripted";

/// Replies with queued texts (or errors), in order.
#[derive(Debug, Default)]
pub struct ScriptedProvider {
    replies: Mutex<VecDeque<Result<String, LlmError>>>,
    requests: Mutex<Vec<ChatRequest>>,
}

impl ScriptedProvider {
    /// A provider that will answer with `replies`, in order.
    pub fn new(replies: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let provider = ScriptedProvider::default();
        for reply in replies {
            provider.push_reply(reply);
        }
        provider
    }

    /// Queues a reply.
    pub fn push_reply(&self, content: impl Into<String>) {
        lock(&self.replies).push_back(Ok(content.into()));
    }

    /// Queues an error (for testing how callers handle failures).
    pub fn push_error(&self, error: LlmError) {
        lock(&self.replies).push_back(Err(error));
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<ChatRequest> {
        lock(&self.requests).clone()
    }

    fn next(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        lock(&self.requests).push(req.clone());
        let content = lock(&self.replies).pop_front().unwrap_or_else(|| {
            Err(LlmError::BadResponse {
                provider: NAME,
                detail: "the script has no reply left".into(),
            })
        })?;
        let input_tokens = req
            .messages
            .iter()
            .map(|m| m.content.split_whitespace().count())
            .sum::<usize>();
        Ok(ChatResponse {
            usage: Usage {
                input_tokens: input_tokens as u32,
                output_tokens: content.split_whitespace().count() as u32,
            },
            model: req.model.clone().unwrap_or_else(|| NAME.into()),
            content,
            stop_reason: StopReason::Complete,
        })
    }
}

/// A poisoned lock only means another test thread panicked; the data is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LlmProvider for ScriptedProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn default_model(&self) -> &str {
        NAME
    }

    fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        self.next(req)
    }

    /// Hands out the reply word by word (each piece keeps its trailing whitespace).
    fn chat_stream(
        &self,
        req: &ChatRequest,
        on_token: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<ChatResponse, LlmError> {
        let mut reply = self.next(req)?;
        let full = std::mem::take(&mut reply.content);
        for piece in full.split_inclusive(char::is_whitespace) {
            reply.content.push_str(piece);
            if on_token(piece).is_break() {
                reply.stop_reason = StopReason::Cancelled;
                break;
            }
        }
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;

    #[test]
    fn replays_in_order_records_requests_and_streams_words() {
        let provider = ScriptedProvider::new(["first reply", r#"{"facts": []}"#, "a b c"]);
        let req = ChatRequest::new(vec![Message::user("hi there")]);
        let reply = provider.chat(&req).unwrap();
        assert_eq!(reply.content, "first reply");
        assert_eq!(
            reply.usage,
            Usage {
                input_tokens: 2,
                output_tokens: 2
            }
        );
        assert_eq!(
            provider.chat_json(&req).unwrap(),
            serde_json::json!({"facts": []})
        );
        let mut tokens = Vec::new();
        let reply = provider
            .chat_stream(&req, &mut |t| {
                tokens.push(t.to_string());
                if tokens.len() == 2 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
        assert_eq!(tokens, ["a ", "b "]);
        assert_eq!(
            (reply.content.as_str(), reply.stop_reason),
            ("a b ", StopReason::Cancelled)
        );
        assert_eq!(provider.requests().len(), 3);
        assert!(provider.chat(&req).is_err(), "script exhausted");
    }

    #[test]
    fn queued_errors_come_back() {
        let provider = ScriptedProvider::default();
        provider.push_error(LlmError::Config("boom".into()));
        let err = provider.chat(&ChatRequest::default()).unwrap_err();
        assert!(err.to_string().contains("boom"));
    }
}
