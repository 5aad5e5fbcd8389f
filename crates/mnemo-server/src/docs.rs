//! `/openapi.json` and `/docs`: the document, and a plain HTML reference rendered from it
//! on the server (no script, no CDN, nothing fetched by the browser).

use std::fmt::Write as _;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

use crate::rest::Routes;

pub(crate) fn routes(r: Routes) -> Routes {
    r.add("get", "/openapi.json", get(openapi))
        .add("get", "/docs", get(reference))
}

fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(crate::openapi::document)
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string_pretty(document()).unwrap_or_default(),
    )
        .into_response()
}

async fn reference() -> Html<String> {
    static PAGE: OnceLock<String> = OnceLock::new();
    Html(PAGE.get_or_init(|| render(document())).clone())
}

/// HTML-escapes text.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A schema's short name: the referenced component, or its type.
fn type_name(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("<a href=\"#schema-{0}\">{0}</a>", esc(name));
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        return any.iter().map(type_name).collect::<Vec<_>>().join(" | ");
    }
    if let Some(items) = schema.get("items") {
        return format!("array of {}", type_name(items));
    }
    match schema.get("type") {
        Some(Value::String(t)) => esc(t),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ if schema.get("enum").is_some() => "enum".into(),
        _ => "any".into(),
    }
}

fn render(doc: &Value) -> String {
    let mut h = String::from(concat!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<title>mnemo API reference</title><style>",
        "body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:auto;padding:1rem;color:#222}",
        "code,pre{font-family:ui-monospace,monospace}h2{border-bottom:1px solid #ccc}",
        ".op{margin:1.2rem 0}.m{display:inline-block;min-width:4.5rem;font-weight:bold}",
        "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}",
        "@media(prefers-color-scheme:dark){body{background:#111;color:#ddd}a{color:#8af}td,th{border-color:#444}}",
        "</style></head><body><h1>mnemo API reference</h1>",
    ));
    let info = &doc["info"];
    let _ = write!(
        h,
        "<p>{} Version {}. The machine-readable document is <a href=\"/openapi.json\">/openapi.json</a>. Authenticate with <code>Authorization: Bearer KEY</code>.</p>",
        esc(info["description"].as_str().unwrap_or_default()),
        esc(info["version"].as_str().unwrap_or_default())
    );
    h.push_str("<h2>Operations</h2>");
    if let Some(paths) = doc["paths"].as_object() {
        for (path, methods) in paths {
            for (method, op) in methods.as_object().into_iter().flatten() {
                render_op(&mut h, path, method, op);
            }
        }
    }
    h.push_str("<h2>Schemas</h2>");
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, s) in schemas {
            render_schema(&mut h, name, s);
        }
    }
    h.push_str("</body></html>");
    h
}

fn render_op(h: &mut String, path: &str, method: &str, op: &Value) {
    let _ = write!(
        h,
        "<div class=\"op\"><h3><span class=\"m\">{}</span> <code>{}</code></h3><p>{}</p>",
        esc(&method.to_uppercase()),
        esc(path),
        esc(op["summary"].as_str().unwrap_or_default())
    );
    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        h.push_str("<table><tr><th>parameter</th><th>in</th><th>type</th><th>about</th></tr>");
        for p in params {
            let _ = write!(
                h,
                "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(p["name"].as_str().unwrap_or_default()),
                if p["required"] == true {
                    " (required)"
                } else {
                    ""
                },
                esc(p["in"].as_str().unwrap_or_default()),
                type_name(&p["schema"]),
                esc(p["description"].as_str().unwrap_or_default())
            );
        }
        h.push_str("</table>");
    }
    if let Some(body) = op["requestBody"]["content"]["application/json"]["schema"].as_object() {
        let _ = write!(
            h,
            "<p>Body: {}</p>",
            type_name(&Value::Object(body.clone()))
        );
    }
    if let Some(responses) = op["responses"].as_object() {
        for (status, r) in responses.iter().filter(|(s, _)| *s != "default") {
            let schema = r["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map(|c| type_name(&c["schema"]))
                .unwrap_or_default();
            let _ = write!(h, "<p>Answers {}: {schema}</p>", esc(status));
        }
    }
    h.push_str("</div>");
}

fn render_schema(h: &mut String, name: &str, s: &Value) {
    let _ = write!(
        h,
        "<h3 id=\"schema-{0}\">{0}</h3><p>{1}</p>",
        esc(name),
        esc(s["description"].as_str().unwrap_or_default())
    );
    if let Some(values) = s["enum"].as_array() {
        let list: Vec<String> = values.iter().map(|v| esc(&v.to_string())).collect();
        let _ = write!(h, "<p>One of: <code>{}</code></p>", list.join(", "));
    }
    if let Some(props) = s["properties"].as_object() {
        h.push_str("<table><tr><th>field</th><th>type</th><th>about</th></tr>");
        for (field, p) in props {
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                esc(field),
                type_name(p),
                esc(p["description"].as_str().unwrap_or_default())
            );
        }
        h.push_str("</table>");
    }
}
