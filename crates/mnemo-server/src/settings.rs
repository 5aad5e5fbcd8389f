//! The `[server]` table of the config file.

use serde::Deserialize;

/// How `mnemo serve` behaves.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on.
    pub listen: String,
    /// Largest request body accepted (bytes); larger ones get 413.
    pub body_limit_bytes: usize,
    /// A request still running after this many seconds gets 503 `timeout`.
    pub request_timeout_secs: u64,
    /// Requests per second one API key may send on average (0: no limit); past it, 429.
    pub key_requests_per_sec: f64,
    /// Requests one key may send at once above that rate.
    pub key_burst: u32,
    /// Requests of one key running at the same time (0: no limit); past it, 429.
    pub key_concurrency: u32,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:7437".into(),
            body_limit_bytes: 2 * 1024 * 1024,
            request_timeout_secs: 30,
            key_requests_per_sec: 100.0,
            key_burst: 200,
            key_concurrency: 8,
        }
    }
}
