//! Engine settings: ranking weights and the forgetting policy. Defaults live here; the
//! binary layers the config file, `MNEMO_*` environment and flags on top.

use serde::{Deserialize, Serialize};

/// Tunable behaviour of the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSettings {
    /// Default number of results of `recall`.
    pub recall_limit: usize,
    /// How ranking combines its signals.
    pub ranking: RankingWeights,
    /// How salience fades with time.
    pub forgetting: ForgettingPolicy,
    /// Memory for the in-memory search indexes of all users together (MiB, estimated);
    /// past it the least recently used users' indexes are dropped and rebuilt on their
    /// next search. 0: no limit.
    pub index_cache_mb: usize,
    /// What the context for a reply holds and how it shares its budget.
    pub context: ContextSettings,
    /// What a conversation turn holding a secret is stored as (`[privacy] secrets`).
    /// Memories, the context and the models' requests never hold one, whatever this says.
    pub secrets: crate::secrets::SecretsPolicy,
}

impl EngineSettings {
    /// [`index_cache_mb`](Self::index_cache_mb) in bytes.
    pub(crate) fn index_budget_bytes(&self) -> usize {
        self.index_cache_mb.saturating_mul(1024 * 1024)
    }
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            recall_limit: 10,
            ranking: RankingWeights::default(),
            forgetting: ForgettingPolicy::default(),
            index_cache_mb: 2048,
            context: ContextSettings::default(),
            secrets: crate::secrets::SecretsPolicy::default(),
        }
    }
}

/// How the context of a reply (the `hybrid` pattern) shares its token budget between what
/// was distilled (facts, memories, topics, session summaries) and what was said (turns of
/// earlier conversations that the turn ranker finds for the message).
///
/// The rule: after this session's recent turns, the distilled items take, in priority
/// order, up to `memory_share` of what is left; past turns then take what fits, best
/// ranked first; whatever is still left goes to the distilled items that did not fit in
/// their share. So with nothing distilled the turns may use the whole budget, and with
/// many memories the turns still get the rest of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContextSettings {
    /// Most turns of earlier conversations considered for one context (0: none).
    pub past_turns: usize,
    /// Share (0..1) of the block that distilled items may take before past turns get
    /// theirs.
    pub memory_share: f32,
    /// A past turn is left out when it is a source of a memory already in the context,
    /// unless it holds a detail the memory lacks (a number, a date, a name).
    pub skip_sourced_turns: bool,
}

impl Default for ContextSettings {
    fn default() -> Self {
        ContextSettings {
            past_turns: 80,
            memory_share: 0.5,
            skip_sourced_turns: true,
        }
    }
}

/// Weights of the components of a recall score. A hit's score is
/// `text * relevance + salience * effective_salience + recency * recency_score + pinned`,
/// where relevance is the full-text score normalised to 0..1 within the candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RankingWeights {
    pub text: f64,
    pub salience: f64,
    pub recency: f64,
    /// Bonus added to pinned memories.
    pub pinned: f64,
    /// Age in days at which the recency score has fallen to 1/e.
    pub recency_days: f64,
    /// A memory that shares no word with the query is returned only when its cosine
    /// similarity reaches this: the embedder's nearest memory is not a match by being
    /// nearest. `None` (the default) takes the embedder's own calibrated value
    /// (`Embedder::unrelated_below`: 0.3 for the built-in table, 0.2 for all-MiniLM-L6-v2
    /// on candle, no check for an HTTP embedder, whose scale is not known); 0 turns it off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_similarity: Option<f64>,
}

impl Default for RankingWeights {
    fn default() -> Self {
        RankingWeights {
            text: 1.0,
            salience: 0.2,
            recency: 0.1,
            pinned: 0.1,
            recency_days: 90.0,
            min_similarity: None,
        }
    }
}

/// The forgetting policy. A memory's effective salience is its stored salience halved for
/// every `half_life_days` since it was last accessed (or created), never below
/// `floor * salience`. Pinned memories do not decay. Expired memories leave the current
/// view entirely. Nothing is deleted by decay: it only changes ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForgettingPolicy {
    pub half_life_days: f64,
    pub floor: f64,
}

impl Default for ForgettingPolicy {
    fn default() -> Self {
        ForgettingPolicy {
            half_life_days: 30.0,
            floor: 0.1,
        }
    }
}

impl ForgettingPolicy {
    /// Effective salience after `idle_days` without access.
    pub fn decay(&self, salience: f64, idle_days: f64, pinned: bool) -> f64 {
        if pinned || self.half_life_days <= 0.0 {
            return salience;
        }
        let factor = 0.5f64.powf(idle_days.max(0.0) / self.half_life_days);
        salience * factor.max(self.floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_halves_per_half_life_and_respects_pin_and_floor() {
        let p = ForgettingPolicy::default();
        assert!((p.decay(0.8, 30.0, false) - 0.4).abs() < 1e-9);
        assert!((p.decay(0.8, 0.0, false) - 0.8).abs() < 1e-9);
        assert_eq!(p.decay(0.8, 3000.0, true), 0.8);
        assert!((p.decay(0.8, 3000.0, false) - 0.08).abs() < 1e-9);
    }

    #[test]
    fn settings_parse_from_partial_toml_like_json() {
        let s: EngineSettings = serde_json::from_str(r#"{"recall_limit": 3}"#).unwrap();
        assert_eq!(s.recall_limit, 3);
        assert_eq!(s.ranking, RankingWeights::default());
        assert!(serde_json::from_str::<EngineSettings>(r#"{"recal_limit": 3}"#).is_err());
    }
}
