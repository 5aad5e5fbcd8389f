//! One chat session: records each exchange, assembles memory context, streams the model's
//! reply and turns inline memory tags into memories.
//!
//! The exchange itself (record the user's turn before the model is called, build the
//! prompt, record the reply with its usage and memory tags) is the tools layer's one
//! exchange, the same as the web UI's chat and the proxy; the turns and the jobs they make
//! due commit together and the in-process worker runs them while the conversation goes
//! on. A reply that breaks off mid-stream is saved as far as it came, marked as partial.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use mnemo_core::{Actor, Scope};
use mnemo_engine::tools::{self, Caller, ExchangeRequest, Face, ModelReply};
use mnemo_engine::{Context, Engine, Pattern};
use mnemo_llm::{ChatRequest, LlmConfig, LlmError, LlmProvider, StopReason, Task};

use super::tagfilter::TagFilter;

/// What one exchange produced. The user's turn is always recorded; the rest depends on
/// how the model answered.
#[derive(Debug, Default)]
pub struct Exchange {
    /// The reply as shown (memory tags removed); partial when cancelled or broken off.
    pub reply: String,
    /// Ctrl-C stopped the reply.
    pub cancelled: bool,
    /// The model's output limit cut the reply.
    pub truncated: bool,
    /// The model answered with nothing at all.
    pub empty: bool,
    /// Why there is no (complete) reply: the model could not be used, or its stream broke.
    pub failure: Option<LlmError>,
    /// Contents of the memories stored from tags in the reply.
    pub remembered: Vec<String>,
    /// Ids of the pipeline jobs queued for this exchange (extraction, summaries).
    pub job_ids: Vec<String>,
}

/// A chat session bound to one user and session id.
pub struct ChatSession<'a> {
    pub engine: &'a Engine,
    pub provider: Result<Box<dyn LlmProvider>, LlmError>,
    pub llm: LlmConfig,
    pub scope: Scope,
    pub session_id: String,
    pub pattern: Pattern,
    pub budget_tokens: u32,
    /// What was sent with the last message (for `/context`).
    pub last_context: Option<(String, Context)>,
}

impl ChatSession<'_> {
    /// The tools layer's caller for this chat: its user and agent, changes recorded as the
    /// user's (the slash commands are the user speaking).
    pub fn caller(&self) -> Caller {
        Caller {
            user_id: self.scope.user_id.clone(),
            agent_id: self.scope.agent_id.clone(),
            admin: false,
            actor: Actor::User,
            reach: tools::Reach::Bounded,
        }
    }

    /// Sends one message; `show` receives reply text as it streams (tags already hidden).
    /// Model failures are reported in the [`Exchange`]; an error here is a storage error.
    /// What an exchange records is the tools layer's (`begin_exchange`/`finish_exchange`,
    /// shared with the web UI's chat and the proxy); this keeps the terminal's streaming.
    pub fn send(
        &mut self,
        message: &str,
        show: &mut dyn FnMut(&str),
        cancel: &AtomicBool,
    ) -> Result<Exchange> {
        let mut req = ExchangeRequest::new(Face::Terminal, Some(self.session_id.clone()), message);
        // This chat turns memory tags in replies into memories, so the model is told how.
        req.memory_tags = true;
        req.pattern = Some(self.pattern);
        req.budget_tokens = Some(self.budget_tokens);
        let begun = tools::begin_exchange(self.engine, &self.caller(), req)?;
        self.last_context = Some((begun.prompt.system.clone(), begun.prompt.context.clone()));
        let mut ex = Exchange {
            job_ids: begun.job_ids.clone(),
            ..Exchange::default()
        };
        let provider = match &self.provider {
            Ok(p) => p,
            Err(e) => {
                ex.failure = Some(copy_error(e));
                return Ok(ex);
            }
        };
        let request = ChatRequest::new(begun.prompt.messages.clone())
            .with_model(self.llm.model_for(Task::Chat));
        let mut filter = TagFilter::default();
        let mut raw = String::new();
        cancel.store(false, Ordering::SeqCst);
        let streamed = provider.chat_stream(&request, &mut |piece| {
            raw.push_str(piece);
            show(&filter.push(piece));
            if cancel.load(Ordering::SeqCst) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        show(&filter.finish());
        let reply = match streamed {
            Ok(r) => {
                ex.cancelled = r.stop_reason == StopReason::Cancelled;
                ex.truncated = r.stop_reason == StopReason::MaxTokens;
                ModelReply {
                    content: r.content,
                    model: Some(r.model),
                    provider: provider.name().to_owned(),
                    usage: Some((r.usage.input_tokens.into(), r.usage.output_tokens.into())),
                    cancelled: ex.cancelled,
                    truncated: ex.truncated,
                    error: None,
                }
            }
            Err(e) => {
                let reply = ModelReply {
                    content: raw,
                    provider: provider.name().to_owned(),
                    error: Some(e.to_string()),
                    ..ModelReply::default()
                };
                ex.failure = Some(e);
                reply
            }
        };
        let done = tools::finish_exchange(self.engine, &begun, &reply)?;
        for warning in &done.warnings {
            eprintln!("[warning] {warning}");
        }
        ex.reply = done.reply;
        ex.empty = done.turn.is_none() && ex.failure.is_none() && !ex.cancelled;
        ex.job_ids = done.job_ids;
        ex.remembered = done.remembered.into_iter().map(|m| m.content).collect();
        Ok(ex)
    }
}

/// The provider could not be built; each exchange reports the same error again.
fn copy_error(e: &LlmError) -> LlmError {
    match e {
        LlmError::MissingApiKey { provider, env_var } => {
            LlmError::MissingApiKey { provider, env_var }
        }
        other => LlmError::Config(other.to_string()),
    }
}

/// Whether an error is about reaching the model at all (as opposed to the model or the
/// server refusing the request, or a configuration problem).
pub fn is_unreachable(e: &LlmError) -> bool {
    matches!(
        e,
        LlmError::Unreachable { .. } | LlmError::Connection { .. } | LlmError::Timeout { .. }
    )
}
