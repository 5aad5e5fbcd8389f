//! The in-memory vector index of one user's memories, for hybrid `recall`.
//!
//! Only vectors live here (by memory id, int8: a user may hold a million memories, and
//! the scan is bound by memory bandwidth); the memories themselves, and every filter of a
//! recall (current view, kinds, topic, session, agent), stay with the store and are applied
//! to the candidates. Like the turn index it is rebuilt from the store when the user's
//! index epoch moves.

use std::collections::HashMap;

use mnemo_core::{OwnerKind, Result};

use super::dense::normalized;
use super::embedding::embed;
use super::quant::QuantIndex;
use crate::Engine;

/// One user's memory vectors.
#[derive(Debug)]
pub(crate) struct MemoryVectors {
    ids: Vec<String>,
    rows: HashMap<String, usize>,
    dense: QuantIndex,
    epoch: u64,
}

/// The memories nearest a query: `(id, cosine)` best first, and the mean cosine over all of
/// the user's memories (the zero point of the rescaled dense score).
#[derive(Debug, Default)]
pub(crate) struct DenseCandidates {
    pub hits: Vec<(String, f32)>,
    pub mean: f32,
    pub by_id: HashMap<String, f32>,
}

impl Engine {
    /// The `pool` memories of `user_id` nearest `text`, or `None` without an embedder.
    /// `by_id` also holds the cosine of each of `also` (full-text hits).
    pub(crate) fn dense_memories(
        &self,
        user_id: &str,
        text: &str,
        pool: usize,
        also: &[&str],
    ) -> Result<Option<DenseCandidates>> {
        let Some(embedder) = self.embedder() else {
            return Ok(None);
        };
        let epoch = self.store.index_epoch(OwnerKind::Memory, user_id)?;
        let mut map = self
            .indexes
            .memories
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.get(user_id).is_none_or(|m| m.epoch != epoch) {
            self.check_models(OwnerKind::Memory, user_id)?;
            self.catch_up(OwnerKind::Memory, user_id, &mut |_| {})?;
            let rows = self
                .store
                .vectors(OwnerKind::Memory, user_id, embedder.model_id())?;
            let mut dense = QuantIndex::new(embedder.dims());
            let mut ids = Vec::with_capacity(rows.len());
            for (id, v) in rows {
                dense.push(&v);
                ids.push(id);
            }
            let rows = ids
                .iter()
                .enumerate()
                .map(|(i, id)| (id.clone(), i))
                .collect();
            map.insert(
                user_id.to_string(),
                MemoryVectors {
                    ids,
                    rows,
                    dense,
                    epoch,
                },
            );
        }
        let Some(index) = map.get(user_id) else {
            return Ok(None);
        };
        let q = embed(embedder.as_ref(), &[text])?;
        let q = normalized(q.first().map_or(&[][..], Vec::as_slice));
        let mut scores = vec![0.0f32; index.ids.len()];
        index.dense.scores(&q, &mut scores);
        let mean = if scores.is_empty() {
            0.0
        } else {
            scores.iter().sum::<f32>() / scores.len() as f32
        };
        let mut order: Vec<usize> = (0..scores.len()).collect();
        let by = |a: &usize, b: &usize| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b));
        if order.len() > pool {
            order.select_nth_unstable_by(pool, by);
            order.truncate(pool);
        }
        order.sort_by(by);
        let hits: Vec<(String, f32)> = order
            .into_iter()
            .map(|i| (index.ids[i].clone(), scores[i]))
            .collect();
        let mut by_id: HashMap<String, f32> = hits.iter().cloned().collect();
        for id in also {
            if let Some(&row) = index.rows.get(*id) {
                by_id.insert((*id).to_string(), scores[row]);
            }
        }
        Ok(Some(DenseCandidates { hits, mean, by_id }))
    }
}
