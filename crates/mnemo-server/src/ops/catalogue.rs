//! Every operation, declared once (see the module above). Turns of a conversation are
//! "turns" everywhere (CLI, REST, MCP, the types); memory search lives under
//! `/v1/memories` like turn search under `/v1/turns`.

use mnemo_engine::tools as t;
use serde_json::Value;

use super::keys;
use super::{json, schema, Carrier, Effect, ExtraRoute, McpTool, Operation};

const MEMORIES: &str = "memories";
const TURNS: &str = "conversation";
const PIPELINE: &str = "pipeline";
const ACCOUNT: &str = "account";
const ADMIN: &str = "admin";
const SERVICE: &str = "service";
const PROXY: &str = "proxy";

const MEMORY_ID: &str =
    "The memory's id, or a unique prefix of it (from search_memories or list_memories).";
const SESSION_ID: &str = "The session's id, or a unique prefix of it.";
const JOB_ID: &str = "The job's id, or a unique prefix of it.";

/// Defaults every entry starts from.
const BASE: Operation = Operation {
    name: "",
    method: "get",
    path: "",
    tag: "",
    summary: "",
    effect: Effect::Read,
    carrier: Carrier::Nothing,
    request: None,
    response: schema::<Value>,
    statuses: &[200],
    status: None,
    id: None,
    idempotency_header: false,
    mcp: None,
    rest_aliases: &[],
    run: |_| Err(crate::error::ApiError::internal("not implemented")),
};

pub(crate) const OPERATIONS: &[Operation] = &[
    // --- memories -------------------------------------------------------------------
    Operation {
        name: "add_memory",
        method: "post",
        path: "/v1/memories",
        tag: MEMORIES,
        summary: "Store a memory (a keyed one supersedes the current value; 200 when unchanged)",
        effect: Effect::AddIdempotent,
        carrier: Carrier::Body,
        request: Some(schema::<t::AddMemoryRequest>),
        response: schema::<t::AddMemoryResponse>,
        statuses: &[201, 200],
        status: Some(|v| if v["outcome"] == "unchanged" { 200 } else { 201 }),
        mcp: Some(McpTool {
            title: "Remember something",
            description: "Store a durable memory about the user: a fact, preference, plan, decision or note \
worth knowing in later conversations. Write one self-contained statement in the third person \
(\"Prefers dark mode in every editor\"). Give a `key` (e.g. `editor.theme`) for a fact that has one \
current value: a new value under the same key supersedes the old one, keeping it in history. Adding \
the same text twice changes nothing (outcome `unchanged`).",
            aliases: &[],
        }),
        run: |c| json(t::add_memory(c.engine, c.caller, c.req()?)),
        ..BASE
    },
    Operation {
        name: "list_memories",
        path: "/v1/memories",
        tag: MEMORIES,
        summary: "List memories, newest first, one page at a time",
        carrier: Carrier::Query,
        request: Some(schema::<t::ListMemoriesRequest>),
        response: schema::<t::ListMemoriesResponse>,
        mcp: Some(McpTool {
            title: "List memories",
            description: "List the user's memories newest first, one page at a time, optionally filtered by \
kind, topic, key or session. `view: all` includes superseded and forgotten versions; `as_of` shows \
what was true at a past time. Pass `next_cursor` back as `cursor` for the next page.",
            aliases: &[],
        }),
        run: |c| json(t::list_memories(c.engine, c.caller, c.req()?)),
        ..BASE
    },
    Operation {
        name: "search_memories",
        method: "post",
        path: "/v1/memories/search",
        tag: MEMORIES,
        summary: "Search memories, best first (explain: the score's parts)",
        carrier: Carrier::Body,
        request: Some(schema::<t::SearchRequest>),
        response: schema::<t::SearchResponse>,
        mcp: Some(McpTool {
            title: "Search memories",
            description: "Find the user's memories relevant to a question or topic, best first. Use it before \
answering anything that may depend on what the user said earlier. Set `explain: true` to see why each \
hit ranked where it did (semantic, keyword, recency and salience parts of the score).",
            aliases: &[],
        }),
        rest_aliases: &[("post", "/v1/search")],
        run: |c| json(t::search(c.engine, c.caller, c.req()?)),
        ..BASE
    },
    Operation {
        name: "get_memory",
        path: "/v1/memories/{id}",
        tag: MEMORIES,
        summary: "A memory with its history and source turns",
        response: schema::<t::MemoryDetail>,
        id: Some(MEMORY_ID),
        mcp: Some(McpTool {
            title: "Get one memory",
            description: "Read one memory by id (or a unique id prefix) with its full history of changes and \
the conversation turns it was learned from.",
            aliases: &[],
        }),
        run: |c| json(t::get_memory(c.engine, c.caller, c.id()?)),
        ..BASE
    },
    Operation {
        name: "update_memory",
        method: "patch",
        path: "/v1/memories/{id}",
        tag: MEMORIES,
        summary: "Edit a memory in place (history keeps the old text)",
        effect: Effect::Destructive,
        carrier: Carrier::Body,
        request: Some(schema::<t::UpdateMemoryRequest>),
        response: schema::<mnemo_core::Memory>,
        id: Some(MEMORY_ID),
        mcp: Some(McpTool {
            title: "Correct a memory",
            description: "Change a memory in place: its text, kind, key, topic, salience, pin or expiry. Only \
the fields given change. Use it when the user corrects something remembered; the old text stays in \
the memory's history.",
            aliases: &[],
        }),
        run: |c| json(t::update_memory(c.engine, c.caller, c.id()?, c.req()?)),
        ..BASE
    },
    Operation {
        name: "forget_memory",
        method: "delete",
        path: "/v1/memories/{id}",
        tag: MEMORIES,
        summary: "Forget a memory (restorable), or purge it",
        effect: Effect::Destructive,
        carrier: Carrier::Query,
        request: Some(schema::<t::ForgetRequest>),
        response: schema::<mnemo_core::Memory>,
        id: Some(MEMORY_ID),
        mcp: Some(McpTool {
            title: "Forget a memory",
            description: "Forget one memory by id so it is no longer recalled, e.g. when the user asks you to \
forget it or it is wrong. It can be restored later unless `purge: true`, which deletes it and its \
history for good. Find the id with search_memories first.",
            aliases: &[],
        }),
        run: |c| json(t::forget(c.engine, c.caller, c.id()?, c.req()?)),
        ..BASE
    },
    Operation {
        name: "restore_memory",
        method: "post",
        path: "/v1/memories/{id}/restore",
        tag: MEMORIES,
        summary: "Make a forgotten or superseded memory current again",
        effect: Effect::AddIdempotent,
        response: schema::<mnemo_core::Memory>,
        id: Some(MEMORY_ID),
        run: |c| json(t::restore(c.engine, c.caller, c.id()?)),
        ..BASE
    },
    Operation {
        name: "get_memory_history",
        path: "/v1/memories/{id}/history",
        tag: MEMORIES,
        summary: "Every change of a memory, oldest first",
        response: schema::<t::HistoryResponse>,
        id: Some(MEMORY_ID),
        run: |c| json(t::history(c.engine, c.caller, c.id()?)),
        ..BASE
    },
    Operation {
        name: "forget_memories",
        method: "post",
        path: "/v1/memories/forget",
        tag: MEMORIES,
        summary: "Forget the memories matching a query: preview, then confirm with the token",
        effect: Effect::Destructive,
        carrier: Carrier::Body,
        request: Some(schema::<t::ForgetByQueryRequest>),
        response: schema::<t::ForgetByQueryResponse>,
        run: |c| json(t::forget_by_query(c.engine, c.caller, c.req()?)),
        ..BASE
    },
    // --- conversation -----------------------------------------------------------------
    Operation {
        name: "add_turns",
        method: "post",
        path: "/v1/turns",
        tag: TURNS,
        summary: "Record conversation turns; the memory pipeline is queued and runs in the background",
        effect: Effect::Append,
        carrier: Carrier::Body,
        request: Some(schema::<t::AddTurnsRequest>),
        response: schema::<t::AddTurnsResponse>,
        statuses: &[202],
        idempotency_header: true,
        mcp: Some(McpTool {
            title: "Record conversation turns",
            description: "Record turns of the current conversation (user and assistant messages, in order) so \
mnemo can learn from them: memories are extracted and sessions summarised in the background. Pass the \
returned `session_id` on later calls of the same conversation.",
            aliases: &["record_messages"],
        }),
        rest_aliases: &[("post", "/v1/messages")],
        run: |c| json(t::add_turns(c.engine, c.caller, c.req()?)),
        ..BASE
    },
    Operation {
        name: "list_turns",
        path: "/v1/turns",
        tag: TURNS,
        summary: "Conversation turns in order, oldest first (of one session, or the newest N)",
        carrier: Carrier::Query,
        request: Some(schema::<t::ListTurnsRequest>),
        response: schema::<t::ListTurnsResponse>,
        rest_aliases: &[("get", "/v1/messages")],
        run: |c| json(t::list_turns(c.engine, c.caller, c.req()?)),
        ..BASE
    },
    Operation {
        name: "search_turns",
        method: "post",
        path: "/v1/turns/search",
        tag: TURNS,
        summary: "Search conversation turns (full text, vectors, neighbouring turns, sessions), each hit with its score parts",
        carrier: Carrier::Body,
        request: Some(schema::<t::SearchTurnsRequest>),
        response: schema::<t::SearchTurnsResponse>,
        mcp: Some(McpTool {
            title: "Search past conversations",
            description: "Search what was actually said in the user's past conversations, word for word: \
each hit is one turn (user or assistant) with its session and time. Use it when the memories lack \
a detail (a name, a date, the exact wording) or to quote the user; narrow it with `session_id`, \
`since` and `until`.",
            aliases: &["search_conversations"],
        }),
        rest_aliases: &[("post", "/v1/messages/search")],
        run: |c| json(t::search_turns(c.engine, c.caller, c.req()?)),
        ..BASE
    },
    Operation {
        name: "get_context",
        method: "post",
        path: "/v1/context",
        tag: TURNS,
        summary: "Assemble the memory context for a message within a token budget",
        carrier: Carrier::Body,
        request: Some(schema::<t::ContextToolRequest>),
        response: schema::<mnemo_engine::Context>,
        mcp: Some(McpTool {
            title: "Get memory context for a message",
            description: "Assemble what mnemo knows that is relevant to answering `message`, within a token \
budget: a memory block to add to your system prompt, and the recent turns of the session. Call it \
with the user's new message before you reply.",
            aliases: &[],
        }),
        run: |c| json(t::context(c.engine, c.caller, c.req()?)),
        ..BASE
    },
    Operation {
        name: "list_sessions",
        path: "/v1/sessions",
        tag: TURNS,
        summary: "Sessions, newest first",
        carrier: Carrier::Query,
        request: Some(schema::<t::SessionsRequest>),
        response: schema::<t::SessionsResponse>,
        mcp: Some(McpTool {
            title: "List conversation sessions",
            description: "List the user's conversation sessions, newest first, with when they started and how \
many turns they have.",
            aliases: &[],
        }),
        run: |c| json(t::sessions(c.engine, c.caller, c.req()?)),
        ..BASE
    },
    Operation {
        name: "get_session",
        path: "/v1/sessions/{id}",
        tag: TURNS,
        summary: "A session with its turns and summaries",
        response: schema::<t::SessionResponse>,
        id: Some(SESSION_ID),
        run: |c| json(t::get_session(c.engine, c.caller, c.id()?)),
        ..BASE
    },
    Operation {
        name: "list_summaries",
        path: "/v1/summaries",
        tag: TURNS,
        summary: "Session summaries",
        carrier: Carrier::Query,
        request: Some(schema::<t::SummariesRequest>),
        response: schema::<t::SummariesResponse>,
        mcp: Some(McpTool {
            title: "Get session summaries",
            description: "Read the summary of one conversation session (by `session_id`), or of every session \
when it is left out: what was discussed and decided, written by mnemo's pipeline.",
            aliases: &["get_session_summary"],
        }),
        run: |c| json(t::summaries(c.engine, c.caller, c.req()?)),
        ..BASE
    },
    Operation {
        name: "list_topics",
        path: "/v1/topics",
        tag: TURNS,
        summary: "Topics with their summaries",
        response: schema::<t::TopicsResponse>,
        run: |c| json(t::topics(c.engine, c.caller)),
        ..BASE
    },
    // --- pipeline ---------------------------------------------------------------------
    Operation {
        name: "list_jobs",
        path: "/v1/jobs",
        tag: PIPELINE,
        summary: "Pipeline jobs, newest first, with counts per status",
        carrier: Carrier::Query,
        request: Some(schema::<t::JobsRequest>),
        response: schema::<t::JobsResponse>,
        run: |c| json(t::jobs(c.engine, c.caller, c.req()?)),
        ..BASE
    },
    Operation {
        name: "get_job",
        path: "/v1/jobs/{id}",
        tag: PIPELINE,
        summary: "One job",
        response: schema::<mnemo_core::Job>,
        id: Some(JOB_ID),
        run: |c| json(t::get_job(c.engine, c.caller, c.id()?)),
        ..BASE
    },
    Operation {
        name: "retry_job",
        method: "post",
        path: "/v1/jobs/{id}/retry",
        tag: PIPELINE,
        summary: "Queue a failed job again",
        effect: Effect::AddIdempotent,
        response: schema::<mnemo_core::Job>,
        id: Some(JOB_ID),
        run: |c| json(t::retry_job(c.engine, c.caller, c.id()?)),
        ..BASE
    },
    Operation {
        name: "get_usage",
        path: "/v1/usage",
        tag: PIPELINE,
        summary: "Model token usage, by model, task, job or UTC day",
        carrier: Carrier::Query,
        request: Some(schema::<t::UsageRequest>),
        response: schema::<t::UsageResponse>,
        run: |c| json(t::usage(c.engine, c.caller, c.req()?)),
        ..BASE
    },
    // --- account ----------------------------------------------------------------------
    Operation {
        name: "get_me",
        path: "/v1/me",
        tag: ACCOUNT,
        summary: "Who the key acts as, and what the server offers (model, prices, auth)",
        response: schema::<keys::Me>,
        run: keys::me,
        ..BASE
    },
    Operation {
        name: "get_stats",
        path: "/v1/stats",
        tag: ACCOUNT,
        summary: "Counts of your data",
        response: schema::<t::StatsResponse>,
        run: |c| json(t::stats(c.engine, c.caller)),
        ..BASE
    },
    Operation {
        name: "export",
        path: "/v1/export",
        tag: ACCOUNT,
        summary: "Every record of yours, in export order",
        response: schema::<t::ExportResponse>,
        run: |c| json(t::export(c.engine, c.caller)),
        ..BASE
    },
    Operation {
        name: "import",
        method: "post",
        path: "/v1/import",
        tag: ACCOUNT,
        summary: "Import records of yours, all or nothing (the export header is checked)",
        effect: Effect::AddIdempotent,
        carrier: Carrier::Body,
        request: Some(schema::<t::ImportRequest>),
        response: schema::<t::ImportResponse>,
        run: |c| json(t::import(c.engine, c.caller, c.req()?)),
        ..BASE
    },
    // --- admin --------------------------------------------------------------------------
    Operation {
        name: "list_keys",
        path: "/v1/keys",
        tag: ADMIN,
        summary: "Every API key (admin keys only; secrets are never stored or shown)",
        response: schema::<keys::KeysOut>,
        run: keys::list,
        ..BASE
    },
    Operation {
        name: "create_key",
        method: "post",
        path: "/v1/keys",
        tag: ADMIN,
        summary: "Create an API key (admin keys only); its text is shown once",
        effect: Effect::Append,
        carrier: Carrier::Body,
        request: Some(schema::<keys::CreateKeyIn>),
        response: schema::<keys::CreatedKey>,
        statuses: &[201],
        run: keys::create,
        ..BASE
    },
    Operation {
        name: "revoke_key",
        method: "delete",
        path: "/v1/keys/{id}",
        tag: ADMIN,
        summary: "Revoke an API key (admin keys only); it stops working at once",
        effect: Effect::Destructive,
        response: schema::<mnemo_core::ApiKey>,
        id: Some("The key's id, or a unique prefix of it."),
        run: keys::revoke,
        ..BASE
    },
];

/// What every proxy answer may be: the model server's JSON, or an OpenAI-shaped error.
const OPENAI_JSON: &[(u16, &str, Option<super::SchemaFn>)] = &[
    (200, "application/json", None),
    (200, "text/event-stream", None),
    (0, "application/json", None),
];

pub(crate) const EXTRA_ROUTES: &[ExtraRoute] = &[
    ExtraRoute {
        method: "post",
        path: "/v1/chat/completions",
        name: "chat_completions",
        tag: PROXY,
        summary:
            "OpenAI-compatible chat completions with the user's memory added (stream or not); \
the exchange is recorded and counted (usage task `proxy`). Session: `X-Mnemo-Session` or \
`mnemo_session`. Errors come in OpenAI's shape.",
        public: false,
        responses: OPENAI_JSON,
        body: Some(("application/json", schema::<Value>)),
    },
    ExtraRoute {
        method: "get",
        path: "/v1/models",
        name: "list_models",
        tag: PROXY,
        summary: "The models of the configured model server, in OpenAI's shape",
        public: false,
        responses: &[
            (200, "application/json", None),
            (0, "application/json", None),
        ],
        body: None,
    },
    ExtraRoute {
        method: "post",
        path: "/v1/chat",
        name: "chat",
        tag: PROXY,
        summary:
            "The web UI's chat: one exchange, streamed as NDJSON lines (`context`, `token`..., \
then `done` or `error`)",
        public: false,
        responses: &[(200, "application/x-ndjson", None)],
        body: Some(("application/json", schema::<crate::ui::ChatIn>)),
    },
    ExtraRoute {
        method: "post",
        path: "/mcp",
        name: "mcp",
        tag: PROXY,
        summary:
            "MCP (Model Context Protocol) over streamable HTTP: JSON-RPC, one request per POST, \
the same API keys; the tools are the operations of this document that have an MCP name",
        public: false,
        responses: &[(0, "", None)],
        body: Some(("application/json", schema::<Value>)),
    },
    ExtraRoute {
        method: "get",
        path: "/healthz",
        name: "healthz",
        tag: SERVICE,
        summary: "The process is up",
        public: true,
        responses: &[(200, "application/json", None)],
        body: None,
    },
    ExtraRoute {
        method: "get",
        path: "/readyz",
        name: "readyz",
        tag: SERVICE,
        summary: "The database answers",
        public: true,
        responses: &[(200, "application/json", None)],
        body: None,
    },
    ExtraRoute {
        method: "get",
        path: "/metrics",
        name: "metrics",
        tag: SERVICE,
        summary: "Prometheus metrics",
        public: true,
        responses: &[(200, "text/plain", None)],
        body: None,
    },
    ExtraRoute {
        method: "get",
        path: "/openapi.json",
        name: "openapi",
        tag: SERVICE,
        summary: "This document",
        public: true,
        responses: &[(200, "application/json", None)],
        body: None,
    },
    ExtraRoute {
        method: "get",
        path: "/docs",
        name: "docs",
        tag: SERVICE,
        summary: "This document as a readable page",
        public: true,
        responses: &[(200, "text/html", None)],
        body: None,
    },
    ExtraRoute {
        method: "get",
        path: "/",
        name: "ui",
        tag: SERVICE,
        summary: "The web UI",
        public: true,
        responses: &[(200, "text/html", None)],
        body: None,
    },
    ExtraRoute {
        method: "get",
        path: "/ui",
        name: "ui_page",
        tag: SERVICE,
        summary: "The web UI",
        public: true,
        responses: &[(200, "text/html", None)],
        body: None,
    },
    ExtraRoute {
        method: "get",
        path: "/ui/app.js",
        name: "ui_script",
        tag: SERVICE,
        summary: "The web UI's script",
        public: true,
        responses: &[(200, "text/javascript", None)],
        body: None,
    },
    ExtraRoute {
        method: "get",
        path: "/ui/app.css",
        name: "ui_style",
        tag: SERVICE,
        summary: "The web UI's style sheet",
        public: true,
        responses: &[(200, "text/css", None)],
        body: None,
    },
];
