//! The tools the CLI's commands moved onto: the log's turns, sessions with turn counts,
//! unbounded listings, forgetting a whole user. Each stays inside the caller's user, and
//! what only the CLI may do (no page, no cap: `Reach::Local`, the face's own policy) is no
//! field of a request, so it cannot be asked for over the wire.

use std::sync::Arc;

use mnemo_core::{time, FixedClock};
use mnemo_engine::tools::{self, Caller, ErrorKind};
use mnemo_engine::{Engine, EngineSettings};
use mnemo_store_sqlite::SqliteStore;

fn engine(dir: &tempfile::TempDir) -> Engine {
    let clock = Arc::new(FixedClock(time::parse("2026-05-01T12:00:00Z").unwrap()));
    let store = SqliteStore::open(&dir.path().join("m.db"))
        .unwrap()
        .with_clock(clock.clone());
    Engine::new(Arc::new(store), EngineSettings::default(), clock)
}

fn add(e: &Engine, who: &Caller, text: &str) -> String {
    let req = serde_json::from_value(serde_json::json!({ "content": text })).unwrap();
    tools::add_memory(e, who, req).unwrap().memory.id
}

/// Records `texts` as user turns in a new session of `who`; returns the session id.
fn say(e: &Engine, who: &Caller, texts: &[&str]) -> String {
    let messages: Vec<_> = texts
        .iter()
        .map(|t| serde_json::json!({ "role": "user", "content": t }))
        .collect();
    let req = serde_json::from_value(serde_json::json!({ "messages": messages })).unwrap();
    tools::add_turns(e, who, req).unwrap().session_id
}

#[test]
fn list_turns_gives_the_newest_in_order_and_only_the_callers() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let (anna, ben) = (Caller::user("anna"), Caller::user("ben"));
    let session = say(&e, &anna, &["one", "two", "three"]);
    let all = tools::list_turns(&e, &anna, Default::default()).unwrap();
    let texts: Vec<_> = all.turns.iter().map(|t| t.content.as_str()).collect();
    assert_eq!(texts, ["one", "two", "three"]);
    let req = tools::ListTurnsRequest {
        session_id: Some(session[..8].to_string()),
        limit: Some(2),
    };
    let last = tools::list_turns(&e, &anna, req).unwrap();
    let texts: Vec<_> = last.turns.iter().map(|t| t.content.as_str()).collect();
    assert_eq!(texts, ["two", "three"], "the newest two, oldest first");
    assert!(tools::list_turns(&e, &ben, Default::default())
        .unwrap()
        .turns
        .is_empty());
    let probe = tools::ListTurnsRequest {
        session_id: Some(session.clone()),
        limit: None,
    };
    let err = tools::list_turns(&e, &ben, probe).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
}

#[test]
fn sessions_count_turns_and_go_unbounded_only_for_a_local_caller() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let anna = Caller::user("anna");
    for _ in 0..60 {
        say(&e, &anna, &["a", "b"]);
    }
    let req = tools::SessionsRequest {
        count_turns: true,
        ..Default::default()
    };
    let found = tools::sessions(&e, &anna, req.clone()).unwrap();
    assert_eq!(found.sessions.len(), 50, "a client's listing stays bounded");
    assert_eq!(found.turn_counts, Some(vec![2; 50]));
    let local = Caller {
        reach: tools::Reach::Local,
        ..anna.clone()
    };
    assert_eq!(tools::sessions(&e, &local, req).unwrap().sessions.len(), 60);
    // The reach is the face's policy, not a field a client can send.
    let wire =
        serde_json::from_value::<tools::SessionsRequest>(serde_json::json!({ "unbounded": true }));
    assert!(wire.is_err(), "unbounded must not be settable by a client");
    let wire = serde_json::to_value(tools::sessions(&e, &anna, Default::default()).unwrap());
    assert!(
        wire.unwrap().get("turn_counts").is_none(),
        "only when asked"
    );
}

#[test]
fn an_unbounded_listing_returns_every_memory_and_a_page_stays_capped() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let anna = Caller::user("anna");
    for i in 0..60 {
        add(&e, &anna, &format!("note number {i}"));
    }
    let page = tools::list_memories(&e, &anna, Default::default()).unwrap();
    assert_eq!(page.memories.len(), 50, "the default page");
    assert!(page.next_cursor.is_some());
    let local = Caller {
        reach: tools::Reach::Local,
        ..anna.clone()
    };
    let all = tools::list_memories(&e, &local, Default::default()).unwrap();
    assert_eq!(all.memories.len(), 60);
    assert!(all.next_cursor.is_none());
    let wire = serde_json::from_value::<tools::ListMemoriesRequest>(
        serde_json::json!({ "unbounded": true }),
    );
    assert!(wire.is_err());
    // Several kinds: comma-separated in a query string, a list in JSON.
    let query: tools::ListMemoriesRequest =
        serde_urlencoded_free("fact, preference").expect("kinds parse");
    assert_eq!(query.kinds.len(), 2);
    let json = serde_json::from_value::<tools::ListMemoriesRequest>(
        serde_json::json!({ "kinds": ["fact", "note"] }),
    )
    .unwrap();
    assert_eq!(json.kinds.len(), 2);
}

/// `kinds` as a query string would carry it (one text).
fn serde_urlencoded_free(kinds: &str) -> serde_json::Result<tools::ListMemoriesRequest> {
    serde_json::from_value(serde_json::json!({ "kinds": kinds }))
}

#[test]
fn forget_user_deletes_only_the_callers_user_unless_admin() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let (anna, ben) = (Caller::user("anna"), Caller::user("ben"));
    let id = add(&e, &anna, "anna likes green tea");
    add(&e, &ben, "ben likes coffee");
    let err = tools::forget_user(&e, &ben, "anna").unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert!(tools::get_memory(&e, &anna, &id).is_ok(), "nothing deleted");
    let report = tools::forget_user(&e, &ben, "ben").unwrap();
    assert_eq!(report.memories, 1);
    let admin = Caller {
        admin: true,
        ..Caller::user("root")
    };
    let report = tools::forget_user(&e, &admin, "anna").unwrap();
    assert_eq!(report.memories, 1);
    assert_eq!(
        tools::get_memory(&e, &anna, &id).unwrap_err().kind,
        ErrorKind::NotFound
    );
}
