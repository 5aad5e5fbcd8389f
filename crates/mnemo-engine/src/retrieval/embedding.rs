//! The engine's embedder: catching up vectors that are missing, guarding against mixing
//! models, the backlog that `mnemo stats` shows, the backfill that workers run, and
//! `reindex`.
//!
//! Why writes do not wait for vectors: a turn or memory is durable as soon as its row is
//! written, and an embedder may be slow, down, or (the built-in table) costly to load for a
//! one-shot command. So a write embeds only when this process already holds the user's
//! search index (a chat, a server: the embedder is warm and the index must stay whole);
//! otherwise the record waits. Waiting records are counted ([`Engine::vector_backlog`]),
//! embedded by the next search that builds the index, by the worker's backfill
//! ([`Engine::backfill_vectors`], also `mnemo reindex --missing`), and never by another
//! embedder than the one the user's vectors come from: a write made with another embedder
//! (a script without the user's config) leaves its records waiting for the right one, and a
//! search with the wrong one falls back to full text and names `mnemo reindex`.

use std::sync::Arc;

use std::time::{Duration, Instant};

use mnemo_core::{Error, OwnerKind, Result, VectorRecord};
use mnemo_embed::Embedder;
use serde::Serialize;

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

/// Whether `e` says that semantic search cannot be used right now (the embedder failed, or
/// the stored vectors come from another model), so that a search may fall back to full text.
pub(crate) fn embedder_failure(e: &Error) -> bool {
    match e {
        Error::Model(_) => true,
        Error::Invalid { field, .. } => field == "embedder",
        _ => false,
    }
}

/// Records that wait for vectors of the configured embedder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VectorBacklog {
    pub model_id: String,
    pub turns: u64,
    pub memories: u64,
}

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BackfillReport {
    pub model_id: String,
    pub turns: u64,
    pub memories: u64,
    /// Users whose stored vectors come from another model (left for `mnemo reindex`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_users: Vec<String>,
    /// Why the backfill stopped early (the embedder failed); the rest waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
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

    /// How many turns and memories wait for a vector of the configured embedder; `None`
    /// without one. Does not contact the embedder.
    pub fn vector_backlog(&self) -> Result<Option<VectorBacklog>> {
        let Some(embedder) = self.embedder() else {
            return Ok(None);
        };
        let model = embedder.model_id();
        Ok(Some(VectorBacklog {
            model_id: model.to_owned(),
            turns: self.store.count_missing_vectors(OwnerKind::Turn, model)?,
            memories: self.store.count_missing_vectors(OwnerKind::Memory, model)?,
        }))
    }

    /// Embeds every turn and memory that waits for a vector, user by user, skipping users
    /// whose vectors come from another model. An embedder failure stops the backfill and is
    /// reported in the result (what was embedded so far is kept).
    pub fn backfill_vectors(&self) -> Result<BackfillReport> {
        *self
            .indexes
            .last_backfill
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let Some(embedder) = self.embedder().cloned() else {
            return Ok(BackfillReport::default());
        };
        let mut report = BackfillReport {
            model_id: embedder.model_id().to_owned(),
            ..Default::default()
        };
        let model = embedder.model_id();
        if self.store.count_missing_vectors(OwnerKind::Turn, model)? == 0
            && self.store.count_missing_vectors(OwnerKind::Memory, model)? == 0
        {
            return Ok(report);
        }
        for user in self.store.users()? {
            for kind in [OwnerKind::Turn, OwnerKind::Memory] {
                if self.check_models(kind, &user).is_err() {
                    if !report.skipped_users.contains(&user) {
                        report.skipped_users.push(user.clone());
                    }
                    continue;
                }
                let mut made = 0;
                let result = self.catch_up(kind, &user, &mut |k| made += k);
                match kind {
                    OwnerKind::Turn => report.turns += made,
                    OwnerKind::Memory => report.memories += made,
                }
                if let Err(e) = result {
                    report.error = Some(e.to_string());
                    return Ok(report);
                }
            }
        }
        Ok(report)
    }

    /// [`Engine::backfill_vectors`] unless one ran less than `every` ago in this process
    /// (workers call this when idle; a backfill with nothing to do still scans the store).
    pub fn backfill_vectors_every(&self, every: Duration) -> Result<Option<BackfillReport>> {
        let last = *self
            .indexes
            .last_backfill
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < every) || self.embedder().is_none() {
            return Ok(None);
        }
        self.backfill_vectors().map(Some)
    }

    /// The configured embedder's vector length; an error (that searches fall back on)
    /// when an HTTP embedder cannot be reached to learn it.
    pub(crate) fn embedder_dims(&self, embedder: &dyn Embedder) -> Result<usize> {
        match embedder.dims() {
            0 => Err(Error::Model(format!(
                "the embedder {} cannot be reached to learn its vector length",
                embedder.model_id()
            ))),
            d => Ok(d),
        }
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
                .get_turns(user_id, ids)?
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
