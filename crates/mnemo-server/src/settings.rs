//! The `[server]` table of the config file.

use serde::Deserialize;

/// How `mnemo serve` behaves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on.
    pub listen: String,
    /// Largest request body accepted (bytes); larger ones get 413.
    pub body_limit_bytes: usize,
    /// A request still running after this many seconds gets 503 `timeout`.
    pub request_timeout_secs: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:7437".into(),
            body_limit_bytes: 2 * 1024 * 1024,
            request_timeout_secs: 30,
        }
    }
}
