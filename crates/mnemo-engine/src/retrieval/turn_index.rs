//! The in-memory search index of one user's turns: the turns themselves, a BM25 index of
//! their text, links to the neighbouring turns of the same session, and (when an embedder
//! is configured) their vectors.
//!
//! It is derived data: built from the store on first use, extended as the engine records
//! turns, and rebuilt when the store's index epoch of the user's turns
//! ([`VectorStore::index_epoch`](mnemo_core::VectorStore::index_epoch)) shows that someone
//! else changed them.

use std::collections::HashMap;

use mnemo_core::Turn;

use super::bm25::Bm25Index;
use super::dense::DenseIndex;
use super::text::Analyzer;

/// One user's turns, indexed. Document `i` is `turns[i]`.
#[derive(Debug, Default)]
pub(crate) struct TurnIndex {
    pub turns: Vec<Turn>,
    pub lexical: Bm25Index,
    /// The previous and next turn of the same session, when present.
    pub prev: Vec<Option<u32>>,
    pub next: Vec<Option<u32>>,
    /// Session number of each document (an index into `session_ids`).
    pub session_of: Vec<u32>,
    pub session_ids: Vec<String>,
    /// Per session id: its last document and its session number.
    session_last: HashMap<String, (u32, u32)>,
    /// One word seen for each term (the embedder needs words, not stems).
    pub surface: HashMap<String, String>,
    /// Vectors of the terms' words, built on first use by query expansion.
    pub vocab: Option<(Vec<String>, DenseIndex)>,
    /// Vectors by document, when an embedder is configured.
    pub dense: Option<DenseIndex>,
    /// The store's index epoch this index matches (`None`: not built from the store).
    pub epoch: Option<u64>,
}

impl TurnIndex {
    /// Number of indexed turns.
    pub fn len(&self) -> usize {
        self.turns.len()
    }

    /// Appends a turn (turns of one session must arrive in order).
    pub fn push(&mut self, analyzer: &Analyzer, turn: Turn) {
        let doc = self.turns.len() as u32;
        let pairs = analyzer.word_terms(&turn.content);
        let terms: Vec<String> = pairs.iter().map(|(_, t)| t.clone()).collect();
        self.lexical.push(&terms);
        for (word, term) in pairs {
            self.surface.entry(term).or_insert(word);
        }
        let known = self.session_last.get(&turn.session_id).copied();
        if let Some((p, _)) = known {
            self.next[p as usize] = Some(doc);
        }
        self.prev.push(known.map(|(p, _)| p));
        self.next.push(None);
        let session = match known {
            Some((_, s)) => s,
            None => {
                self.session_ids.push(turn.session_id.clone());
                (self.session_ids.len() - 1) as u32
            }
        };
        self.session_last
            .insert(turn.session_id.clone(), (doc, session));
        self.session_of.push(session);
        self.turns.push(turn);
    }

    /// Builds the index of `turns`, sorted here into conversation order.
    pub fn build(analyzer: &Analyzer, mut turns: Vec<Turn>) -> TurnIndex {
        turns.sort_by(|a, b| (a.session_id.as_str(), a.seq).cmp(&(b.session_id.as_str(), b.seq)));
        let mut index = TurnIndex::default();
        for turn in turns {
            index.push(analyzer, turn);
        }
        index
    }

    /// Whether the index still describes the store at `current` epoch.
    pub fn is_fresh(&self, current: u64) -> bool {
        self.epoch == Some(current)
    }
}
