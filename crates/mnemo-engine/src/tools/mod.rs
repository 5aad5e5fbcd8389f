//! The tools layer: every operation a client of mnemo can ask for, once, as a typed
//! request and response, so the faces (REST server, MCP, the CLI, the chat's slash
//! commands) are a few lines each — parse, call a tool, render — and cannot drift apart.
//!
//! Each tool is `fn x(engine: &Engine, caller: &Caller, req: XRequest) -> ToolResult<XResponse>`.
//! Requests and responses derive `serde` and `schemars::JsonSchema`: the OpenAPI document
//! of the server and the MCP tool schemas are generated from these same types.
//!
//! **Tenancy.** A [`Caller`] is built by each face from its own credentials (an API key,
//! the CLI's `--user`) and is the only way a tool learns whose data it touches. Every id or
//! id prefix a request names is resolved inside the caller's user; another user's record
//! is "not found", never that record. Nothing here widens a caller: `admin` only unlocks
//! whole-database figures and replacing records on import.
//!
//! **Errors** are [`ToolError`]s with a [`ErrorKind`] a face maps to its own vocabulary
//! (HTTP status, MCP error, exit code) and a stable `code` string.

mod admin;
mod conversation;
mod error;
mod exchange;
mod jobs;
mod memories;
mod prompt;
mod search;
mod turns;

pub use admin::{
    export, forget_user, import, stats, ExportResponse, ImportRequest, ImportResponse,
    StatsResponse, UserStats,
};
pub use conversation::{
    add_turns, context, get_session, sessions, summaries, topics, AddTurnsRequest,
    AddTurnsResponse, ContextToolRequest, SessionResponse, SessionsRequest, SessionsResponse,
    SummariesRequest, SummariesResponse, TopicsResponse, TurnIn,
};
pub use error::{ErrorKind, ToolError, ToolResult};
pub(crate) use exchange::reply_meta;
pub use exchange::{
    begin_exchange, finish_exchange, Exchange, ExchangeRequest, Face, Finished, ModelReply,
};
pub use jobs::{
    get_job, jobs, retry_job, usage, JobsRequest, JobsResponse, UsageGroupName, UsageRequest,
    UsageResponse,
};
pub use memories::{
    add_memory, facts, forget, forget_by_query, get_memory, history, list_memories, restore,
    update_memory, AddMemoryRequest, AddMemoryResponse, ForgetByQueryRequest,
    ForgetByQueryResponse, ForgetRequest, HistoryResponse, ListMemoriesRequest,
    ListMemoriesResponse, MemoryDetail, UpdateMemoryRequest, View,
};
pub use prompt::{
    chat_prompt, prompt_messages, with_memory, ChatPrompt, MEMORY_TAG_INSTRUCTIONS, SYSTEM_PROMPT,
};
pub use search::{search, search_noted, SearchHit, SearchRequest, SearchResponse};
pub use turns::{
    list_turns, search_turns, search_turns_noted, ListTurnsRequest, ListTurnsResponse,
    SearchTurnsRequest, SearchTurnsResponse, TurnSearchHit,
};

use mnemo_core::{Actor, Scope, Timestamp};

/// How far a face's listings and searches may reach when a request names no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reach {
    /// A client over the wire (REST, MCP, the chats): listings are paged and searches
    /// capped, whatever the request says.
    #[default]
    Bounded,
    /// The person at the CLI on their own database: a listing without `limit` is
    /// everything (`mnemo list`, `mnemo sessions`), a search's `limit` has no cap and
    /// defaults to the configured recall limit (`mnemo recall`, `mnemo log --search`).
    Local,
}

/// Who is asking. Built by a face from its credentials; tools never widen it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user whose data every call reads and writes.
    pub user_id: String,
    /// An agent of that user: its own memories plus the user-wide ones.
    pub agent_id: Option<String>,
    /// Whole-database figures (stats) and replacing records on import.
    pub admin: bool,
    /// Who a change is recorded as in a memory's history: [`Actor::User`] for API and
    /// chat callers, [`Actor::Cli`] for the CLI's commands.
    pub actor: Actor,
    /// The face's policy on unbounded listings and uncapped searches.
    pub reach: Reach,
}

impl Caller {
    /// A plain user caller.
    pub fn user(user_id: impl Into<String>) -> Self {
        Caller {
            user_id: user_id.into(),
            agent_id: None,
            admin: false,
            actor: Actor::User,
            reach: Reach::Bounded,
        }
    }

    /// The same caller, recording its changes as `actor`.
    pub fn acting_as(self, actor: Actor) -> Self {
        Caller { actor, ..self }
    }

    /// The scope the caller reads and writes.
    pub fn scope(&self) -> Scope {
        Scope::user(self.user_id.clone()).with_agent(self.agent_id.clone())
    }
}

/// Kinds given as one comma-separated string (a query string) or as a list (JSON).
fn kind_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<mnemo_core::Kind>, D::Error> {
    use serde::de::Error as _;
    use serde::Deserialize as _;
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Kinds {
        Text(String),
        List(Vec<String>),
    }
    let words = match Option::<Kinds>::deserialize(d)? {
        None => Vec::new(),
        Some(Kinds::Text(s)) => s.split(',').map(str::to_owned).collect(),
        Some(Kinds::List(l)) => l,
    };
    words
        .iter()
        .map(|w| w.trim())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().map_err(D::Error::custom))
        .collect()
}

/// Parses a date a client sent (RFC 3339, `YYYY-MM-DD` or `YYYY-MM-DD HH:MM[:SS]`, UTC).
fn parse_time(field: &str, value: Option<&str>) -> ToolResult<Option<Timestamp>> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            mnemo_core::time::parse_user(v).map_err(|_| {
                ToolError::invalid(
                    field,
                    format!("`{v}` is not a date; use RFC 3339 or YYYY-MM-DD"),
                )
            })
        })
        .transpose()
}

/// A limit from a request: the default when absent, at most `max`.
fn limit(value: Option<u32>, default: usize, max: usize) -> ToolResult<usize> {
    match value {
        None => Ok(default),
        Some(0) => Err(ToolError::invalid("limit", "must be at least 1")),
        Some(n) => Ok((n as usize).min(max)),
    }
}
