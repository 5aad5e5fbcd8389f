//! Translating [`MemoryFilter`] and [`TurnFilter`] into SQL `WHERE` clauses.
//!
//! Listing and full-text search share these builders, so "which rows may this caller see"
//! is decided in exactly one place. User text never becomes SQL: every value is a bound
//! parameter, and clause text comes only from this module.
//!
//! Scope rule, used for every filter and for the `&Scope` arguments of the trait: the
//! user always matches exactly; an agent of `None` means all of that user's rows; an agent
//! of `Some(a)` means rows of agent `a`, plus the user-wide rows (agent NULL) when
//! `include_user_wide` is set.

use mnemo_core::{MemoryFilter, Scope, TimeView, Timestamp, TurnFilter};
use rusqlite::types::Value;

use crate::rows::ts_text;

/// A conjunction of SQL conditions with their positional (`?`) parameters, in order.
#[derive(Debug, Default)]
pub(crate) struct Conditions {
    clauses: Vec<String>,
    params: Vec<Value>,
}

impl Conditions {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds a condition; `params` must match its `?` placeholders in number and order.
    pub(crate) fn and(
        &mut self,
        clause: impl Into<String>,
        params: impl IntoIterator<Item = Value>,
    ) {
        self.clauses.push(clause.into());
        self.params.extend(params);
    }

    /// The `WHERE` body (`1` when there is no condition).
    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "1".to_owned()
        } else {
            self.clauses.join(" AND ")
        }
    }

    /// The parameters, to be bound after any that precede the `WHERE` body.
    pub(crate) fn into_params(self) -> Vec<Value> {
        self.params
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn time(t: &Timestamp) -> Value {
    Value::Text(ts_text(t))
}

/// The `LIMIT` value: `-1` (no limit) for `None`.
pub(crate) fn limit_value(limit: Option<usize>) -> i64 {
    limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// Restricts `alias` rows to a scope (see the module docs for the rule).
pub(crate) fn scope(c: &mut Conditions, alias: &str, scope: &Scope, include_user_wide: bool) {
    c.and(format!("{alias}.user_id = ?"), [text(&scope.user_id)]);
    if let Some(agent) = &scope.agent_id {
        let clause = if include_user_wide {
            format!("({alias}.agent_id = ? OR {alias}.agent_id IS NULL)")
        } else {
            format!("{alias}.agent_id = ?")
        };
        c.and(clause, [text(agent)]);
    }
}

/// Conditions on memories (alias `m`) for a filter; `now` decides expiry in the current view.
pub(crate) fn memories(filter: &MemoryFilter, now: &Timestamp) -> Conditions {
    let mut c = Conditions::new();
    if let Some(s) = &filter.scope {
        scope(&mut c, "m", s, filter.include_user_wide);
    }
    if let Some(session) = &filter.session_id {
        c.and("m.session_id = ?", [text(session)]);
    }
    if !filter.kinds.is_empty() {
        let marks = vec!["?"; filter.kinds.len()].join(", ");
        c.and(
            format!("m.kind IN ({marks})"),
            filter.kinds.iter().map(|k| text(k.as_str())),
        );
    }
    if let Some(topic) = &filter.topic {
        c.and("m.topic = ?", [text(topic)]);
    }
    if let Some(key) = &filter.key {
        c.and("m.key = ?", [text(key)]);
    }
    match &filter.view {
        TimeView::Current => c.and(
            "m.deleted = 0 AND m.valid_to IS NULL AND (m.expires_at IS NULL OR m.expires_at > ?)",
            [time(now)],
        ),
        TimeView::AsOf(t) => c.and(
            "m.valid_from <= ? AND (m.valid_to IS NULL OR m.valid_to > ?)",
            [time(t), time(t)],
        ),
        TimeView::All => {}
    }
    if let Some(since) = &filter.since {
        c.and("m.created_at >= ?", [time(since)]);
    }
    if let Some(until) = &filter.until {
        c.and("m.created_at < ?", [time(until)]);
    }
    if let Some((at, id)) = &filter.after {
        c.and(
            "(m.created_at < ? OR (m.created_at = ? AND m.id > ?))",
            [time(at), time(at), text(id)],
        );
    }
    c
}

/// Conditions on turns (alias `t`) for a filter.
pub(crate) fn turns(filter: &TurnFilter) -> Conditions {
    let mut c = Conditions::new();
    if let Some(s) = &filter.scope {
        scope(&mut c, "t", s, filter.include_user_wide);
    }
    if let Some(session) = &filter.session_id {
        c.and("t.session_id = ?", [text(session)]);
    }
    if let Some(role) = &filter.role {
        c.and("t.role = ?", [text(role.as_str())]);
    }
    if let Some(since) = &filter.since {
        c.and("t.created_at >= ?", [time(since)]);
    }
    if let Some(until) = &filter.until {
        c.and("t.created_at < ?", [time(until)]);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use mnemo_core::Kind;

    #[test]
    fn placeholders_match_parameters() {
        let now = mnemo_core::time::parse("2026-01-01T00:00:00Z").unwrap();
        let filter = MemoryFilter {
            scope: Some(Scope::user("u").with_agent(Some("a".into()))),
            include_user_wide: true,
            session_id: Some("s".into()),
            kinds: vec![Kind::Fact, Kind::Plan],
            topic: Some("t".into()),
            key: Some("k".into()),
            view: TimeView::AsOf(now),
            since: Some(now),
            until: Some(now),
            after: Some((now, "abc".into())),
            limit: Some(3),
        };
        let c = memories(&filter, &now);
        let sql = c.sql();
        assert_eq!(sql.matches('?').count(), c.into_params().len());
        assert!(sql.contains("m.agent_id IS NULL"), "{sql}");
    }

    #[test]
    fn an_empty_filter_matches_everything() {
        let c = turns(&TurnFilter::default());
        assert_eq!(c.sql(), "1");
        assert_eq!(limit_value(None), -1);
        assert_eq!(limit_value(Some(5)), 5);
    }
}
