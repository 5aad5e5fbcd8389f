//! Storage of embedding vectors (owned by the retrieval work, issue 3). Vectors live in
//! the store as the source of truth, tagged with the model that made them; any in-memory
//! index is rebuilt from them.

/// Vector storage. Every [`Store`](crate::Store) implements it.
pub trait VectorStore: Send + Sync {}
