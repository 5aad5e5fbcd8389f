//! The MCP tool catalogue: each entry names one call of the engine's tools layer, with a
//! description written for a model, the JSON Schema of the tools layer's own request type
//! (plus an `id` for the tools that act on one memory), and truthful annotations.
//!
//! Arguments are parsed into the tools layer's request types exactly as the REST face
//! parses its bodies (unknown fields refused), so the two faces cannot drift apart.

use mnemo_engine::tools::{
    self, AddMemoryRequest, AddTurnsRequest, Caller, ContextToolRequest, ForgetRequest,
    ListMemoriesRequest, SearchRequest, SearchTurnsRequest, SessionsRequest, SummariesRequest,
    ToolError, UpdateMemoryRequest,
};
use mnemo_engine::Engine;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// What a tool does to the user's memory, for the MCP annotations.
#[derive(Clone, Copy)]
enum Effect {
    /// Reads only.
    Read,
    /// Adds or changes without losing anything; calling twice is the same as once.
    AddIdempotent,
    /// Adds something new on every call.
    Append,
    /// Overwrites or hides what was there (history keeps the old version); repeatable.
    Destructive,
}

/// One tool of the catalogue.
struct Def {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    effect: Effect,
    /// The input schema.
    schema: fn() -> JsonObject,
}

const CATALOGUE: &[Def] = &[
    Def {
        name: "add_memory",
        title: "Remember something",
        description: "Store a durable memory about the user: a fact, preference, plan, decision or note \
worth knowing in later conversations. Write one self-contained statement in the third person \
(\"Prefers dark mode in every editor\"). Give a `key` (e.g. `editor.theme`) for a fact that has one \
current value: a new value under the same key supersedes the old one, keeping it in history. Adding \
the same text twice changes nothing (outcome `unchanged`).",
        effect: Effect::AddIdempotent,
        schema: schema_of::<AddMemoryRequest>,
    },
    Def {
        name: "search_memories",
        title: "Search memories",
        description: "Find the user's memories relevant to a question or topic, best first. Use it before \
answering anything that may depend on what the user said earlier. Set `explain: true` to see why each \
hit ranked where it did (semantic, keyword, recency and salience parts of the score).",
        effect: Effect::Read,
        schema: schema_of::<SearchRequest>,
    },
    Def {
        name: "list_memories",
        title: "List memories",
        description: "List the user's memories newest first, one page at a time, optionally filtered by \
kind, topic, key or session. `view: all` includes superseded and forgotten versions; `as_of` shows \
what was true at a past time. Pass `next_cursor` back as `cursor` for the next page.",
        effect: Effect::Read,
        schema: schema_of::<ListMemoriesRequest>,
    },
    Def {
        name: "get_memory",
        title: "Get one memory",
        description: "Read one memory by id (or a unique id prefix) with its full history of changes and \
the conversation turns it was learned from.",
        effect: Effect::Read,
        schema: id_only,
    },
    Def {
        name: "update_memory",
        title: "Correct a memory",
        description: "Change a memory in place: its text, kind, key, topic, salience, pin or expiry. Only \
the fields given change. Use it when the user corrects something remembered; the old text stays in \
the memory's history.",
        effect: Effect::Destructive,
        schema: with_id::<UpdateMemoryRequest>,
    },
    Def {
        name: "forget_memory",
        title: "Forget a memory",
        description: "Forget one memory by id so it is no longer recalled, e.g. when the user asks you to \
forget it or it is wrong. It can be restored later unless `purge: true`, which deletes it and its \
history for good. Find the id with search_memories first.",
        effect: Effect::Destructive,
        schema: with_id::<ForgetRequest>,
    },
    Def {
        name: "record_messages",
        title: "Record conversation messages",
        description: "Record messages of the current conversation (user and assistant turns, in order) so \
mnemo can learn from them: memories are extracted and sessions summarised in the background. Pass the \
returned `session_id` on later calls of the same conversation.",
        effect: Effect::Append,
        schema: schema_of::<AddTurnsRequest>,
    },
    Def {
        name: "get_context",
        title: "Get memory context for a message",
        description: "Assemble what mnemo knows that is relevant to answering `message`, within a token \
budget: a memory block to add to your system prompt, and the recent turns of the session. Call it \
with the user's new message before you reply.",
        effect: Effect::Read,
        schema: schema_of::<ContextToolRequest>,
    },
    Def {
        name: "list_sessions",
        title: "List conversation sessions",
        description: "List the user's conversation sessions, newest first, with when they started and how \
many turns they have.",
        effect: Effect::Read,
        schema: schema_of::<SessionsRequest>,
    },
    Def {
        name: "get_session_summary",
        title: "Get session summaries",
        description: "Read the summary of one conversation session (by `session_id`), or of every session \
when it is left out: what was discussed and decided, written by mnemo's pipeline.",
        effect: Effect::Read,
        schema: schema_of::<SummariesRequest>,
    },
    Def {
        name: "search_conversations",
        title: "Search past conversations",
        description: "Search what was actually said in the user's past conversations, word for word: \
each hit is one message (user or assistant) with its session and time. Use it when the memories lack \
a detail (a name, a date, the exact wording) or to quote the user; narrow it with `session_id`, \
`since` and `until`.",
        effect: Effect::Read,
        schema: schema_of::<SearchTurnsRequest>,
    },
];

/// Every tool, as listed to clients.
pub(crate) fn list() -> Vec<Tool> {
    CATALOGUE.iter().map(definition).collect()
}

fn definition(d: &Def) -> Tool {
    let (read_only, destructive, idempotent) = match d.effect {
        Effect::Read => (true, false, true),
        Effect::AddIdempotent => (false, false, true),
        Effect::Append => (false, false, false),
        Effect::Destructive => (false, true, true),
    };
    let annotations = ToolAnnotations::with_title(d.title)
        .read_only(read_only)
        .destructive(destructive)
        .idempotent(idempotent)
        .open_world(false);
    Tool::new(d.name, d.description, std::sync::Arc::new((d.schema)()))
        .with_title(d.title)
        .with_annotations(annotations)
}

/// Why a call failed.
#[derive(Debug)]
pub(crate) enum CallError {
    /// No tool by that name.
    UnknownTool(String),
    /// The arguments do not fit the tool's schema.
    BadArguments(String),
    /// The tool ran and refused or failed.
    Tool(ToolError),
}

impl From<ToolError> for CallError {
    fn from(e: ToolError) -> Self {
        CallError::Tool(e)
    }
}

/// Runs tool `name` for `caller` (blocking: call it off the async runtime).
pub(crate) fn call(
    engine: &Engine,
    caller: &Caller,
    name: &str,
    args: JsonObject,
) -> Result<Value, CallError> {
    let e = engine;
    let c = caller;
    match name {
        "add_memory" => out(tools::add_memory(e, c, parse(name, args)?)),
        "search_memories" => out(tools::search(e, c, parse(name, args)?)),
        "list_memories" => out(tools::list_memories(e, c, parse(name, args)?)),
        "get_memory" => {
            let (id, _) = split_id::<serde_json::Map<String, Value>>(name, args, true)?;
            out(tools::get_memory(e, c, &id))
        }
        "update_memory" => {
            let (id, req) = split_id::<UpdateMemoryRequest>(name, args, false)?;
            out(tools::update_memory(e, c, &id, req))
        }
        "forget_memory" => {
            let (id, req) = split_id::<ForgetRequest>(name, args, false)?;
            out(tools::forget(e, c, &id, req))
        }
        "record_messages" => out(tools::add_turns(e, c, parse(name, args)?)),
        "get_context" => out(tools::context(e, c, parse(name, args)?)),
        "list_sessions" => out(tools::sessions(e, c, parse(name, args)?)),
        "get_session_summary" => out(tools::summaries(e, c, parse(name, args)?)),
        "search_conversations" => out(tools::search_turns(e, c, parse(name, args)?)),
        other => Err(CallError::UnknownTool(other.to_owned())),
    }
}

fn out<T: Serialize>(r: Result<T, ToolError>) -> Result<Value, CallError> {
    let v = r?;
    serde_json::to_value(v)
        .map_err(|e| CallError::Tool(ToolError::from(mnemo_core::Error::from(e))))
}

/// The arguments as the tool's request type.
fn parse<T: DeserializeOwned>(tool: &str, args: JsonObject) -> Result<T, CallError> {
    serde_json::from_value(Value::Object(args)).map_err(|e| {
        CallError::BadArguments(format!(
            "invalid arguments for {tool}: {e}; see the tool's input schema"
        ))
    })
}

/// The `id` argument and the rest as the tool's request type. With `only_id`, any other
/// argument is refused.
fn split_id<T: DeserializeOwned>(
    tool: &str,
    mut args: JsonObject,
    only_id: bool,
) -> Result<(String, T), CallError> {
    let id = match args.remove("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        Some(_) => {
            return Err(CallError::BadArguments(format!(
                "invalid arguments for {tool}: `id` must be a memory id (a non-empty string)"
            )))
        }
        None => {
            return Err(CallError::BadArguments(format!(
                "invalid arguments for {tool}: missing `id`; find ids with search_memories or list_memories"
            )))
        }
    };
    if only_id {
        if let Some(extra) = args.keys().next() {
            return Err(CallError::BadArguments(format!(
                "invalid arguments for {tool}: unknown field `{extra}`; only `id` is accepted"
            )));
        }
    }
    Ok((id, parse(tool, args)?))
}

/// The JSON Schema of `T` as an MCP input schema, with a description for every argument.
fn schema_of<T: JsonSchema>() -> JsonObject {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>();
    let mut obj = match serde_json::to_value(schema) {
        Ok(Value::Object(o)) => o,
        _ => JsonObject::new(),
    };
    obj.remove("$schema");
    obj.insert("type".into(), Value::String("object".into()));
    obj.entry("properties")
        .or_insert_with(|| Value::Object(JsonObject::new()));
    describe_arguments(&mut obj);
    obj
}

/// The schema of `T` plus a required `id`.
fn with_id<T: JsonSchema>() -> JsonObject {
    add_id(schema_of::<T>())
}

/// Just a required `id`.
fn id_only() -> JsonObject {
    let mut obj = JsonObject::new();
    obj.insert("type".into(), Value::from("object"));
    obj.insert("properties".into(), Value::Object(JsonObject::new()));
    obj.insert("additionalProperties".into(), Value::Bool(false));
    add_id(obj)
}

fn add_id(mut obj: JsonObject) -> JsonObject {
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        props.insert(
            "id".into(),
            serde_json::json!({
                "type": "string",
                "minLength": 1,
                "description": "The memory's id, or a unique prefix of it (from search_memories or list_memories)."
            }),
        );
    }
    let mut required = vec![Value::from("id")];
    if let Some(Value::Array(r)) = obj.remove("required") {
        required.extend(r);
    }
    obj.insert("required".into(), Value::Array(required));
    obj
}

/// Words for arguments whose request field has no doc comment in the tools layer.
const ARGUMENT_DOCS: &[(&str, &str)] = &[
    ("kind", "What sort of memory: fact, preference, plan, decision, task, risk, summary, note, or another single word."),
    ("topic", "A short topic to file the memory under, e.g. `work` or `health`."),
    ("key", "A stable name for a fact with one current value, e.g. `editor.theme` or `home.city`."),
    ("pinned", "Keep it from fading and rank it higher."),
    ("content", "The memory's text: one self-contained statement."),
    ("session_id", "A conversation session id (or unique prefix) of this user."),
    ("salience", "Importance from 0 to 1: how much it matters when ranking memories."),
    ("reason", "Why, in a few words (kept in the memory's history)."),
];

fn describe_arguments(obj: &mut JsonObject) {
    let Some(Value::Object(props)) = obj.get_mut("properties") else {
        return;
    };
    for (name, doc) in ARGUMENT_DOCS {
        if let Some(Value::Object(p)) = props.get_mut(*name) {
            p.entry("description")
                .or_insert_with(|| Value::String((*doc).into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_an_object_schema_and_documented_arguments() {
        let mut undocumented = Vec::new();
        for t in list() {
            assert_eq!(
                t.input_schema.get("type"),
                Some(&Value::from("object")),
                "{}",
                t.name
            );
            let props = t.input_schema["properties"].as_object().unwrap();
            for (arg, p) in props {
                if p.get("description").is_none() {
                    undocumented.push(format!("{}.{arg}", t.name));
                }
            }
            assert!(t.annotations.is_some(), "{}", t.name);
        }
        assert!(undocumented.is_empty(), "no description: {undocumented:?}");
    }

    #[test]
    fn annotations_say_what_tools_do() {
        let tools = list();
        let get = |n: &str| {
            tools
                .iter()
                .find(|t| t.name == n)
                .unwrap()
                .annotations
                .clone()
                .unwrap()
        };
        assert_eq!(get("search_memories").read_only_hint, Some(true));
        assert_eq!(get("forget_memory").destructive_hint, Some(true));
        assert_eq!(get("record_messages").idempotent_hint, Some(false));
        assert_eq!(get("add_memory").read_only_hint, Some(false));
        let forget = tools.iter().find(|t| t.name == "forget_memory").unwrap();
        assert_eq!(forget.input_schema["required"][0], "id");
    }

    #[test]
    fn id_tools_refuse_missing_ids_and_unknown_fields() {
        let args = |v: Value| v.as_object().unwrap().clone();
        assert!(matches!(
            split_id::<ForgetRequest>("forget_memory", args(serde_json::json!({})), false),
            Err(CallError::BadArguments(_))
        ));
        assert!(matches!(
            split_id::<ForgetRequest>(
                "forget_memory",
                args(serde_json::json!({"id": "a", "bogus": 1})),
                false
            ),
            Err(CallError::BadArguments(_))
        ));
        let (id, r) = split_id::<ForgetRequest>(
            "forget_memory",
            args(serde_json::json!({"id": " abc ", "purge": true})),
            false,
        )
        .unwrap();
        assert_eq!((id.as_str(), r.purge), ("abc", true));
    }
}
