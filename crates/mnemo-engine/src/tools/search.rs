//! Search: the caller's memories ranked for a query, each hit optionally with the parts of
//! its score (`explain`), as `mnemo recall --explain` prints them.

use mnemo_core::{Kind, Memory, TimeView};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::memories::own_session;
use super::{limit, parse_time, Caller, Reach, ToolResult, View};
use crate::{Engine, RecallQuery, ScoreParts};

/// A search of the caller's memories.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// What to look for, in plain words.
    #[schemars(regex(pattern = r"\S"))]
    pub query: String,
    /// Most hits (default 10, at most 100).
    #[schemars(range(min = 1))]
    pub limit: Option<u32>,
    pub kind: Option<Kind>,
    /// Only memories of any of these kinds (together with `kind`).
    #[serde(default)]
    pub kinds: Vec<Kind>,
    pub topic: Option<String>,
    /// Only memories learned in this session of the caller's.
    pub session_id: Option<String>,
    /// `current` (default) or `all`; ignored when `as_of` is given.
    pub view: Option<View>,
    /// Search what was true at this time (RFC 3339 or YYYY-MM-DD).
    pub as_of: Option<String>,
    /// Include each hit's score parts.
    #[serde(default)]
    pub explain: bool,
}

/// One hit.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SearchHit {
    pub memory: Memory,
    pub score: f64,
    /// The parts of the score, with `explain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts: Option<ScoreParts>,
}

/// Hits, best first.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SearchResponse {
    pub hits: Vec<SearchHit>,
    /// True when semantic search was unavailable (the embedder could not be reached, or
    /// the stored vectors are of another model) and the hits come from full-text search
    /// only.
    pub full_text_only: bool,
}

/// Searches the caller's memories.
pub fn search(engine: &Engine, caller: &Caller, req: SearchRequest) -> ToolResult<SearchResponse> {
    search_noted(engine, caller, req).map(|(found, _)| found)
}

/// [`search`], and why semantic search was unavailable when the hits come from full-text
/// search only (the CLI warns with it; off the wire, where an embedder's error is the
/// operator's business, not the client's).
pub fn search_noted(
    engine: &Engine,
    caller: &Caller,
    req: SearchRequest,
) -> ToolResult<(SearchResponse, Option<String>)> {
    let view = match (parse_time("as_of", req.as_of.as_deref())?, req.view) {
        (Some(t), _) => TimeView::AsOf(t),
        (None, Some(View::All)) => TimeView::All,
        (None, _) => TimeView::Current,
    };
    let mut kinds: Vec<Kind> = req.kind.into_iter().chain(req.kinds).collect();
    kinds.sort_unstable_by_key(|k| k.to_string());
    kinds.dedup();
    let query = RecallQuery {
        text: req.query,
        limit: match caller.reach {
            Reach::Local => req.limit.map(|n| n as usize),
            Reach::Bounded => Some(limit(req.limit, 10, 100)?),
        },
        kinds,
        topic: req.topic,
        session_id: req
            .session_id
            .map(|s| own_session(engine, caller, &s))
            .transpose()?,
        view,
        touch: true,
    };
    let found = engine.recall_noted(&caller.scope(), &query)?;
    let response = SearchResponse {
        full_text_only: found.fallback.is_some(),
        hits: found
            .hits
            .into_iter()
            .map(|h| SearchHit {
                memory: h.memory,
                score: h.score,
                parts: req.explain.then_some(h.parts),
            })
            .collect(),
    };
    Ok((response, found.fallback))
}
