//! Patching a loaded memory index after the store changed, instead of rebuilding it.
//!
//! Why: rebuilding reads every memory and every vector of the user (at a million memories,
//! about two minutes), while a write changes one or two. The store's change feed
//! (`VectorStore::memory_changes_since`) names the memories that changed since the index's
//! feed position; each one's old document is removed (from the postings and the full-text
//! and vector statistics, so scores are those of a fresh build) and its current state, if
//! it still exists, is appended. Removed documents keep their numbers (and their bytes in
//! the int8 and coarse codes, where they score 0) until they are a quarter of the index,
//! when a rebuild is cheaper than carrying them.

use mnemo_core::{Error, Memory, OwnerKind, Result};

use super::{indexed_text, MemoryIndex};
use crate::Engine;

/// Fewest dead documents that make a rebuild worth it ...
const DEAD_MIN: usize = 1_000;
/// ... or this share of the index, whichever is more.
const DEAD_SHARE: usize = 4;

impl Engine {
    /// Brings `index` up to the store's `epoch` from the change feed. Returns `false` (and
    /// leaves `index` as it was) when it must be rebuilt instead: the feed no longer reaches
    /// back to it, or too much changed.
    pub(crate) fn patch_memory_index(
        &self,
        user: &str,
        index: &mut MemoryIndex,
        epoch: u64,
    ) -> Result<bool> {
        let Some(changes) = self.store.memory_changes_since(user, index.seq)? else {
            return Ok(false);
        };
        let dying = changes
            .ids
            .iter()
            .filter(|id| index.rows.contains_key(*id))
            .count();
        let limit = DEAD_MIN.max(index.memories.len() / DEAD_SHARE);
        if index.dead_count + dying > limit {
            return Ok(false);
        }
        let mut fresh: Vec<Memory> = Vec::with_capacity(changes.ids.len());
        for id in &changes.ids {
            match self.store.get_memory(Some(user), id) {
                Ok(m) if m.id == *id => fresh.push(m),
                Ok(_) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let vectors = self.memory_vectors(&fresh, index.dense.is_some())?;
        for id in &changes.ids {
            if let Some(row) = index.rows.remove(id) {
                index.dead[row] = true;
                index.dead_count += 1;
                index.lexical.remove(row);
                if let Some(dense) = index.dense.as_mut() {
                    dense.remove(row);
                }
            }
        }
        for (m, v) in fresh.into_iter().zip(vectors) {
            let doc = index.memories.len();
            index
                .lexical
                .push(&self.indexes.analyzer.terms(&indexed_text(&m)));
            if let Some(dense) = index.dense.as_mut() {
                dense.push(v.as_deref().unwrap_or(&[]));
            }
            index.rows.insert(m.id.clone(), doc);
            index.memories.push(m);
            index.dead.push(false);
        }
        index.epoch = epoch;
        index.seq = changes.seq;
        Ok(true)
    }

    /// The stored vector of each memory (embedding and storing those that have none), in
    /// order; all `None` when the index has no vectors.
    fn memory_vectors(&self, memories: &[Memory], dense: bool) -> Result<Vec<Option<Vec<f32>>>> {
        let embedder = match self.embedder() {
            Some(e) if dense => e,
            _ => return Ok(vec![None; memories.len()]),
        };
        // The models were checked when the index was built; counting them again would scan
        // every vector of the user on each patch.
        let ids: Vec<String> = memories.iter().map(|m| m.id.clone()).collect();
        let mut stored: std::collections::HashMap<String, Vec<f32>> = self
            .store
            .vectors_of(OwnerKind::Memory, &ids, embedder.model_id())?
            .into_iter()
            .collect();
        let missing: Vec<(String, String)> = memories
            .iter()
            .filter(|m| !stored.contains_key(&m.id))
            .map(|m| (m.id.clone(), crate::retrieval::memory_text(m)))
            .collect();
        let owners: Vec<(&str, &str)> = missing
            .iter()
            .map(|(id, text)| (id.as_str(), text.as_str()))
            .collect();
        let made = self.embed_and_store(OwnerKind::Memory, &owners)?;
        stored.extend(missing.into_iter().map(|(id, _)| id).zip(made));
        Ok(memories.iter().map(|m| stored.remove(&m.id)).collect())
    }
}
