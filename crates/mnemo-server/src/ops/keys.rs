//! The operations that need the server and not only the engine: who a key acts as, and
//! API key management for admin keys. Authentication and tenancy are the REST API's: the
//! same caller, the same problem documents.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::StatusCode;
use mnemo_core::{ApiKey, KeyStore};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Call;
use crate::auth::{new_key, AuthMode};
use crate::error::ApiError;
use crate::AppState;

/// Who the key acts as, and what the server can do.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Me {
    user_id: String,
    agent_id: Option<String>,
    admin: bool,
    /// `provider/model` of the configured model, or `None` (chat is then unavailable).
    model: Option<String>,
    /// Whether the server checks API keys (`false` under `--no-auth`).
    auth: bool,
    /// USD per million tokens `[input, output]` by model name, from `[pricing]`.
    pricing: BTreeMap<String, [f64; 2]>,
}

/// Every key (never a secret: only the SHA-256 is stored).
#[derive(Serialize, JsonSchema)]
pub(crate) struct KeysOut {
    keys: Vec<ApiKey>,
}

/// A key to create.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateKeyIn {
    /// The user the key acts for.
    user: String,
    /// Narrow the key to one agent of the user.
    agent: Option<String>,
    /// An admin key: manages keys and may act for any user (`X-Mnemo-User`).
    #[serde(default)]
    admin: bool,
    /// A name to tell keys apart.
    name: Option<String>,
}

/// The new key's text, shown once.
#[derive(Serialize, JsonSchema)]
pub(crate) struct CreatedKey {
    key: String,
    info: ApiKey,
}

fn server<'a>(c: &'a Call<'_>) -> Result<&'a AppState, ApiError> {
    c.server
        .ok_or_else(|| ApiError::internal("this operation needs `mnemo serve`"))
}

fn json<T: Serialize>(v: T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::internal(e.to_string()))
}

pub(crate) fn me(c: &Call<'_>) -> Result<Value, ApiError> {
    let s = server(c)?;
    let model = c
        .engine
        .llm()
        .map(|p| format!("{}/{}", p.name(), p.default_model()));
    json(Me {
        user_id: c.caller.user_id.clone(),
        agent_id: c.caller.agent_id.clone(),
        admin: c.caller.admin,
        model,
        auth: matches!(s.auth.as_ref(), AuthMode::Keys(_)),
        pricing: s.pricing.as_ref().clone(),
    })
}

/// The key store, for an admin caller of a server that checks keys.
fn admin_keys(c: &Call<'_>) -> Result<Arc<dyn KeyStore>, ApiError> {
    let s = server(c)?;
    let AuthMode::Keys(keys) = s.auth.as_ref() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "keys_disabled",
            "the server runs with --no-auth; manage keys with `mnemo keys` and restart without it",
        ));
    };
    if !c.caller.admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only an admin key manages keys (`mnemo keys create --admin`)",
        ));
    }
    Ok(keys.store())
}

pub(crate) fn list(c: &Call<'_>) -> Result<Value, ApiError> {
    let keys = admin_keys(c)?.list_keys().map_err(tool)?;
    json(KeysOut { keys })
}

pub(crate) fn create(c: &Call<'_>) -> Result<Value, ApiError> {
    let store = admin_keys(c)?;
    let req: CreateKeyIn = c.req()?;
    let blank = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let made = new_key(
        &req.user,
        blank(req.agent),
        req.admin,
        blank(req.name),
        c.engine.now(),
    )
    .map_err(tool)?;
    store.insert_key(&made.key).map_err(tool)?;
    json(CreatedKey {
        key: made.text,
        info: made.key,
    })
}

pub(crate) fn revoke(c: &Call<'_>) -> Result<Value, ApiError> {
    let store = admin_keys(c)?;
    let key = store.revoke_key(c.id()?, c.engine.now()).map_err(tool)?;
    json(key)
}

fn tool(e: mnemo_core::Error) -> ApiError {
    mnemo_engine::tools::ToolError::from(e).into()
}
