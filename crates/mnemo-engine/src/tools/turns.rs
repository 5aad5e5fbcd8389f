//! The caller's conversation turns: listed in conversation order (the CLI's `log`), and
//! searched with the engine's turn ranker (full text, vectors, neighbouring turns,
//! sessions), each hit with its score parts. The web UI's Conversations page and the CLI's
//! `log --search` search with it; REST has `GET /v1/messages` and `POST /v1/messages/search`.

use mnemo_core::{Turn, TurnFilter};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::memories::own_session;
use super::{limit, parse_time, Caller, Reach, ToolError, ToolResult};
use crate::{Engine, TurnQuery};

/// Which of the caller's turns to list.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTurnsRequest {
    /// Only turns of this session of the caller's (id or id prefix).
    pub session_id: Option<String>,
    /// Only the newest N turns (still returned oldest first); default every turn.
    #[schemars(range(min = 1))]
    pub limit: Option<u32>,
}

/// Turns in conversation order, oldest first.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ListTurnsResponse {
    pub turns: Vec<Turn>,
}

/// Lists the caller's turns: its agent's and the user-wide ones, as the log shows them.
pub fn list_turns(
    engine: &Engine,
    caller: &Caller,
    req: ListTurnsRequest,
) -> ToolResult<ListTurnsResponse> {
    let session_id = req
        .session_id
        .map(|s| own_session(engine, caller, &s))
        .transpose()?;
    let limit = match req.limit {
        Some(0) => return Err(ToolError::invalid("limit", "must be at least 1")),
        l => l.map(|n| n as usize),
    };
    let filter = TurnFilter {
        scope: Some(caller.scope()),
        include_user_wide: true,
        session_id,
        newest_first: limit.is_some(),
        limit,
        ..Default::default()
    };
    let mut turns = engine.turns(&filter)?;
    if filter.newest_first {
        turns.reverse();
    }
    // Turns never cross users, whatever the store returns.
    turns.retain(|t| t.user_id == caller.user_id);
    Ok(ListTurnsResponse { turns })
}

/// A search of the caller's conversation turns.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchTurnsRequest {
    /// What to look for, in plain words.
    #[schemars(regex(pattern = r"\S"))]
    pub query: String,
    /// Most hits (default 10, at most 100).
    #[schemars(range(min = 1))]
    pub limit: Option<u32>,
    /// Only turns of this session of the caller's.
    pub session_id: Option<String>,
    /// Only turns said at or after this time (RFC 3339 or YYYY-MM-DD).
    pub since: Option<String>,
    /// Only turns said before this time.
    pub until: Option<String>,
}

/// One turn found.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TurnSearchHit {
    pub turn: Turn,
    pub score: f64,
    /// The parts of the score (BM25, dense, neighbours, session, speaker).
    pub parts: crate::TurnScoreParts,
}

/// Hits, best first.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SearchTurnsResponse {
    pub hits: Vec<TurnSearchHit>,
    /// True when semantic search was unavailable and the hits come from full-text search
    /// only.
    pub full_text_only: bool,
}

/// Searches the caller's turns with the turn ranker.
pub fn search_turns(
    engine: &Engine,
    caller: &Caller,
    req: SearchTurnsRequest,
) -> ToolResult<SearchTurnsResponse> {
    search_turns_noted(engine, caller, req).map(|(found, _)| found)
}

/// [`search_turns`], and why semantic search was unavailable when the hits come from
/// full-text search only (the CLI warns with it; off the wire).
pub fn search_turns_noted(
    engine: &Engine,
    caller: &Caller,
    req: SearchTurnsRequest,
) -> ToolResult<(SearchTurnsResponse, Option<String>)> {
    if req.query.trim().is_empty() {
        return Err(ToolError::invalid(
            "query",
            "the query is empty; give words to look for",
        ));
    }
    let n = match (caller.reach, req.limit) {
        (Reach::Local, Some(n)) => n as usize,
        _ => limit(req.limit, 10, 100)?,
    };
    let mut q = TurnQuery::new(req.query, n);
    q.session_id = req
        .session_id
        .map(|s| own_session(engine, caller, &s))
        .transpose()?;
    q.since = parse_time("since", req.since.as_deref())?;
    q.until = parse_time("until", req.until.as_deref())?;
    let found = engine.search_turns_noted(&caller.scope(), &q)?;
    let response = SearchTurnsResponse {
        full_text_only: found.fallback.is_some(),
        hits: found
            .hits
            .into_iter()
            // Provenance never crosses users, whatever the index holds.
            .filter(|h| h.turn.user_id == caller.user_id)
            .map(|h| TurnSearchHit {
                turn: h.turn,
                score: h.score,
                parts: h.parts,
            })
            .collect(),
    };
    Ok((response, found.fallback))
}
