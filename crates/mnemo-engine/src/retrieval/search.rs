//! [`Engine::search_turns`]: the public turn search, and keeping each user's turn index in
//! step with the store.

use mnemo_core::{Error, OwnerKind, Result, Scope, Turn, TurnFilter};

use super::rank::{rank, Signals};
use super::turn_index::TurnIndex;
use super::{TurnHit, TurnQuery};
use crate::Engine;

impl Engine {
    /// The turns of `scope` that best match `query.text`, best first, each with the parts
    /// of its score. Turns of the user's other agents are not searched when the scope has
    /// an agent (the user-wide ones are).
    pub fn search_turns(&self, scope: &Scope, query: &TurnQuery) -> Result<Vec<TurnHit>> {
        crate::engine::check_scope(scope)?;
        if query.text.trim().is_empty() {
            return Err(Error::invalid(
                "query",
                "the query is empty; say what to look for",
            ));
        }
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let stamp = self.store.scope_stamp(OwnerKind::Turn, &scope.user_id)?;
        let indexes = &self.indexes;
        let mut map = indexes
            .turns
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let index = map.entry(scope.user_id.clone()).or_default();
        if !index.check_fresh(&stamp) {
            *index = self.build_turn_index(&scope.user_id)?;
            index.stamp = Some(stamp);
        }
        let terms: Vec<(String, f32)> = indexes
            .analyzer
            .query_terms(&query.text)
            .into_iter()
            .map(|t| (t, 1.0))
            .collect();
        let mut bm25 = vec![0.0f32; index.len()];
        index
            .lexical
            .score_into(&terms, indexes.params.bm25(), &mut bm25);
        let allowed = index
            .turns
            .iter()
            .map(|t| allowed(t, scope, query))
            .collect();
        let signals = Signals {
            bm25,
            cosine: None,
            allowed,
        };
        let ranked = rank(index, &signals, &indexes.params, query.limit);
        Ok(ranked
            .into_iter()
            .map(|(d, parts)| TurnHit {
                turn: index.turns[d].clone(),
                score: parts.total,
                parts,
            })
            .collect())
    }

    /// Builds a user's turn index from the store.
    fn build_turn_index(&self, user_id: &str) -> Result<TurnIndex> {
        let turns = self.store.list_turns(&TurnFilter {
            scope: Some(Scope::user(user_id)),
            ..Default::default()
        })?;
        Ok(TurnIndex::build(&self.indexes.analyzer, turns))
    }

    /// Adds a turn the engine just recorded to its user's index, if one is loaded.
    pub(crate) fn index_turn(&self, turn: &Turn) {
        let mut map = self
            .indexes
            .turns
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(index) = map.get_mut(&turn.user_id) {
            index.push(&self.indexes.analyzer, turn.clone());
            index.stamp = None;
        }
    }
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
