//! The MCP tools: the operations of the registry ([`crate::ops`]) that have an MCP face,
//! each with its description for a model, the JSON Schema of its request type (plus an
//! `id` for the operations that act on one record), and truthful annotations.
//!
//! A call runs the same function as the REST route: arguments are parsed into the same
//! request types (unknown fields refused), so the two faces cannot drift apart.

use mnemo_engine::tools::{Caller, ToolError};
use mnemo_engine::Engine;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::Value;

use crate::error::ApiError;
use crate::ops::{self, Call, Carrier, Effect, Input, Operation, OPERATIONS};

/// Every tool, as listed to clients: the operations with an MCP face (former names are
/// answered but not listed).
pub(crate) fn list() -> Vec<Tool> {
    OPERATIONS
        .iter()
        .filter(|op| op.mcp.is_some())
        .map(definition)
        .collect()
}

fn definition(op: &Operation) -> Tool {
    let Some(mcp) = &op.mcp else {
        unreachable!("only operations with an MCP face are listed")
    };
    let (read_only, destructive, idempotent) = match op.effect {
        Effect::Read => (true, false, true),
        Effect::AddIdempotent => (false, false, true),
        Effect::Append => (false, false, false),
        Effect::Destructive => (false, true, true),
    };
    let annotations = ToolAnnotations::with_title(mcp.title)
        .read_only(read_only)
        .destructive(destructive)
        .idempotent(idempotent)
        .open_world(false);
    Tool::new(
        op.name,
        mcp.description,
        std::sync::Arc::new(input_schema(op)),
    )
    .with_title(mcp.title)
    .with_annotations(annotations)
}

/// The operation's request schema as an MCP input schema, plus a required `id` when the
/// operation acts on one record, with a description for every argument.
fn input_schema(op: &Operation) -> JsonObject {
    let mut obj = match op.request.map(ops::root_schema) {
        Some(Value::Object(o)) => o,
        _ => {
            let mut o = JsonObject::new();
            o.insert("additionalProperties".into(), Value::Bool(false));
            o
        }
    };
    obj.insert("type".into(), Value::String("object".into()));
    obj.entry("properties")
        .or_insert_with(|| Value::Object(JsonObject::new()));
    if let Some(doc) = op.id {
        add_id(&mut obj, doc);
    }
    describe_arguments(&mut obj);
    obj
}

/// Why a call failed.
#[derive(Debug)]
pub(crate) enum CallError {
    /// No tool by that name.
    UnknownTool(String),
    /// The arguments do not fit the tool's schema.
    BadArguments(String),
    /// The tool ran and refused or failed.
    Api(ApiError),
}

impl From<ToolError> for CallError {
    fn from(e: ToolError) -> Self {
        CallError::Api(e.into())
    }
}

/// Runs tool `name` (or a former name of it) for `caller` (blocking: call it off the
/// async runtime).
pub(crate) fn call(
    engine: &Engine,
    caller: &Caller,
    name: &str,
    mut args: JsonObject,
) -> Result<Value, CallError> {
    let op = ops::mcp_tool(name).ok_or_else(|| CallError::UnknownTool(name.to_owned()))?;
    let id = match op.id {
        Some(_) => Some(take_id(op.name, &mut args)?),
        None => None,
    };
    if op.carrier == Carrier::Nothing {
        if let Some(extra) = args.keys().next() {
            return Err(CallError::BadArguments(format!(
                "invalid arguments for {}: unknown field `{extra}`; only `id` is accepted",
                op.name
            )));
        }
    }
    let call = Call {
        engine,
        caller,
        id,
        input: Input::Json {
            value: Value::Object(args),
            code: "invalid_arguments",
        },
        server: None,
    };
    (op.run)(&call).map_err(|e| match e.code {
        "invalid_arguments" => {
            CallError::BadArguments(format!("invalid arguments for {}: {}", op.name, e.detail))
        }
        _ => CallError::Api(e),
    })
}

/// Takes the `id` argument out of the arguments.
fn take_id(tool: &str, args: &mut JsonObject) -> Result<String, CallError> {
    match args.remove("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Some(_) => Err(CallError::BadArguments(format!(
            "invalid arguments for {tool}: `id` must be an id (a non-empty string)"
        ))),
        None => Err(CallError::BadArguments(format!(
            "invalid arguments for {tool}: missing `id`; find ids with search_memories or list_memories"
        ))),
    }
}

fn add_id(obj: &mut JsonObject, doc: &str) {
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        props.insert(
            "id".into(),
            serde_json::json!({ "type": "string", "minLength": 1, "description": doc }),
        );
    }
    let mut required = vec![Value::from("id")];
    if let Some(Value::Array(r)) = obj.remove("required") {
        required.extend(r);
    }
    obj.insert("required".into(), Value::Array(required));
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
        assert_eq!(get("add_turns").idempotent_hint, Some(false));
        assert_eq!(get("add_memory").read_only_hint, Some(false));
        let forget = tools.iter().find(|t| t.name == "forget_memory").unwrap();
        assert_eq!(forget.input_schema["required"][0], "id");
    }

    #[test]
    fn id_tools_refuse_missing_ids_and_unknown_fields() {
        let args = |v: Value| v.as_object().unwrap().clone();
        assert!(matches!(
            take_id("forget_memory", &mut args(serde_json::json!({}))),
            Err(CallError::BadArguments(_))
        ));
        let mut a = args(serde_json::json!({"id": " abc ", "purge": true}));
        assert_eq!(take_id("forget_memory", &mut a).unwrap(), "abc");
        assert_eq!(a.len(), 1, "the rest stays for the request");
    }

    #[test]
    fn former_names_answer_but_are_not_listed() {
        assert_eq!(ops::mcp_tool("record_messages").unwrap().name, "add_turns");
        assert_eq!(
            ops::mcp_tool("search_conversations").unwrap().name,
            "search_turns"
        );
        assert!(list().iter().all(|t| t.name != "record_messages"));
        assert!(
            ops::mcp_tool("list_keys").is_none(),
            "not a tool for models"
        );
    }
}
