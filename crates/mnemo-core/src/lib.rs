//! The vocabulary of mnemo: what a turn, a memory, a topic and a summary are, how they are
//! scoped to users and agents, the typed error every library crate returns, and the
//! [`Store`] trait that every storage backend implements.
//!
//! This crate has no I/O of its own. It exists so that the engine, the storage backends and
//! the binaries agree on one data model without depending on each other.

pub mod error;
pub mod ids;
pub mod jobs;
pub mod keys;
pub mod kind;
pub mod model;
pub mod query;
pub mod record;
pub mod store;
pub mod time;
pub mod validate;
pub mod vectors;

pub use error::{Error, ModelErrorKind, Result};
pub use jobs::{
    Dedup, Job, JobCounts, JobFilter, JobKind, JobStatus, JobStore, NewJob, RangeJob, UsageFilter,
    UsageGroup, UsageRecord, UsageRow,
};
pub use keys::{ApiKey, KeyStore};
pub use kind::{Actor, Kind, Op, Role};
pub use model::{HistoryEvent, Memory, NewTurn, Scope, Session, SessionSummary, Topic, Turn};
pub use query::{FtsHit, MemoryFilter, TimeView, TurnFilter};
pub use record::{ExportHeader, Record, EXPORT_FORMAT, EXPORT_VERSION};
pub use store::{ForgetReport, ImportMode, ImportReport, Stats, Store};
pub use time::{Clock, FixedClock, SystemClock, Timestamp};
pub use vectors::{MemoryChanges, ModelCount, OwnerKind, VectorRecord, VectorStore};
