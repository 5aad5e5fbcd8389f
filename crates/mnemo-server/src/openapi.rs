//! The OpenAPI 3.1 document, generated from the tools layer's own request and response
//! types (their `schemars` JSON Schemas, draft 2020-12, which OpenAPI 3.1 uses as is), so
//! the document cannot drift from what the handlers parse and return. The operation list
//! mirrors `rest::routes`; the integration tests request every operation listed here and
//! fail on a route the server does not have.

use mnemo_engine::tools as t;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::error::Problem;

/// One documented operation.
struct Op {
    method: &'static str,
    path: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    auth: bool,
    params: Vec<Value>,
    body: Option<Value>,
    /// Success statuses, each answered with `response`.
    statuses: Vec<u16>,
    response: Value,
}

/// Builds operations with a shared schema generator.
struct Doc {
    gen: SchemaGenerator,
    ops: Vec<Op>,
}

impl Doc {
    fn new() -> Self {
        let settings = SchemaSettings::draft2020_12().with(|s| {
            s.definitions_path = "#/components/schemas/".into();
        });
        Doc {
            gen: settings.into_generator(),
            ops: Vec::new(),
        }
    }

    fn schema<T: JsonSchema>(&mut self) -> Value {
        self.gen.subschema_for::<T>().to_value()
    }

    /// Adds an operation answering `status` with a JSON `R`.
    #[allow(clippy::too_many_arguments)]
    fn op<R: JsonSchema>(
        &mut self,
        method: &'static str,
        path: &'static str,
        id: &'static str,
        tag: &'static str,
        summary: &'static str,
        status: u16,
    ) -> &mut Self {
        let response = json!({ "application/json": { "schema": self.schema::<R>() } });
        let params = path_params(path);
        self.ops.push(Op {
            method,
            path,
            id,
            tag,
            summary,
            auth: true,
            params,
            body: None,
            statuses: vec![status],
            response,
        });
        self
    }

    fn with_body<B: JsonSchema>(&mut self) -> &mut Self {
        let schema = self.schema::<B>();
        if let Some(op) = self.ops.last_mut() {
            op.body = Some(json!({
                "required": true,
                "content": { "application/json": { "schema": schema } }
            }));
        }
        self
    }

    /// Documents the fields of `Q` as query parameters.
    fn with_query<Q: JsonSchema>(&mut self) -> &mut Self {
        let reference = self.schema::<Q>();
        let name = reference["$ref"]
            .as_str()
            .and_then(|r| r.rsplit('/').next())
            .unwrap_or_default()
            .to_owned();
        let def = self
            .gen
            .definitions()
            .get(&name)
            .cloned()
            .unwrap_or(Value::Null);
        let required: Vec<&str> = def["required"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut params = Vec::new();
        if let Some(props) = def["properties"].as_object() {
            for (field, schema) in props {
                let mut p = json!({
                    "name": field,
                    "in": "query",
                    "required": required.contains(&field.as_str()),
                    "schema": without_null(schema.clone()),
                });
                if let Some(d) = schema.get("description") {
                    p["description"] = d.clone();
                }
                params.push(p);
            }
        }
        if let Some(op) = self.ops.last_mut() {
            op.params.extend(params);
        }
        self
    }

    /// Another success status with the same body (a create that may find nothing to do).
    fn or_status(&mut self, status: u16) -> &mut Self {
        if let Some(op) = self.ops.last_mut() {
            op.statuses.push(status);
        }
        self
    }

    fn public(&mut self) -> &mut Self {
        if let Some(op) = self.ops.last_mut() {
            op.auth = false;
        }
        self
    }
}

/// `{id}` segments as path parameters.
fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "description": "A full id or a unique prefix of at least 4 characters.",
                "schema": { "type": "string", "minLength": 1 }
            })
        })
        .collect()
}

/// A query parameter cannot be `null`: drops the null alternative of an optional field.
fn without_null(mut schema: Value) -> Value {
    if let Some(types) = schema.get_mut("type").and_then(Value::as_array_mut) {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types[0].clone();
            schema["type"] = only;
        }
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        let rest: Vec<Value> = any
            .iter()
            .filter(|s| s.get("type").and_then(Value::as_str) != Some("null"))
            .cloned()
            .collect();
        if rest.len() == 1 {
            let mut one = rest[0].clone();
            if let (Some(obj), Some(d)) = (one.as_object_mut(), schema.get("description")) {
                obj.insert("description".into(), d.clone());
            }
            return one;
        }
    }
    schema
}

/// The OpenAPI 3.1 document of the server.
pub fn document() -> Value {
    let mut d = Doc::new();
    operations(&mut d);
    let problem = d.schema::<Problem>();
    let mut paths = Map::new();
    for op in &d.ops {
        let mut responses = Map::new();
        for status in &op.statuses {
            responses.insert(
                status.to_string(),
                json!({ "description": "Success", "content": op.response }),
            );
        }
        responses.insert(
            "default".into(),
            json!({
                "description": "An error, as RFC 9457 problem details with a stable `code`.",
                "content": { "application/problem+json": { "schema": problem } }
            }),
        );
        let mut o = json!({
            "operationId": op.id,
            "tags": [op.tag],
            "summary": op.summary,
            "parameters": op.params,
            "responses": responses,
        });
        if let Some(b) = &op.body {
            o["requestBody"] = b.clone();
        }
        if !op.auth {
            o["security"] = json!([]);
        }
        let entry = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        entry[op.method] = o;
    }
    let schemas = d.gen.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "mnemo",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Long-term memory for AI agents: memories, search, conversation, context and the memory pipeline, per user. Every call acts for the user of its API key; another user's ids answer 404.",
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`Authorization: Bearer mnemo_…` from `mnemo keys create`. An admin key may act for another user named in the `X-Mnemo-User` header."
                }
            }
        }
    })
}

fn operations(d: &mut Doc) {
    use serde_json::Value as V;
    let m = "memories";
    d.op::<t::AddMemoryResponse>(
        "post",
        "/v1/memories",
        "addMemory",
        m,
        "Store a memory (a keyed one supersedes the current value; 200 when unchanged)",
        201,
    )
    .or_status(200)
    .with_body::<t::AddMemoryRequest>();
    d.op::<t::ListMemoriesResponse>(
        "get",
        "/v1/memories",
        "listMemories",
        m,
        "List memories, newest first, one page at a time",
        200,
    )
    .with_query::<t::ListMemoriesRequest>();
    d.op::<t::MemoryDetail>(
        "get",
        "/v1/memories/{id}",
        "getMemory",
        m,
        "A memory with its history and source turns",
        200,
    );
    d.op::<mnemo_core::Memory>(
        "patch",
        "/v1/memories/{id}",
        "updateMemory",
        m,
        "Edit a memory in place (history keeps the old text)",
        200,
    )
    .with_body::<t::UpdateMemoryRequest>();
    d.op::<mnemo_core::Memory>(
        "delete",
        "/v1/memories/{id}",
        "forgetMemory",
        m,
        "Forget a memory (restorable), or purge it",
        200,
    )
    .with_query::<t::ForgetRequest>();
    d.op::<mnemo_core::Memory>(
        "post",
        "/v1/memories/{id}/restore",
        "restoreMemory",
        m,
        "Make a forgotten or superseded memory current again",
        200,
    );
    d.op::<t::HistoryResponse>(
        "get",
        "/v1/memories/{id}/history",
        "memoryHistory",
        m,
        "Every change of a memory, oldest first",
        200,
    );
    d.op::<t::ForgetByQueryResponse>(
        "post",
        "/v1/memories/forget",
        "forgetByQuery",
        m,
        "Forget the memories matching a query: preview, then confirm with the token",
        200,
    )
    .with_body::<t::ForgetByQueryRequest>();
    d.op::<t::SearchResponse>(
        "post",
        "/v1/search",
        "search",
        m,
        "Search memories, best first (explain: the score's parts)",
        200,
    )
    .with_body::<t::SearchRequest>();
    let c = "conversation";
    d.op::<t::AddTurnsResponse>(
        "post",
        "/v1/messages",
        "addMessages",
        c,
        "Record conversation messages; the memory pipeline is queued and runs in the background",
        202,
    )
    .with_body::<t::AddTurnsRequest>();
    d.op::<t::ListTurnsResponse>(
        "get",
        "/v1/messages",
        "listMessages",
        c,
        "Conversation turns in order, oldest first (of one session, or the newest N)",
        200,
    )
    .with_query::<t::ListTurnsRequest>();
    d.op::<t::SearchTurnsResponse>(
        "post",
        "/v1/messages/search",
        "searchMessages",
        c,
        "Search conversation turns (full text, vectors, neighbouring turns, sessions), each hit with its score parts",
        200,
    )
    .with_body::<t::SearchTurnsRequest>();
    d.op::<mnemo_engine::Context>(
        "post",
        "/v1/context",
        "context",
        c,
        "Assemble the memory context for a message within a token budget",
        200,
    )
    .with_body::<t::ContextToolRequest>();
    d.op::<t::SessionsResponse>(
        "get",
        "/v1/sessions",
        "listSessions",
        c,
        "Sessions, newest first",
        200,
    )
    .with_query::<t::SessionsRequest>();
    d.op::<t::SessionResponse>(
        "get",
        "/v1/sessions/{id}",
        "getSession",
        c,
        "A session with its turns and summaries",
        200,
    );
    d.op::<t::SummariesResponse>(
        "get",
        "/v1/summaries",
        "listSummaries",
        c,
        "Session summaries",
        200,
    )
    .with_query::<t::SummariesRequest>();
    d.op::<t::TopicsResponse>(
        "get",
        "/v1/topics",
        "listTopics",
        c,
        "Topics with their summaries",
        200,
    );
    let p = "pipeline";
    d.op::<t::JobsResponse>(
        "get",
        "/v1/jobs",
        "listJobs",
        p,
        "Pipeline jobs, newest first, with counts per status",
        200,
    )
    .with_query::<t::JobsRequest>();
    d.op::<mnemo_core::Job>("get", "/v1/jobs/{id}", "getJob", p, "One job", 200);
    d.op::<mnemo_core::Job>(
        "post",
        "/v1/jobs/{id}/retry",
        "retryJob",
        p,
        "Queue a failed job again",
        200,
    );
    d.op::<t::UsageResponse>("get", "/v1/usage", "usage", p, "Model token usage", 200)
        .with_query::<t::UsageRequest>();
    let a = "account";
    d.op::<t::StatsResponse>("get", "/v1/stats", "stats", a, "Counts of your data", 200);
    d.op::<t::ExportResponse>(
        "get",
        "/v1/export",
        "export",
        a,
        "Every record of yours, in export order",
        200,
    );
    d.op::<t::ImportResponse>(
        "post",
        "/v1/import",
        "import",
        a,
        "Import records of yours, all or nothing",
        200,
    )
    .with_body::<t::ImportRequest>();
    let s = "service";
    d.op::<V>("get", "/healthz", "healthz", s, "The process is up", 200)
        .public();
    d.op::<V>("get", "/readyz", "readyz", s, "The database answers", 200)
        .public();
    d.op::<String>("get", "/metrics", "metrics", s, "Prometheus metrics", 200)
        .public();
    if let Some(op) = d.ops.last_mut() {
        op.response = json!({ "text/plain": { "schema": { "type": "string" } } });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                    out.push(r);
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_operations_are_unique() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 20);
        for r in found {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{r}"));
            assert!(schemas.contains_key(name), "dangling {r}");
        }
        let mut ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|m| m.as_object().unwrap().values())
            .map(|op| op["operationId"].as_str().unwrap())
            .collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "operationIds are unique");
        // Requests refuse unknown fields, and say so.
        assert_eq!(schemas["AddMemoryRequest"]["additionalProperties"], false);
        // Query parameters never offer `null`.
        let list = &doc["paths"]["/v1/memories"]["get"]["parameters"];
        for p in list.as_array().unwrap() {
            assert!(!p["schema"].to_string().contains("\"null\""), "{p}");
        }
    }
}
