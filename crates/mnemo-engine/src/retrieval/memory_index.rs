//! The in-memory search index of one user's memories, for `recall`: the memories, a BM25
//! index of their text (content, topic, key), and their vectors (int8) when an embedder is
//! configured.
//!
//! Why not SQLite's FTS5 here: FTS5 computes `bm25()` for every matching row before
//! `ORDER BY ... LIMIT` (about 5 µs a match), so a three-word query over 100,000 memories
//! took several milliseconds; scoring postings in memory takes a fraction of one. The store
//! stays the source of truth: the index is rebuilt when the user's memory epoch moves (any
//! change except access bookkeeping), and accesses this engine records are mirrored.

mod patch;

use std::collections::HashMap;

use mnemo_core::{Memory, MemoryFilter, OwnerKind, Result, Scope, TimeView, Timestamp};

use super::bm25::{Bm25Index, Bm25Params};
use super::embedding::embed;
use super::quant::QuantIndex;
use crate::Engine;

/// Fewest nearest memories considered.
const DENSE_MIN: usize = 20;

/// One user's memories, indexed. Document `i` is `memories[i]`; a memory that changed
/// after the build is appended again and its old document marked dead
/// ([`patch`]).
#[derive(Debug)]
pub(crate) struct MemoryIndex {
    pub(crate) memories: Vec<Memory>,
    /// The live document of each memory id.
    pub(crate) rows: HashMap<String, usize>,
    pub(crate) lexical: Bm25Index,
    pub(crate) dense: Option<QuantIndex>,
    /// Documents superseded by a later copy or deleted from the store.
    pub(crate) dead: Vec<bool>,
    pub(crate) dead_count: usize,
    pub(crate) epoch: u64,
    /// The store's memory change feed position this index has applied.
    pub(crate) seq: u64,
}

impl MemoryIndex {
    /// Rough bytes held: the memories' text and fields, postings, and int8 vectors.
    pub(crate) fn approx_bytes(&self) -> usize {
        let dims = self.dense.as_ref().map_or(0, |d| d.dims() + 64);
        self.memories
            .iter()
            .map(|m| m.content.len() * 2 + 512 + dims)
            .sum()
    }
}

/// One memory to rank, with its raw signals.
#[derive(Debug)]
pub(crate) struct Candidate {
    pub memory: Memory,
    /// BM25 (0 when only the vectors found it).
    pub bm25: f64,
    /// Cosine with the query, when an embedder is configured.
    pub cosine: Option<f32>,
    /// Mean cosine over the user's memories, when an embedder is configured.
    pub mean: Option<f32>,
}

impl Engine {
    /// The best full-text and (hybrid) nearest memories of `scope` passing `filter`.
    pub(crate) fn candidates(
        &self,
        scope: &Scope,
        text: &str,
        filter: &MemoryFilter,
        pool: usize,
        now: Timestamp,
    ) -> Result<Vec<Candidate>> {
        let user = scope.user_id.as_str();
        // Embedding can take a network round trip: done before any index lock is taken.
        let query_vector = match self.embedder() {
            Some(embedder) => embed(embedder.as_ref(), &[text])?.pop(),
            None => None,
        };
        let epoch = self.store.index_epoch(OwnerKind::Memory, user)?;
        let slot = self.indexes.memories.slot(user);
        {
            let loaded = slot.read();
            if let Some(index) = loaded.as_ref().filter(|i| i.epoch == epoch) {
                return Ok(self.score_memories(index, text, filter, pool, now, query_vector));
            }
        }
        let mut loaded = slot.write();
        let patched = match loaded.as_mut() {
            Some(index) if index.epoch != epoch => self.patch_memory_index(user, index, epoch)?,
            _ => false,
        };
        if !patched && loaded.as_ref().is_none_or(|m| m.epoch != epoch) {
            // A process that recalls once (one CLI command) is better served by SQLite's
            // full-text index than by building one; the second recall builds it.
            let first = self
                .indexes
                .recalled
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert(user.to_string());
            if first && self.embedder().is_none() {
                drop(loaded);
                return self.fts_candidates(text, filter, pool);
            }
            *loaded = Some(self.build_memory_index(user, epoch)?);
        }
        let Some(index) = loaded.as_ref() else {
            return Ok(Vec::new());
        };
        self.indexes.memories.admit(
            user,
            index.approx_bytes(),
            self.settings.index_budget_bytes(),
        );
        Ok(self.score_memories(index, text, filter, pool, now, query_vector))
    }

    /// Ranks a loaded index's documents for `text` (and its vector, when embedded).
    fn score_memories(
        &self,
        index: &MemoryIndex,
        text: &str,
        filter: &MemoryFilter,
        pool: usize,
        now: Timestamp,
        query_vector: Option<Vec<f32>>,
    ) -> Vec<Candidate> {
        let n = index.memories.len();
        let terms: Vec<(String, f32)> = self
            .indexes
            .analyzer
            .query_terms(text)
            .into_iter()
            .map(|t| (t, 1.0))
            .collect();
        let mut bm25 = vec![0.0f32; n];
        index
            .lexical
            .score_into(&terms, Bm25Params::default(), &mut bm25);
        let ok = |d: usize| !index.dead[d] && matches(&index.memories[d], filter, now);
        let mut picked = best_matching(&bm25, pool, ok);
        let (cosine, mean) = match (&index.dense, query_vector) {
            (Some(dense), Some(q)) => match dense.prepare(&q) {
                Some(q) => {
                    let mut cos: HashMap<usize, f32> =
                        picked.iter().map(|&d| (d, dense.cosine(&q, d))).collect();
                    for (d, c) in dense.nearest(&q, (pool / 2).max(DENSE_MIN), ok) {
                        if cos.insert(d, c).is_none() {
                            picked.push(d);
                        }
                    }
                    (Some(cos), Some(dense.mean_cosine(&q)))
                }
                None => (None, None),
            },
            _ => (None, None),
        };
        picked
            .into_iter()
            .map(|d| Candidate {
                memory: index.memories[d].clone(),
                bm25: f64::from(bm25[d]),
                cosine: cosine.as_ref().and_then(|c| c.get(&d).copied()),
                mean,
            })
            .collect()
    }

    /// Forgets `user`'s memory index (rebuilt on next use).
    pub(crate) fn drop_memory_index(&self, user: &str) {
        self.indexes.memories.remove(user);
    }

    /// Candidates from the store's full-text index (no in-memory index needed).
    pub(crate) fn fts_candidates(
        &self,
        text: &str,
        filter: &MemoryFilter,
        pool: usize,
    ) -> Result<Vec<Candidate>> {
        Ok(self
            .store
            .search_memories(text, filter, pool)?
            .into_iter()
            .map(|h| Candidate {
                memory: h.item,
                bm25: h.score,
                cosine: None,
                mean: None,
            })
            .collect())
    }

    /// Builds a user's memory index from the store (embedding what has no vector yet).
    fn build_memory_index(&self, user: &str, epoch: u64) -> Result<MemoryIndex> {
        // Noted before reading: a change made meanwhile is applied again later, harmlessly.
        let seq = self.store.memory_change_seq()?;
        let memories = self.store.list_memories(&MemoryFilter {
            scope: Some(Scope::user(user)),
            include_user_wide: true,
            view: TimeView::All,
            ..Default::default()
        })?;
        let mut lexical = Bm25Index::default();
        for m in &memories {
            lexical.push(&self.indexes.analyzer.terms(&indexed_text(m)));
        }
        let dense = match self.embedder() {
            Some(embedder) => {
                self.check_models(OwnerKind::Memory, user)?;
                self.catch_up(OwnerKind::Memory, user, &mut |_| {})?;
                let mut vectors: HashMap<String, Vec<f32>> = self
                    .store
                    .vectors(OwnerKind::Memory, user, embedder.model_id())?
                    .into_iter()
                    .collect();
                let mut dense = QuantIndex::new(self.embedder_dims(embedder.as_ref())?);
                for m in &memories {
                    dense.push(vectors.remove(&m.id).as_deref().unwrap_or(&[]));
                }
                Some(dense)
            }
            None => None,
        };
        let rows = memories
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.clone(), i))
            .collect();
        Ok(MemoryIndex {
            dead: vec![false; memories.len()],
            dead_count: 0,
            memories,
            rows,
            lexical,
            dense,
            epoch,
            seq,
        })
    }

    /// Mirrors an access this engine recorded into the loaded index (accesses do not move
    /// the epoch, and decay reads `last_accessed`).
    pub(crate) fn note_touched(&self, user: &str, ids: &[String], at: Timestamp) {
        let Some(slot) = self.indexes.memories.get(user) else {
            return;
        };
        let mut loaded = slot.write();
        if let Some(index) = loaded.as_mut() {
            for id in ids {
                if let Some(&i) = index.rows.get(id) {
                    let m = &mut index.memories[i];
                    m.access_count += 1;
                    m.last_accessed = Some(at);
                }
            }
        }
    }
}

/// The text of a memory that the full-text index holds: content, topic and key.
pub(crate) fn indexed_text(m: &Memory) -> String {
    format!(
        "{} {} {}",
        m.content,
        m.topic.as_deref().unwrap_or(""),
        m.key.as_deref().unwrap_or("")
    )
}

/// The `k` best documents with a positive score among those passing `keep`, best first.
/// The filter runs on the best few times `k` first: checking a memory against a filter
/// costs more than comparing scores, and a common word can match most of a large scope.
fn best_matching(scores: &[f32], k: usize, keep: impl Fn(usize) -> bool) -> Vec<usize> {
    let wide = best(scores, k.saturating_mul(4), |d| scores[d] > 0.0);
    if wide.len() < k.saturating_mul(4) {
        return wide.into_iter().filter(|&d| keep(d)).take(k).collect();
    }
    let kept: Vec<usize> = wide.iter().copied().filter(|&d| keep(d)).take(k).collect();
    if kept.len() == k {
        return kept;
    }
    best(scores, k, |d| scores[d] > 0.0 && keep(d))
}

/// The `k` best documents by `scores` among those passing `keep`, best first.
fn best(scores: &[f32], k: usize, keep: impl Fn(usize) -> bool) -> Vec<usize> {
    let mut docs: Vec<usize> = (0..scores.len()).filter(|&d| keep(d)).collect();
    let by = |a: &usize, b: &usize| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b));
    if docs.len() > k {
        docs.select_nth_unstable_by(k, by);
        docs.truncate(k);
    }
    docs.sort_by(by);
    docs
}

/// Whether a memory passes a recall filter (the conditions the store's filters express).
fn matches(m: &Memory, f: &MemoryFilter, now: Timestamp) -> bool {
    let scope_ok = f.scope.as_ref().is_none_or(|s| {
        m.user_id == s.user_id
            && match &s.agent_id {
                Some(a) => {
                    m.agent_id.as_deref() == Some(a.as_str())
                        || (f.include_user_wide && m.agent_id.is_none())
                }
                None => true,
            }
    });
    let view_ok = match f.view {
        TimeView::Current => m.is_current(now),
        TimeView::All => true,
        TimeView::AsOf(at) => m.was_valid_at(at),
    };
    scope_ok
        && view_ok
        && (f.kinds.is_empty() || f.kinds.contains(&m.kind))
        && f.topic.as_ref().is_none_or(|t| m.topic.as_ref() == Some(t))
        && f.key.as_ref().is_none_or(|k| m.key.as_ref() == Some(k))
        && f.session_id
            .as_ref()
            .is_none_or(|s| m.session_id.as_ref() == Some(s))
        && f.since.is_none_or(|s| m.created_at >= s)
        && f.until.is_none_or(|u| m.created_at < u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_matching_filters_after_ranking_and_falls_back_when_the_filter_is_strict() {
        let scores: Vec<f32> = (0..100).map(|i| (i % 50) as f32).collect();
        // Best first, ties to the lower document, zero scores never returned.
        assert_eq!(best_matching(&scores, 3, |_| true), vec![49, 99, 48]);
        // Only odd documents: the best odd ones, found within the first 4k.
        assert_eq!(best_matching(&scores, 2, |d| d % 2 == 1), vec![49, 99]);
        // Only documents under 10: far outside the best 4k, so every document is checked.
        assert_eq!(best_matching(&scores, 2, |d| d < 10), vec![9, 8]);
        // Fewer matches than wanted: all of them; document 0 and 50 score 0 and never come.
        assert_eq!(
            best_matching(&scores, 5, |d| d % 50 < 3),
            vec![2, 52, 1, 51]
        );
    }
}
