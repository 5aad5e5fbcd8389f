//! Candidate memories of a recall: the store's full-text hits, plus (hybrid) the memories
//! nearest the query by meaning, which are checked against the same filter the store
//! applied to the full-text hits.

use std::collections::HashSet;

use mnemo_core::{Memory, MemoryFilter, Result, Scope, TimeView, Timestamp};

use crate::Engine;

/// Fewest nearest memories considered.
const DENSE_MIN: usize = 20;

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
    /// Full-text hits and nearest memories (de-duplicated), all passing `filter`.
    pub(crate) fn candidates(
        &self,
        scope: &Scope,
        text: &str,
        filter: &MemoryFilter,
        pool: usize,
        now: Timestamp,
    ) -> Result<Vec<Candidate>> {
        let hits = self.store.search_memories(text, filter, pool)?;
        let ids: Vec<&str> = hits.iter().map(|h| h.item.id.as_str()).collect();
        // Memories found only by meaning are fetched one by one: take fewer of them than
        // full-text candidates (they rank only if close in meaning anyway).
        let dense_pool = (pool / 2).max(DENSE_MIN);
        let dense = self.dense_memories(&scope.user_id, text, dense_pool, &ids)?;
        let mean = dense.as_ref().map(|d| d.mean);
        let cosine = |id: &str| {
            dense
                .as_ref()
                .map(|d| d.by_id.get(id).copied().unwrap_or(d.mean))
        };
        let mut seen: HashSet<String> = ids.iter().map(|s| s.to_string()).collect();
        let mut out: Vec<Candidate> = hits
            .into_iter()
            .map(|h| Candidate {
                cosine: cosine(&h.item.id),
                memory: h.item,
                bm25: h.score,
                mean,
            })
            .collect();
        for (id, cos) in dense.as_ref().map_or(&[][..], |d| d.hits.as_slice()) {
            if !seen.insert(id.clone()) {
                continue;
            }
            let memory = self.store.get_memory(Some(&scope.user_id), id)?;
            if matches(&memory, filter, now) {
                out.push(Candidate {
                    memory,
                    bm25: 0.0,
                    cosine: Some(*cos),
                    mean,
                });
            }
        }
        Ok(out)
    }
}

/// Whether a memory passes a recall filter (the same conditions the store applies).
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
