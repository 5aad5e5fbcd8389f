//! Checks on records before they are written (the same checks as the SQLite store, so
//! both backends refuse the same input with the same message naming the field).

use mnemo_core::{Error, HistoryEvent, Memory, Result, Session, SessionSummary, Topic, Turn};
use serde_json::Value;

/// A record id: exactly 32 lowercase hex digits, as [`mnemo_core::ids::new_id`] makes.
pub(crate) fn id(field: &str, value: &str) -> Result<()> {
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

/// PostgreSQL text cannot hold the NUL character (SQLite can): refuse it with the field's
/// name instead of failing on the server's encoding error.
pub(crate) fn text(field: &str, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(Error::invalid(
            field,
            "contains a NUL character (\\0), which PostgreSQL cannot store; remove it",
        ));
    }
    Ok(())
}

/// [`text`] for optional fields.
fn opt_text(field: &str, value: Option<&str>) -> Result<()> {
    value.map_or(Ok(()), |v| text(field, v))
}

/// A free-form reference (session ids may be chosen by the caller): not blank.
pub(crate) fn reference(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    text(field, value)
}

/// A user id is required; an agent id, when present, must not be empty (empty is how the
/// schema spells "user-wide" in its uniqueness keys).
pub(crate) fn scope(user_id: &str, agent_id: Option<&str>) -> Result<()> {
    reference("user_id", user_id)?;
    opt_text("agent_id", agent_id)?;
    if agent_id.is_some_and(|a| a.is_empty()) {
        return Err(Error::invalid(
            "agent_id",
            "must not be empty; leave it out for user-wide records",
        ));
    }
    Ok(())
}

/// `meta` is `null` or a JSON object.
pub(crate) fn meta(value: &Value) -> Result<()> {
    if value.is_null() || value.is_object() {
        Ok(())
    } else {
        Err(Error::invalid("meta", "must be null or a JSON object"))
    }
}

pub(crate) fn memory(m: &Memory) -> Result<()> {
    id("memory id", &m.id)?;
    text("content", &m.content)?;
    opt_text("key", m.key.as_deref())?;
    opt_text("topic", m.topic.as_deref())?;
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
pub(crate) fn event_for(e: &HistoryEvent, m: &Memory) -> Result<()> {
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

pub(crate) fn event(e: &HistoryEvent) -> Result<()> {
    id("history id", &e.id)?;
    opt_text("old_content", e.old_content.as_deref())?;
    opt_text("new_content", e.new_content.as_deref())?;
    opt_text("reason", e.reason.as_deref())?;
    id("memory_id", &e.memory_id)?;
    reference("user_id", &e.user_id)?;
    meta(&e.meta)
}

pub(crate) fn session(s: &Session) -> Result<()> {
    reference("session id", &s.id)?;
    scope(&s.user_id, s.agent_id.as_deref())?;
    meta(&s.meta)
}

pub(crate) fn turn(t: &Turn) -> Result<()> {
    id("turn id", &t.id)?;
    text("content", &t.content)?;
    reference("session_id", &t.session_id)?;
    scope(&t.user_id, t.agent_id.as_deref())?;
    if t.seq < 1 {
        return Err(Error::invalid("seq", format!("{} is not >= 1", t.seq)));
    }
    meta(&t.meta)
}

pub(crate) fn topic(t: &Topic) -> Result<()> {
    id("topic id", &t.id)?;
    text("topic name", &t.name)?;
    text("topic summary", &t.summary)?;
    scope(&t.user_id, t.agent_id.as_deref())?;
    if t.name.trim().is_empty() {
        return Err(Error::invalid("topic name", "must not be empty"));
    }
    meta(&t.meta)
}

pub(crate) fn summary(s: &SessionSummary) -> Result<()> {
    id("summary id", &s.id)?;
    text("summary", &s.summary)?;
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
    fn nul_characters_are_refused_by_name() {
        let e = text("content", "a\0b").unwrap_err().to_string();
        assert!(e.contains("content") && e.contains("NUL"), "{e}");
        assert!(text("content", "fine").is_ok());
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
