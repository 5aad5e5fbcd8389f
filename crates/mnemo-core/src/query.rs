//! Filters a caller passes to a store, and what a full-text search returns.

use crate::{Kind, Memory, Role, Scope, Timestamp, Turn};

/// Which versions of memories to see.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum TimeView {
    /// Only memories that are current now: not closed, not deleted, not expired.
    #[default]
    Current,
    /// Every memory ever recorded, closed and deleted ones included.
    All,
    /// Memories that were valid at this instant.
    AsOf(Timestamp),
}

/// Which memories to list or search.
#[derive(Debug, Clone, Default)]
pub struct MemoryFilter {
    /// `None` means every user (only for administrative commands).
    pub scope: Option<Scope>,
    /// When a scope has an agent, whether to include the user-wide memories too.
    pub include_user_wide: bool,
    pub session_id: Option<String>,
    pub kinds: Vec<Kind>,
    pub topic: Option<String>,
    pub key: Option<String>,
    pub view: TimeView,
    /// Only memories created at or after this time.
    pub since: Option<Timestamp>,
    /// Only memories created before this time.
    pub until: Option<Timestamp>,
    /// Keyset pagination: only memories after this `(created_at, id)` in list order
    /// (newest first, then by id), so a page boundary never skips or repeats a memory
    /// even when many share a timestamp.
    pub after: Option<(Timestamp, String)>,
    pub limit: Option<usize>,
}

impl MemoryFilter {
    /// Current memories of one scope.
    pub fn scope(scope: Scope) -> Self {
        MemoryFilter {
            scope: Some(scope),
            include_user_wide: true,
            ..Default::default()
        }
    }
}

/// Which turns to list or search.
#[derive(Debug, Clone, Default)]
pub struct TurnFilter {
    pub scope: Option<Scope>,
    pub include_user_wide: bool,
    pub session_id: Option<String>,
    pub role: Option<Role>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Newest first when true; default is conversation order.
    pub newest_first: bool,
    pub limit: Option<usize>,
}

/// A full-text hit: the record and its BM25 score (higher is better, always > 0).
#[derive(Debug, Clone)]
pub struct FtsHit<T> {
    pub item: T,
    pub score: f64,
}

/// Memory hit alias.
pub type MemoryHit = FtsHit<Memory>;
/// Turn hit alias.
pub type TurnHit = FtsHit<Turn>;
