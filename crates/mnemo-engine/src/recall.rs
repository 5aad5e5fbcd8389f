//! Recall: find the memories that matter for a query, with a score whose components can be
//! shown (`--explain`). Full-text relevance dominates; salience (decayed by the forgetting
//! policy), recency and pinning break ties and lift what matters. Candidates come from the
//! store's full-text index; ranking happens here so that it is the same for every backend.

use mnemo_core::{Error, Kind, Memory, MemoryFilter, Result, Scope, TimeView, Timestamp};
use serde::Serialize;

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
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScoreParts {
    /// Raw BM25 score from the full-text index.
    pub bm25: f64,
    /// BM25 normalised to 0..1 among the candidates.
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
    /// Memories relevant to `query.text` in `scope`, best first.
    pub fn recall(&self, scope: &Scope, query: &RecallQuery) -> Result<Vec<RecallHit>> {
        crate::engine::check_scope(scope)?;
        if query.text.trim().is_empty() {
            return Err(Error::invalid(
                "query",
                "the query is empty; say what to look for",
            ));
        }
        let limit = query.limit.unwrap_or(self.settings.recall_limit);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut filter = MemoryFilter::scope(scope.clone());
        filter.kinds = query.kinds.clone();
        filter.topic = query.topic.clone();
        filter.session_id = query.session_id.clone();
        filter.view = query.view;
        let pool = (limit * CANDIDATES_PER_RESULT).max(MIN_CANDIDATES);
        let hits = self.store.search_memories(&query.text, &filter, pool)?;
        let now = self.now();
        let max_bm25 = hits.iter().map(|h| h.score).fold(0.0, f64::max);
        let mut ranked: Vec<RecallHit> = hits
            .into_iter()
            .map(|h| {
                let parts = self.score(&h.item, h.score, max_bm25, now);
                RecallHit {
                    memory: h.item,
                    score: parts.total,
                    parts,
                }
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
            self.store.touch_memories(&ids, now)?;
        }
        Ok(ranked)
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
        let total =
            w.text * relevance + w.salience * salience + w.recency * recency + w.pinned * pinned;
        ScoreParts {
            bm25,
            relevance,
            salience,
            recency,
            pinned,
            total,
        }
    }
}

/// Days from `then` to `now` (never negative).
fn days(now: Timestamp, then: Timestamp) -> f64 {
    ((now - then).num_seconds() as f64 / 86_400.0).max(0.0)
}
