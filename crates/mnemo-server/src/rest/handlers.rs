//! The service routes that are not operations of the registry: health and metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::blocking;
use crate::error::ApiError;
use crate::AppState;

/// The process is up.
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers.
pub(crate) async fn readyz(State(s): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    blocking(&s, |e| Ok(e.job_counts(None)?)).await?;
    Ok(Json(json!({ "status": "ready" })))
}

/// Prometheus text.
pub(crate) async fn metrics(State(s): State<AppState>) -> Result<Response, ApiError> {
    let m = s.metrics.clone();
    let text = blocking(&s, move |e| Ok(m.render(e)?)).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
