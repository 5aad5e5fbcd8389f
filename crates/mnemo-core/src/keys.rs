//! API keys of the server: who a bearer key acts for. The secret itself is never stored;
//! a backend keeps its SHA-256 (computed by the server) and the public id that finds it.

use schemars::JsonSchema;
use serde::Serialize;

use crate::time::{serde_ts, TimestampSchema};
use crate::{Result, Timestamp};

/// A stored API key (without its secret).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ApiKey {
    /// Public id, part of the key text.
    pub id: String,
    /// Hex SHA-256 of the whole key text.
    #[serde(skip)]
    pub hash: String,
    /// The user the key acts for (an admin key's default user).
    pub user_id: String,
    pub agent_id: Option<String>,
    /// May act for any user named per request.
    pub admin: bool,
    pub name: Option<String>,
    #[serde(with = "serde_ts")]
    #[schemars(with = "TimestampSchema")]
    pub created_at: Timestamp,
    #[serde(with = "serde_ts::option")]
    #[schemars(with = "Option<TimestampSchema>")]
    pub revoked_at: Option<Timestamp>,
    #[serde(with = "serde_ts::option")]
    #[schemars(with = "Option<TimestampSchema>")]
    pub last_used_at: Option<Timestamp>,
}

/// Storage of API keys. Every backend that a server runs on implements it.
pub trait KeyStore: Send + Sync {
    /// Stores a new key.
    fn insert_key(&self, key: &ApiKey) -> Result<()>;
    /// A key by its public id (revoked ones included).
    fn key_by_id(&self, id: &str) -> Result<Option<ApiKey>>;
    /// Every key, newest first.
    fn list_keys(&self) -> Result<Vec<ApiKey>>;
    /// Marks a key (by id or unique prefix) revoked; returns it.
    fn revoke_key(&self, id_or_prefix: &str, at: Timestamp) -> Result<ApiKey>;
    /// Records that a key was used (at most as often as the caller chooses to call it).
    fn touch_key(&self, id: &str, at: Timestamp) -> Result<()>;
}
