//! Memory tools: add, list (filters, time views, cursor pages), get (with history and
//! source turns), update, forget (by id, or by query after a confirmation), restore,
//! history. Every id resolves inside the caller's user.

use mnemo_core::{HistoryEvent, Kind, Memory, MemoryFilter, TimeView, Timestamp, Turn};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{limit, parse_time, Caller, Reach, ToolError, ToolResult};
use crate::{Engine, MemoryEdit, NewMemory, RecallQuery, RememberOutcome};

/// Which versions of memories to see.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// What is true now: not superseded, not forgotten, not expired.
    #[default]
    Current,
    /// Every version ever recorded, superseded and forgotten ones included.
    All,
}

/// A memory to store.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemoryRequest {
    /// The memory's text.
    #[schemars(length(min = 1, max = 20000), regex(pattern = r"\S"))]
    pub content: String,
    /// Defaults to `fact` with a key, `note` without.
    pub kind: Option<Kind>,
    /// At most one current memory per key: a new value supersedes the old one.
    pub key: Option<String>,
    pub topic: Option<String>,
    /// Importance 0..1 (default 0.5; 0.7 for keyed facts).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub salience: Option<f32>,
    pub pinned: Option<bool>,
    /// When it stops being current (RFC 3339 or YYYY-MM-DD, in the future).
    pub expires_at: Option<String>,
    /// The session this memory was learned in: one of the caller's (id or unique prefix),
    /// or a new session id.
    pub session_id: Option<String>,
    /// Why it is added (kept in its history).
    pub reason: Option<String>,
}

/// What adding did.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AddMemoryResponse {
    /// `added`, `superseded` (a keyed memory replaced the current one) or `unchanged`.
    pub outcome: String,
    pub memory: Memory,
    /// The memory it superseded (absent unless `superseded`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<Memory>,
}

/// Stores a memory for the caller.
pub fn add_memory(
    engine: &Engine,
    caller: &Caller,
    req: AddMemoryRequest,
) -> ToolResult<AddMemoryResponse> {
    let mut new = match req.key {
        Some(k) => NewMemory::keyed(k, req.content),
        None => NewMemory::text(req.content),
    };
    if let Some(kind) = req.kind {
        new.kind = kind;
    }
    new.topic = req.topic;
    new.salience = req.salience.unwrap_or(new.salience);
    new.pinned = req.pinned.unwrap_or(false);
    new.expires_at = parse_time("expires_at", req.expires_at.as_deref())?;
    // A memory may start a session, as a message may (the chat's `/remember` before its
    // first message, `mnemo remember --session NAME`).
    new.session_id = match req.session_id.filter(|s| !s.trim().is_empty()) {
        Some(id) => Some(session_for_write(engine, caller, Some(id))?),
        None => None,
    };
    new.reason = req.reason;
    let outcome = engine.remember(&caller.scope(), new, caller.actor)?;
    Ok(match outcome {
        RememberOutcome::Added { memory } => response("added", memory, None),
        RememberOutcome::Superseded { memory, previous } => {
            response("superseded", memory, Some(previous))
        }
        RememberOutcome::Unchanged { memory } => response("unchanged", memory, None),
    })
}

fn response(outcome: &str, memory: Memory, previous: Option<Memory>) -> AddMemoryResponse {
    AddMemoryResponse {
        outcome: outcome.into(),
        memory,
        previous,
    }
}

/// The session to write to: the caller's (by id or prefix), or a new one.
pub(super) fn session_for_write(
    engine: &Engine,
    caller: &Caller,
    id: Option<String>,
) -> ToolResult<String> {
    let Some(id) = id.filter(|s| !s.trim().is_empty()) else {
        return Ok(engine.new_session_id());
    };
    match own_session(engine, caller, &id) {
        Ok(full) => Ok(full),
        // A new session id of this user's (session ids are per user).
        Err(e) if e.kind == super::ErrorKind::NotFound => Ok(id.trim().to_owned()),
        Err(e) => Err(e),
    }
}

/// The full id of a session of the caller's (an id or a unique prefix).
pub(super) fn own_session(engine: &Engine, caller: &Caller, id: &str) -> ToolResult<String> {
    Ok(engine.session(&caller.user_id, id)?.id)
}

/// The session id a read filter uses: a session of the caller's by id or prefix, else the
/// id as given, since a memory may name a session that has no turns (and so no session
/// record) yet. The filter is scoped to the caller, so another user's id matches nothing.
fn session_filter(engine: &Engine, caller: &Caller, id: &str) -> ToolResult<String> {
    match own_session(engine, caller, id) {
        Err(e) if e.kind == super::ErrorKind::NotFound => Ok(id.trim().to_owned()),
        other => other,
    }
}

/// Which memories to list.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListMemoriesRequest {
    pub kind: Option<Kind>,
    /// Only memories of any of these kinds, together with `kind`: comma-separated
    /// (`fact,preference`), or a list where arguments are JSON.
    #[serde(default, deserialize_with = "super::kind_list")]
    #[schemars(with = "Option<String>")]
    pub kinds: Vec<Kind>,
    pub topic: Option<String>,
    pub key: Option<String>,
    /// Only memories learned in this session of the caller's.
    pub session_id: Option<String>,
    /// `current` (default) or `all`; ignored when `as_of` is given.
    pub view: Option<View>,
    /// The memories that were true at this time (RFC 3339 or YYYY-MM-DD).
    pub as_of: Option<String>,
    /// Page size, default 50, at most 500.
    #[schemars(range(min = 1))]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of memories, newest first.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ListMemoriesResponse {
    pub memories: Vec<Memory>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Lists the caller's memories, one page at a time.
pub fn list_memories(
    engine: &Engine,
    caller: &Caller,
    req: ListMemoriesRequest,
) -> ToolResult<ListMemoriesResponse> {
    let page = match caller.reach {
        Reach::Local => req.limit.map(|n| n as usize),
        Reach::Bounded => Some(limit(req.limit, 50, 500)?),
    };
    let mut filter = MemoryFilter::scope(caller.scope());
    filter.kinds = req.kind.into_iter().chain(req.kinds).collect();
    filter.kinds.sort_unstable_by_key(|k| k.to_string());
    filter.kinds.dedup();
    filter.topic = req.topic;
    filter.key = req.key;
    filter.session_id = req
        .session_id
        .map(|s| session_filter(engine, caller, &s))
        .transpose()?;
    filter.view = match (parse_time("as_of", req.as_of.as_deref())?, req.view) {
        (Some(t), _) => TimeView::AsOf(t),
        (None, Some(View::All)) => TimeView::All,
        (None, _) => TimeView::Current,
    };
    filter.after = req.cursor.as_deref().map(parse_cursor).transpose()?;
    filter.limit = page.map(|p| p + 1);
    let mut memories = engine.list(&filter)?;
    let next_cursor = match page {
        Some(page) if memories.len() > page => {
            memories.truncate(page);
            memories.last().map(cursor)
        }
        _ => None,
    };
    Ok(ListMemoriesResponse {
        memories,
        next_cursor,
    })
}

/// The opaque cursor after `m`: its creation time in microseconds and its id.
fn cursor(m: &Memory) -> String {
    format!("{}.{}", m.created_at.timestamp_micros(), m.id)
}

fn parse_cursor(c: &str) -> ToolResult<(Timestamp, String)> {
    let bad = || ToolError::invalid("cursor", "not a cursor from a previous page; leave it out");
    let (micros, id) = c.split_once('.').ok_or_else(bad)?;
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    let at = chrono::DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(bad());
    }
    Ok((at, id.to_owned()))
}

/// A memory with its history and the turns it came from.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MemoryDetail {
    pub memory: Memory,
    /// Every change, oldest first.
    pub history: Vec<HistoryEvent>,
    /// The conversation turns it was derived from.
    pub sources: Vec<Turn>,
    /// Whether it is in the current view.
    pub current: bool,
}

/// One memory of the caller's by id or unique id prefix.
pub fn get_memory(engine: &Engine, caller: &Caller, id: &str) -> ToolResult<MemoryDetail> {
    let v = engine.show(&caller.user_id, id)?;
    // Provenance never crosses users, whatever ids a memory's row holds.
    let sources = v
        .sources
        .into_iter()
        .filter(|t| t.user_id == caller.user_id)
        .collect();
    Ok(MemoryDetail {
        memory: v.memory,
        history: v.history,
        sources,
        current: v.current,
    })
}

/// Changes to a memory; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemoryRequest {
    pub content: Option<String>,
    pub kind: Option<Kind>,
    /// A new key; an empty string clears it.
    pub key: Option<String>,
    /// A new topic; an empty string clears it.
    pub topic: Option<String>,
    pub salience: Option<f32>,
    pub pinned: Option<bool>,
    /// A new expiry; an empty string clears it.
    pub expires_at: Option<String>,
    /// Why (kept in the history).
    pub reason: Option<String>,
}

/// Edits a memory of the caller's in place (history keeps the old text).
pub fn update_memory(
    engine: &Engine,
    caller: &Caller,
    id: &str,
    req: UpdateMemoryRequest,
) -> ToolResult<Memory> {
    let clearable = |v: Option<String>| v.map(|s| Some(s).filter(|s| !s.trim().is_empty()));
    let expires_at = match req.expires_at {
        None => None,
        Some(s) if s.trim().is_empty() => Some(None),
        Some(s) => Some(parse_time("expires_at", Some(&s))?),
    };
    let edit = MemoryEdit {
        content: req.content,
        kind: req.kind,
        key: clearable(req.key),
        topic: clearable(req.topic),
        salience: req.salience,
        pinned: req.pinned,
        expires_at,
        reason: req.reason,
    };
    Ok(engine.edit(&caller.user_id, id, edit, caller.actor)?)
}

/// How to forget one memory.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgetRequest {
    /// Remove it and its history for good instead of hiding it (restorable).
    #[serde(default)]
    pub purge: bool,
    pub reason: Option<String>,
}

/// Forgets a memory of the caller's.
pub fn forget(
    engine: &Engine,
    caller: &Caller,
    id: &str,
    req: ForgetRequest,
) -> ToolResult<Memory> {
    Ok(engine.forget(&caller.user_id, id, req.purge, req.reason, caller.actor)?)
}

/// Forget the memories matching a query: first without `confirm` to see what would go and
/// get a token, then again with that token.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgetByQueryRequest {
    /// What to forget, in plain words.
    #[schemars(regex(pattern = r"\S"))]
    pub query: String,
    /// Most memories to forget (default 5, at most 50).
    #[schemars(range(min = 1))]
    pub limit: Option<u32>,
    /// The `confirm_token` of the preview; without it nothing is forgotten.
    pub confirm: Option<String>,
    pub reason: Option<String>,
}

/// The preview (nothing forgotten, a token to confirm) or what was forgotten.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ForgetByQueryResponse {
    /// The matching memories (the preview), or those forgotten.
    pub memories: Vec<Memory>,
    /// Whether they were forgotten (`false`: a preview).
    pub forgotten: bool,
    /// Pass as `confirm` to forget exactly these memories.
    pub confirm_token: Option<String>,
}

/// Forgets memories by query, in two steps so nothing goes by surprise.
pub fn forget_by_query(
    engine: &Engine,
    caller: &Caller,
    req: ForgetByQueryRequest,
) -> ToolResult<ForgetByQueryResponse> {
    let n = limit(req.limit, 5, 50)?;
    let query = RecallQuery {
        limit: Some(n),
        touch: false,
        ..RecallQuery::from(req.query.as_str())
    };
    let hits = engine.recall(&caller.scope(), &query)?;
    let memories: Vec<Memory> = hits.into_iter().map(|h| h.memory).collect();
    let token = confirm_token(&memories);
    let Some(confirm) = req.confirm else {
        return Ok(ForgetByQueryResponse {
            confirm_token: (!memories.is_empty()).then_some(token),
            memories,
            forgotten: false,
        });
    };
    if confirm != token {
        return Err(ToolError::conflict(
            "stale_confirmation",
            "the memories matching this query changed since the preview; preview again",
        ));
    }
    let mut gone = Vec::with_capacity(memories.len());
    for m in &memories {
        gone.push(engine.forget(
            &caller.user_id,
            &m.id,
            false,
            req.reason.clone(),
            caller.actor,
        )?);
    }
    Ok(ForgetByQueryResponse {
        memories: gone,
        forgotten: true,
        confirm_token: None,
    })
}

/// A token naming exactly this set of memories (FNV-1a over the sorted ids).
fn confirm_token(memories: &[Memory]) -> String {
    let mut ids: Vec<&str> = memories.iter().map(|m| m.id.as_str()).collect();
    ids.sort_unstable();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in ids.join(",").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Makes a forgotten or superseded memory of the caller's current again.
pub fn restore(engine: &Engine, caller: &Caller, id: &str) -> ToolResult<Memory> {
    Ok(engine.restore(&caller.user_id, id, caller.actor)?)
}

/// A memory's history.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct HistoryResponse {
    pub memory_id: String,
    /// Every change, oldest first.
    pub events: Vec<HistoryEvent>,
}

/// The history of a memory of the caller's.
pub fn history(engine: &Engine, caller: &Caller, id: &str) -> ToolResult<HistoryResponse> {
    let m = engine.store().get_memory(Some(&caller.user_id), id)?;
    let events = engine.store().history(&m.user_id, &m.id)?;
    Ok(HistoryResponse {
        memory_id: m.id,
        events,
    })
}

/// The caller's key facts: keyed facts and preferences, the chat's `/facts` and what its
/// prompt injects first.
pub fn facts(engine: &Engine, caller: &Caller) -> ToolResult<Vec<Memory>> {
    Ok(engine.key_facts(&caller.scope())?)
}
