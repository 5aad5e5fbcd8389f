//! One chat session: records each exchange, assembles memory context, streams the model's
//! reply and turns inline memory tags into memories.
//!
//! Every turn goes through the pipeline's durable recording API
//! ([`Engine::record_turn`]): the turn and the jobs it makes due (extraction after the
//! reply, a summary every `summary_every` turns) are committed in one transaction, and the
//! in-process worker runs them while the conversation goes on. The user's turn is written
//! before the model is called, so nothing the user typed is lost if the model fails; a
//! reply that breaks off mid-stream is saved as far as it came, marked as partial.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use mnemo_core::{Actor, Job, NewTurn, Role, Scope};
use mnemo_engine::pipeline::tags::TagSource;
use mnemo_engine::tools::{self, Caller};
use mnemo_engine::{Context, Engine, Pattern};
use mnemo_llm::{ChatRequest, LlmConfig, LlmError, LlmProvider, StopReason, Task};
use serde_json::json;

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
    /// The pipeline jobs queued for this exchange (extraction, summaries).
    pub jobs: Vec<Job>,
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
        }
    }

    /// Sends one message; `show` receives reply text as it streams (tags already hidden).
    /// Model failures are reported in the [`Exchange`]; an error here is a storage error.
    pub fn send(
        &mut self,
        message: &str,
        show: &mut dyn FnMut(&str),
        cancel: &AtomicBool,
    ) -> Result<Exchange> {
        let user_turn = self
            .engine
            .record_turn(self.new_turn(Role::User, message, json!(null)))?;
        let mut ex = Exchange {
            jobs: user_turn.jobs,
            ..Exchange::default()
        };
        let request = self.request(message)?;
        let provider = match &self.provider {
            Ok(p) => p,
            Err(e) => {
                ex.failure = Some(copy_error(e));
                return Ok(ex);
            }
        };
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
        let (content, model) = match streamed {
            Ok(response) => {
                self.engine
                    .record_usage(&self.scope, "chat", provider.name(), &response)?;
                ex.cancelled = response.stop_reason == StopReason::Cancelled;
                ex.truncated = response.stop_reason == StopReason::MaxTokens;
                (response.content, Some(response.model))
            }
            Err(e) => {
                ex.failure = Some(e);
                (raw, None)
            }
        };
        let (clean, tags) = mnemo_llm::parse_memory_tags(&content);
        let stored = if clean.trim().is_empty() {
            content.trim()
        } else {
            clean.trim()
        };
        ex.reply = clean.trim().to_string();
        if stored.is_empty() {
            ex.empty = ex.failure.is_none() && !ex.cancelled;
            return Ok(ex);
        }
        let meta = json!({
            "model": model,
            "cancelled": ex.cancelled,
            "truncated": ex.truncated,
            "partial": ex.failure.is_some(),
            "error": ex.failure.as_ref().map(ToString::to_string),
            "memory_tags": tags.len(),
        });
        let assistant = self
            .engine
            .record_turn(self.new_turn(Role::Assistant, stored, meta))?;
        for job in assistant.jobs {
            if !ex.jobs.iter().any(|j| j.id == job.id) {
                ex.jobs.push(job);
            }
        }
        let sources = [user_turn.turn.id.clone(), assistant.turn.id.clone()];
        let source = TagSource {
            session_id: Some(&self.session_id),
            turns: &sources,
            model: model.as_deref(),
        };
        ex.remembered = self
            .engine
            .remember_tags(&self.scope, &tags, &source)?
            .iter()
            .map(|o| o.memory().content.clone())
            .collect();
        Ok(ex)
    }

    /// The request for `message`: the system prompt with the memory block, the replayed
    /// turns of this session, and the message (already recorded).
    fn request(&mut self, message: &str) -> Result<ChatRequest> {
        let req = tools::ContextToolRequest {
            message: message.to_owned(),
            session_id: Some(self.session_id.clone()),
            pattern: Some(self.pattern),
            budget_tokens: Some(self.budget_tokens),
            max_memories: None,
            max_recent_turns: None,
        };
        // This chat turns memory tags in replies into memories, so the model is told how.
        let system = format!(
            "{}\n\n{}",
            tools::SYSTEM_PROMPT,
            tools::MEMORY_TAG_INSTRUCTIONS
        );
        let prompt = tools::chat_prompt(self.engine, &self.caller(), req, &system)?;
        self.last_context = Some((prompt.system, prompt.context));
        Ok(ChatRequest::new(prompt.messages).with_model(self.llm.model_for(Task::Chat)))
    }

    fn new_turn(&self, role: Role, content: &str, meta: serde_json::Value) -> NewTurn {
        NewTurn {
            id: None,
            scope: self.scope.clone(),
            session_id: self.session_id.clone(),
            role,
            content: content.to_string(),
            created_at: None,
            meta,
        }
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
