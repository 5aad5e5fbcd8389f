//! The mnemo engine: the library every front end (CLI, server, MCP) calls.
//!
//! [`Engine`] owns a [`Store`](mnemo_core::Store) and a clock and implements the
//! operations of a memory layer on top of it: recording turns, remembering (with
//! key-based supersession), recalling with an explainable score, editing, forgetting,
//! restoring, and lossless export/import. It knows nothing of terminals, flags or HTTP.
//!
//! ```no_run
//! use mnemo_engine::{Engine, EngineSettings, NewMemory};
//! use mnemo_core::{Actor, Scope};
//!
//! let engine = Engine::open_sqlite("memory.db".as_ref(), EngineSettings::default())?;
//! let scope = Scope::user("alex");
//! engine.remember(&scope, NewMemory::keyed("user_name", "Alex"), Actor::Cli)?;
//! let hits = engine.recall(&scope, &"what is my name".into())?;
//! assert_eq!(hits[0].memory.content, "Alex");
//! # Ok::<(), mnemo_core::Error>(())
//! ```

mod context;
mod embedders;
mod engine;
pub mod keyvalue;
mod memories;
mod open;
pub mod pipeline;
mod recall;
pub mod retrieval;
pub mod secrets;
mod settings;
pub mod tokens;
pub mod tools;
mod touches;
mod transfer;

pub use context::{Context, ContextItem, ContextRequest, Pattern, Section};
pub use embedders::{embedder_from_spec, embedder_with, EmbedderSettings};
pub use engine::Engine;
pub use memories::{MemoryEdit, MemoryView, NewMemory, RememberOutcome};
pub use mnemo_store_sqlite::backup::BackupReport;
pub use mnemo_store_sqlite::Create;
pub use open::{
    backup, copy_store, db_label, restore, server_stores_from_uri, store_from_uri, CopyReport,
    DbLocation, ServerStores,
};
pub use pipeline::{
    Exchange, PipelineLlm, PipelineSettings, RecordedExchange, RecordedTurn, WorkerHandle,
    WorkerOptions,
};
pub use recall::{RecallHit, RecallQuery, ScoreParts};
pub use retrieval::{
    BackfillReport, RetrievalParams, Searched, TurnHit, TurnQuery, TurnScoreParts, VectorBacklog,
};
pub use settings::{ContextSettings, EngineSettings, ForgettingPolicy, RankingWeights};
pub use transfer::ImportSummary;

pub use mnemo_core as core;
