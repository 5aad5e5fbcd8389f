//! The REST routes under `/v1`, plus health and metrics. Each handler: authenticate,
//! parse, call one tool on a blocking thread, render. Bodies and queries that do not parse
//! are answered with a problem document, like every other error.

mod extract;
mod handlers;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use mnemo_engine::tools::ToolResult;
use mnemo_engine::Engine;

use crate::error::ApiError;
use crate::AppState;

pub(crate) use extract::{Body, Q};

/// Every route of the API (the OpenAPI document lists the same ones; a test holds them
/// together).
pub(crate) fn routes() -> Router<AppState> {
    use handlers as h;
    Router::new()
        .route("/v1/memories", post(h::add_memory).get(h::list_memories))
        .route(
            "/v1/memories/{id}",
            get(h::get_memory).patch(h::update_memory).delete(h::forget),
        )
        .route("/v1/memories/{id}/restore", post(h::restore))
        .route("/v1/memories/{id}/history", get(h::history))
        .route("/v1/memories/forget", post(h::forget_by_query))
        .route("/v1/search", post(h::search))
        .route("/v1/messages", post(h::add_turns).get(h::list_messages))
        .route("/v1/messages/search", post(h::search_messages))
        .route("/v1/context", post(h::context))
        .route("/v1/sessions", get(h::sessions))
        .route("/v1/sessions/{id}", get(h::get_session))
        .route("/v1/summaries", get(h::summaries))
        .route("/v1/topics", get(h::topics))
        .route("/v1/jobs", get(h::jobs))
        .route("/v1/jobs/{id}", get(h::get_job))
        .route("/v1/jobs/{id}/retry", post(h::retry_job))
        .route("/v1/usage", get(h::usage))
        .route("/v1/stats", get(h::stats))
        .route("/v1/export", get(h::export))
        .route("/v1/import", post(h::import))
        .route("/healthz", get(h::healthz))
        .route("/readyz", get(h::readyz))
        .route("/metrics", get(h::metrics))
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
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
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || f(&engine))
        .await
        .map_err(|e| ApiError::internal(format!("the request's worker failed: {e}")))?
        .map_err(ApiError::from)
}
