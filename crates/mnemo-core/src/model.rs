//! The records mnemo keeps.
//!
//! - [`Turn`]: one message of a conversation. The log of turns is the source of truth and
//!   is never rewritten by the pipeline (summaries stop replaying turns; they do not
//!   delete them).
//! - [`Memory`]: a durable unit derived from turns or added by hand. A change of meaning
//!   closes the old memory (`valid_to`) and opens a new one, so both "what is true now"
//!   and "what was true on date X" can be answered; every change is a [`HistoryEvent`].
//! - [`Topic`]: a named group of memories with a summary (the seeds' "scene").
//! - [`SessionSummary`]: a summary of a range of turns of one session.
//!
//! Every record carries a [`Scope`]: a user and optionally an agent. Nothing crosses
//! users unless a caller asks for it explicitly.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::time::{serde_ts, TimestampSchema};
use crate::{Actor, Kind, Op, Role, Timestamp};

/// Who a record belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Scope {
    pub user_id: String,
    /// `None` means "the user's own memory, shared by all their agents".
    pub agent_id: Option<String>,
}

impl Scope {
    /// A user-wide scope.
    pub fn user(user_id: impl Into<String>) -> Self {
        Scope {
            user_id: user_id.into(),
            agent_id: None,
        }
    }

    /// A scope narrowed to one agent of a user.
    pub fn with_agent(mut self, agent_id: Option<String>) -> Self {
        self.agent_id = agent_id;
        self
    }
}

/// A conversation session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub agent_id: Option<String>,
    #[serde(with = "serde_ts")]
    #[schemars(with = "TimestampSchema")]
    pub started_at: Timestamp,
    #[serde(with = "serde_ts::option")]
    #[schemars(with = "Option<TimestampSchema>")]
    pub ended_at: Option<Timestamp>,
    /// Free-form metadata (a title, the client that created it, ...).
    #[serde(default)]
    pub meta: Value,
}

/// A turn to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTurn {
    /// The id to store it under; `None` (almost always) makes a new random one. Given only
    /// when the id must be the same on a retry (`idempotency_key` of the tools layer): a
    /// second insert of the same id fails instead of storing the turn twice.
    pub id: Option<String>,
    pub scope: Scope,
    pub session_id: String,
    pub role: Role,
    pub content: String,
    /// When it was said; `None` means now.
    pub created_at: Option<Timestamp>,
    pub meta: Value,
}

/// One message of a conversation, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Turn {
    pub id: String,
    pub user_id: String,
    pub agent_id: Option<String>,
    pub session_id: String,
    /// Position in the session, from 1.
    pub seq: i64,
    pub role: Role,
    pub content: String,
    #[serde(with = "serde_ts")]
    #[schemars(with = "TimestampSchema")]
    pub created_at: Timestamp,
    /// Tokens in `content`, counted by a real tokenizer when the turn was recorded; 0 when
    /// it was recorded by a process that had not loaded the tokenizer ("not counted yet":
    /// `mnemo_engine::tokens::of_turn` counts it when needed).
    pub tokens: u32,
    #[serde(default)]
    pub meta: Value,
}

/// A durable memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Memory {
    pub id: String,
    pub user_id: String,
    pub agent_id: Option<String>,
    /// The session it was learned in, when it came from a conversation.
    pub session_id: Option<String>,
    pub kind: Kind,
    /// Optional key: at most one current memory per (scope, key); a new value supersedes.
    pub key: Option<String>,
    pub content: String,
    pub topic: Option<String>,
    /// Importance in 0..=1, as assigned; decay is applied at ranking time, not stored.
    pub salience: f32,
    pub pinned: bool,
    #[serde(with = "serde_ts::option")]
    #[schemars(with = "Option<TimestampSchema>")]
    pub expires_at: Option<Timestamp>,
    /// Ids of the turns this memory was derived from (provenance).
    #[serde(default)]
    pub source_turns: Vec<String>,
    #[serde(with = "serde_ts")]
    #[schemars(with = "TimestampSchema")]
    pub valid_from: Timestamp,
    /// Set when the memory stopped being true (superseded or deleted).
    #[serde(with = "serde_ts::option")]
    #[schemars(with = "Option<TimestampSchema>")]
    pub valid_to: Option<Timestamp>,
    /// The memory that replaced this one, if any.
    pub superseded_by: Option<String>,
    /// Whether it was deleted (as opposed to superseded).
    pub deleted: bool,
    #[serde(with = "serde_ts")]
    #[schemars(with = "TimestampSchema")]
    pub created_at: Timestamp,
    #[serde(with = "serde_ts")]
    #[schemars(with = "TimestampSchema")]
    pub updated_at: Timestamp,
    pub access_count: u64,
    #[serde(with = "serde_ts::option")]
    #[schemars(with = "Option<TimestampSchema>")]
    pub last_accessed: Option<Timestamp>,
    /// Where it came from: `{"model": .., "prompt_version": ..}` for pipeline memories.
    #[serde(default)]
    pub meta: Value,
}

impl Memory {
    /// Whether the memory is part of the current view at `now`.
    pub fn is_current(&self, now: Timestamp) -> bool {
        !self.deleted && self.valid_to.is_none() && self.expires_at.is_none_or(|e| e > now)
    }

    /// Whether the memory was true at instant `at` (ignoring expiry, which is about
    /// relevance, not truth).
    pub fn was_valid_at(&self, at: Timestamp) -> bool {
        self.valid_from <= at && self.valid_to.is_none_or(|t| t > at)
    }

    /// The scope of the memory.
    pub fn scope(&self) -> Scope {
        Scope {
            user_id: self.user_id.clone(),
            agent_id: self.agent_id.clone(),
        }
    }
}

/// One change to a memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HistoryEvent {
    pub id: String,
    pub memory_id: String,
    pub user_id: String,
    pub op: Op,
    pub old_content: Option<String>,
    pub new_content: Option<String>,
    pub actor: Actor,
    pub reason: Option<String>,
    #[serde(with = "serde_ts")]
    #[schemars(with = "TimestampSchema")]
    pub at: Timestamp,
    /// Details: the other memory of a supersede, changed attributes, the model, ...
    #[serde(default)]
    pub meta: Value,
}

/// A topic (scene) and its consolidated summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Topic {
    pub id: String,
    pub user_id: String,
    pub agent_id: Option<String>,
    pub name: String,
    pub summary: String,
    #[serde(with = "serde_ts")]
    #[schemars(with = "TimestampSchema")]
    pub updated_at: Timestamp,
    #[serde(default)]
    pub meta: Value,
}

/// A summary of turns `first_seq..=last_seq` of one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionSummary {
    pub id: String,
    pub user_id: String,
    pub agent_id: Option<String>,
    pub session_id: String,
    pub first_seq: i64,
    pub last_seq: i64,
    pub summary: String,
    #[serde(with = "serde_ts")]
    #[schemars(with = "TimestampSchema")]
    pub created_at: Timestamp,
    #[serde(default)]
    pub meta: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse;

    fn mem() -> Memory {
        let t = parse("2026-01-01T00:00:00Z").unwrap();
        Memory {
            id: "a".repeat(32),
            user_id: "u".into(),
            agent_id: None,
            session_id: None,
            kind: Kind::Fact,
            key: None,
            content: "x".into(),
            topic: None,
            salience: 0.5,
            pinned: false,
            expires_at: None,
            source_turns: vec![],
            valid_from: t,
            valid_to: None,
            superseded_by: None,
            deleted: false,
            created_at: t,
            updated_at: t,
            access_count: 0,
            last_accessed: None,
            meta: Value::Null,
        }
    }

    #[test]
    fn currency_respects_validity_expiry_and_deletion() {
        let now = parse("2026-02-01T00:00:00Z").unwrap();
        let mut m = mem();
        assert!(m.is_current(now));
        m.expires_at = Some(parse("2026-01-15T00:00:00Z").unwrap());
        assert!(!m.is_current(now));
        m.expires_at = None;
        m.valid_to = Some(parse("2026-01-20T00:00:00Z").unwrap());
        assert!(!m.is_current(now));
        assert!(m.was_valid_at(parse("2026-01-10T00:00:00Z").unwrap()));
        assert!(!m.was_valid_at(parse("2026-01-25T00:00:00Z").unwrap()));
    }
}
