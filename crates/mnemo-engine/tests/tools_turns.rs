//! `tools::search_turns` against a real SQLite file: the caller's turns only, ranked with
//! their score parts; another user's session id is "not found"; bad input is refused.

use std::sync::Arc;

use mnemo_core::{time, FixedClock};
use mnemo_engine::tools::{self, Caller, ErrorKind};
use mnemo_engine::{Engine, EngineSettings};
use mnemo_store_sqlite::SqliteStore;
use serde_json::json;

fn engine(dir: &tempfile::TempDir) -> Engine {
    let clock = Arc::new(FixedClock(time::parse("2026-05-01T12:00:00Z").unwrap()));
    let store = SqliteStore::open(&dir.path().join("m.db"))
        .unwrap()
        .with_clock(clock.clone());
    Engine::new(Arc::new(store), EngineSettings::default(), clock)
}

fn say(e: &Engine, who: &Caller, session: &str, text: &str) -> String {
    let req = serde_json::from_value(json!({
        "session_id": session,
        "messages": [{"role": "user", "content": text}]
    }))
    .unwrap();
    tools::add_turns(e, who, req).unwrap().session_id
}

fn search(e: &Engine, who: &Caller, req: serde_json::Value) -> tools::ToolResult<Vec<String>> {
    let req = serde_json::from_value(req).unwrap();
    Ok(tools::search_turns(e, who, req)?
        .hits
        .into_iter()
        .map(|h| h.turn.content)
        .collect())
}

#[test]
fn turn_search_sees_only_the_callers_turns() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let (anna, ben) = (Caller::user("anna"), Caller::user("ben"));
    let s1 = say(&e, &anna, "anna-1", "We sailed across the lake on Sunday");
    say(&e, &anna, "anna-2", "The quarterly report is due Friday");
    let bs = say(&e, &ben, "ben-1", "Ben also went sailing on a lake");

    let hits = search(&e, &anna, json!({"query": "sailing lake"})).unwrap();
    assert_eq!(
        hits.first().map(String::as_str),
        Some("We sailed across the lake on Sunday")
    );
    assert!(hits.iter().all(|t| !t.starts_with("Ben")), "{hits:?}");

    let req = serde_json::from_value(json!({"query": "sailing lake"})).unwrap();
    let hit = &tools::search_turns(&e, &anna, req).unwrap().hits[0];
    assert!(hit.score > 0.0 && hit.parts.lexical > 0.0, "{hit:?}");

    // Within one session of the caller's; another user's session is not found.
    let only = search(&e, &anna, json!({"query": "report", "session_id": s1})).unwrap();
    assert!(only.iter().all(|t| !t.contains("report")), "{only:?}");
    let err = search(&e, &anna, json!({"query": "sailing", "session_id": bs})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);

    // Bad input says what is wrong.
    let err = search(&e, &anna, json!({"query": "  "})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    let err = search(&e, &anna, json!({"query": "x", "since": "yesterday-ish"})).unwrap_err();
    assert!(err.message.contains("since"), "{err}");
    let err = search(&e, &anna, json!({"query": "x", "limit": 0})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
}
