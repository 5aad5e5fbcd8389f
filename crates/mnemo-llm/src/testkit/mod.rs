//! Test support for this crate and the crates above it (feature `testkit`): a local fake
//! HTTP server that the real provider clients talk to ([`server`]), and a [`Sleeper`]
//! that records waits instead of sleeping ([`NoSleep`]), so retry tests run in
//! milliseconds.

pub mod server;

use std::sync::Mutex;
use std::time::Duration;

use crate::Sleeper;

/// Records requested sleeps instead of sleeping.
#[derive(Debug, Default)]
pub struct NoSleep {
    slept: Mutex<Vec<Duration>>,
}

impl NoSleep {
    /// Every wait asked for so far.
    pub fn slept(&self) -> Vec<Duration> {
        self.slept.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Sleeper for NoSleep {
    fn sleep(&self, d: Duration) {
        self.slept.lock().unwrap_or_else(|e| e.into_inner()).push(d);
    }
}
