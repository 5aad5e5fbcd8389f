//! When and how long to wait before sending a failed request again.
//!
//! Hosted APIs answer 429 and 5xx routinely under load, and a local Ollama resets
//! connections while it swaps models, so a single failure should not lose an extraction
//! job. The policy is exponential backoff with "equal jitter" (half fixed, half random, so
//! many clients do not retry in lock step), and a `Retry-After` from the server wins over
//! the computed backoff. Waiting goes through [`Sleeper`] so tests run without sleeping.

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

/// Waits, and knows what time it is (for `Retry-After` HTTP dates).
pub trait Sleeper: Send + Sync {
    /// Blocks for `d`.
    fn sleep(&self, d: Duration);

    /// The current wall-clock time.
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The real thing: `std::thread::sleep` and the system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// How many times to retry and how long to wait in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = try once).
    pub max_retries: u32,
    /// Backoff before the first retry; doubles for each further one.
    pub initial_backoff: Duration,
    /// Cap on the computed backoff.
    pub max_backoff: Duration,
    /// A `Retry-After` longer than this is not waited for: the error is returned instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The computed backoff before retry number `retry` (0-based), given a uniform random
    /// number in `[0, 1)`: half of the exponential step is fixed, half is random.
    pub fn backoff(&self, retry: u32, unit_random: f64) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(20));
        let step = self
            .initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        let half = step / 2;
        half + half.mul_f64(unit_random.clamp(0.0, 1.0))
    }

    /// How long to wait before retry number `retry`, or `None` to give up (no retries
    /// left, or the server asked for a longer wait than we accept).
    pub fn delay(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
        unit_random: f64,
    ) -> Option<Duration> {
        if retry >= self.max_retries {
            return None;
        }
        match retry_after {
            Some(wait) if wait > self.max_retry_after => None,
            Some(wait) => Some(wait),
            None => Some(self.backoff(retry, unit_random)),
        }
    }
}

/// Parses a `Retry-After` header: delay seconds (`"120"`) or an HTTP date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`). A date in the past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let at = SystemTime::from(date.with_timezone(&chrono::Utc));
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A uniform random number in `[0, 1)` for jitter. `RandomState` is seeded randomly per
/// instance, which is plenty for spreading retries and needs no dependency.
pub(crate) fn unit_random() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x9e37_79b9_7f4a_7c15);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_equal_jitter_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(0, 0.0), Duration::from_millis(250));
        assert_eq!(p.backoff(0, 1.0), Duration::from_millis(500));
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(500));
        assert_eq!(p.backoff(2, 0.5), Duration::from_millis(1500));
        assert_eq!(p.backoff(30, 1.0), Duration::from_secs(30));
        assert_eq!(p.backoff(u32::MAX, 0.0), Duration::from_secs(15));
    }

    #[test]
    fn delay_honours_retry_after_and_limits() {
        let p = RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        };
        let ra = Some(Duration::from_secs(7));
        assert_eq!(p.delay(0, ra, 0.3), Some(Duration::from_secs(7)));
        assert_eq!(p.delay(1, None, 0.0), Some(Duration::from_millis(500)));
        assert_eq!(p.delay(2, None, 0.0), None, "no retries left");
        assert_eq!(p.delay(0, Some(Duration::from_secs(3600)), 0.0), None);
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470);
        assert_eq!(
            parse_retry_after(" 12 ", now),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        // 2015-10-21T07:28:00Z is 1_445_412_480.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(10))
        );
        let later = now + Duration::from_secs(100);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", later),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn unit_random_is_in_range() {
        for _ in 0..100 {
            let r = unit_random();
            assert!((0.0..1.0).contains(&r));
        }
    }
}
