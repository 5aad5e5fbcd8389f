//! The storage trait. The engine talks to storage only through [`Store`], so a second
//! backend (PostgreSQL) can be added without touching the engine; SQL lives only in the
//! backend crates.
//!
//! Every method is one atomic unit: when it returns `Ok`, the change is durable; when it
//! returns `Err`, nothing was changed. Operations that the engine needs to be atomic
//! together (close the old memory *and* insert the new one) are single methods here.

use serde::Serialize;

use crate::query::{MemoryHit, TurnHit};
use crate::{
    HistoryEvent, Memory, MemoryFilter, NewTurn, Record, Result, Scope, Session, SessionSummary,
    Timestamp, Topic, Turn, TurnFilter,
};

/// What `forget_user` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ForgetReport {
    pub sessions: u64,
    pub turns: u64,
    pub memories: u64,
    pub history: u64,
    pub topics: u64,
    pub summaries: u64,
}

/// How an import treats records whose id already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImportMode {
    /// Keep the existing record, count the incoming one as skipped.
    #[default]
    SkipExisting,
    /// Replace the existing record with the incoming one.
    Replace,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ImportReport {
    pub inserted: u64,
    pub replaced: u64,
    pub skipped: u64,
}

/// Counts for `mnemo stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Stats {
    pub users: u64,
    pub sessions: u64,
    pub turns: u64,
    pub memories_current: u64,
    pub memories_total: u64,
    pub history_events: u64,
    pub topics: u64,
    pub summaries: u64,
    pub schema_version: i64,
    pub db_bytes: u64,
}

/// A storage backend. Vector storage and the job queue are separate traits (in
/// [`crate::vectors`] and [`crate::jobs`]) that every backend also implements.
pub trait Store: crate::VectorStore + crate::JobStore + Send + Sync {
    // --- turns and sessions -------------------------------------------------------
    /// Records a turn (creating its session if new) and returns it with its id and
    /// sequence number. `tokens` is the token count computed by the caller.
    fn add_turn(&self, turn: &NewTurn, tokens: u32, now: Timestamp) -> Result<Turn>;
    /// Turns matching the filter.
    fn list_turns(&self, filter: &TurnFilter) -> Result<Vec<Turn>>;
    /// Turns of `user_id` by id, in the order given; unknown ids (and other users') are
    /// left out.
    fn get_turns(&self, user_id: &str, ids: &[String]) -> Result<Vec<Turn>>;
    /// Sessions of a scope, newest first.
    fn list_sessions(&self, scope: &Scope, limit: Option<usize>) -> Result<Vec<Session>>;
    /// A session by id or unique id prefix.
    fn get_session(&self, user_id: &str, id_or_prefix: &str) -> Result<Session>;
    /// Marks a session of `user_id` ended.
    fn end_session(&self, user_id: &str, session_id: &str, at: Timestamp) -> Result<()>;

    // --- memories -----------------------------------------------------------------
    /// Inserts a new memory and its `add` event.
    fn insert_memory(&self, memory: &Memory, event: &HistoryEvent) -> Result<()>;
    /// Replaces the stored row of `memory.id` with `memory` and records `event`.
    fn update_memory(&self, memory: &Memory, event: &HistoryEvent) -> Result<()>;
    /// Atomically closes `old` (already marked closed by the caller) and inserts `new`,
    /// recording both events.
    fn supersede_memory(
        &self,
        old: &Memory,
        old_event: &HistoryEvent,
        new: &Memory,
        new_event: &HistoryEvent,
    ) -> Result<()>;
    /// Removes a memory of `user_id`, its history and its index rows for good.
    fn purge_memory(&self, user_id: &str, id: &str) -> Result<()>;
    /// A memory by id or unique id prefix, within a user when given.
    fn get_memory(&self, user_id: Option<&str>, id_or_prefix: &str) -> Result<Memory>;
    /// Memories matching the filter, newest first.
    fn list_memories(&self, filter: &MemoryFilter) -> Result<Vec<Memory>>;
    /// The current memory with this key in exactly this scope, if any.
    fn current_by_key(&self, scope: &Scope, key: &str) -> Result<Option<Memory>>;
    /// History of one memory of `user_id`, oldest first.
    fn history(&self, user_id: &str, memory_id: &str) -> Result<Vec<HistoryEvent>>;
    /// Records that memories of `user_id` were returned to a caller (ids of other users'
    /// memories are ignored).
    fn touch_memories(&self, user_id: &str, ids: &[String], at: Timestamp) -> Result<()>;

    // --- full-text search -----------------------------------------------------------
    /// Full-text search over memories matching the filter; the store builds a safe query
    /// from `text` (user text is never passed to the engine's query syntax raw).
    fn search_memories(
        &self,
        text: &str,
        filter: &MemoryFilter,
        limit: usize,
    ) -> Result<Vec<MemoryHit>>;
    /// Memories matching the filter whose text contains every word of `text`, unranked
    /// (cheap on large stores; the duplicate check of `remember`).
    fn memories_with_all_words(
        &self,
        text: &str,
        filter: &MemoryFilter,
        limit: usize,
    ) -> Result<Vec<Memory>>;
    /// Full-text search over turns.
    fn search_turns(&self, text: &str, filter: &TurnFilter, limit: usize) -> Result<Vec<TurnHit>>;
    /// Full-text search over topics of a scope.
    fn search_topics(
        &self,
        text: &str,
        scope: &Scope,
        limit: usize,
    ) -> Result<Vec<crate::FtsHit<Topic>>>;
    /// Full-text search over session summaries of a scope.
    fn search_summaries(
        &self,
        text: &str,
        scope: &Scope,
        limit: usize,
    ) -> Result<Vec<crate::FtsHit<SessionSummary>>>;

    // --- topics and summaries -----------------------------------------------------------
    /// Creates or replaces the topic with this (scope, name).
    fn upsert_topic(&self, topic: &Topic) -> Result<Topic>;
    /// Topics of a scope, by name.
    fn list_topics(&self, scope: &Scope) -> Result<Vec<Topic>>;
    /// Stores a session summary.
    fn add_summary(&self, summary: &SessionSummary) -> Result<()>;
    /// Summaries of a scope (optionally one session), oldest first.
    fn list_summaries(
        &self,
        scope: &Scope,
        session_id: Option<&str>,
    ) -> Result<Vec<SessionSummary>>;

    // --- whole-user operations --------------------------------------------------------------
    /// Deletes everything of a user: sessions, turns, memories, history, topics, summaries
    /// and their index rows.
    fn forget_user(&self, user_id: &str) -> Result<ForgetReport>;
    /// Every record of a user (or of the database), in export order, header first.
    fn export(&self, user_id: Option<&str>) -> Result<Vec<Record>>;
    /// Imports records in one transaction: all of them or none.
    fn import(&self, records: &[Record], mode: ImportMode) -> Result<ImportReport>;
    /// Counts.
    fn stats(&self) -> Result<Stats>;
    /// Distinct user ids in the store.
    fn users(&self) -> Result<Vec<String>>;
}
