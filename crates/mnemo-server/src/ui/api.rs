//! The UI's own endpoints beside `/v1`: who a key acts as, key management (admin keys
//! only) and turn search. Authentication and tenancy are the REST API's: the same
//! [`Authed`] caller, the same problem documents.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use mnemo_core::ApiKey;
use mnemo_engine::tools::{self as t, Caller};
use serde::{Deserialize, Serialize};

use crate::auth::{new_key, AuthMode, Authed};
use crate::error::ApiError;
use crate::rest::{blocking, Body};
use crate::AppState;

/// Who the key acts as, and what the server can do.
#[derive(Serialize)]
pub(crate) struct Me {
    user_id: String,
    agent_id: Option<String>,
    admin: bool,
    /// `provider/model` of the configured model, or `None` (chat is then unavailable).
    model: Option<String>,
    /// Whether the server checks API keys (`false` under `--no-auth`).
    auth: bool,
    /// USD per million tokens `[input, output]` by model name, from `[pricing]`.
    pricing: std::collections::BTreeMap<String, [f64; 2]>,
}

pub(crate) async fn me(State(s): State<AppState>, Authed(c): Authed) -> Json<Me> {
    let model = s
        .engine
        .llm()
        .map(|p| format!("{}/{}", p.name(), p.default_model()));
    Json(Me {
        user_id: c.user_id,
        agent_id: c.agent_id,
        admin: c.admin,
        model,
        auth: matches!(s.auth.as_ref(), AuthMode::Keys(_)),
        pricing: s.pricing.as_ref().clone(),
    })
}

fn require_admin(s: &AppState, c: &Caller) -> Result<(), ApiError> {
    if !matches!(s.auth.as_ref(), AuthMode::Keys(_)) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "keys_disabled",
            "the server runs with --no-auth; manage keys with `mnemo keys` and restart without it",
        ));
    }
    if !c.admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only an admin key manages keys (`mnemo keys create --admin`)",
        ));
    }
    Ok(())
}

fn key_store(s: &AppState) -> Result<std::sync::Arc<dyn mnemo_core::KeyStore>, ApiError> {
    match s.auth.as_ref() {
        AuthMode::Keys(k) => Ok(k.store()),
        AuthMode::Open { .. } => Err(ApiError::internal("no key store under --no-auth")),
    }
}

/// Every key (never a secret: only the SHA-256 is stored).
#[derive(Serialize)]
pub(crate) struct KeysOut {
    keys: Vec<ApiKey>,
}

pub(crate) async fn list_keys(
    State(s): State<AppState>,
    Authed(c): Authed,
) -> Result<Json<KeysOut>, ApiError> {
    require_admin(&s, &c)?;
    let store = key_store(&s)?;
    let keys = blocking(&s, move |_| Ok(store.list_keys()?)).await?;
    Ok(Json(KeysOut { keys }))
}

/// A key to create.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateKeyIn {
    user: String,
    agent: Option<String>,
    #[serde(default)]
    admin: bool,
    name: Option<String>,
}

/// The new key's text, shown once.
#[derive(Serialize)]
pub(crate) struct CreatedKey {
    key: String,
    info: ApiKey,
}

pub(crate) async fn create_key(
    State(s): State<AppState>,
    Authed(c): Authed,
    Body(req): Body<CreateKeyIn>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    require_admin(&s, &c)?;
    let store = key_store(&s)?;
    let blank = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let made = blocking(&s, move |e| {
        let k = new_key(
            &req.user,
            blank(req.agent),
            req.admin,
            blank(req.name),
            e.now(),
        )?;
        store.insert_key(&k.key)?;
        Ok(k)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: made.text,
            info: made.key,
        }),
    ))
}

pub(crate) async fn revoke_key(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    require_admin(&s, &c)?;
    let store = key_store(&s)?;
    let key = blocking(&s, move |e| Ok(store.revoke_key(&id, e.now())?)).await?;
    Ok(Json(key))
}

pub(crate) async fn search_turns(
    State(s): State<AppState>,
    Authed(c): Authed,
    Body(req): Body<t::SearchTurnsRequest>,
) -> Result<Json<t::SearchTurnsResponse>, ApiError> {
    blocking(&s, move |e| t::search_turns(e, &c, req))
        .await
        .map(Json)
}
