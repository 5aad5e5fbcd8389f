//! Fair tenants: per-key request rate and concurrency limits. One API key flooding the
//! server cannot take every worker thread or the whole database from the others: past its
//! rate (a token bucket: `key_requests_per_sec`, bursts of `key_burst`) or with
//! `key_concurrency` requests already running, a request is answered at once with 429
//! `rate_limited` and `Retry-After`, before any work is done for it.
//!
//! Only verified keys are limited (a wrong secret cannot use up someone else's budget);
//! admin keys are exempt (operators and their tools), and so is `--no-auth` (one user on
//! loopback). The key check itself is the one authentication does, cached, and its result
//! is handed on so a request is verified once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mnemo_core::ApiKey;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::AuthMode;
use crate::error::ApiError;
use crate::AppState;

/// The limits of every key.
pub(crate) struct Limiter {
    per_sec: f64,
    burst: f64,
    concurrency: usize,
    keys: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
    running: Arc<Semaphore>,
}

/// A key verified by the limiter, handed on to authentication.
#[derive(Clone)]
pub(crate) struct Verified {
    /// The `Authorization` header it was verified from.
    pub header: String,
    pub key: ApiKey,
}

impl Limiter {
    pub(crate) fn new(settings: &crate::ServerSettings) -> Self {
        Limiter {
            per_sec: settings.key_requests_per_sec.max(0.0),
            burst: f64::from(settings.key_burst.max(1)),
            concurrency: settings.key_concurrency as usize,
            keys: Mutex::default(),
        }
    }

    /// A permit to run one request of `key`, or why not.
    fn admit(&self, key: &str) -> Result<Option<OwnedSemaphorePermit>, ApiError> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let b = keys.entry(key.to_owned()).or_insert_with(|| Bucket {
            tokens: self.burst,
            at: now,
            running: Arc::new(Semaphore::new(self.concurrency.max(1))),
        });
        if self.per_sec > 0.0 {
            let refill = now.duration_since(b.at).as_secs_f64() * self.per_sec;
            b.tokens = (b.tokens + refill).min(self.burst);
            b.at = now;
            if b.tokens < 1.0 {
                let wait = ((1.0 - b.tokens) / self.per_sec).ceil().max(1.0) as u64;
                return Err(limited(
                    format!(
                        "this API key sent more than {} requests per second; slow down",
                        self.per_sec
                    ),
                    wait,
                ));
            }
        }
        let permit = if self.concurrency > 0 {
            match b.running.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    return Err(limited(
                        format!(
                            "this API key already has {} requests running; wait for one to finish",
                            self.concurrency
                        ),
                        1,
                    ))
                }
            }
        } else {
            None
        };
        if self.per_sec > 0.0 {
            b.tokens -= 1.0;
        }
        Ok(permit)
    }
}

fn limited(detail: String, retry_after: u64) -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail).retry_after(retry_after)
}

/// The middleware: verifies the request's key (once), and admits or refuses it.
pub(crate) async fn admit(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if !matches!(state.auth.as_ref(), AuthMode::Keys(_)) {
        return next.run(req).await;
    }
    let Some(header) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return next.run(req).await;
    };
    let Some(text) = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(|t| t.trim().to_owned())
    else {
        return next.run(req).await;
    };
    let (auth, now) = (Arc::clone(&state.auth), state.engine.now());
    let verified = tokio::task::spawn_blocking(move || match auth.as_ref() {
        AuthMode::Keys(keys) => keys.verify(&text, now),
        AuthMode::Open { .. } => Ok(None),
    })
    .await;
    // An unknown key, or a failed check, is authentication's to answer.
    let Ok(Ok(Some(key))) = verified else {
        return next.run(req).await;
    };
    let permit = if key.admin {
        None
    } else {
        match state.limiter.admit(&key.id) {
            Ok(p) => p,
            Err(e) => {
                // Read what the client is sending before answering, so the connection
                // stays usable (an unread body makes the server close it mid-upload).
                let limit = state.settings.body_limit_bytes;
                let _ = axum::body::to_bytes(req.into_body(), limit).await;
                return e.into_response();
            }
        }
    };
    req.extensions_mut().insert(Verified { header, key });
    let res = next.run(req).await;
    drop(permit);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_sec: f64, burst: u32, concurrency: u32) -> Limiter {
        Limiter::new(&crate::ServerSettings {
            key_requests_per_sec: per_sec,
            key_burst: burst,
            key_concurrency: concurrency,
            ..Default::default()
        })
    }

    #[test]
    fn a_burst_then_the_rate_then_429_with_retry_after() {
        let l = limiter(1.0, 3, 0);
        for _ in 0..3 {
            assert!(l.admit("k").is_ok());
        }
        let e = l.admit("k").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (429, "rate_limited"));
        assert_eq!(e.retry_after, Some(1));
        assert!(l.admit("other").is_ok(), "each key has its own budget");
    }

    #[test]
    fn concurrency_is_per_key_and_a_finished_request_frees_its_place() {
        let l = limiter(0.0, 1, 2);
        let a = l.admit("k").unwrap();
        let _b = l.admit("k").unwrap();
        assert_eq!(l.admit("k").unwrap_err().status.as_u16(), 429);
        assert!(l.admit("other").is_ok());
        drop(a);
        assert!(l.admit("k").is_ok());
    }
}
