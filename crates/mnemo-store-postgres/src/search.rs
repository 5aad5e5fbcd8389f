//! Full-text search with tsvector / GIN and `ts_rank`.
//!
//! User text never reaches `to_tsquery` syntax: it is split into words (runs of Unicode
//! letters and digits, the same split as the SQLite store's FTS5 queries), stopwords are
//! dropped unless nothing else is left, and each word is quoted as a lexeme; the words are
//! OR-ed (ranked search) or AND-ed (the duplicate check). Since a word holds only letters
//! and digits, it can contain no tsquery operator or quote. The same scope and time
//! conditions as listing apply, so a search never sees rows a listing would not. Scores
//! are `ts_rank` (higher is better, always > 0).

use mnemo_core::{
    FtsHit, Memory, MemoryFilter, Scope, SessionSummary, Timestamp, Topic, Turn, TurnFilter,
};
use postgres::Row;

use crate::db::{Sql, Tx};

use crate::errors::DbResult;
use crate::memories::load_sources;
use crate::rows::{
    self, MEMORY_COLS, MEMORY_NCOLS, SUMMARY_COLS, SUMMARY_NCOLS, TOPIC_COLS, TOPIC_NCOLS,
    TURN_COLS, TURN_NCOLS,
};
use crate::sql::{self, p, query, Conditions};

/// At most this many distinct words are used; long pasted texts are cut, not rejected.
const MAX_TERMS: usize = 64;

/// English stopwords dropped from ranked queries (the SQLite store's list).
const STOPWORDS: &[&str] = &[
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can",
    "could", "did", "do", "does", "for", "from", "had", "has", "have", "he", "her", "him", "his",
    "how", "i", "if", "in", "is", "it", "its", "me", "my", "of", "on", "or", "our", "she", "so",
    "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those",
    "to", "us", "was", "we", "were", "what", "when", "where", "which", "who", "whom", "why",
    "will", "with", "would", "you", "your",
];

/// The distinct lowercase words of `text`, in order, at most [`MAX_TERMS`].
fn words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_lowercase();
        if !words.contains(&word) {
            words.push(word);
        }
    }
    words
}

/// The words a ranked query looks for: stopwords dropped unless every word is one.
pub(crate) fn terms(text: &str) -> Vec<String> {
    let words = words(text);
    let content: Vec<String> = words
        .iter()
        .filter(|w| STOPWORDS.binary_search(&w.as_str()).is_err())
        .cloned()
        .collect();
    let mut chosen = if content.is_empty() { words } else { content };
    chosen.truncate(MAX_TERMS);
    chosen
}

/// A `to_tsquery` expression joining quoted words with `op` (`|` or `&`).
fn tsquery(words: &[String], op: &str) -> Option<String> {
    (!words.is_empty()).then(|| {
        words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(&format!(" {op} "))
    })
}

/// The ranked (OR) query of `text`, or `None` when it has no words.
pub(crate) fn match_query(text: &str) -> Option<String> {
    tsquery(&terms(text), "|")
}

/// The all-words (AND) query of `text`, stopwords kept, or `None` when it has no words.
pub(crate) fn all_words_query(text: &str) -> Option<String> {
    let mut w = words(text);
    w.truncate(MAX_TERMS);
    tsquery(&w, "&")
}

pub(crate) fn memories(
    c: &mut Tx<'_>,
    text: &str,
    filter: &MemoryFilter,
    limit: usize,
    now: &Timestamp,
) -> DbResult<Vec<FtsHit<Memory>>> {
    let limit = filter.limit.map_or(limit, |l| l.min(limit));
    let cond = sql::memories(filter, now);
    let sql = format!(
        "SELECT {MEMORY_COLS}, ts_rank(m.fts, q) AS score \
         FROM memories m, to_tsquery('english', ?) q \
         WHERE m.fts @@ q AND {} ORDER BY score DESC, m.id LIMIT ?",
        cond.sql()
    );
    let mut hits = run(c, &sql, match_query(text), cond, limit, |r| {
        Ok((rows::memory(r)?, r.try_get(MEMORY_NCOLS)?))
    })?;
    let mut items: Vec<Memory> = hits.iter().map(|h| h.item.clone()).collect();
    load_sources(c, &mut items)?;
    for (hit, m) in hits.iter_mut().zip(items) {
        hit.item = m;
    }
    Ok(hits)
}

/// Memories containing every word of `text`, unranked, shortest first (the duplicate
/// check of `remember`).
pub(crate) fn memories_with_all_words(
    c: &mut Tx<'_>,
    text: &str,
    filter: &MemoryFilter,
    limit: usize,
    now: &Timestamp,
) -> DbResult<Vec<Memory>> {
    let Some(q) = all_words_query(text) else {
        return Ok(Vec::new());
    };
    let cond = sql::memories(filter, now);
    let lexemes: i32 = c
        .query_one("SELECT numnode(to_tsquery('english', $1))", &[&q])?
        .get(0);
    // Text made only of stopwords has no lexeme to look up: match the words as substrings
    // of the scope's memories instead (they hold only letters and digits, no wildcard).
    let (matcher, first): (&str, sql::Param) = if lexemes == 0 {
        let patterns: Vec<String> = words(text).iter().map(|w| format!("%{w}%")).collect();
        ("lower(m.content) LIKE ALL(?)", p(patterns))
    } else {
        ("m.fts @@ to_tsquery('english', ?)", p(q))
    };
    let sql = format!(
        "SELECT {MEMORY_COLS} FROM memories m \
         WHERE {matcher} AND {} ORDER BY length(m.content), m.id LIMIT ?",
        cond.sql()
    );
    let mut params = vec![first];
    params.extend(cond.params);
    params.push(p(sql::limit_value(Some(limit))));
    let mut found = rows::all(&query(c, &sql, &params)?, rows::memory)?;
    load_sources(c, &mut found)?;
    Ok(found)
}

pub(crate) fn turns(
    c: &mut Tx<'_>,
    text: &str,
    filter: &TurnFilter,
    limit: usize,
) -> DbResult<Vec<FtsHit<Turn>>> {
    let limit = filter.limit.map_or(limit, |l| l.min(limit));
    let cond = sql::turns(filter);
    let sql = format!(
        "SELECT {TURN_COLS}, ts_rank(t.fts, q) AS score \
         FROM turns t, to_tsquery('english', ?) q \
         WHERE t.fts @@ q AND {} ORDER BY score DESC, t.id LIMIT ?",
        cond.sql()
    );
    run(c, &sql, match_query(text), cond, limit, |r| {
        Ok((rows::turn(r)?, r.try_get(TURN_NCOLS)?))
    })
}

pub(crate) fn topics(
    c: &mut Tx<'_>,
    text: &str,
    scope: &Scope,
    limit: usize,
) -> DbResult<Vec<FtsHit<Topic>>> {
    let mut cond = Conditions::new();
    sql::scope(&mut cond, "p", scope, true);
    let sql = format!(
        "SELECT {TOPIC_COLS}, ts_rank(p.fts, q) AS score \
         FROM topics p, to_tsquery('english', ?) q \
         WHERE p.fts @@ q AND {} ORDER BY score DESC, p.id LIMIT ?",
        cond.sql()
    );
    run(c, &sql, match_query(text), cond, limit, |r| {
        Ok((rows::topic(r)?, r.try_get(TOPIC_NCOLS)?))
    })
}

pub(crate) fn summaries(
    c: &mut Tx<'_>,
    text: &str,
    scope: &Scope,
    limit: usize,
) -> DbResult<Vec<FtsHit<SessionSummary>>> {
    let mut cond = Conditions::new();
    sql::scope(&mut cond, "y", scope, true);
    let sql = format!(
        "SELECT {SUMMARY_COLS}, ts_rank(y.fts, q) AS score \
         FROM summaries y, to_tsquery('english', ?) q \
         WHERE y.fts @@ q AND {} ORDER BY score DESC, y.id LIMIT ?",
        cond.sql()
    );
    run(c, &sql, match_query(text), cond, limit, |r| {
        Ok((rows::summary(r)?, r.try_get(SUMMARY_NCOLS)?))
    })
}

/// Runs a search whose placeholders are: the query, the conditions, the limit.
fn run<T>(
    c: &mut Tx<'_>,
    sql: &str,
    q: Option<String>,
    cond: Conditions,
    limit: usize,
    map: impl Fn(&Row) -> DbResult<(T, f32)>,
) -> DbResult<Vec<FtsHit<T>>> {
    let Some(q) = q else { return Ok(Vec::new()) };
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut params = vec![p(q)];
    params.extend(cond.params);
    params.push(p(sql::limit_value(Some(limit))));
    query(c, sql, &params)?
        .iter()
        .map(|r| {
            map(r).map(|(item, score)| FtsHit {
                item,
                score: positive(f64::from(score)),
            })
        })
        .collect()
}

/// Guarantees the documented "score > 0".
fn positive(score: f64) -> f64 {
    if score > 0.0 {
        score
    } else {
        f64::MIN_POSITIVE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_becomes_quoted_words_only() {
        assert_eq!(
            match_query("What is my favourite coffee?").as_deref(),
            Some("'favourite' | 'coffee'")
        );
        assert_eq!(
            match_query("it's & (x | !y):*").as_deref(),
            Some("'s' | 'x' | 'y'")
        );
        assert_eq!(
            all_words_query("Uses the NOT editor").as_deref(),
            Some("'uses' & 'the' & 'not' & 'editor'")
        );
        assert_eq!(match_query("?!*()"), None);
        assert!(STOPWORDS.windows(2).all(|w| w[0] < w[1]));
    }
}
