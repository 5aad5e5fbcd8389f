//! Full-text search with BM25 ranking.
//!
//! Every search goes through [`build_match_query`], so user text can never be a syntax
//! error or an operator. The FTS table drives the join (`CROSS JOIN` pins that order) and
//! the same scope/time conditions as listing are applied to the joined rows, so a search
//! can never see rows a listing with the same filter would not. SQLite's `bm25()` is
//! negative with better matches more negative; it is negated so higher is better, and it
//! is always > 0 because FTS5 floors each term's IDF at a small positive value.

use mnemo_core::{
    FtsHit, Memory, MemoryFilter, Scope, SessionSummary, Timestamp, Topic, Turn, TurnFilter,
};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, Row};

use crate::errors::DbResult;
use crate::filters::{self, Conditions};
use crate::fts_query::{build_all_words_query, build_match_query};
use crate::memories::load_sources;
use crate::rows::{
    self, MEMORY_COLS, MEMORY_NCOLS, SUMMARY_COLS, SUMMARY_NCOLS, TOPIC_COLS, TOPIC_NCOLS,
    TURN_COLS, TURN_NCOLS,
};

/// Column weights for memories: the text matters most, then its topic and key, then kind.
const MEMORY_WEIGHTS: &str = "1.0, 0.5, 0.5, 0.2";
/// Column weights for topics: a hit in the name counts more than one in the summary.
const TOPIC_WEIGHTS: &str = "2.0, 1.0";

pub(crate) fn memories(
    conn: &Connection,
    text: &str,
    filter: &MemoryFilter,
    limit: usize,
    now: &Timestamp,
) -> DbResult<Vec<FtsHit<Memory>>> {
    let limit = filter.limit.map_or(limit, |l| l.min(limit));
    let conditions = filters::memories(filter, now);
    let sql = format!(
        "SELECT {MEMORY_COLS}, -bm25(memories_fts, {MEMORY_WEIGHTS}) AS score \
         FROM memories_fts CROSS JOIN memories m ON m.pk = memories_fts.rowid \
         WHERE memories_fts MATCH ? AND {} ORDER BY score DESC, m.id LIMIT ?",
        conditions.sql()
    );
    let mut hits = run(conn, &sql, text, conditions, limit, |r| {
        Ok((rows::memory(r)?, r.get(MEMORY_NCOLS)?))
    })?;
    for hit in &mut hits {
        load_sources(conn, std::slice::from_mut(&mut hit.item))?;
    }
    Ok(hits)
}

/// Memories containing every word of `text`, unranked (no `bm25()`: computing it for every
/// match is what makes a ranked search slow on large stores), shortest first, so an exact
/// duplicate comes before the longer texts that contain its words. The duplicate check.
pub(crate) fn memories_with_all_words(
    conn: &Connection,
    text: &str,
    filter: &MemoryFilter,
    limit: usize,
    now: &Timestamp,
) -> DbResult<Vec<Memory>> {
    let Some(query) = build_all_words_query(text) else {
        return Ok(Vec::new());
    };
    let conditions = filters::memories(filter, now);
    let sql = format!(
        "SELECT {MEMORY_COLS} FROM memories_fts CROSS JOIN memories m ON m.pk = memories_fts.rowid \
         WHERE memories_fts MATCH ? AND {} ORDER BY length(m.content), m.id LIMIT ?",
        conditions.sql()
    );
    let mut params = vec![Value::Text(query)];
    params.extend(conditions.into_params());
    params.push(Value::Integer(filters::limit_value(Some(limit))));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut found = stmt
        .query_map(params_from_iter(params), rows::memory)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    load_sources(conn, &mut found)?;
    Ok(found)
}

pub(crate) fn turns(
    conn: &Connection,
    text: &str,
    filter: &TurnFilter,
    limit: usize,
) -> DbResult<Vec<FtsHit<Turn>>> {
    let limit = filter.limit.map_or(limit, |l| l.min(limit));
    let conditions = filters::turns(filter);
    let sql = format!(
        "SELECT {TURN_COLS}, -bm25(turns_fts) AS score \
         FROM turns_fts CROSS JOIN turns t ON t.pk = turns_fts.rowid \
         WHERE turns_fts MATCH ? AND {} ORDER BY score DESC, t.id LIMIT ?",
        conditions.sql()
    );
    run(conn, &sql, text, conditions, limit, |r| {
        Ok((rows::turn(r)?, r.get(TURN_NCOLS)?))
    })
}

pub(crate) fn topics(
    conn: &Connection,
    text: &str,
    scope: &Scope,
    limit: usize,
) -> DbResult<Vec<FtsHit<Topic>>> {
    let mut conditions = Conditions::new();
    filters::scope(&mut conditions, "p", scope, true);
    let sql = format!(
        "SELECT {TOPIC_COLS}, -bm25(topics_fts, {TOPIC_WEIGHTS}) AS score \
         FROM topics_fts CROSS JOIN topics p ON p.pk = topics_fts.rowid \
         WHERE topics_fts MATCH ? AND {} ORDER BY score DESC, p.id LIMIT ?",
        conditions.sql()
    );
    run(conn, &sql, text, conditions, limit, |r| {
        Ok((rows::topic(r)?, r.get(TOPIC_NCOLS)?))
    })
}

pub(crate) fn summaries(
    conn: &Connection,
    text: &str,
    scope: &Scope,
    limit: usize,
) -> DbResult<Vec<FtsHit<SessionSummary>>> {
    let mut conditions = Conditions::new();
    filters::scope(&mut conditions, "y", scope, true);
    let sql = format!(
        "SELECT {SUMMARY_COLS}, -bm25(summaries_fts) AS score \
         FROM summaries_fts CROSS JOIN summaries y ON y.pk = summaries_fts.rowid \
         WHERE summaries_fts MATCH ? AND {} ORDER BY score DESC, y.id LIMIT ?",
        conditions.sql()
    );
    run(conn, &sql, text, conditions, limit, |r| {
        Ok((rows::summary(r)?, r.get(SUMMARY_NCOLS)?))
    })
}

/// Runs a search whose placeholders are: the match expression, the conditions, the limit.
fn run<T>(
    conn: &Connection,
    sql: &str,
    text: &str,
    conditions: Conditions,
    limit: usize,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<(T, f64)>,
) -> DbResult<Vec<FtsHit<T>>> {
    let Some(query) = build_match_query(text) else {
        return Ok(Vec::new());
    };
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut params = vec![Value::Text(query)];
    params.extend(conditions.into_params());
    params.push(Value::Integer(filters::limit_value(Some(limit))));
    let mut stmt = conn.prepare_cached(sql)?;
    let hits = stmt
        .query_map(params_from_iter(params), map)?
        .map(|r| {
            r.map(|(item, score)| FtsHit {
                item,
                score: positive(score),
            })
        })
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(hits)
}

/// Guarantees the documented "score > 0" even if SQLite ever returned 0.
fn positive(score: f64) -> f64 {
    if score > 0.0 {
        score
    } else {
        f64::MIN_POSITIVE
    }
}
