//! [`Engine::search_turns`]: the public turn search, and keeping each user's turn index in
//! step with the store.

use std::collections::HashMap;

use mnemo_core::{Error, OwnerKind, Result, Scope, Turn, TurnFilter};

use super::dates::named_period;
use super::dense::{normalized, DenseIndex};
use super::embedding::{self, embed};
use super::expand::feedback_terms;
use super::rank::{rank, Signals};
use super::synonyms::synonyms;
use super::turn_index::TurnIndex;
use super::{Searched, TurnHit, TurnQuery};
use crate::Engine;

impl Engine {
    /// The turns of `scope` that best match `query.text`, best first, each with the parts
    /// of its score. Turns of the user's other agents are not searched when the scope has
    /// an agent (the user-wide ones are). Falls back to full text when the embedder cannot
    /// be used; [`Engine::search_turns_noted`] says when it did.
    pub fn search_turns(&self, scope: &Scope, query: &TurnQuery) -> Result<Vec<TurnHit>> {
        self.search_turns_noted(scope, query).map(|s| s.hits)
    }

    /// [`Engine::search_turns`], with the reason when it ran on full text only.
    pub fn search_turns_noted(
        &self,
        scope: &Scope,
        query: &TurnQuery,
    ) -> Result<Searched<TurnHit>> {
        crate::engine::check_scope(scope)?;
        if query.text.trim().is_empty() {
            return Err(Error::invalid(
                "query",
                "the query is empty; say what to look for",
            ));
        }
        let mut fallback = None;
        if query.limit == 0 {
            return Ok(Searched {
                hits: Vec::new(),
                fallback,
            });
        }
        let indexes = &self.indexes;
        // Embedding can take a network round trip: done before any index lock is taken.
        let query_vector = match &indexes.embedder {
            Some(embedder) => match embed(embedder.as_ref(), &[&query.text]) {
                Ok(mut v) => v.pop(),
                Err(e) if embedding::embedder_failure(&e) => {
                    fallback = Some(e.to_string());
                    None
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        let epoch = self.store.index_epoch(OwnerKind::Turn, &scope.user_id)?;
        let slot = indexes.turns.slot(&scope.user_id);
        // One user's turn searches take turns (the synonym vocabulary is built lazily,
        // in place); other users' searches never wait for this lock.
        let mut loaded = slot.write();
        let mut lexical_only;
        let index: &mut TurnIndex = match loaded.as_mut() {
            Some(i) if i.is_fresh(epoch) => i,
            _ => match self.build_turn_index(&scope.user_id, fallback.is_none()) {
                Ok(mut built) => {
                    built.epoch = Some(epoch);
                    let bytes = built.approx_bytes();
                    let budget = self.settings.index_budget_bytes();
                    indexes.turns.admit(&scope.user_id, bytes, budget);
                    loaded.insert(built)
                }
                Err(e) if embedding::embedder_failure(&e) || fallback.is_some() => {
                    // Not cached: the next search tries the embedder again.
                    fallback.get_or_insert_with(|| e.to_string());
                    lexical_only = self.build_turn_index(&scope.user_id, false)?;
                    &mut lexical_only
                }
                Err(e) => return Err(e),
            },
        };
        let terms: Vec<(String, f32)> = indexes
            .analyzer
            .query_terms(&query.text)
            .into_iter()
            .map(|t| (t, 1.0))
            .collect();
        let period = named_period(&query.text);
        // A question and a statement are ranked by different settings.
        let params = indexes.params.for_query(&query.text);
        let p: &super::RetrievalParams = &params;
        let mut terms = drop_common(index, terms, p.max_df_share);
        let named = named_speakers(index, &terms);
        let embedder = indexes.embedder.as_deref().filter(|_| fallback.is_none());
        if let Some(embedder) = embedder {
            match synonyms(index, embedder, &indexes.analyzer, &query.text, &terms, p) {
                Ok(extra) => terms.extend(extra),
                Err(e) if embedding::embedder_failure(&e) => fallback = Some(e.to_string()),
                Err(e) => return Err(e),
            }
        }
        let mut bm25 = vec![0.0f32; index.len()];
        index.lexical.score_into(&terms, p.bm25(), &mut bm25);
        let allowed = index
            .turns
            .iter()
            .map(|t| allowed(t, scope, query))
            .collect();
        let cosine = match (&index.dense, &query_vector) {
            (Some(dense), Some(q)) => {
                let q = normalized(q);
                let mut out = vec![0.0f32; index.len()];
                dense.scores(&q, &mut out);
                Some(out)
            }
            _ => None,
        };
        let mut signals = Signals {
            bm25,
            cosine,
            named,
            period,
            allowed,
        };
        let mut ranked = rank(index, &signals, p, query.limit.max(p.prf_docs as usize));
        if p.prf_docs > 0 {
            let mut expanded = terms.clone();
            expanded.extend(feedback_terms(index, &ranked, &terms, p));
            signals.bm25.iter_mut().for_each(|x| *x = 0.0);
            index
                .lexical
                .score_into(&expanded, p.bm25(), &mut signals.bm25);
            ranked = rank(index, &signals, p, query.limit);
        }
        ranked.truncate(query.limit);
        let hits = ranked
            .into_iter()
            .map(|(d, parts)| {
                let turn = &index.turns[d];
                let previous = (query.previous && turn.role == mnemo_core::Role::Assistant)
                    .then(|| index.prev[d])
                    .flatten()
                    .map(|p| index.turns[p as usize].clone());
                TurnHit {
                    turn: turn.clone(),
                    score: parts.total,
                    parts,
                    previous,
                }
            })
            .collect();
        Ok(Searched { hits, fallback })
    }

    /// Builds a user's turn index from the store; with `dense`, also its vectors (embedding
    /// those that are missing), which fails when the embedder cannot be used.
    fn build_turn_index(&self, user_id: &str, dense: bool) -> Result<TurnIndex> {
        let turns = self.store.list_turns(&TurnFilter {
            scope: Some(Scope::user(user_id)),
            ..Default::default()
        })?;
        let mut index = TurnIndex::build(&self.indexes.analyzer, turns);
        if let Some(embedder) = self.embedder().filter(|_| dense) {
            self.check_models(OwnerKind::Turn, user_id)?;
            self.catch_up(OwnerKind::Turn, user_id, &mut |_| {})?;
            let mut vectors: HashMap<String, Vec<f32>> = self
                .store
                .vectors(OwnerKind::Turn, user_id, embedder.model_id())?
                .into_iter()
                .collect();
            let mut dense =
                DenseIndex::new(embedder.model_id(), self.embedder_dims(embedder.as_ref())?);
            for t in &index.turns {
                dense.push(vectors.remove(&t.id).as_deref());
            }
            index.dense = Some(dense);
        }
        Ok(index)
    }

    /// Adds a turn the engine just recorded to its user's index. See
    /// [`index_turns`](Self::index_turns).
    pub(crate) fn index_turn(&self, turn: &Turn) {
        self.index_turns(std::slice::from_ref(turn));
    }

    /// Adds turns of one user the engine just recorded to the user's index, if this
    /// process holds one, embedding them first in one batch (one vector write) when that
    /// index has vectors (the embedder is then warm). Without a loaded index the turns
    /// wait for their vectors (see [`super::embedding`]). The turns are already durable:
    /// when embedding fails, the user's index is dropped so that the next search embeds
    /// what is missing (or falls back to full text and says so).
    pub(crate) fn index_turns(&self, turns: &[Turn]) {
        let Some(user) = turns.first().map(|t| t.user_id.as_str()) else {
            return;
        };
        let Some(slot) = self.indexes.turns.get(user) else {
            return;
        };
        let dense = match slot.read().as_ref() {
            None => return,
            Some(index) => index.dense.is_some(),
        };
        // Embedded before the lock is taken: an HTTP embedder can take a round trip.
        let vectors: Option<Vec<Vec<f32>>> = match self.embedder() {
            Some(_) if dense => {
                let owners: Vec<(&str, &str)> = turns
                    .iter()
                    .map(|t| (t.id.as_str(), t.content.as_str()))
                    .collect();
                self.embed_and_store(OwnerKind::Turn, &owners)
                    .ok()
                    .filter(|v| v.len() == turns.len())
            }
            _ => None,
        };
        let mut loaded = slot.write();
        let Some(index) = loaded.as_mut() else {
            return;
        };
        if index.dense.is_some() && vectors.is_none() {
            *loaded = None;
            return;
        }
        for (i, turn) in turns.iter().enumerate() {
            if let (Some(dense), Some(v)) = (&mut index.dense, &vectors) {
                dense.push(Some(&v[i]));
            }
            index.push(&self.indexes.analyzer, turn.clone());
            // One insert moves the user's epoch by exactly one.
            index.epoch = index.epoch.map(|e| e + 1);
        }
    }
}

/// The query terms without those in more than `share` of the turns, unless that would
/// leave none.
fn drop_common(index: &TurnIndex, terms: Vec<(String, f32)>, share: f32) -> Vec<(String, f32)> {
    if share >= 1.0 || index.len() == 0 {
        return terms;
    }
    let n = index.len() as f32;
    let kept: Vec<(String, f32)> = terms
        .iter()
        .filter(|(t, _)| index.lexical.doc_freq(t) as f32 / n <= share)
        .cloned()
        .collect();
    if kept.is_empty() {
        terms
    } else {
        kept
    }
}

/// Speakers of the scope that the query's terms name: labels heading at least two turns
/// with an index term among the query's.
fn named_speakers(index: &TurnIndex, terms: &[(String, f32)]) -> Vec<u32> {
    index
        .speakers
        .iter()
        .enumerate()
        .filter(|(_, s)| s.turns >= 2 && s.terms.iter().any(|t| terms.iter().any(|(q, _)| q == t)))
        .map(|(i, _)| i as u32)
        .collect()
}

/// Whether a turn passes the scope and the query's filters.
fn allowed(t: &Turn, scope: &Scope, q: &TurnQuery) -> bool {
    let agent_ok = match &scope.agent_id {
        Some(a) => t.agent_id.as_deref().is_none_or(|ta| ta == a),
        None => true,
    };
    agent_ok
        && q.session_id.as_ref().is_none_or(|s| *s == t.session_id)
        && q.since.is_none_or(|s| t.created_at >= s)
        && q.until.is_none_or(|u| t.created_at < u)
}
