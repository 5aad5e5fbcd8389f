//! The REST routes: one per operation of the registry ([`crate::ops`]), each served by
//! one dispatcher (authenticate, take the `{id}`, the query or the JSON body, run the
//! operation on a blocking thread, answer with its status), plus health and metrics.
//! Bodies and queries that do not parse are answered with a problem document, like every
//! other error. Former paths of renamed operations answer too, with a `Deprecation`
//! header naming the successor.

mod extract;
mod handlers;

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Json, Router};
use mnemo_engine::tools::ToolResult;
use mnemo_engine::Engine;
use serde_json::Value;

use crate::auth::Authed;
use crate::error::ApiError;
use crate::ops::{Call, Carrier, Input, Operation, OPERATIONS};
use crate::AppState;

pub(crate) use extract::Body;

/// A router that records every `(method, path)` it serves, so a test can hold the router
/// and the OpenAPI document together.
pub(crate) struct Routes {
    pub router: Router<AppState>,
    pub served: Vec<(&'static str, &'static str)>,
}

impl Routes {
    pub fn new() -> Self {
        Routes {
            router: Router::new(),
            served: Vec::new(),
        }
    }

    /// Serves `method` (lower case) on `path` with `handler`.
    pub fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        handler: MethodRouter<AppState>,
    ) -> Self {
        self.served.push((method, path));
        self.router = self.router.route(path, handler);
        self
    }

    /// Merges routes that record themselves elsewhere (`served` says what they are).
    pub fn merge(
        mut self,
        router: Router<AppState>,
        served: &[(&'static str, &'static str)],
    ) -> Self {
        self.served.extend_from_slice(served);
        self.router = self.router.merge(router);
        self
    }
}

/// The method filter of a lower-case method name.
pub(crate) fn filter(method: &str) -> MethodFilter {
    match method {
        "post" => MethodFilter::POST,
        "patch" => MethodFilter::PATCH,
        "delete" => MethodFilter::DELETE,
        "put" => MethodFilter::PUT,
        _ => MethodFilter::GET,
    }
}

/// Every operation's route (and its former ones), health and metrics.
pub(crate) fn routes(mut r: Routes) -> Routes {
    use handlers as h;
    for op in OPERATIONS {
        r = r.add(
            op.method,
            op.path,
            on(filter(op.method), move |s, req| dispatch(op, None, s, req)),
        );
        for &(method, path) in op.rest_aliases {
            r = r.add(
                method,
                path,
                on(filter(method), move |s, req| {
                    dispatch(op, Some(op.path), s, req)
                }),
            );
        }
    }
    r.add("get", "/healthz", axum::routing::get(h::healthz))
        .add("get", "/readyz", axum::routing::get(h::readyz))
        .add("get", "/metrics", axum::routing::get(h::metrics))
}

/// The answer to a request for no route or no such method.
pub(crate) fn fallbacks(router: Router<AppState>) -> Router<AppState> {
    router
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
}

async fn dispatch(
    op: &'static Operation,
    successor: Option<&'static str>,
    State(s): State<AppState>,
    req: Request,
) -> Response {
    let mut res = match run(op, s, req).await {
        Ok((status, value)) => (status, Json(value)).into_response(),
        Err(e) => e.into_response(),
    };
    if let Some(path) = successor {
        let headers = res.headers_mut();
        headers.insert("deprecation", HeaderValue::from_static("true"));
        if let Ok(link) = HeaderValue::from_str(&format!("<{path}>; rel=\"successor-version\"")) {
            headers.insert("link", link);
        }
    }
    res
}

async fn run(
    op: &'static Operation,
    s: AppState,
    req: Request,
) -> Result<(StatusCode, Value), ApiError> {
    let (mut parts, body) = req.into_parts();
    let Authed(caller) = Authed::from_request_parts(&mut parts, &s).await?;
    let id = match op.id {
        Some(_) => Some(
            Path::<String>::from_request_parts(&mut parts, &s)
                .await
                .map_err(|e| ApiError::bad_request("invalid_value", e.body_text()))?
                .0,
        ),
        None => None,
    };
    let input = match op.carrier {
        Carrier::Nothing => Input::Nothing,
        Carrier::Query => Input::Query(parts.uri.query().unwrap_or_default().to_owned()),
        Carrier::Body => {
            let headers = parts.headers.clone();
            let Body(mut value) =
                Body::<Value>::from_request(Request::from_parts(parts, body), &s).await?;
            if op.idempotency_header {
                idempotency_key(&headers, &mut value)?;
            }
            Input::Json {
                value,
                code: "invalid_body",
            }
        }
    };
    let state = s.clone();
    let value = blocking_op(&s, move |engine| {
        (op.run)(&Call {
            engine,
            caller: &caller,
            id,
            input,
            server: Some(&state),
        })
    })
    .await?;
    let status = StatusCode::from_u16(op.status_of(&value)).unwrap_or(StatusCode::OK);
    Ok((status, value))
}

/// The `Idempotency-Key` header, as HTTP clients send it, taken into the body's
/// `idempotency_key` (which it must match when both are given).
fn idempotency_key(headers: &HeaderMap, body: &mut Value) -> Result<(), ApiError> {
    let Some(h) = headers.get("idempotency-key") else {
        return Ok(());
    };
    let key = h.to_str().map_err(|_| {
        ApiError::bad_request(
            "invalid_value",
            "the Idempotency-Key header must be visible ASCII",
        )
    })?;
    let Some(obj) = body.as_object_mut() else {
        return Ok(());
    };
    match obj.get("idempotency_key") {
        None | Some(Value::Null) => {
            obj.insert("idempotency_key".into(), Value::String(key.to_owned()));
            Ok(())
        }
        Some(Value::String(k)) if k != key => Err(ApiError::bad_request(
            "invalid_value",
            "the Idempotency-Key header and the body's idempotency_key differ; give one",
        )),
        // The same key, or a value of the wrong type that parsing the body refuses.
        Some(_) => Ok(()),
    }
}

async fn no_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        "no such endpoint; see /openapi.json or /docs",
    )
}

async fn no_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method; see /docs",
    )
}

/// Runs a tool on a blocking thread (the engine is synchronous).
pub(crate) async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Engine) -> ToolResult<T> + Send + 'static,
) -> Result<T, ApiError> {
    blocking_op(state, move |e| f(e).map_err(ApiError::from)).await
}

/// Runs an operation on a blocking thread.
async fn blocking_op<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Engine) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || f(&engine))
        .await
        .map_err(|e| ApiError::internal(format!("the request's worker failed: {e}")))?
}
