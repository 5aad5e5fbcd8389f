//! One exchange with a chat model, the same for every face that has one: the terminal
//! chat, the web UI's chat and the OpenAI-compatible proxy. Each face keeps only what is
//! its own (how it calls the model, streams, and speaks its wire format); what an exchange
//! *does* is here, once:
//!
//! 1. [`begin_exchange`] records the user's message (durable before any model call; a
//!    message that is already the session's last turn, unanswered, is a client's retry and
//!    is not recorded twice), assembles the context for it and builds the prompt;
//! 2. the face calls the model;
//! 3. [`finish_exchange`] records the reply (empty replies are not recorded; a cancelled or
//!    broken-off one is recorded as far as it came) with one shape of turn metadata, turns
//!    the reply's memory tags into memories when the face asked the model for them, and
//!    counts the call's tokens in `mnemo usage` under the face's task name.
//!
//! A failure to count usage never fails an exchange whose reply is already recorded: it
//! is returned as a warning for the face to log.

use mnemo_core::{Memory, NewTurn, Role, Turn, TurnFilter, UsageRecord};
use serde_json::json;

use super::{add_turns, chat_prompt, AddTurnsRequest, Caller, ChatPrompt, TurnIn};
use super::{ContextToolRequest, ToolError, ToolResult, MEMORY_TAG_INSTRUCTIONS};
use crate::pipeline::tags::TagSource;
use crate::{tokens, Engine, Pattern};

/// The face an exchange came through: its turns' `meta.via` and its usage task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// `mnemo chat` in a terminal.
    Terminal,
    /// The web UI's chat page.
    WebUi,
    /// `POST /v1/chat/completions` of `mnemo serve`.
    Proxy,
}

impl Face {
    /// The name in a reply turn's `meta.via` and in `mnemo usage --by task`.
    pub fn name(self) -> &'static str {
        match self {
            Face::Terminal => "chat",
            Face::WebUi => "web-ui",
            Face::Proxy => "proxy",
        }
    }
}

/// What to begin an exchange with.
#[derive(Debug, Clone)]
pub struct ExchangeRequest {
    pub face: Face,
    /// The conversation to continue (id or unique prefix of the caller's), or a new one.
    pub session_id: Option<String>,
    pub message: String,
    /// The system prompt, before the memory block.
    pub system: String,
    /// Ask the model for `[MEMORY: kind|fact]` tags and store them as memories.
    pub memory_tags: bool,
    pub pattern: Option<Pattern>,
    pub budget_tokens: Option<u32>,
    /// Recent turns of the session to replay (a proxy's client sends its own history).
    pub max_recent_turns: Option<u32>,
}

impl ExchangeRequest {
    /// A request with the default system prompt and context settings.
    pub fn new(face: Face, session_id: Option<String>, message: impl Into<String>) -> Self {
        ExchangeRequest {
            face,
            session_id,
            message: message.into(),
            system: super::SYSTEM_PROMPT.to_owned(),
            memory_tags: false,
            pattern: None,
            budget_tokens: None,
            max_recent_turns: None,
        }
    }
}

/// An exchange whose user turn is recorded and whose prompt is ready.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub caller: Caller,
    pub face: Face,
    /// The session's full id.
    pub session_id: String,
    /// The user's turn: recorded now, or the same message recorded by an earlier try.
    pub user_turn: Turn,
    /// Whether this exchange recorded the user's turn (false for a retry).
    pub recorded: bool,
    /// Ids of the pipeline jobs recording the user's turn queued.
    pub job_ids: Vec<String>,
    /// The system message, the messages and the context they were built from.
    pub prompt: ChatPrompt,
    memory_tags: bool,
}

/// How a model call ended, as the face saw it.
#[derive(Debug, Clone, Default)]
pub struct ModelReply {
    /// The text as generated, tags included; as far as it came when it broke off.
    pub content: String,
    /// The model that answered, as the provider names it.
    pub model: Option<String>,
    /// The provider ("openai", "ollama", ...) for usage.
    pub provider: String,
    /// Tokens in and out as the provider reported them; counted here when it did not.
    pub usage: Option<(u64, u64)>,
    /// The person (or client) stopped it.
    pub cancelled: bool,
    /// The model's output limit cut it.
    pub truncated: bool,
    /// Why it broke off or never came (the model could not be used, its stream broke).
    pub error: Option<String>,
}

/// What finishing an exchange did.
#[derive(Debug, Clone, Default)]
pub struct Finished {
    /// The reply as shown, memory tags removed.
    pub reply: String,
    /// The reply's turn; `None` when there was nothing to record.
    pub turn: Option<Turn>,
    /// Ids of every pipeline job the exchange queued (the user turn's and the reply's).
    pub job_ids: Vec<String>,
    /// Memories stored from the reply's tags.
    pub remembered: Vec<Memory>,
    /// What went wrong that the face should log but not show as a failure.
    pub warnings: Vec<String>,
}

/// Step 1: records the user's message and builds the prompt for it.
pub fn begin_exchange(
    engine: &Engine,
    caller: &Caller,
    req: ExchangeRequest,
) -> ToolResult<Exchange> {
    let (session_id, user_turn, recorded, job_ids) =
        match retried(engine, caller, req.session_id.as_deref(), &req.message)? {
            Some(turn) => (turn.session_id.clone(), turn, false, Vec::new()),
            None => {
                let added = add_turns(
                    engine,
                    caller,
                    AddTurnsRequest {
                        session_id: req.session_id,
                        turns: vec![TurnIn {
                            role: Role::User,
                            content: req.message.clone(),
                            created_at: None,
                        }],
                        idempotency_key: None,
                    },
                )?;
                let turn = added.turns.into_iter().next().ok_or_else(|| {
                    ToolError::from(mnemo_core::Error::Storage(
                        "the user's turn was not recorded".into(),
                    ))
                })?;
                (added.session_id, turn, true, added.job_ids)
            }
        };
    let system = if req.memory_tags {
        format!("{}\n\n{MEMORY_TAG_INSTRUCTIONS}", req.system)
    } else {
        req.system
    };
    // The model is sent the message as stored: a secret in it is masked (and masked anyway
    // under `[privacy] secrets = "keep"`: the chat model never needs it).
    let context = ContextToolRequest {
        message: crate::secrets::masked(&user_turn.content).into_owned(),
        session_id: Some(session_id.clone()),
        pattern: req.pattern,
        budget_tokens: req.budget_tokens,
        max_memories: None,
        max_recent_turns: req.max_recent_turns,
    };
    let prompt = chat_prompt(engine, caller, context, &system)?;
    Ok(Exchange {
        caller: caller.clone(),
        face: req.face,
        session_id,
        user_turn,
        recorded,
        job_ids,
        prompt,
        memory_tags: req.memory_tags,
    })
}

/// The session's last turn when it is this very message from the user, unanswered: a
/// client retrying (OpenAI clients retry 5xx and timeouts by themselves, a person resends
/// after a failure) must not record it twice.
fn retried(
    engine: &Engine,
    caller: &Caller,
    session_id: Option<&str>,
    message: &str,
) -> ToolResult<Option<Turn>> {
    let Some(id) = session_id.filter(|s| !s.trim().is_empty()) else {
        return Ok(None);
    };
    let session = match engine.session(&caller.user_id, id) {
        Ok(s) => s,
        Err(mnemo_core::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let last = engine.turns(&TurnFilter {
        scope: Some(caller.scope()),
        session_id: Some(session.id),
        newest_first: true,
        limit: Some(1),
        ..Default::default()
    })?;
    Ok(last
        .into_iter()
        .next()
        .filter(|t| t.role == Role::User && crate::secrets::stored_as(&t.content, message)))
}

/// Step 3: records the reply, its memory tags and its usage.
pub fn finish_exchange(engine: &Engine, ex: &Exchange, reply: &ModelReply) -> ToolResult<Finished> {
    let mut done = Finished {
        job_ids: ex.job_ids.clone(),
        ..Finished::default()
    };
    if reply.error.is_none() || reply.usage.is_some() {
        if let Err(e) = record_usage(engine, ex, reply) {
            done.warnings
                .push(format!("the reply's token usage was not recorded: {e}"));
        }
    }
    let (shown, tags) = if ex.memory_tags {
        mnemo_llm::parse_memory_tags(&reply.content)
    } else {
        (reply.content.clone(), Vec::new())
    };
    done.reply = shown.trim().to_owned();
    // A reply that was nothing but tags is stored as it came, so the log says what the
    // assistant did.
    let stored = if done.reply.is_empty() {
        reply.content.trim()
    } else {
        done.reply.as_str()
    };
    if stored.is_empty() {
        return Ok(done);
    }
    let meta = reply_meta(ex.face.name(), reply, tags.len());
    let recorded = engine.record_turn(NewTurn {
        id: None,
        scope: ex.caller.scope(),
        session_id: ex.session_id.clone(),
        role: Role::Assistant,
        content: stored.to_owned(),
        created_at: None,
        meta,
    })?;
    for job in recorded.jobs {
        if !done.job_ids.contains(&job.id) {
            done.job_ids.push(job.id);
        }
    }
    if !tags.is_empty() {
        let sources = [ex.user_turn.id.clone(), recorded.turn.id.clone()];
        let source = TagSource {
            session_id: Some(&ex.session_id),
            turns: &sources,
            model: reply.model.as_deref(),
        };
        done.remembered = engine
            .remember_tags(&ex.caller.scope(), &tags, &source)?
            .iter()
            .map(|o| o.memory().clone())
            .collect();
    }
    done.turn = Some(recorded.turn);
    Ok(done)
}

/// The one shape of a reply turn's `meta`, whichever way the exchange was recorded.
pub(crate) fn reply_meta(via: &str, reply: &ModelReply, memory_tags: usize) -> serde_json::Value {
    json!({
        "via": via,
        "model": reply.model,
        "cancelled": reply.cancelled,
        "truncated": reply.truncated,
        "partial": reply.error.is_some(),
        "error": reply.error,
        "memory_tags": memory_tags,
    })
}

/// Counts the call under the face's task: the provider's figures, or the prompt and the
/// reply counted with the tokenizer when it gave none (a stream without usage).
fn record_usage(engine: &Engine, ex: &Exchange, reply: &ModelReply) -> mnemo_core::Result<()> {
    let (input, output) = reply.usage.unwrap_or_else(|| {
        let prompt: u32 = ex
            .prompt
            .messages
            .iter()
            .map(|m| tokens::count(&m.content))
            .sum();
        (u64::from(prompt), u64::from(tokens::count(&reply.content)))
    });
    let scope = ex.caller.scope();
    engine.store().record_usage(&UsageRecord {
        job_id: None,
        user_id: scope.user_id,
        agent_id: scope.agent_id,
        task: ex.face.name().to_owned(),
        provider: reply.provider.clone(),
        model: reply.model.clone().unwrap_or_else(|| "unknown".to_owned()),
        input_tokens: input,
        output_tokens: output,
        at: engine.now(),
    })
}
