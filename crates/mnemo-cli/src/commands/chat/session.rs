//! One chat session: records each exchange, assembles memory context, streams the model's
//! reply and turns inline memory tags into memories. The user's turn is written before the
//! model is called, so nothing the user typed is lost if the model fails.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use mnemo_core::{NewTurn, Role, Scope};
use mnemo_engine::pipeline::tags::TagSource;
use mnemo_engine::{Context, ContextRequest, Engine, Pattern};
use mnemo_llm::{ChatRequest, LlmConfig, LlmError, LlmProvider, Message, Task};
use serde_json::json;

use super::tagfilter::TagFilter;

/// The assistant's standing instructions; the memory block is appended below them.
const SYSTEM_PROMPT: &str = "You are a helpful, persistent assistant with long-term memory of \
this user. Use what you remember naturally, without announcing that you are using memory. Be \
concise, direct and useful.\n\nWhen the user tells you something worth remembering for future \
conversations (who they are, their preferences, projects, decisions, plans), add on its own line \
a tag of the form [MEMORY: kind|the fact] where kind is one of fact, preference, plan, decision, \
task, risk. Use it only for durable facts, never for small talk.";

/// What one exchange produced.
#[derive(Debug)]
pub struct Exchange {
    pub cancelled: bool,
    /// Contents of the memories stored from tags in the reply.
    pub remembered: Vec<String>,
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
    /// Sends one message; `show` receives reply text as it streams (tags already hidden).
    pub fn send(
        &mut self,
        message: &str,
        show: &mut dyn FnMut(&str),
        cancel: &AtomicBool,
    ) -> Result<Exchange> {
        let user_turn = self
            .engine
            .add_turn(self.new_turn(Role::User, message, json!(null)))?;
        let mut req = ContextRequest::new(self.scope.clone(), self.session_id.clone(), message);
        req.pattern = self.pattern;
        req.budget_tokens = self.budget_tokens;
        let ctx = self.engine.assemble_context(&req)?;
        let system = match &ctx.memory_block {
            Some(block) => format!("{SYSTEM_PROMPT}\n\n{block}"),
            None => SYSTEM_PROMPT.to_string(),
        };
        let mut messages = vec![Message::system(system.clone())];
        for t in &ctx.recent_turns {
            messages.push(match t.role {
                Role::Assistant => Message::assistant(t.content.clone()),
                _ => Message::user(t.content.clone()),
            });
        }
        messages.push(Message::user(message));
        self.last_context = Some((system, ctx));
        let provider = self.provider.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
        let request = ChatRequest::new(messages).with_model(self.llm.model_for(Task::Chat));
        let mut filter = TagFilter::default();
        cancel.store(false, Ordering::SeqCst);
        let response = provider.chat_stream(&request, &mut |piece| {
            show(&filter.push(piece));
            if cancel.load(Ordering::SeqCst) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        show(&filter.finish());
        let cancelled = response.stop_reason == mnemo_llm::StopReason::Cancelled;
        let (clean, tags) = mnemo_llm::parse_memory_tags(&response.content);
        let meta =
            json!({ "model": response.model, "cancelled": cancelled, "memory_tags": tags.len() });
        let stored = if clean.trim().is_empty() {
            response.content.trim()
        } else {
            clean.trim()
        };
        let assistant_turn = if stored.is_empty() {
            None
        } else {
            Some(
                self.engine
                    .add_turn(self.new_turn(Role::Assistant, stored, meta))?,
            )
        };
        let mut sources = vec![user_turn.id.clone()];
        sources.extend(assistant_turn.as_ref().map(|t| t.id.clone()));
        self.engine
            .record_usage(&self.scope, "chat", provider.name(), &response)?;
        let source = TagSource {
            session_id: Some(&self.session_id),
            turns: &sources,
            model: Some(&response.model),
        };
        let remembered = self
            .engine
            .remember_tags(&self.scope, &tags, &source)?
            .iter()
            .map(|o| o.memory().content.clone())
            .collect();
        Ok(Exchange {
            cancelled,
            remembered,
        })
    }

    fn new_turn(&self, role: Role, content: &str, meta: serde_json::Value) -> NewTurn {
        NewTurn {
            scope: self.scope.clone(),
            session_id: self.session_id.clone(),
            role,
            content: content.to_string(),
            created_at: None,
            meta,
        }
    }
}
