//! Retrieval over the conversation log: find the turns that answer a question.
//!
//! Why a ranker of its own instead of the store's full-text search: on conversations the
//! words of a question are often in the turn *next to* the answer, or spread over one
//! session, and a good ranker must see every turn's score to use that. So each user's turns
//! get an in-memory index ([`turn_index`]) derived from the store: BM25 over stemmed terms
//! ([`bm25`], [`text`]), neighbour links, and vectors when an embedder is configured
//! ([`dense`]). [`rank`] combines the signals into a score whose every part is reported.
//!
//! The store stays the source of truth: an index is built on first use, extended as the
//! engine records turns, and rebuilt when the store's fingerprint of the user's turns
//! changes (another process wrote to the database).

pub mod bm25;
pub mod dense;
mod rank;
mod search;
pub mod text;
mod turn_index;

use std::collections::HashMap;
use std::sync::Mutex;

use mnemo_core::{Timestamp, Turn};
use serde::{Deserialize, Serialize};

pub use bm25::Bm25Params;
pub use rank::TurnScoreParts;

use text::Analyzer;
use turn_index::TurnIndex;

/// How turn search weighs its signals. The defaults were chosen on the LoCoMo dev half.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrievalParams {
    pub k1: f32,
    pub b: f32,
    pub lexical_weight: f32,
    pub dense_weight: f32,
    /// Weight of the neighbouring turns' base score.
    pub context_weight: f32,
    /// Weight of the best score in the turn's session.
    pub session_weight: f32,
}

impl Default for RetrievalParams {
    fn default() -> Self {
        let bm25 = Bm25Params::default();
        RetrievalParams {
            k1: bm25.k1,
            b: bm25.b,
            lexical_weight: 1.0,
            dense_weight: 0.0,
            context_weight: 0.0,
            session_weight: 0.0,
        }
    }
}

impl RetrievalParams {
    /// The BM25 parameters in effect.
    pub fn bm25(&self) -> Bm25Params {
        Bm25Params {
            k1: self.k1,
            b: self.b,
        }
    }
}

/// A turn search.
#[derive(Debug, Clone, Default)]
pub struct TurnQuery {
    pub text: String,
    /// Most hits to return.
    pub limit: usize,
    /// Only turns of this session.
    pub session_id: Option<String>,
    /// Only turns said at or after this time.
    pub since: Option<Timestamp>,
    /// Only turns said before this time.
    pub until: Option<Timestamp>,
}

impl TurnQuery {
    /// A query for the best `limit` turns.
    pub fn new(text: impl Into<String>, limit: usize) -> Self {
        TurnQuery {
            text: text.into(),
            limit,
            ..Default::default()
        }
    }
}

/// One turn found, with its score and the score's parts.
#[derive(Debug, Clone, Serialize)]
pub struct TurnHit {
    pub turn: Turn,
    pub score: f64,
    pub parts: TurnScoreParts,
}

/// The engine's derived search indexes, per user.
#[derive(Debug, Default)]
pub(crate) struct Indexes {
    pub analyzer: Analyzer,
    pub params: RetrievalParams,
    turns: Mutex<HashMap<String, TurnIndex>>,
}

impl Indexes {
    pub(crate) fn new(params: RetrievalParams) -> Self {
        Indexes {
            params,
            ..Default::default()
        }
    }
}
