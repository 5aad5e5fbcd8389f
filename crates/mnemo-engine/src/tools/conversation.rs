//! Conversation tools: record messages (the pipeline queued, never waited for), assemble
//! the context for a message within a token budget (what the chat injects), sessions with
//! their turns, session summaries and topics.

use std::collections::BTreeSet;

use mnemo_core::{NewTurn, Role, Session, SessionSummary, Topic, Turn, TurnFilter};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::memories::{own_session, session_for_write};
use super::{limit, parse_time, Caller, Reach, ToolError, ToolResult};
use crate::engine::check_turn;
use crate::{tokens, Context, ContextRequest, Engine, Pattern};

/// Most messages one call records.
const MAX_MESSAGES: usize = 100;

/// One turn of a conversation, to record.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TurnIn {
    /// `user`, `assistant`, `system` or `tool`.
    pub role: Role,
    /// The message text.
    #[schemars(regex(pattern = r"\S"))]
    pub content: String,
    /// When it was said (RFC 3339); default now.
    pub created_at: Option<String>,
}

/// Turns to record, in order, in one session.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTurnsRequest {
    /// The session: an id of the caller's, or a new id to start one; default a new session.
    pub session_id: Option<String>,
    /// 1 to 100 turns (`messages`, the former name, is still accepted).
    #[schemars(length(min = 1, max = 100))]
    #[serde(alias = "messages")]
    pub turns: Vec<TurnIn>,
    /// Makes the call safe to retry (after a timeout, or through another server): a call
    /// whose key was already used records nothing and answers with what the first call
    /// recorded. A new key per batch of messages, e.g. a UUID (1 to 200 characters).
    #[schemars(length(min = 1, max = 200))]
    pub idempotency_key: Option<String>,
}

/// What was recorded, and the pipeline jobs now queued for the session.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AddTurnsResponse {
    pub session_id: String,
    pub turns: Vec<Turn>,
    /// Ids of the jobs queued (extraction, summaries); they run in the background.
    pub job_ids: Vec<String>,
    /// True when the `idempotency_key` was used before: nothing new was recorded, `turns`
    /// are what the first call recorded (and `job_ids` is empty).
    pub replayed: bool,
}

/// Records messages: all are durable when this returns (or none is written); no model is
/// called here.
pub fn add_turns(
    engine: &Engine,
    caller: &Caller,
    req: AddTurnsRequest,
) -> ToolResult<AddTurnsResponse> {
    if req.turns.is_empty() || req.turns.len() > MAX_MESSAGES {
        return Err(ToolError::invalid(
            "messages",
            format!("give 1 to {MAX_MESSAGES} messages"),
        ));
    }
    let turn_ids = match req.idempotency_key.as_deref() {
        Some(key) => Some(idempotent_ids(caller, key, req.turns.len())?),
        None => None,
    };
    if let Some(ids) = &turn_ids {
        if let Some(earlier) = replay(engine, caller, ids, &req.turns)? {
            return Ok(earlier);
        }
    }
    let session_id = session_for_write(engine, caller, req.session_id)?;
    let assistant = req.turns.iter().any(|m| m.role == Role::Assistant);
    let mut pairs = Vec::with_capacity(req.turns.len());
    for (i, m) in req.turns.iter().cloned().enumerate() {
        let mut turn = NewTurn {
            id: turn_ids.as_ref().map(|ids| ids[i].clone()),
            scope: caller.scope(),
            session_id: session_id.clone(),
            role: m.role,
            content: m.content,
            created_at: parse_time("created_at", m.created_at.as_deref())?,
            meta: serde_json::Value::Null,
        };
        check_turn(&mut turn, engine.settings().secrets)?;
        let tokens = tokens::count(&turn.content);
        pairs.push((turn, tokens));
    }
    // All the messages and the jobs they make due in one transaction, as
    // `Engine::record_exchange` does for a chat exchange: all or nothing.
    let ranges = engine.pipeline.settings.ranges_after_turn(assistant);
    let (turns, jobs) = match engine
        .store()
        .add_turns_with_jobs(&pairs, &ranges, engine.now())
    {
        Ok(done) => done,
        Err(e) => {
            // The same key through two servers at once: one insert wins, the other finds
            // its turns.
            if let Some(ids) = &turn_ids {
                if let Some(earlier) = replay(engine, caller, ids, &req.turns)? {
                    return Ok(earlier);
                }
            }
            return Err(e.into());
        }
    };
    engine.index_turns(&turns);
    engine.pipeline.bell.ring();
    let job_ids: BTreeSet<String> = jobs.into_iter().map(|j| j.id).collect();
    Ok(AddTurnsResponse {
        session_id,
        turns,
        job_ids: job_ids.into_iter().collect(),
        replayed: false,
    })
}

/// The turn ids a call with `key` stores its messages under: derived from the user and
/// the key, so a retry names the same turns and cannot store them twice (the ids are
/// primary keys), whichever server it reaches.
fn idempotent_ids(caller: &Caller, key: &str, n: usize) -> ToolResult<Vec<String>> {
    use sha2::{Digest, Sha256};
    let key = key.trim();
    if key.is_empty() || key.chars().count() > 200 {
        return Err(ToolError::invalid(
            "idempotency_key",
            "give 1 to 200 characters (a new key per batch of messages, e.g. a UUID)",
        ));
    }
    Ok((0..n)
        .map(|i| {
            let digest = Sha256::new()
                .chain_update(caller.user_id.as_bytes())
                .chain_update([0x1f])
                .chain_update(key.as_bytes())
                .chain_update([0x1f])
                .chain_update(i.to_string().as_bytes())
                .finalize();
            digest[..16].iter().map(|b| format!("{b:02x}")).collect()
        })
        .collect())
}

/// What an earlier call with the same key recorded, if there was one. The key used for
/// other messages is refused (409) rather than answered with turns the caller did not send.
fn replay(
    engine: &Engine,
    caller: &Caller,
    ids: &[String],
    messages: &[TurnIn],
) -> ToolResult<Option<AddTurnsResponse>> {
    let turns = engine.store().get_turns(&caller.user_id, ids)?;
    if turns.is_empty() {
        return Ok(None);
    }
    let same = turns.len() == messages.len()
        && turns
            .iter()
            .zip(messages)
            .all(|(t, m)| t.role == m.role && crate::secrets::stored_as(&t.content, &m.content));
    if !same {
        return Err(ToolError::conflict(
            "idempotency_key_reused",
            "this idempotency_key was used for other messages; use a new key for each batch",
        ));
    }
    Ok(Some(AddTurnsResponse {
        session_id: turns[0].session_id.clone(),
        turns,
        job_ids: Vec::new(),
        replayed: true,
    }))
}

/// What context to assemble.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextToolRequest {
    /// The new message the reply will answer.
    #[schemars(regex(pattern = r"\S"))]
    pub message: String,
    /// The conversation it belongs to (its recent turns are replayed).
    pub session_id: Option<String>,
    /// `hybrid` (default), `buffer`, `summary` or `vector`.
    pub pattern: Option<Pattern>,
    /// Tokens for the memory block and replayed turns together (default 2000, 100..=32000).
    #[schemars(range(min = 100, max = 32000))]
    pub budget_tokens: Option<u32>,
    /// Most relevant memories considered (default 8, at most 50).
    #[schemars(range(min = 1))]
    pub max_memories: Option<u32>,
    /// Most recent turns replayed (default 20, at most 200).
    #[schemars(range(min = 1))]
    pub max_recent_turns: Option<u32>,
}

/// Assembles the memory context for a message of the caller's.
pub fn context(engine: &Engine, caller: &Caller, req: ContextToolRequest) -> ToolResult<Context> {
    if req.message.trim().is_empty() {
        return Err(ToolError::invalid(
            "message",
            "the message is empty; give the text the reply will answer",
        ));
    }
    let session = match req.session_id.filter(|s| !s.trim().is_empty()) {
        Some(id) => own_session(engine, caller, &id)?,
        None => String::new(),
    };
    let budget = req.budget_tokens.unwrap_or(2000);
    if !(100..=32_000).contains(&budget) {
        return Err(ToolError::invalid("budget_tokens", "give 100 to 32000"));
    }
    let mut cr = ContextRequest::new(caller.scope(), session, req.message);
    cr.pattern = req.pattern.unwrap_or_default();
    cr.budget_tokens = budget;
    cr.max_memories = limit(req.max_memories, 8, 50)?;
    cr.max_recent_turns = limit(req.max_recent_turns, 20, 200)?;
    Ok(engine.assemble_context(&cr)?)
}

/// Which sessions to list.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionsRequest {
    /// Most sessions (default 50, at most 500).
    #[schemars(range(min = 1))]
    pub limit: Option<u32>,
    /// Also count each session's turns (`turn_counts` in the answer).
    #[serde(default)]
    pub count_turns: bool,
}

/// Sessions, newest first.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SessionsResponse {
    pub sessions: Vec<Session>,
    /// Each session's number of turns, in the order of `sessions`, with `count_turns`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn_counts: Option<Vec<usize>>,
}

/// The caller's sessions.
pub fn sessions(
    engine: &Engine,
    caller: &Caller,
    req: SessionsRequest,
) -> ToolResult<SessionsResponse> {
    let n = match caller.reach {
        Reach::Local => req.limit.map(|n| n as usize),
        Reach::Bounded => Some(limit(req.limit, 50, 500)?),
    };
    let sessions = engine.sessions(&caller.scope(), n)?;
    let turn_counts = if req.count_turns {
        let counts = sessions
            .iter()
            .map(|s| {
                let filter = TurnFilter {
                    scope: Some(mnemo_core::Scope::user(caller.user_id.clone())),
                    session_id: Some(s.id.clone()),
                    ..Default::default()
                };
                Ok(engine.turns(&filter)?.len())
            })
            .collect::<ToolResult<Vec<_>>>()?;
        Some(counts)
    } else {
        None
    };
    Ok(SessionsResponse {
        sessions,
        turn_counts,
    })
}

/// A session with its turns and summaries.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SessionResponse {
    pub session: Session,
    /// In conversation order.
    pub turns: Vec<Turn>,
    pub summaries: Vec<SessionSummary>,
}

/// One session of the caller's by id or prefix.
pub fn get_session(engine: &Engine, caller: &Caller, id: &str) -> ToolResult<SessionResponse> {
    let session = engine.session(&caller.user_id, id)?;
    let turns = engine.turns(&TurnFilter {
        scope: Some(mnemo_core::Scope::user(caller.user_id.clone())),
        session_id: Some(session.id.clone()),
        ..Default::default()
    })?;
    let summaries = engine
        .store()
        .list_summaries(&session_scope(&session), Some(&session.id))?;
    Ok(SessionResponse {
        session,
        turns,
        summaries,
    })
}

fn session_scope(s: &Session) -> mnemo_core::Scope {
    mnemo_core::Scope::user(s.user_id.clone()).with_agent(s.agent_id.clone())
}

/// Which summaries to list.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummariesRequest {
    /// Only this session of the caller's.
    pub session_id: Option<String>,
}

/// Session summaries, oldest first.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SummariesResponse {
    pub summaries: Vec<SessionSummary>,
}

/// The caller's session summaries.
pub fn summaries(
    engine: &Engine,
    caller: &Caller,
    req: SummariesRequest,
) -> ToolResult<SummariesResponse> {
    let session = req
        .session_id
        .map(|s| own_session(engine, caller, &s))
        .transpose()?;
    Ok(SummariesResponse {
        summaries: engine
            .store()
            .list_summaries(&caller.scope(), session.as_deref())?,
    })
}

/// Topics with their summaries, by name.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TopicsResponse {
    pub topics: Vec<Topic>,
}

/// The caller's topics.
pub fn topics(engine: &Engine, caller: &Caller) -> ToolResult<TopicsResponse> {
    Ok(TopicsResponse {
        topics: engine.store().list_topics(&caller.scope())?,
    })
}
