//! Checks on records before a store writes them, shared by every backend so that all
//! of them refuse the same input with the same message naming the field (and, on import,
//! the line). The schemas' constraints are the last line of defence; these come first.
//! A backend adds only what its engine cannot store (PostgreSQL text cannot hold NUL).

use crate::{Error, HistoryEvent, Memory, Result, Session, SessionSummary, Topic, Turn};
use serde_json::Value;

/// A record id: exactly 32 lowercase hex digits, as [`mnemo_core::ids::new_id`] makes.
pub fn id(field: &str, value: &str) -> Result<()> {
    let ok = value.len() == 32
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("`{value}` is not an id (32 lowercase hex digits)"),
        ))
    }
}

/// A free-form reference (session ids may be chosen by the caller): not blank.
pub fn reference(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    Ok(())
}

/// A user id is required; an agent id, when present, must not be empty (empty is how the
/// schema spells "user-wide" in its uniqueness keys).
pub fn scope(user_id: &str, agent_id: Option<&str>) -> Result<()> {
    reference("user_id", user_id)?;
    if agent_id.is_some_and(|a| a.is_empty()) {
        return Err(Error::invalid(
            "agent_id",
            "must not be empty; leave it out for user-wide records",
        ));
    }
    Ok(())
}

/// `meta` is `null` or a JSON object.
pub fn meta(value: &Value) -> Result<()> {
    if value.is_null() || value.is_object() {
        Ok(())
    } else {
        Err(Error::invalid("meta", "must be null or a JSON object"))
    }
}

pub fn memory(m: &Memory) -> Result<()> {
    id("memory id", &m.id)?;
    scope(&m.user_id, m.agent_id.as_deref())?;
    if !(m.salience.is_finite() && (0.0..=1.0).contains(&m.salience)) {
        return Err(Error::invalid(
            "salience",
            format!("{} is not within 0..=1", m.salience),
        ));
    }
    if i64::try_from(m.access_count).is_err() {
        return Err(Error::invalid("access_count", "too large to store"));
    }
    if let Some(s) = &m.superseded_by {
        id("superseded_by", s)?;
    }
    if let Some(s) = &m.session_id {
        reference("session_id", s)?;
    }
    for t in &m.source_turns {
        reference("source_turns", t)?;
    }
    meta(&m.meta)
}

/// An event recorded together with the write of `m`.
pub fn event_for(e: &HistoryEvent, m: &Memory) -> Result<()> {
    event(e)?;
    if e.memory_id != m.id {
        return Err(Error::invalid(
            "history",
            format!("event {} is about {}, not {}", e.id, e.memory_id, m.id),
        ));
    }
    if e.user_id != m.user_id {
        return Err(Error::invalid(
            "history",
            format!("event {} belongs to another user than its memory", e.id),
        ));
    }
    Ok(())
}

pub fn event(e: &HistoryEvent) -> Result<()> {
    id("history id", &e.id)?;
    id("memory_id", &e.memory_id)?;
    reference("user_id", &e.user_id)?;
    meta(&e.meta)
}

pub fn session(s: &Session) -> Result<()> {
    reference("session id", &s.id)?;
    scope(&s.user_id, s.agent_id.as_deref())?;
    meta(&s.meta)
}

pub fn turn(t: &Turn) -> Result<()> {
    id("turn id", &t.id)?;
    reference("session_id", &t.session_id)?;
    scope(&t.user_id, t.agent_id.as_deref())?;
    if t.seq < 1 {
        return Err(Error::invalid("seq", format!("{} is not >= 1", t.seq)));
    }
    meta(&t.meta)
}

pub fn topic(t: &Topic) -> Result<()> {
    id("topic id", &t.id)?;
    scope(&t.user_id, t.agent_id.as_deref())?;
    if t.name.trim().is_empty() {
        return Err(Error::invalid("topic name", "must not be empty"));
    }
    meta(&t.meta)
}

pub fn summary(s: &SessionSummary) -> Result<()> {
    id("summary id", &s.id)?;
    reference("session_id", &s.session_id)?;
    scope(&s.user_id, s.agent_id.as_deref())?;
    if s.first_seq > s.last_seq {
        return Err(Error::invalid(
            "summary range",
            format!("first_seq {} is after last_seq {}", s.first_seq, s.last_seq),
        ));
    }
    meta(&s.meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_32_lowercase_hex() {
        assert!(id("id", &"a".repeat(32)).is_ok());
        assert!(id("id", &"A".repeat(32)).is_err());
        assert!(id("id", "abcd").is_err());
        assert!(id("id", &"g".repeat(32)).is_err());
    }

    #[test]
    fn scopes_and_meta_are_checked() {
        assert!(scope("u", None).is_ok());
        assert!(scope("", None).is_err());
        assert!(scope("u", Some("")).is_err());
        assert!(meta(&Value::Null).is_ok());
        assert!(meta(&serde_json::json!({"a": 1})).is_ok());
        assert!(meta(&serde_json::json!([1])).is_err());
    }
}
