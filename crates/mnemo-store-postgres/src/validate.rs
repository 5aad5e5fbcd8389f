//! Checks on records before they are written: the checks every backend shares
//! ([`mnemo_core::validate`]), plus the one PostgreSQL needs of its own: its text cannot
//! hold the NUL character (SQLite's can), so such text is refused by field name instead of
//! failing on the server's encoding error.

use mnemo_core::validate as common;
use mnemo_core::{Error, HistoryEvent, Memory, Result, Session, SessionSummary, Topic, Turn};

pub(crate) use common::{event_for, meta};

/// Refuses text with a NUL character, naming the field.
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

/// [`common::reference`], and no NUL.
pub(crate) fn reference(field: &str, value: &str) -> Result<()> {
    common::reference(field, value)?;
    text(field, value)
}

/// [`common::scope`], and no NUL.
pub(crate) fn scope(user_id: &str, agent_id: Option<&str>) -> Result<()> {
    common::scope(user_id, agent_id)?;
    text("user_id", user_id)?;
    opt_text("agent_id", agent_id)
}

/// [`common::memory`], and no NUL in its text fields.
pub(crate) fn memory(m: &Memory) -> Result<()> {
    common::memory(m)?;
    text("user_id", &m.user_id)?;
    opt_text("agent_id", m.agent_id.as_deref())?;
    opt_text("session_id", m.session_id.as_deref())?;
    text("content", &m.content)?;
    opt_text("key", m.key.as_deref())?;
    opt_text("topic", m.topic.as_deref())
}

/// [`common::event`], and no NUL in its text fields.
pub(crate) fn event(e: &HistoryEvent) -> Result<()> {
    common::event(e)?;
    text("user_id", &e.user_id)?;
    opt_text("old_content", e.old_content.as_deref())?;
    opt_text("new_content", e.new_content.as_deref())?;
    opt_text("reason", e.reason.as_deref())
}

/// [`common::session`], and no NUL in its ids.
pub(crate) fn session(s: &Session) -> Result<()> {
    common::session(s)?;
    text("session id", &s.id)?;
    text("user_id", &s.user_id)?;
    opt_text("agent_id", s.agent_id.as_deref())
}

/// [`common::turn`], and no NUL in its text.
pub(crate) fn turn(t: &Turn) -> Result<()> {
    common::turn(t)?;
    text("session_id", &t.session_id)?;
    text("user_id", &t.user_id)?;
    opt_text("agent_id", t.agent_id.as_deref())?;
    text("content", &t.content)
}

/// [`common::topic`], and no NUL in its text.
pub(crate) fn topic(t: &Topic) -> Result<()> {
    common::topic(t)?;
    text("user_id", &t.user_id)?;
    opt_text("agent_id", t.agent_id.as_deref())?;
    text("topic name", &t.name)?;
    text("topic summary", &t.summary)
}

/// [`common::summary`], and no NUL in its text.
pub(crate) fn summary(s: &SessionSummary) -> Result<()> {
    common::summary(s)?;
    text("session_id", &s.session_id)?;
    text("user_id", &s.user_id)?;
    opt_text("agent_id", s.agent_id.as_deref())?;
    text("summary", &s.summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_refused_by_name() {
        let e = text("content", "a\0b").unwrap_err().to_string();
        assert!(e.contains("content") && e.contains("NUL"), "{e}");
        assert!(text("content", "fine").is_ok());
        let e = scope("u\0", None).unwrap_err().to_string();
        assert!(e.contains("user_id"), "{e}");
    }
}
