//! The handlers: one per operation, each a few lines over [`mnemo_engine::tools`].

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mnemo_engine::tools::{self as t};
use serde_json::json;

use super::{blocking, Body, Q};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

type Res<T> = Result<Json<T>, ApiError>;

pub(crate) async fn add_memory(
    State(s): State<AppState>,
    Authed(c): Authed,
    Body(req): Body<t::AddMemoryRequest>,
) -> Result<(StatusCode, Json<t::AddMemoryResponse>), ApiError> {
    let out = blocking(&s, move |e| t::add_memory(e, &c, req)).await?;
    let status = if out.outcome == "unchanged" {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(out)))
}

pub(crate) async fn list_memories(
    State(s): State<AppState>,
    Authed(c): Authed,
    Q(req): Q<t::ListMemoriesRequest>,
) -> Res<t::ListMemoriesResponse> {
    blocking(&s, move |e| t::list_memories(e, &c, req))
        .await
        .map(Json)
}

pub(crate) async fn get_memory(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<String>,
) -> Res<t::MemoryDetail> {
    blocking(&s, move |e| t::get_memory(e, &c, &id))
        .await
        .map(Json)
}

pub(crate) async fn update_memory(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<String>,
    Body(req): Body<t::UpdateMemoryRequest>,
) -> Res<mnemo_core::Memory> {
    blocking(&s, move |e| t::update_memory(e, &c, &id, req))
        .await
        .map(Json)
}

pub(crate) async fn forget(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<String>,
    Q(req): Q<t::ForgetRequest>,
) -> Res<mnemo_core::Memory> {
    blocking(&s, move |e| t::forget(e, &c, &id, req))
        .await
        .map(Json)
}

pub(crate) async fn restore(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<String>,
) -> Res<mnemo_core::Memory> {
    blocking(&s, move |e| t::restore(e, &c, &id))
        .await
        .map(Json)
}

pub(crate) async fn history(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<String>,
) -> Res<t::HistoryResponse> {
    blocking(&s, move |e| t::history(e, &c, &id))
        .await
        .map(Json)
}

pub(crate) async fn forget_by_query(
    State(s): State<AppState>,
    Authed(c): Authed,
    Body(req): Body<t::ForgetByQueryRequest>,
) -> Res<t::ForgetByQueryResponse> {
    blocking(&s, move |e| t::forget_by_query(e, &c, req))
        .await
        .map(Json)
}

pub(crate) async fn search(
    State(s): State<AppState>,
    Authed(c): Authed,
    Body(req): Body<t::SearchRequest>,
) -> Res<t::SearchResponse> {
    blocking(&s, move |e| t::search(e, &c, req)).await.map(Json)
}

pub(crate) async fn add_turns(
    State(s): State<AppState>,
    Authed(c): Authed,
    headers: axum::http::HeaderMap,
    Body(mut req): Body<t::AddTurnsRequest>,
) -> Result<(StatusCode, Json<t::AddTurnsResponse>), ApiError> {
    // The `Idempotency-Key` header, as HTTP clients send it, or the body field.
    if let Some(h) = headers.get("idempotency-key") {
        let key = h.to_str().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_value",
                "the Idempotency-Key header must be visible ASCII",
            )
        })?;
        match &req.idempotency_key {
            Some(k) if k != key => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_value",
                    "the Idempotency-Key header and the body's idempotency_key differ; give one",
                ))
            }
            _ => req.idempotency_key = Some(key.to_owned()),
        }
    }
    let out = blocking(&s, move |e| t::add_turns(e, &c, req)).await?;
    Ok((StatusCode::ACCEPTED, Json(out)))
}

pub(crate) async fn list_messages(
    State(s): State<AppState>,
    Authed(c): Authed,
    Q(req): Q<t::ListTurnsRequest>,
) -> Res<t::ListTurnsResponse> {
    blocking(&s, move |e| t::list_turns(e, &c, req))
        .await
        .map(Json)
}

pub(crate) async fn search_messages(
    State(s): State<AppState>,
    Authed(c): Authed,
    Body(req): Body<t::SearchTurnsRequest>,
) -> Res<t::SearchTurnsResponse> {
    blocking(&s, move |e| t::search_turns(e, &c, req))
        .await
        .map(Json)
}

pub(crate) async fn context(
    State(s): State<AppState>,
    Authed(c): Authed,
    Body(req): Body<t::ContextToolRequest>,
) -> Res<mnemo_engine::Context> {
    blocking(&s, move |e| t::context(e, &c, req))
        .await
        .map(Json)
}

pub(crate) async fn sessions(
    State(s): State<AppState>,
    Authed(c): Authed,
    Q(req): Q<t::SessionsRequest>,
) -> Res<t::SessionsResponse> {
    blocking(&s, move |e| t::sessions(e, &c, req))
        .await
        .map(Json)
}

pub(crate) async fn get_session(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<String>,
) -> Res<t::SessionResponse> {
    blocking(&s, move |e| t::get_session(e, &c, &id))
        .await
        .map(Json)
}

pub(crate) async fn summaries(
    State(s): State<AppState>,
    Authed(c): Authed,
    Q(req): Q<t::SummariesRequest>,
) -> Res<t::SummariesResponse> {
    blocking(&s, move |e| t::summaries(e, &c, req))
        .await
        .map(Json)
}

pub(crate) async fn topics(State(s): State<AppState>, Authed(c): Authed) -> Res<t::TopicsResponse> {
    blocking(&s, move |e| t::topics(e, &c)).await.map(Json)
}

pub(crate) async fn jobs(
    State(s): State<AppState>,
    Authed(c): Authed,
    Q(req): Q<t::JobsRequest>,
) -> Res<t::JobsResponse> {
    blocking(&s, move |e| t::jobs(e, &c, req)).await.map(Json)
}

pub(crate) async fn get_job(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<String>,
) -> Res<mnemo_core::Job> {
    blocking(&s, move |e| t::get_job(e, &c, &id))
        .await
        .map(Json)
}

pub(crate) async fn retry_job(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<String>,
) -> Res<mnemo_core::Job> {
    blocking(&s, move |e| t::retry_job(e, &c, &id))
        .await
        .map(Json)
}

pub(crate) async fn usage(
    State(s): State<AppState>,
    Authed(c): Authed,
    Q(req): Q<t::UsageRequest>,
) -> Res<t::UsageResponse> {
    blocking(&s, move |e| t::usage(e, &c, req)).await.map(Json)
}

pub(crate) async fn stats(State(s): State<AppState>, Authed(c): Authed) -> Res<t::StatsResponse> {
    blocking(&s, move |e| t::stats(e, &c)).await.map(Json)
}

pub(crate) async fn export(State(s): State<AppState>, Authed(c): Authed) -> Res<t::ExportResponse> {
    blocking(&s, move |e| t::export(e, &c)).await.map(Json)
}

pub(crate) async fn import(
    State(s): State<AppState>,
    Authed(c): Authed,
    Body(req): Body<t::ImportRequest>,
) -> Res<t::ImportResponse> {
    blocking(&s, move |e| t::import(e, &c, req)).await.map(Json)
}

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
