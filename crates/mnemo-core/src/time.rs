//! Time. Timestamps are UTC with microsecond precision, stored as fixed-width RFC 3339
//! text (`2026-11-21T23:51:34.123456Z`) so that text order is time order in SQL and an
//! export round-trips exactly. A [`Clock`] is injected everywhere "now" matters, so tests
//! and benchmarks run on a fixed clock.

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};

use crate::{Error, Result};

/// A point in time, UTC.
pub type Timestamp = DateTime<Utc>;

/// The JSON Schema of a timestamp as it travels (RFC 3339 text, UTC, microseconds), for
/// `#[schemars(with = "TimestampSchema")]` on fields serialized through [`serde_ts`].
#[derive(Debug, Clone, Copy)]
pub struct TimestampSchema;

impl schemars::JsonSchema for TimestampSchema {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 UTC time with microseconds, e.g. 2026-11-21T23:51:34.123456Z",
        })
    }
}

/// Source of "now".
pub trait Clock: Send + Sync {
    /// The current time, truncated to microseconds.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        truncate(Utc::now())
    }
}

/// A clock that always returns the same instant (tests, benchmarks).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// Drops sub-microsecond precision so stored and in-memory values compare equal.
pub fn truncate(t: Timestamp) -> Timestamp {
    let micros = t.timestamp_micros();
    Utc.timestamp_micros(micros).single().unwrap_or(t)
}

/// The canonical stored form.
pub fn format(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses the stored form (or any RFC 3339 timestamp).
pub fn parse(s: &str) -> Result<Timestamp> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| truncate(t.with_timezone(&Utc)))
        .map_err(|e| Error::invalid("timestamp", format!("`{s}`: {e}")))
}

/// Parses a date a person typed: RFC 3339, `YYYY-MM-DD` (midnight UTC), or
/// `YYYY-MM-DD HH:MM[:SS]` (UTC).
pub fn parse_user(s: &str) -> Result<Timestamp> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(truncate(t.with_timezone(&Utc)));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(Utc.from_utc_datetime(&n));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists")));
    }
    Err(Error::invalid(
        "date",
        format!("`{s}` is not a date; use YYYY-MM-DD, `YYYY-MM-DD HH:MM` (UTC) or RFC 3339 like 2026-01-31T09:00:00Z"),
    ))
}

/// Serde helpers for the canonical form.
pub mod serde_ts {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }

    /// The same for `Option<Timestamp>`.
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(
            t: &Option<Timestamp>,
            s: S,
        ) -> std::result::Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&format(t)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> std::result::Result<Option<Timestamp>, D::Error> {
            let s = Option::<String>::deserialize(d)?;
            s.map(|s| parse(&s).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_round_trips_and_sorts() {
        let t = parse("2026-01-02T03:04:05.678901Z").unwrap();
        assert_eq!(format(&t), "2026-01-02T03:04:05.678901Z");
        let later = parse("2026-01-02T03:04:06Z").unwrap();
        assert!(format(&t) < format(&later));
    }

    #[test]
    fn user_dates_accept_common_forms_and_explain_errors() {
        assert_eq!(
            format(&parse_user("2026-03-01").unwrap()),
            "2026-03-01T00:00:00.000000Z"
        );
        assert_eq!(
            format(&parse_user("2026-03-01 10:30").unwrap()),
            "2026-03-01T10:30:00.000000Z"
        );
        let e = parse_user("next tuesday").unwrap_err().to_string();
        assert!(e.contains("YYYY-MM-DD"), "{e}");
    }
}
