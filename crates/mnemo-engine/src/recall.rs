//! Recall: find the memories that matter for a query, with a score whose components can be
//! shown (`--explain`). Relevance dominates; salience (decayed by the forgetting policy),
//! recency and pinning break ties and lift what matters. Candidates come from the user's
//! in-memory memory index (`retrieval::memory_index`): BM25 over content, topic and key,
//! and, when an embedder is configured, the memory vectors (hybrid: a memory can be found
//! by meaning with no word in common). Relevance is the
//! full-text score normalised to 0..1, fused with the rescaled cosine
//! (`(lexical + w * dense) / (1 + w)`, `w` = the retrieval `dense_weight`). Ranking happens
//! here so that it is the same for every backend.

use mnemo_core::{Error, Kind, Memory, MemoryFilter, Result, Scope, TimeView, Timestamp};
use serde::Serialize;

use crate::retrieval::{embedder_failure, Searched};
use crate::Engine;

/// How many candidates to rank per requested result.
const CANDIDATES_PER_RESULT: usize = 5;
/// Fewest candidates fetched, so small limits still rank over a reasonable pool.
const MIN_CANDIDATES: usize = 50;

/// A recall request.
#[derive(Debug, Clone, Default)]
pub struct RecallQuery {
    pub text: String,
    /// `None` uses the configured default.
    pub limit: Option<usize>,
    pub kinds: Vec<Kind>,
    pub topic: Option<String>,
    pub session_id: Option<String>,
    pub view: TimeView,
    /// Whether to count this recall as an access of the returned memories.
    pub touch: bool,
}

impl From<&str> for RecallQuery {
    fn from(text: &str) -> Self {
        RecallQuery {
            text: text.to_string(),
            touch: true,
            ..Default::default()
        }
    }
}

/// The components of a hit's score; `total` is their weighted sum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ScoreParts {
    /// Raw BM25 score from the full-text index.
    pub bm25: f64,
    /// BM25 normalised to 0..1 among the candidates.
    pub lexical: f64,
    /// Cosine similarity with the query (0 without an embedder).
    pub cosine: f64,
    /// Cosine rescaled: 1 for the nearest memory, 0 at or below the user's mean.
    pub dense: f64,
    /// Lexical and dense fused (just `lexical` without an embedder).
    pub relevance: f64,
    /// Salience after decay.
    pub salience: f64,
    /// 1 for brand new, falling with age.
    pub recency: f64,
    /// 1 when pinned.
    pub pinned: f64,
    pub total: f64,
}

/// One recalled memory.
#[derive(Debug, Clone, Serialize)]
pub struct RecallHit {
    pub memory: Memory,
    pub score: f64,
    pub parts: ScoreParts,
}

impl Engine {
    /// Memories relevant to `query.text` in `scope`, best first. Falls back to full text
    /// when the embedder cannot be used; [`Engine::recall_noted`] says when it did.
    pub fn recall(&self, scope: &Scope, query: &RecallQuery) -> Result<Vec<RecallHit>> {
        self.recall_noted(scope, query).map(|s| s.hits)
    }

    /// [`Engine::recall`], with the reason when it ran on full text only.
    pub fn recall_noted(&self, scope: &Scope, query: &RecallQuery) -> Result<Searched<RecallHit>> {
        crate::engine::check_scope(scope)?;
        if query.text.trim().is_empty() {
            return Err(Error::invalid(
                "query",
                "the query is empty; say what to look for",
            ));
        }
        let limit = query.limit.unwrap_or(self.settings.recall_limit);
        let mut fallback = None;
        if limit == 0 {
            return Ok(Searched {
                hits: Vec::new(),
                fallback,
            });
        }
        let mut filter = MemoryFilter::scope(scope.clone());
        filter.kinds = query.kinds.clone();
        filter.topic = query.topic.clone();
        filter.session_id = query.session_id.clone();
        filter.view = query.view;
        let pool = (limit * CANDIDATES_PER_RESULT).max(MIN_CANDIDATES);
        let now = self.now();
        let candidates = match self.candidates(scope, &query.text, &filter, pool, now) {
            Ok(c) => c,
            Err(e) if embedder_failure(&e) => {
                fallback = Some(e.to_string());
                self.drop_memory_index(&scope.user_id);
                self.fts_candidates(&query.text, &filter, pool)?
            }
            Err(e) => return Err(e),
        };
        let max_bm25 = candidates.iter().map(|c| c.bm25).fold(0.0, f64::max);
        let max_cos = candidates
            .iter()
            .filter_map(|c| c.cosine)
            .fold(f32::MIN, f32::max);
        let min_similarity = self.min_similarity();
        let mut ranked: Vec<RecallHit> = candidates
            .into_iter()
            .map(|c| {
                let mut parts = self.score(&c.memory, c.bm25, max_bm25, now);
                if let (Some(cos), Some(mean)) = (c.cosine, c.mean) {
                    let span = max_cos - mean;
                    let dense = if span > 0.0 {
                        ((cos - mean) / span).max(0.0)
                    } else {
                        0.0
                    };
                    let w = f64::from(self.indexes.params.dense_weight);
                    parts.cosine = f64::from(cos);
                    parts.dense = f64::from(dense);
                    parts.relevance = (parts.lexical + w * parts.dense) / (1.0 + w);
                    parts.total = self.total(&parts);
                }
                RecallHit {
                    memory: c.memory,
                    score: parts.total,
                    parts,
                }
            })
            // A nearest neighbour no closer than average is not a match, and neither is
            // one that shares no word with the query and is not close in meaning.
            .filter(|h| {
                h.parts.relevance > 0.0 && (h.parts.bm25 > 0.0 || h.parts.cosine >= min_similarity)
            })
            .collect();
        ranked.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.memory.id.cmp(&b.memory.id))
        });
        ranked.truncate(limit);
        if query.touch && !ranked.is_empty() {
            let ids: Vec<String> = ranked.iter().map(|h| h.memory.id.clone()).collect();
            match &self.touches {
                Some(batch) => batch.add(&scope.user_id, &ids, now),
                None => self.store.touch_memories(&scope.user_id, &ids, now)?,
            }
            self.note_touched(&scope.user_id, &ids, now);
        }
        Ok(Searched {
            hits: ranked,
            fallback,
        })
    }

    /// The cosine a memory sharing no word with a query needs (see
    /// [`RankingWeights::min_similarity`](crate::RankingWeights::min_similarity)).
    pub fn min_similarity(&self) -> f64 {
        self.settings.ranking.min_similarity.unwrap_or_else(|| {
            self.embedder()
                .and_then(|e| e.unrelated_below())
                .map_or(0.0, f64::from)
        })
    }

    /// The score of one candidate.
    fn score(&self, m: &Memory, bm25: f64, max_bm25: f64, now: Timestamp) -> ScoreParts {
        let w = &self.settings.ranking;
        let relevance = if max_bm25 > 0.0 { bm25 / max_bm25 } else { 0.0 };
        let idle_from = m.last_accessed.unwrap_or(m.created_at).max(m.created_at);
        let salience =
            self.settings
                .forgetting
                .decay(f64::from(m.salience), days(now, idle_from), m.pinned);
        let recency = if w.recency_days > 0.0 {
            (-days(now, m.created_at) / w.recency_days).exp()
        } else {
            0.0
        };
        let pinned = if m.pinned { 1.0 } else { 0.0 };
        let mut parts = ScoreParts {
            bm25,
            lexical: relevance,
            cosine: 0.0,
            dense: 0.0,
            relevance,
            salience,
            recency,
            pinned,
            total: 0.0,
        };
        parts.total = self.total(&parts);
        parts
    }

    /// The weighted sum of a hit's parts.
    fn total(&self, p: &ScoreParts) -> f64 {
        let w = &self.settings.ranking;
        w.text * p.relevance + w.salience * p.salience + w.recency * p.recency + w.pinned * p.pinned
    }
}

/// Days from `then` to `now` (never negative).
fn days(now: Timestamp, then: Timestamp) -> f64 {
    ((now - then).num_seconds() as f64 / 86_400.0).max(0.0)
}
