//! Fair tenants: per-key request rate and concurrency limits. One API key flooding the
//! server cannot take every worker thread or the whole database from the others: past its
//! rate (a token bucket: `key_requests_per_sec`, bursts of `key_burst`) or with
//! `key_concurrency` requests already running, a request is answered at once with 429
//! `rate_limited` and `Retry-After`, before any work is done for it.
//!
//! A key that keeps sending past its refusals (more than 50 in a second) has its next
//! refusals held back 250 ms: the server then spends a sleeping task on each instead of
//! answering as fast as the key sends, which on a small machine is what slowed the others.
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
    /// Refusals in the current second, and when that second began.
    refused: u32,
    refused_since: Instant,
}

/// Refusals per second past which a key's next refusals are held back a while: a client
/// that ignores `Retry-After` and keeps hammering costs the server one sleeping task per
/// request instead of a request answered as fast as it can send them (which, on a small
/// machine, is what slows everyone else down).
const REFUSALS_BEFORE_SLOWING: u32 = 50;
/// How long such a refusal is held back.
const SLOW_REFUSAL: std::time::Duration = std::time::Duration::from_millis(250);

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

    /// A permit to run one request of `key`, or why not, and whether to hold the refusal
    /// back (the key keeps hammering).
    fn admit(&self, key: &str) -> Result<Option<OwnedSemaphorePermit>, (ApiError, bool)> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let refusal = |b: &mut Bucket, e: ApiError| {
            if now.duration_since(b.refused_since).as_secs_f64() >= 1.0 {
                b.refused = 0;
                b.refused_since = now;
            }
            b.refused += 1;
            (e, b.refused > REFUSALS_BEFORE_SLOWING)
        };
        let b = keys.entry(key.to_owned()).or_insert_with(|| Bucket {
            tokens: self.burst,
            at: now,
            running: Arc::new(Semaphore::new(self.concurrency.max(1))),
            refused: 0,
            refused_since: now,
        });
        if self.per_sec > 0.0 {
            let refill = now.duration_since(b.at).as_secs_f64() * self.per_sec;
            b.tokens = (b.tokens + refill).min(self.burst);
            b.at = now;
            if b.tokens < 1.0 {
                let wait = ((1.0 - b.tokens) / self.per_sec).ceil().max(1.0) as u64;
                let e = limited(
                    format!(
                        "this API key sent more than {} requests per second; slow down",
                        self.per_sec
                    ),
                    wait,
                );
                return Err(refusal(b, e));
            }
        }
        let permit = if self.concurrency > 0 {
            match b.running.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    let e = limited(
                        format!(
                            "this API key already has {} requests running; wait for one to finish",
                            self.concurrency
                        ),
                        1,
                    );
                    return Err(refusal(b, e));
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
    // A key verified in the last seconds is known without a database read (the common
    // case, and the flooding one); otherwise it is checked on a blocking thread.
    let cached = match state.auth.as_ref() {
        AuthMode::Keys(keys) => keys.verified_recently(&text),
        AuthMode::Open { .. } => None,
    };
    let key = match cached {
        Some(k) => k,
        None => {
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
            key
        }
    };
    let permit = if key.admin {
        None
    } else {
        match state.limiter.admit(&key.id) {
            Ok(p) => p,
            Err((e, hammering)) => {
                // Read what the client is sending before answering, so the connection
                // stays usable (an unread body makes the server close it mid-upload).
                let limit = state.settings.body_limit_bytes;
                let _ = axum::body::to_bytes(req.into_body(), limit).await;
                if hammering {
                    tokio::time::sleep(SLOW_REFUSAL).await;
                }
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
        let (e, hammering) = l.admit("k").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (429, "rate_limited"));
        assert_eq!(e.retry_after, Some(1));
        assert!(!hammering);
        for _ in 0..REFUSALS_BEFORE_SLOWING {
            let _ = l.admit("k");
        }
        assert!(l.admit("k").unwrap_err().1, "a key that keeps on is slowed");
        assert!(l.admit("other").is_ok(), "each key has its own budget");
    }

    #[test]
    fn concurrency_is_per_key_and_a_finished_request_frees_its_place() {
        let l = limiter(0.0, 1, 2);
        let a = l.admit("k").unwrap();
        let _b = l.admit("k").unwrap();
        assert_eq!(l.admit("k").unwrap_err().0.status.as_u16(), 429);
        assert!(l.admit("other").is_ok());
        drop(a);
        assert!(l.admit("k").is_ok());
    }
}
