//! Storage of embedding vectors. Vectors live in the store as the source of truth, tagged
//! with the model that made them; any in-memory index is rebuilt from them.
//!
//! Why the model id travels with every vector: two models' vectors live in different
//! spaces, so comparing them gives confident nonsense. Readers always ask for one model's
//! vectors, and [`VectorStore::vector_models`] lets the engine notice (and refuse, or
//! reindex) when a database holds vectors of a model other than the configured one.

use serde::Serialize;

use crate::Result;

/// What a vector describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OwnerKind {
    Turn,
    Memory,
}

impl OwnerKind {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::Turn => "turn",
            OwnerKind::Memory => "memory",
        }
    }
}

/// One vector, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorRecord {
    pub owner_kind: OwnerKind,
    /// The turn's or memory's public id.
    pub owner_id: String,
    pub model_id: String,
    pub vector: Vec<f32>,
}

/// How many vectors of one model (and kind) a database holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelCount {
    pub owner_kind: OwnerKind,
    pub model_id: String,
    pub dims: usize,
    pub count: u64,
}

/// Vector storage. Every [`Store`](crate::Store) implements it.
pub trait VectorStore: Send + Sync {
    /// Inserts or replaces vectors (one per owner), in one transaction. Owners that no
    /// longer exist are skipped.
    fn put_vectors(&self, records: &[VectorRecord]) -> Result<()>;
    /// `(owner id, vector)` of every owner of `kind` of `user_id` embedded by `model_id`.
    fn vectors(
        &self,
        kind: OwnerKind,
        user_id: &str,
        model_id: &str,
    ) -> Result<Vec<(String, Vec<f32>)>>;
    /// Ids of the owners of `kind` of `user_id` that have no vector of `model_id`.
    fn missing_vectors(
        &self,
        kind: OwnerKind,
        user_id: &str,
        model_id: &str,
    ) -> Result<Vec<String>>;
    /// How many owners of `kind` (of every user) have no vector of `model_id`: the
    /// records that wait to be embedded.
    fn count_missing_vectors(&self, kind: OwnerKind, model_id: &str) -> Result<u64>;
    /// The models whose vectors the database holds, with counts (of one user when given).
    fn vector_models(&self, user_id: Option<&str>) -> Result<Vec<ModelCount>>;
    /// Deletes every vector not made by `keep_model` (all of them when `None`); returns
    /// how many were deleted.
    fn delete_vectors_except(&self, keep_model: Option<&str>) -> Result<u64>;
    /// A number that changes whenever a record of `kind` of `user_id` is added, deleted or
    /// has its text changed (and never goes back to an earlier value, even after the user
    /// is forgotten and re-created). An in-memory index built at epoch `e` is current while
    /// the epoch is still `e`; one local insert moves it to `e + 1`.
    fn index_epoch(&self, kind: OwnerKind, user_id: &str) -> Result<u64>;
    /// The vectors of `model_id` of the given owners of `kind` (those that have one).
    fn vectors_of(
        &self,
        kind: OwnerKind,
        ids: &[String],
        model_id: &str,
    ) -> Result<Vec<(String, Vec<f32>)>>;
    /// The position of the newest entry of the memory change feed (0 when empty). An index
    /// built from the store notes it *before* reading, so it misses nothing.
    fn memory_change_seq(&self) -> Result<u64>;
    /// The ids of `user_id`'s memories inserted, changed or deleted after feed position
    /// `after`, without repeats, and the feed's newest position; `None` when the feed no
    /// longer reaches back that far (the index must be rebuilt).
    fn memory_changes_since(&self, user_id: &str, after: u64) -> Result<Option<MemoryChanges>>;
}

/// What [`VectorStore::memory_changes_since`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryChanges {
    /// Ids of memories that changed (some may no longer exist).
    pub ids: Vec<String>,
    /// The newest feed position read.
    pub seq: u64,
}
