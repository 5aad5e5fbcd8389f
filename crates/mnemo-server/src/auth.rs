//! API keys and the caller of a request.
//!
//! A key reads `mnemo_<id>_<secret>`: `id` (12 hex digits) finds the stored row, `secret`
//! is 32 bytes from the OS random generator (64 hex digits). Only the SHA-256 of the whole
//! key is stored, and it is compared in constant time. A user key acts only as its user;
//! an admin key acts as its own user or as the one named by the `X-Mnemo-User` header.
//! Verified keys are remembered for [`CACHE_TTL`], so a revoked key stops working within
//! that time without a database read on every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use mnemo_core::{ApiKey, Error, KeyStore, Result, Timestamp};
use mnemo_engine::tools::Caller;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::AppState;

/// How long a verified key is trusted without reading the database again.
pub const CACHE_TTL: Duration = Duration::from_secs(10);
/// How often a key's `last_used_at` is written at most.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// The header an admin key names the user with.
pub const USER_HEADER: &str = "x-mnemo-user";

/// How requests are authenticated.
pub enum AuthMode {
    /// Bearer API keys from the store.
    Keys(KeyAuth),
    /// No authentication (`--no-auth`, loopback only): every request acts as
    /// `default_user`, or as the user its `X-Mnemo-User` header names.
    Open { default_user: String },
}

/// Key verification with a small cache.
pub struct KeyAuth {
    store: Arc<dyn KeyStore>,
    /// SHA-256 of a key → the key and when it was read.
    cache: Mutex<HashMap<String, (ApiKey, Instant)>>,
    touched: Mutex<HashMap<String, Instant>>,
}

impl KeyAuth {
    pub fn new(store: Arc<dyn KeyStore>) -> Self {
        KeyAuth {
            store,
            cache: Mutex::default(),
            touched: Mutex::default(),
        }
    }

    /// The key store (the web UI's key management writes to it).
    pub fn store(&self) -> Arc<dyn KeyStore> {
        self.store.clone()
    }

    /// The key `text` is when it was verified in the last [`CACHE_TTL`]: no database
    /// read, so a caller on the async runtime may use it.
    pub fn verified_recently(&self, text: &str) -> Option<ApiKey> {
        let hash = hash_key(text);
        lock(&self.cache)
            .get(&hash)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(k, _)| k.clone())
    }

    /// The live key `text` is, or `None` (unknown, wrong secret, revoked).
    pub fn verify(&self, text: &str, now: Timestamp) -> Result<Option<ApiKey>> {
        let hash = hash_key(text);
        if let Some((k, at)) = lock(&self.cache).get(&hash) {
            if at.elapsed() < CACHE_TTL {
                return Ok(Some(k.clone()));
            }
        }
        let Some(id) = parse_key(text) else {
            return Ok(None);
        };
        let key = self
            .store
            .key_by_id(id)?
            .filter(|k| k.revoked_at.is_none() && constant_time_eq(&k.hash, &hash));
        if let Some(k) = &key {
            lock(&self.cache).insert(hash, (k.clone(), Instant::now()));
            self.touch(&k.id, now)?;
        }
        Ok(key)
    }

    fn touch(&self, id: &str, now: Timestamp) -> Result<()> {
        let due = lock(&self.touched)
            .get(id)
            .is_none_or(|t| t.elapsed() >= TOUCH_EVERY);
        if due {
            lock(&self.touched).insert(id.to_owned(), Instant::now());
            self.store.touch_key(id, now)?;
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A key just created: the text to show once, and the row to store.
pub struct NewKey {
    pub text: String,
    pub key: ApiKey,
}

/// Makes a new key for `user_id`.
pub fn new_key(
    user_id: &str,
    agent_id: Option<String>,
    admin: bool,
    name: Option<String>,
    now: Timestamp,
) -> Result<NewKey> {
    if user_id.trim().is_empty() {
        return Err(Error::invalid("user", "a key must belong to a user"));
    }
    let id = hex(&random_bytes::<6>()?);
    let text = format!("mnemo_{id}_{}", hex(&random_bytes::<32>()?));
    let key = ApiKey {
        id,
        hash: hash_key(&text),
        user_id: user_id.trim().to_owned(),
        agent_id,
        admin,
        name,
        created_at: now,
        revoked_at: None,
        last_used_at: None,
    };
    Ok(NewKey { text, key })
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| Error::Storage(format!("no OS randomness: {e}")))?;
    Ok(b)
}

/// The public id inside a well-formed key.
fn parse_key(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("mnemo_")?;
    let (id, secret) = rest.split_once('_')?;
    let hexy = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hexy(id, 12) && hexy(secret, 64)).then_some(id)
}

/// Hex SHA-256 of a key's text.
pub fn hash_key(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The authenticated caller of a request (extractor).
pub struct Authed(pub Caller);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> std::result::Result<Self, ApiError> {
        let named = header(parts, USER_HEADER)?;
        let caller = match state.auth.as_ref() {
            AuthMode::Open { default_user } => Caller::user(named.unwrap_or(default_user.clone())),
            AuthMode::Keys(_) => {
                // The rate limiter verified it already (same header): not twice.
                let known = parts
                    .extensions
                    .get::<crate::limits::Verified>()
                    .filter(|v| {
                        header(parts, "authorization").ok().flatten().as_deref()
                            == Some(v.header.as_str())
                    })
                    .map(|v| v.key.clone());
                let key = match known {
                    Some(k) => k,
                    None => bearer_key(parts, state).await?,
                };
                caller_for(key, named)?
            }
        };
        if let Some(span_user) = parts.extensions.get::<crate::middleware::RequestUser>() {
            span_user.set(&caller.user_id);
        }
        Ok(Authed(caller))
    }
}

/// Verifies the bearer key of a request.
async fn bearer_key(parts: &Parts, state: &AppState) -> std::result::Result<ApiKey, ApiError> {
    let value = header(parts, "authorization")?.ok_or_else(|| {
        ApiError::unauthorized(
            "send `Authorization: Bearer KEY` (create one with `mnemo keys create`)",
        )
    })?;
    let text = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer KEY`"))?
        .to_owned();
    let state2 = state.clone();
    let found = tokio::task::spawn_blocking(move || {
        let AuthMode::Keys(keys) = state2.auth.as_ref() else {
            return Ok(None);
        };
        keys.verify(&text, state2.engine.now())
    })
    .await
    .map_err(|e| ApiError::internal(format!("key check failed: {e}")))?
    .map_err(|e| ApiError::from(mnemo_engine::tools::ToolError::from(e)))?;
    found.ok_or_else(|| ApiError::unauthorized("unknown or revoked API key"))
}

/// The caller a key acts as, given the user a request names.
fn caller_for(key: ApiKey, named: Option<String>) -> std::result::Result<Caller, ApiError> {
    let user_id = match named {
        Some(u) if u != key.user_id && !key.admin => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this key acts only as its own user; only an admin key may name another",
            ))
        }
        Some(u) => u,
        None => key.user_id.clone(),
    };
    let own = user_id == key.user_id;
    Ok(Caller {
        user_id,
        agent_id: if own { key.agent_id } else { None },
        admin: key.admin,
        actor: mnemo_core::Actor::User,
        reach: mnemo_engine::tools::Reach::Bounded,
    })
}

/// A header's text; a header that is not visible ASCII is a bad request.
fn header(parts: &Parts, name: &str) -> std::result::Result<Option<String>, ApiError> {
    parts
        .headers
        .get(name)
        .map(|v| {
            v.to_str().map(|s| s.trim().to_owned()).map_err(|_| {
                ApiError::bad_request("invalid_header", format!("header {name} is not text"))
            })
        })
        .transpose()
        .map(|v| v.filter(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_hash_and_compare() {
        let now = mnemo_core::time::parse("2026-01-01T00:00:00Z").unwrap();
        let k = new_key("anna", None, false, None, now).unwrap();
        assert_eq!(parse_key(&k.text), Some(k.key.id.as_str()));
        assert_eq!(k.key.hash, hash_key(&k.text));
        assert!(
            !k.key.hash.contains(&k.text[19..]),
            "the secret is not stored"
        );
        assert_eq!(parse_key("mnemo_zz_00"), None);
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        let other = new_key("anna", None, false, None, now).unwrap();
        assert_ne!(k.text, other.text);
    }

    #[test]
    fn only_admin_keys_name_another_user() {
        let now = mnemo_core::time::parse("2026-01-01T00:00:00Z").unwrap();
        let user = new_key("anna", None, false, None, now).unwrap().key;
        assert!(caller_for(user.clone(), Some("ben".into())).is_err());
        assert_eq!(caller_for(user, None).unwrap().user_id, "anna");
        let admin = new_key("root", None, true, None, now).unwrap().key;
        assert_eq!(
            caller_for(admin, Some("ben".into())).unwrap().user_id,
            "ben"
        );
    }
}
