//! Building `WHERE` clauses from [`MemoryFilter`] and [`TurnFilter`], and running queries
//! with a dynamic parameter list.
//!
//! The same scope rule as the SQLite store: the user always matches exactly; an agent of
//! `None` means all of that user's rows; `Some(a)` means rows of agent `a`, plus the
//! user-wide rows (agent NULL) when `include_user_wide` is set. Clauses are written with
//! `?` and numbered `$1, $2, ...` when the statement is assembled ([`number`]); user text
//! is only ever a bound parameter.

use mnemo_core::{MemoryFilter, Scope, TimeView, Timestamp, TurnFilter};
use postgres::types::ToSql;
use postgres::Row;

use crate::db::{Sql, Tx};

use crate::errors::DbResult;

/// One bound value.
pub(crate) type Param = Box<dyn ToSql + Sync + Send>;

/// Boxes a value as a parameter.
pub(crate) fn p<T: ToSql + Sync + Send + 'static>(v: T) -> Param {
    Box::new(v)
}

/// A conjunction of conditions with their parameters, in order.
#[derive(Default)]
pub(crate) struct Conditions {
    clauses: Vec<String>,
    pub(crate) params: Vec<Param>,
}

impl Conditions {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds a condition; `params` must match its `?` placeholders in number and order.
    pub(crate) fn and(
        &mut self,
        clause: impl Into<String>,
        params: impl IntoIterator<Item = Param>,
    ) {
        self.clauses.push(clause.into());
        self.params.extend(params);
    }

    /// The `WHERE` body (`true` when there is no condition).
    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "true".to_owned()
        } else {
            self.clauses.join(" AND ")
        }
    }
}

/// Replaces each `?` of `sql` by `$1`, `$2`, ... in order.
pub(crate) fn number(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs `sql` (with `?` placeholders) with `params`.
pub(crate) fn query(c: &mut Tx<'_>, sql: &str, params: &[Param]) -> DbResult<Vec<Row>> {
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|b| b.as_ref() as _).collect();
    Ok(c.query(&number(sql), &refs)?)
}

/// The `LIMIT` value: `None` is no limit (`LIMIT NULL` in PostgreSQL).
pub(crate) fn limit_value(limit: Option<usize>) -> Option<i64> {
    limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// Restricts `alias` rows to a scope.
pub(crate) fn scope(c: &mut Conditions, alias: &str, scope: &Scope, include_user_wide: bool) {
    c.and(format!("{alias}.user_id = ?"), [p(scope.user_id.clone())]);
    if let Some(agent) = &scope.agent_id {
        let clause = if include_user_wide {
            format!("({alias}.agent_id = ? OR {alias}.agent_id IS NULL)")
        } else {
            format!("{alias}.agent_id = ?")
        };
        c.and(clause, [p(agent.clone())]);
    }
}

/// Conditions on memories (alias `m`); `now` decides expiry in the current view.
pub(crate) fn memories(filter: &MemoryFilter, now: &Timestamp) -> Conditions {
    let mut c = Conditions::new();
    if let Some(s) = &filter.scope {
        scope(&mut c, "m", s, filter.include_user_wide);
    }
    if let Some(session) = &filter.session_id {
        c.and("m.session_id = ?", [p(session.clone())]);
    }
    if !filter.kinds.is_empty() {
        let kinds: Vec<String> = filter.kinds.iter().map(|k| k.as_str().to_owned()).collect();
        c.and("m.kind = ANY(?)", [p(kinds)]);
    }
    if let Some(topic) = &filter.topic {
        c.and("m.topic = ?", [p(topic.clone())]);
    }
    if let Some(key) = &filter.key {
        c.and("m.key = ?", [p(key.clone())]);
    }
    match &filter.view {
        TimeView::Current => c.and(
            "NOT m.deleted AND m.valid_to IS NULL AND (m.expires_at IS NULL OR m.expires_at > ?)",
            [p(*now)],
        ),
        TimeView::AsOf(t) => c.and(
            "m.valid_from <= ? AND (m.valid_to IS NULL OR m.valid_to > ?)",
            [p(*t), p(*t)],
        ),
        TimeView::All => {}
    }
    if let Some(since) = &filter.since {
        c.and("m.created_at >= ?", [p(*since)]);
    }
    if let Some(until) = &filter.until {
        c.and("m.created_at < ?", [p(*until)]);
    }
    if let Some((at, id)) = &filter.after {
        c.and(
            "(m.created_at < ? OR (m.created_at = ? AND m.id > ?))",
            [p(*at), p(*at), p(id.clone())],
        );
    }
    c
}

/// Conditions on turns (alias `t`).
pub(crate) fn turns(filter: &TurnFilter) -> Conditions {
    let mut c = Conditions::new();
    if let Some(s) = &filter.scope {
        scope(&mut c, "t", s, filter.include_user_wide);
    }
    if let Some(session) = &filter.session_id {
        c.and("t.session_id = ?", [p(session.clone())]);
    }
    if let Some(role) = &filter.role {
        c.and("t.role = ?", [p(role.as_str().to_owned())]);
    }
    if let Some(since) = &filter.since {
        c.and("t.created_at >= ?", [p(*since)]);
    }
    if let Some(until) = &filter.until {
        c.and("t.created_at < ?", [p(*until)]);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(number("a = ? AND b IN (?, ?)"), "a = $1 AND b IN ($2, $3)");
        let c = turns(&TurnFilter::default());
        assert_eq!(c.sql(), "true");
    }
}
