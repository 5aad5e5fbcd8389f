//! The durable job queue for LLM work (owned by the pipeline work, issue 4): jobs live in
//! the same database as the turns they process, so they survive crashes and restarts.

/// Job queue storage. Every [`Store`](crate::Store) implements it.
pub trait JobStore: Send + Sync {}
