//! The OpenAPI 3.1 document, generated from the registry of operations ([`crate::ops`])
//! and the tools layer's own request and response types (their `schemars` JSON Schemas,
//! draft 2020-12, which OpenAPI 3.1 uses as is), so the document cannot drift from what
//! the routes parse and return. Former paths are listed `deprecated`; the routes that are
//! not operations (health, the proxy, MCP, the UI) come from the registry's list of them.
//! A test compares the document with every route the router serves.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::error::Problem;
use crate::ops::{Carrier, ExtraRoute, Operation, EXTRA_ROUTES, OPERATIONS};

/// One documented operation.
struct Op {
    method: &'static str,
    path: &'static str,
    id: String,
    tag: &'static str,
    summary: String,
    auth: bool,
    deprecated: bool,
    params: Vec<Value>,
    body: Option<Value>,
    /// `(status, content)`; status `default` for "any other".
    responses: Vec<(String, Value)>,
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

    /// An operation of the registry at `(method, path)` (its own, or a former one).
    fn operation(&mut self, op: &Operation, method: &'static str, path: &'static str, id: String) {
        let response = json!({ "application/json": { "schema": (op.response)(&mut self.gen) } });
        let mut params = path_params(path);
        let mut body = None;
        match (op.carrier, op.request) {
            (Carrier::Query, Some(f)) => params.extend(self.query_params(f)),
            (Carrier::Body, Some(f)) => {
                body = Some(json!({
                    "required": true,
                    "content": { "application/json": { "schema": f(&mut self.gen) } }
                }));
            }
            _ => {}
        }
        if op.idempotency_header {
            params.push(json!({
                "name": "Idempotency-Key",
                "in": "header",
                "required": false,
                "description": "A retry with the same key records nothing twice (same as the body's `idempotency_key`).",
                "schema": { "type": "string", "minLength": 1, "maxLength": 200 }
            }));
        }
        let deprecated = path != op.path;
        let summary = if deprecated {
            format!(
                "{} (deprecated: use {} {})",
                op.summary,
                op.method.to_uppercase(),
                op.path
            )
        } else {
            op.summary.to_owned()
        };
        self.ops.push(Op {
            method,
            path,
            id,
            tag: op.tag,
            summary,
            auth: true,
            deprecated,
            params,
            body,
            responses: op
                .statuses
                .iter()
                .map(|s| (s.to_string(), response.clone()))
                .collect(),
        });
    }

    /// A route that is not an operation of the registry.
    fn extra(&mut self, r: &ExtraRoute) {
        let mut by_status: Vec<(String, Value)> = Vec::new();
        for (status, content_type, schema) in r.responses {
            let key = if *status == 0 {
                "default".to_owned()
            } else {
                status.to_string()
            };
            if content_type.is_empty() {
                // Any answer, of any content (MCP's transport speaks for itself).
                by_status.push((key, Value::Null));
                continue;
            }
            let schema = schema.map_or(json!({}), |f| f(&mut self.gen));
            match by_status.iter_mut().find(|(k, _)| *k == key) {
                Some((_, content)) => content[*content_type] = json!({ "schema": schema }),
                None => by_status.push((key, json!({ *content_type: { "schema": schema } }))),
            }
        }
        let body = r.body.map(|(content_type, f)| {
            json!({ "required": true, "content": { content_type: { "schema": f(&mut self.gen) } } })
        });
        self.ops.push(Op {
            method: r.method,
            path: r.path,
            id: r.name.to_owned(),
            tag: r.tag,
            summary: r.summary.to_owned(),
            auth: !r.public,
            deprecated: false,
            params: Vec::new(),
            body,
            responses: by_status,
        });
    }

    /// The fields of a request schema as query parameters.
    fn query_params(&mut self, f: crate::ops::SchemaFn) -> Vec<Value> {
        let reference = f(&mut self.gen);
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
        params
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
    for op in OPERATIONS {
        d.operation(op, op.method, op.path, op.name.to_owned());
        for (i, &(method, path)) in op.rest_aliases.iter().enumerate() {
            let suffix = if i == 0 {
                String::new()
            } else {
                format!("_{i}")
            };
            d.operation(op, method, path, format!("{}_deprecated{suffix}", op.name));
        }
    }
    for r in EXTRA_ROUTES {
        d.extra(r);
    }
    let problem = d.schema::<Problem>();
    let mut paths = Map::new();
    for op in &d.ops {
        let mut responses = Map::new();
        for (status, content) in &op.responses {
            let mut r = json!({ "description": "Success" });
            if !content.is_null() {
                r["content"] = content.clone();
            }
            if let Some(l) = links(&op.id, status) {
                r["links"] = l;
            }
            if status == "default" {
                r["description"] = json!("An error");
            }
            responses.insert(status.clone(), r);
        }
        if op.auth {
            // Every keyed route may be refused by the per-key limits (`limits.rs`).
            responses.insert(
                "429".into(),
                json!({
                    "description": "Past this API key's rate or concurrency limit: retry after `Retry-After` seconds.",
                    "headers": { "Retry-After": { "schema": { "type": "integer", "minimum": 1 } } },
                    "content": { "application/problem+json": { "schema": problem } }
                }),
            );
        }
        responses.entry("default").or_insert_with(|| {
            json!({
                "description": "An error, as RFC 9457 problem details with a stable `code`.",
                "content": { "application/problem+json": { "schema": problem } }
            })
        });
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
        if op.deprecated {
            o["deprecated"] = json!(true);
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

/// Where a response leads (OpenAPI links, which stateful clients such as Schemathesis
/// follow): a created memory to the operations on it, recorded turns to their session and
/// job.
fn links(op: &str, status: &str) -> Option<Value> {
    let to = |ops: &[&str], id: &str| -> Value {
        let mut m = Map::new();
        for target in ops {
            m.insert(
                (*target).to_owned(),
                json!({ "operationId": target, "parameters": { "id": id } }),
            );
        }
        Value::Object(m)
    };
    match (op, status) {
        ("add_memory", "201" | "200") => Some(to(
            &[
                "get_memory",
                "update_memory",
                "forget_memory",
                "restore_memory",
                "get_memory_history",
            ],
            "$response.body#/memory/id",
        )),
        ("add_turns", "202") => Some(to(&["get_session"], "$response.body#/session_id")),
        _ => None,
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
