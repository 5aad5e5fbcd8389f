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
mod cache;
mod dates;
pub mod dense;
mod embedding;
mod expand;
mod memory_index;
pub mod quant;
mod rank;
mod search;
mod synonyms;
pub mod text;
mod turn_index;

use std::sync::Mutex;

use std::sync::Arc;

use mnemo_core::{Memory, Timestamp, Turn};
use mnemo_embed::Embedder;
use serde::{Deserialize, Serialize};

pub use bm25::Bm25Params;
pub(crate) use embedding::embedder_failure;
pub use embedding::{BackfillReport, ReindexReport, VectorBacklog};
pub use rank::TurnScoreParts;

use text::Analyzer;
use turn_index::TurnIndex;

/// How turn search weighs its signals. The defaults were chosen on the LoCoMo dev half
/// (never on held-out data); see the ablation in the retrieval notes. `dense_weight` only
/// matters when an embedder is configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrievalParams {
    pub k1: f32,
    pub b: f32,
    pub lexical_weight: f32,
    pub dense_weight: f32,
    /// Weight of the neighbouring turns' base score.
    pub context_weight: f32,
    /// Share of the context that comes from the next turn (the rest from the previous).
    pub context_next_share: f32,
    /// How many turns either side count as context; each further step weighs half.
    pub context_span: u32,
    /// Share of a neighbour's dense part that it passes on as context (its lexical part
    /// always passes whole).
    pub context_dense: f32,
    /// Weight of the session's score: the mean of its `session_top` best base scores.
    pub session_weight: f32,
    pub session_top: u32,
    /// Each hit already taken from a session scales the next one's score by
    /// `1 - session_diversity`, so results cover more sessions (0 = off).
    pub session_diversity: f32,
    /// Session coverage among near-ties: up to this many of the first `coverage_window`
    /// hits may go to the best turn of a session not yet among them (0 = off) ...
    pub coverage_slots: u32,
    pub coverage_window: u32,
    /// ... only when the best turn outside the first hit's session scores at least this
    /// share of the first hit (the scores are spread over sessions, not one clear answer) ...
    pub coverage_gate: f32,
    /// ... and only in place of a hit whose session has another hit in the window and whose
    /// score the incoming turn reaches within this share.
    pub coverage_tie: f32,
    /// Pseudo-relevance feedback: how many first-pass turns lend terms (0 = off).
    pub prf_docs: u32,
    /// How many feedback terms are added.
    pub prf_terms: u32,
    /// Weight of the best feedback term (the others scale down from it).
    pub prf_weight: f32,
    /// Terms in more than this share of the turns are never added.
    pub prf_max_df: f32,
    /// Query terms found in more than this share of the turns are dropped (when another
    /// term remains): in a two-person chat a name can be on every other line (1 = off).
    pub max_df_share: f32,
    /// Query expansion by meaning: each query word adds up to this many of the scope's
    /// words nearest to it by the embedder (0 = off) ...
    pub synonym_terms: u32,
    /// ... whose cosine with it is at least this ...
    pub synonym_min_cos: f32,
    /// ... weighted by `synonym_weight * cosine`.
    pub synonym_weight: f32,
    /// Bonus for a turn whose speaker label ("Anna: ...") the query names.
    pub speaker_weight: f32,
    /// Penalty for a turn that ends with a question mark: it asks rather than tells, and
    /// its words lead to the answer next to it (through `context`) rather than being one.
    pub asks_penalty: f32,
    /// Bonus for a turn said in the period that the query names ("on 3 June, 2023", "in
    /// May 2023"), fading to 0 at `date_slack_days` outside it.
    pub date_weight: f32,
    pub date_slack_days: f32,
    /// Rank a message that is not a question (a first-person statement, "I ended up
    /// volunteering for that project") by the `statement_*` settings instead: the signals
    /// above that read a question (the neighbours and session of an answer, the penalty on
    /// turns that ask, session coverage) mislead there, and so does the built-in
    /// embedder's similarity of any two first-person sentences (measured on LoCoMo-Plus).
    /// Speaker and date signals stay: they fire only when the message names one.
    pub statement_profile: bool,
    pub statement_k1: f32,
    pub statement_b: f32,
    pub statement_dense_weight: f32,
    pub statement_context_weight: f32,
    pub statement_session_weight: f32,
}

impl Default for RetrievalParams {
    fn default() -> Self {
        RetrievalParams {
            k1: 0.9,
            b: 0.4,
            lexical_weight: 1.0,
            dense_weight: 0.5,
            context_weight: 1.0,
            context_next_share: 0.5,
            context_span: 2,
            context_dense: 0.0,
            session_weight: 0.6,
            session_top: 1,
            session_diversity: 0.0,
            coverage_slots: 2,
            coverage_window: 10,
            coverage_gate: 0.85,
            coverage_tie: 0.9,
            prf_docs: 0,
            prf_terms: 10,
            prf_weight: 0.3,
            prf_max_df: 0.05,
            max_df_share: 1.0,
            synonym_terms: 1,
            synonym_min_cos: 0.45,
            synonym_weight: 0.6,
            speaker_weight: 0.7,
            asks_penalty: 0.4,
            date_weight: 1.0,
            date_slack_days: 7.0,
            statement_profile: true,
            statement_k1: 1.2,
            statement_b: 0.75,
            statement_dense_weight: 0.0,
            statement_context_weight: 0.0,
            statement_session_weight: 0.0,
        }
    }
}

impl RetrievalParams {
    /// The settings that rank `query`: these, or for a message that is not a question
    /// (with `statement_profile` on) the statement profile.
    pub fn for_query(&self, query: &str) -> std::borrow::Cow<'_, RetrievalParams> {
        if !self.statement_profile || text::is_question(query) {
            return std::borrow::Cow::Borrowed(self);
        }
        std::borrow::Cow::Owned(RetrievalParams {
            k1: self.statement_k1,
            b: self.statement_b,
            dense_weight: self.statement_dense_weight,
            context_weight: self.statement_context_weight,
            session_weight: self.statement_session_weight,
            asks_penalty: 0.0,
            coverage_slots: 0,
            ..self.clone()
        })
    }

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
    /// Also return, with each assistant turn found, the turn before it in its session
    /// (what it answers): a reply read alone often lacks its subject.
    pub previous: bool,
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

/// What a search found, and why it ran on full text only when it did (the embedder is
/// down, or the stored vectors come from another model): front ends show `fallback` so a
/// weaker result is never passed off as the usual one.
#[derive(Debug, Clone, Serialize)]
pub struct Searched<T> {
    pub hits: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// One turn found, with its score and the score's parts.
#[derive(Debug, Clone, Serialize)]
pub struct TurnHit {
    pub turn: Turn,
    pub score: f64,
    pub parts: TurnScoreParts,
    /// The turn this one answers, when the query asked for it
    /// ([`TurnQuery::previous`]) and this is an assistant turn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<Turn>,
}

/// The engine's derived search indexes, per user, and the embedder that feeds them.
#[derive(Default)]
pub(crate) struct Indexes {
    pub analyzer: Analyzer,
    pub params: RetrievalParams,
    pub embedder: Option<Arc<dyn Embedder>>,
    /// Per-user slots, each with its own lock (see [`cache`]).
    turns: cache::UserCache<TurnIndex>,
    memories: cache::UserCache<memory_index::MemoryIndex>,
    /// Users this engine has recalled for at least once.
    recalled: Mutex<std::collections::HashSet<String>>,
    /// When this engine last ran a vector backfill.
    last_backfill: Mutex<Option<std::time::Instant>>,
}

impl std::fmt::Debug for Indexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Indexes")
            .field("params", &self.params)
            .field("embedder", &self.embedder.as_ref().map(|e| e.model_id()))
            .finish_non_exhaustive()
    }
}

impl Indexes {
    pub(crate) fn new(params: RetrievalParams) -> Self {
        Indexes {
            params,
            ..Default::default()
        }
    }

    /// Whether this process holds `user`'s memory index (writes then embed at once).
    pub(crate) fn has_memory_index(&self, user: &str) -> bool {
        self.memories
            .get(user)
            .is_some_and(|slot| slot.read().is_some())
    }

    /// Forgets every loaded index (they are rebuilt from the store on next use).
    pub(crate) fn clear(&self) {
        self.turns.clear();
        self.memories.clear();
    }
}

/// Whether a turn's text opens with a speaker label ("Anna: ..."), as transcripts of several
/// people are often stored.
pub(crate) fn has_speaker_label(text: &str) -> bool {
    turn_index::speaker_label(text).is_some()
}

/// The text of a memory that is embedded: its key (when it has one) and its content.
pub(crate) fn memory_text(m: &Memory) -> String {
    match &m.key {
        Some(key) => format!("{key}: {}", m.content),
        None => m.content.clone(),
    }
}
