//! MCP resources and prompts: the caller's current memories (`mnemo://memories/{id}`) and
//! session summaries (`mnemo://sessions/{id}/summary`) as readable JSON documents, and the
//! `memory_context` prompt, which puts the memory block the chat would inject in front of a
//! message. All of it reads through the tools layer, inside the caller's user.

use mnemo_engine::tools::{
    self, Caller, ContextToolRequest, ListMemoriesRequest, SummariesRequest,
};
use mnemo_engine::Engine;
use rmcp::model::{
    GetPromptRequestParams, GetPromptResult, ListResourcesResult, Prompt, PromptArgument,
    PromptMessage, ReadResourceResult, Resource, ResourceContents, ResourceTemplate, Role,
};
use rmcp::ErrorData as McpError;
use serde::Serialize;

use super::rpc_error;

const MEMORY_PREFIX: &str = "mnemo://memories/";
const SESSION_PREFIX: &str = "mnemo://sessions/";
const SUMMARY_SUFFIX: &str = "/summary";
const JSON: &str = "application/json";
/// Memories per page of `resources/list`.
const PAGE: u32 = 100;
/// The prompt's name.
const PROMPT: &str = "memory_context";

/// One page of resources: current memories, newest first; the session summaries come
/// with the first page.
pub(super) fn list(
    engine: &Engine,
    caller: &Caller,
    cursor: Option<String>,
) -> Result<ListResourcesResult, McpError> {
    let first_page = cursor.is_none();
    let page = tools::list_memories(
        engine,
        caller,
        ListMemoriesRequest {
            limit: Some(PAGE),
            cursor,
            ..Default::default()
        },
    )
    .map_err(rpc_error)?;
    let mut items: Vec<Resource> = page
        .memories
        .iter()
        .map(|m| {
            Resource::new(format!("{MEMORY_PREFIX}{}", m.id), title(&m.content))
                .with_description(format!("A {} memory", m.kind))
                .with_mime_type(JSON)
        })
        .collect();
    if first_page {
        let summaries =
            tools::summaries(engine, caller, SummariesRequest::default()).map_err(rpc_error)?;
        let mut seen = std::collections::BTreeSet::new();
        for s in summaries.summaries.iter().rev() {
            if seen.insert(s.session_id.clone()) {
                items.push(
                    Resource::new(
                        format!("{SESSION_PREFIX}{}{SUMMARY_SUFFIX}", s.session_id),
                        format!("Summary of session {}", s.session_id),
                    )
                    .with_description(title(&s.summary))
                    .with_mime_type(JSON),
                );
            }
        }
    }
    let mut result = ListResourcesResult::with_all_items(items);
    result.next_cursor = page.next_cursor;
    Ok(result)
}

/// The first line of a text, shortened for a resource name.
fn title(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    if line.chars().count() <= 80 {
        return line.to_owned();
    }
    let cut: String = line.chars().take(77).collect();
    format!("{cut}...")
}

/// The URI templates clients can fill in.
pub(super) fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(format!("{MEMORY_PREFIX}{{id}}"), "memory")
            .with_title("A memory")
            .with_description("One memory with its history and the turns it came from")
            .with_mime_type(JSON),
        ResourceTemplate::new(
            format!("{SESSION_PREFIX}{{session_id}}{SUMMARY_SUFFIX}"),
            "session_summary",
        )
        .with_title("A session's summary")
        .with_description("The summaries of one conversation session")
        .with_mime_type(JSON),
    ]
}

/// Reads one resource of the caller's.
pub(super) fn read(
    engine: &Engine,
    caller: &Caller,
    uri: &str,
) -> Result<ReadResourceResult, McpError> {
    if let Some(id) = uri.strip_prefix(MEMORY_PREFIX).filter(|s| !s.is_empty()) {
        let detail = tools::get_memory(engine, caller, id).map_err(rpc_error)?;
        return json_contents(uri, &detail);
    }
    if let Some(session) = uri
        .strip_prefix(SESSION_PREFIX)
        .and_then(|s| s.strip_suffix(SUMMARY_SUFFIX))
        .filter(|s| !s.is_empty())
    {
        let summaries = tools::summaries(
            engine,
            caller,
            SummariesRequest {
                session_id: Some(session.to_owned()),
            },
        )
        .map_err(rpc_error)?;
        return json_contents(uri, &summaries);
    }
    Err(McpError::resource_not_found(
        format!(
            "no resource `{uri}`; mnemo serves {MEMORY_PREFIX}{{id}} and {SESSION_PREFIX}{{session_id}}{SUMMARY_SUFFIX}"
        ),
        None,
    ))
}

fn json_contents<T: Serialize>(uri: &str, value: &T) -> Result<ReadResourceResult, McpError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| McpError::internal_error(e.to_string(), None))?;
    Ok(ReadResourceResult::new(vec![ResourceContents::text(
        text, uri,
    )
    .with_mime_type(JSON)]))
}

/// The one prompt.
pub(super) fn prompts() -> Vec<Prompt> {
    vec![Prompt::new(
        PROMPT,
        Some(
            "The user's memory context for a message: what mnemo remembers that is relevant to it, \
to answer with the user's history in mind",
        ),
        Some(vec![
            PromptArgument::new("message")
                .with_description("The message to answer")
                .with_required(true),
            PromptArgument::new("session_id")
                .with_description("The conversation it belongs to (optional)")
                .with_required(false),
        ]),
    )
    .with_title("Memory context")]
}

/// The memory context for a message, as one user message in front of it.
pub(super) fn prompt(
    engine: &Engine,
    caller: &Caller,
    req: GetPromptRequestParams,
) -> Result<GetPromptResult, McpError> {
    if req.name != PROMPT {
        return Err(McpError::invalid_params(
            format!("no prompt named `{}`; mnemo has `{PROMPT}`", req.name),
            None,
        ));
    }
    let args = req.arguments.unwrap_or_default();
    let text_arg = |name: &str| args.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let message = text_arg("message")
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| McpError::invalid_params("the `message` argument is required", None))?;
    let ctx = tools::context(
        engine,
        caller,
        ContextToolRequest {
            message: message.clone(),
            session_id: text_arg("session_id"),
            pattern: None,
            budget_tokens: None,
            max_memories: None,
            max_recent_turns: None,
        },
    )
    .map_err(rpc_error)?;
    let text = match ctx.memory_block {
        Some(block) => format!("{block}\n\n{message}"),
        None => message,
    };
    Ok(
        GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
            .with_description("The user's message with what mnemo remembers about it"),
    )
}
