//! The registry of operations: every operation of mnemo's API is declared once, in
//! [`catalogue`] — its one name, REST method and path, how its request travels (body,
//! query or nothing, plus an `{id}`), its request and response types, what it does to the
//! user's memory, a summary for people and, when models may call it, an MCP title and
//! description — with the one function that runs it. The REST routes ([`crate::rest`]),
//! the OpenAPI document ([`crate::openapi`]) and the MCP tool list and dispatch
//! ([`crate::mcp`]) are all generated from it, so a new operation is one declaration and
//! the faces cannot drift apart.
//!
//! Why our own registry rather than `aide`/`utoipa-axum` on the HTTP side and rmcp's
//! `#[tool_router]` on the MCP side: the request and response types already carry their
//! JSON Schemas (`schemars`, shared with the CLI and the tools layer), and one entry here
//! feeds *both* faces; those crates each describe one face from its own declarations
//! (handler signatures, `#[tool]` methods, `ToSchema` derives), which would have put every
//! operation back in two places. See ARCHITECTURE.md.
//!
//! Renamed operations keep their old REST paths and MCP names for one release as aliases
//! ([`Operation::rest_aliases`], [`McpTool::aliases`]), marked `deprecated` in the OpenAPI
//! document and left out of the MCP tool list.

mod catalogue;
mod keys;

use mnemo_engine::tools::Caller;
use mnemo_engine::Engine;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::AppState;

pub(crate) use catalogue::{EXTRA_ROUTES, OPERATIONS};

/// What an operation does to the user's memory (the MCP annotations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Reads only.
    Read,
    /// Adds or changes without losing anything; calling twice is the same as once.
    AddIdempotent,
    /// Adds something new on every call.
    Append,
    /// Overwrites or hides what was there (history keeps the old version); repeatable.
    Destructive,
}

/// How a REST request carries its arguments (besides an `{id}` in the path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carrier {
    Nothing,
    Body,
    Query,
}

/// An operation's face for models.
pub(crate) struct McpTool {
    pub title: &'static str,
    /// For a model: when to call it and how.
    pub description: &'static str,
    /// Former tool names, still answered for one release.
    pub aliases: &'static [&'static str],
}

/// A schema of the request or response, made with the document's generator.
pub(crate) type SchemaFn = fn(&mut SchemaGenerator) -> Value;

/// One operation.
pub(crate) struct Operation {
    /// The one name: the MCP tool name and the OpenAPI `operationId`.
    pub name: &'static str,
    /// Lower-case HTTP method.
    pub method: &'static str,
    pub path: &'static str,
    /// The group in the OpenAPI document.
    pub tag: &'static str,
    /// For people.
    pub summary: &'static str,
    pub effect: Effect,
    pub carrier: Carrier,
    /// The schema of the body or query; `None` with [`Carrier::Nothing`].
    pub request: Option<SchemaFn>,
    pub response: SchemaFn,
    /// Success statuses; the first is the usual one (see [`Operation::status`]).
    pub statuses: &'static [u16],
    /// Picks the success status from the result (default: the first of `statuses`).
    pub status: Option<fn(&Value) -> u16>,
    /// What the `{id}` of the path names (the MCP `id` argument's description).
    pub id: Option<&'static str>,
    /// Takes the `Idempotency-Key` header into the body's `idempotency_key`.
    pub idempotency_header: bool,
    pub mcp: Option<McpTool>,
    /// Former `(method, path)`s, still answered for one release.
    pub rest_aliases: &'static [(&'static str, &'static str)],
    pub run: fn(&Call<'_>) -> Result<Value, ApiError>,
}

impl Operation {
    /// The success status for a result.
    pub fn status_of(&self, result: &Value) -> u16 {
        self.status.map_or(self.statuses[0], |f| f(result))
    }
}

/// A route the server answers that is not an operation of the tools layer (health, the
/// proxy, MCP, the UI's page and chat stream): documented too, from this list.
pub(crate) struct ExtraRoute {
    pub method: &'static str,
    pub path: &'static str,
    pub name: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    /// Public: no API key needed.
    pub public: bool,
    /// `(status, content type, schema)` of its answers; `None` schema: any.
    pub responses: &'static [(u16, &'static str, Option<SchemaFn>)],
    /// The request body's `(content type, schema)`, if it takes one.
    pub body: Option<(&'static str, SchemaFn)>,
}

/// The operation named `name` (or formerly named so) for MCP.
pub(crate) fn mcp_tool(name: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|op| {
        op.mcp
            .as_ref()
            .is_some_and(|m| op.name == name || m.aliases.contains(&name))
    })
}

/// A request's arguments, as the face received them.
pub(crate) enum Input {
    /// A JSON body (REST) or MCP arguments (`id` taken out).
    Json { value: Value, code: &'static str },
    /// A REST query string.
    Query(String),
    /// Nothing (an operation without arguments).
    Nothing,
}

/// One call of an operation.
pub(crate) struct Call<'a> {
    pub engine: &'a Engine,
    pub caller: &'a Caller,
    /// The `{id}` of the path, or MCP's `id` argument.
    pub id: Option<String>,
    pub input: Input,
    /// The server, for the operations that need more than the engine (API keys); `None`
    /// over MCP stdio.
    pub server: Option<&'a AppState>,
}

impl Call<'_> {
    /// The request as the operation's type; a mismatch is a 400 naming what is wrong.
    pub fn req<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        match &self.input {
            Input::Json { value, code } => serde_json::from_value(value.clone())
                .map_err(|e| ApiError::bad_request(code, format!("{e}; see the schema"))),
            Input::Query(q) => serde_urlencoded::from_str(q).map_err(|e| {
                ApiError::bad_request("invalid_query", format!("the query string: {e}"))
            }),
            Input::Nothing => serde_json::from_value(Value::Object(serde_json::Map::new()))
                .map_err(|e| ApiError::bad_request("invalid_value", e.to_string())),
        }
    }

    /// The id the path or the arguments named.
    pub fn id(&self) -> Result<&str, ApiError> {
        self.id
            .as_deref()
            .ok_or_else(|| ApiError::bad_request("invalid_value", "missing `id`"))
    }
}

/// A result as the JSON the faces send.
pub(crate) fn json<T: Serialize>(
    r: Result<T, mnemo_engine::tools::ToolError>,
) -> Result<Value, ApiError> {
    let v = r?;
    serde_json::to_value(v).map_err(|e| ApiError::internal(format!("a result not JSON: {e}")))
}

/// The schema of `T` in the document's generator.
pub(crate) fn schema<T: JsonSchema>(gen: &mut SchemaGenerator) -> Value {
    gen.subschema_for::<T>().to_value()
}

/// The JSON Schema of `T` standing alone (MCP input schemas).
pub(crate) fn root_schema(f: SchemaFn) -> Value {
    let mut gen = SchemaSettings::draft2020_12().into_generator();
    let reference = f(&mut gen);
    let defs = gen.take_definitions(true);
    // `reference` is `{"$ref": "#/$defs/Name"}`: inline the definition, keep the others.
    let name = reference["$ref"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or_default()
        .to_owned();
    let mut root = defs.get(&name).cloned().unwrap_or(reference);
    let rest: serde_json::Map<String, Value> =
        defs.into_iter().filter(|(k, _)| *k != name).collect();
    if !rest.is_empty() {
        root["$defs"] = Value::Object(rest);
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_paths_and_aliases_are_unique() {
        let mut names: Vec<&str> = OPERATIONS.iter().map(|o| o.name).collect();
        names.extend(EXTRA_ROUTES.iter().map(|r| r.name));
        names.extend(
            OPERATIONS
                .iter()
                .filter_map(|o| o.mcp.as_ref())
                .flat_map(|m| m.aliases.iter().copied()),
        );
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "a name is used twice");
        let mut routes: Vec<(&str, &str)> = OPERATIONS
            .iter()
            .flat_map(|o| std::iter::once((o.method, o.path)).chain(o.rest_aliases.iter().copied()))
            .chain(EXTRA_ROUTES.iter().map(|r| (r.method, r.path)))
            .collect();
        let n = routes.len();
        routes.sort_unstable();
        routes.dedup();
        assert_eq!(routes.len(), n, "a route is declared twice");
    }

    #[test]
    fn an_operation_with_an_id_has_it_in_its_path_and_arguments_travel_one_way() {
        for op in OPERATIONS {
            assert_eq!(op.id.is_some(), op.path.contains("{id}"), "{}", op.name);
            assert_eq!(
                op.request.is_some(),
                op.carrier != Carrier::Nothing,
                "{}",
                op.name
            );
            assert!(!op.statuses.is_empty(), "{}", op.name);
        }
    }
}
