//! The engine's embedder: embedding on write, catching up vectors that are missing, guarding
//! against mixing models, and `reindex`.
//!
//! Why vectors are caught up lazily as well as written eagerly: a turn recorded by another
//! process, a memory edited (its old vector is dropped by a trigger) or an import all leave
//! owners without a vector. Building a scope's index embeds whatever is missing, so search
//! never silently runs over a partial set.

use std::sync::Arc;

use mnemo_core::{Error, OwnerKind, Result, VectorRecord};
use mnemo_embed::Embedder;

use crate::Engine;

/// Texts embedded per call (bounded so HTTP embedders get reasonable requests).
const BATCH: usize = 256;

/// Embeds `texts` with `embedder`, mapping its error to the engine's.
pub(crate) fn embed(embedder: &dyn Embedder, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(BATCH) {
        let vectors = embedder
            .embed(chunk)
            .map_err(|e| Error::Model(format!("embedding with {}: {e}", embedder.model_id())))?;
        if vectors.len() != chunk.len() {
            return Err(Error::Model(format!(
                "embedder {} returned {} vectors for {} texts",
                embedder.model_id(),
                vectors.len(),
                chunk.len()
            )));
        }
        out.extend(vectors);
    }
    Ok(out)
}

/// What `reindex` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReindexReport {
    pub model_id: String,
    pub deleted: u64,
    pub turns: u64,
    pub memories: u64,
}

impl Engine {
    /// Uses `embedder` for hybrid search; every turn recorded from now on is embedded when
    /// it is written, and missing vectors are embedded when a scope's index is built.
    pub fn with_embedder(mut self, embedder: Arc<dyn Embedder>) -> Self {
        let mut indexes = super::Indexes::new(self.indexes.params.clone());
        indexes.embedder = Some(embedder);
        self.indexes = Arc::new(indexes);
        self
    }

    /// The configured embedder, if any.
    pub fn embedder(&self) -> Option<&Arc<dyn Embedder>> {
        self.indexes.embedder.as_ref()
    }

    /// Refuses to search when the user's vectors of `kind` come from another model than the
    /// configured one: comparing vectors of two models gives confident nonsense.
    pub(crate) fn check_models(&self, kind: OwnerKind, user_id: &str) -> Result<()> {
        let Some(embedder) = self.embedder() else {
            return Ok(());
        };
        let models = self.store.vector_models(Some(user_id))?;
        if let Some(other) = models
            .iter()
            .find(|m| m.owner_kind == kind && m.model_id != embedder.model_id())
        {
            return Err(Error::invalid(
                "embedder",
                format!(
                    "the database holds {} {} vectors made by `{}`, but the configured embedder is `{}`; \
                     run `mnemo reindex` to re-embed everything with `{}` (or configure `{}` again)",
                    other.count,
                    kind.as_str(),
                    other.model_id,
                    embedder.model_id(),
                    embedder.model_id(),
                    other.model_id
                ),
            ));
        }
        Ok(())
    }

    /// Embeds and stores vectors for the given owners (`(id, text)`), returning them.
    pub(crate) fn embed_and_store(
        &self,
        kind: OwnerKind,
        owners: &[(&str, &str)],
    ) -> Result<Vec<Vec<f32>>> {
        let Some(embedder) = self.embedder() else {
            return Ok(Vec::new());
        };
        let texts: Vec<&str> = owners.iter().map(|(_, t)| *t).collect();
        let vectors = embed(embedder.as_ref(), &texts)?;
        let records: Vec<VectorRecord> = owners
            .iter()
            .zip(&vectors)
            .map(|((id, _), v)| VectorRecord {
                owner_kind: kind,
                owner_id: (*id).to_string(),
                model_id: embedder.model_id().to_string(),
                vector: v.clone(),
            })
            .collect();
        self.store.put_vectors(&records)?;
        Ok(vectors)
    }

    /// Deletes every stored vector and embeds every turn and memory of every user again
    /// with the configured embedder. `progress(done, total)` is called as it goes.
    pub fn reindex(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<ReindexReport> {
        let Some(embedder) = self.embedder().cloned() else {
            return Err(Error::invalid(
                "embedder",
                "no embedder is configured; set one to reindex",
            ));
        };
        let deleted = self.store.delete_vectors_except(None)?;
        let users = self.store.users()?;
        let mut report = ReindexReport {
            model_id: embedder.model_id().to_string(),
            deleted,
            ..Default::default()
        };
        let stats = self.store.stats()?;
        let total = stats.turns + stats.memories_total;
        let mut done = 0u64;
        progress(0, total);
        for user in &users {
            for kind in [OwnerKind::Turn, OwnerKind::Memory] {
                let n = self.catch_up(kind, user, &mut |k| {
                    done += k;
                    progress(done, total);
                })?;
                match kind {
                    OwnerKind::Turn => report.turns += n,
                    OwnerKind::Memory => report.memories += n,
                }
            }
        }
        self.indexes.clear();
        Ok(report)
    }

    /// Embeds every owner of `kind` of `user_id` that has no vector of the configured
    /// model; returns how many. `step(k)` is told after each batch.
    pub(crate) fn catch_up(
        &self,
        kind: OwnerKind,
        user_id: &str,
        step: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let Some(embedder) = self.embedder() else {
            return Ok(0);
        };
        let missing = self
            .store
            .missing_vectors(kind, user_id, embedder.model_id())?;
        for ids in missing.chunks(BATCH) {
            let texts = self.owner_texts(kind, user_id, ids)?;
            let owners: Vec<(&str, &str)> = texts
                .iter()
                .map(|(i, t)| (i.as_str(), t.as_str()))
                .collect();
            self.embed_and_store(kind, &owners)?;
            step(ids.len() as u64);
        }
        Ok(missing.len() as u64)
    }

    /// `(id, text)` of owners by id.
    fn owner_texts(
        &self,
        kind: OwnerKind,
        user_id: &str,
        ids: &[String],
    ) -> Result<Vec<(String, String)>> {
        Ok(match kind {
            OwnerKind::Turn => self
                .store
                .get_turns(ids)?
                .into_iter()
                .map(|t| (t.id, t.content))
                .collect(),
            OwnerKind::Memory => {
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    let m = self.store.get_memory(Some(user_id), id)?;
                    let text = super::memory_text(&m);
                    out.push((m.id, text));
                }
                out
            }
        })
    }
}
