//! The trait every provider implements. It is object safe so the engine can hold a
//! `Box<dyn LlmProvider>` chosen at run time from the config, and synchronous because the
//! engine is: a background job or a REPL turn simply blocks on the call.

use std::ops::ControlFlow;

use crate::{extract_json, ChatRequest, ChatResponse, LlmError};

/// A chat model behind some API.
pub trait LlmProvider: Send + Sync {
    /// `"ollama"`, `"openai"` or `"anthropic"` (static so errors can carry it).
    fn name(&self) -> &'static str;

    /// The model used when a request names none.
    fn default_model(&self) -> &str;

    /// Sends the conversation and waits for the whole reply. Retries rate limits, server
    /// errors and broken connections as configured.
    fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError>;

    /// Like [`chat`](Self::chat), but hands each piece of text to `on_token` as it arrives.
    /// Returning `ControlFlow::Break(())` stops reading (the connection is dropped, which
    /// also stops generation on the server) and returns what was received so far with
    /// [`StopReason::Cancelled`](crate::StopReason::Cancelled). Only the request itself is
    /// retried: once text has been handed out, a broken stream is an error.
    fn chat_stream(
        &self,
        req: &ChatRequest,
        on_token: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<ChatResponse, LlmError>;

    /// Structured output: sends `req` (which should carry a `json_schema`) and parses the
    /// reply with [`extract_json`], which also repairs what small models get wrong.
    fn chat_json(&self, req: &ChatRequest) -> Result<serde_json::Value, LlmError> {
        let reply = self.chat(req)?;
        extract_json(&reply.content).map_err(|e| LlmError::BadResponse {
            provider: self.name(),
            detail: format!("the model's reply is not JSON: {e}"),
        })
    }
}
