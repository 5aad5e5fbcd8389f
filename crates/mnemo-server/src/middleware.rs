//! Around every request: a request id (echoed as `x-request-id`), the timeout, metrics, and
//! one `tracing` line with method, route, status, user and latency. Never a key, a body or
//! a memory's text: those stay out of logs at every level.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::AppState;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Filled in by authentication so the request's log line names the user.
#[derive(Clone, Default)]
pub(crate) struct RequestUser(Arc<Mutex<Option<String>>>);

impl RequestUser {
    pub(crate) fn set(&self, user: &str) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(user.to_owned());
    }

    fn get(&self) -> String {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| "-".into())
    }
}

/// The middleware.
pub(crate) async fn observe(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{:x}", NEXT_ID.fetch_add(1, Ordering::Relaxed)));
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let user = RequestUser::default();
    req.extensions_mut().insert(user.clone());
    let limit = crate::proxy::time_limit(&state, &route).unwrap_or_else(|| state.timeout());
    let mut res = match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took longer than the server's request timeout",
        )
        .into_response(),
    };
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    state
        .metrics
        .observe(method.as_str(), &route, status, elapsed);
    tracing::info!(
        request_id = %id,
        method = %method,
        route = %route,
        status,
        user = %user.get(),
        latency_us = elapsed.as_micros() as u64,
        "request"
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}
