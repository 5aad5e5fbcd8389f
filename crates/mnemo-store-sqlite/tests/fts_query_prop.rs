//! The FTS query builder against a real FTS5 table: whatever the text, `MATCH` never fails.

use mnemo_store_sqlite::fts_query::{build_match_query, terms};
use proptest::prelude::*;
use rusqlite::Connection;

fn fts_table() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE VIRTUAL TABLE docs USING fts5(body, tokenize = 'porter unicode61 remove_diacritics 2');
         INSERT INTO docs (body) VALUES ('the quick brown fox'), ('NEAR AND NOT OR'),
           ('café naïve résumé'), ('東京 2026'), ('\"quoted\" (paren) star* col:x ^caret -minus');",
    )
    .unwrap();
    conn
}

fn run(conn: &Connection, text: &str) -> rusqlite::Result<usize> {
    let Some(query) = build_match_query(text) else {
        return Ok(0);
    };
    let mut stmt = conn
        .prepare_cached("SELECT rowid, -bm25(docs) FROM docs WHERE docs MATCH ?1 ORDER BY rank")?;
    let rows = stmt.query_map([query], |r| r.get::<_, f64>(1))?;
    let mut n = 0;
    for score in rows {
        assert!(score? > 0.0);
        n += 1;
    }
    Ok(n)
}

const OPERATOR_SOUP: &str = "[\"*:^()\\-+ ]|AND|OR|NOT|NEAR|near|\\PC";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_breaks_match(text in any::<String>()) {
        let conn = fts_table();
        prop_assert!(run(&conn, &text).is_ok(), "query for {:?} failed: {:?}", text, build_match_query(&text));
    }

    #[test]
    fn operator_heavy_text_never_breaks_match(parts in proptest::collection::vec(OPERATOR_SOUP, 0..20)) {
        let text = parts.join("");
        let conn = fts_table();
        prop_assert!(run(&conn, &text).is_ok(), "query for {:?} failed: {:?}", text, build_match_query(&text));
    }

    #[test]
    fn every_term_is_quoted_and_words_only(text in any::<String>()) {
        for t in terms(&text) {
            prop_assert!(!t.is_empty());
            prop_assert!(t.chars().all(char::is_alphanumeric));
        }
        if let Some(q) = build_match_query(&text) {
            for part in q.split(" OR ") {
                prop_assert!(part.starts_with('"') && part.ends_with('"') && part.len() >= 3);
            }
        }
    }
}

#[test]
fn operator_words_are_searched_as_words() {
    let conn = fts_table();
    assert_eq!(run(&conn, "NEAR").unwrap(), 1);
    assert_eq!(run(&conn, "not AND or").unwrap(), 1);
    assert_eq!(run(&conn, "col:x").unwrap(), 1);
    assert_eq!(run(&conn, "cafe").unwrap(), 1, "diacritics are folded");
    assert_eq!(
        run(&conn, "foxes").unwrap(),
        1,
        "porter stemming applies inside quotes"
    );
    assert_eq!(run(&conn, "\"\"\"").unwrap(), 0);
}
