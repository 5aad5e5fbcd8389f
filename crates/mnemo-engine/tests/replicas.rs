//! Two engines on one database, as two `mnemo serve` replicas (or a CLI beside a server)
//! run: what one writes, the other finds, through its in-memory index patched from the
//! store's change feed — on SQLite and on PostgreSQL; and two users' sessions of one id stay
//! apart whichever replica wrote them.

use std::sync::Arc;

use mnemo_core::{Actor, Scope, SystemClock};
use mnemo_engine::tools::{self, Caller};
use mnemo_engine::{Engine, EngineSettings, NewMemory, RecallQuery, RememberOutcome};
use mnemo_store_tests::{Backend, PgBackend, SqliteBackend};

fn engine(b: &dyn Backend) -> Engine {
    Engine::new(b.open(), EngineSettings::default(), Arc::new(SystemClock))
}

fn recall(e: &Engine, text: &str) -> Vec<String> {
    e.recall(&Scope::user("ann"), &RecallQuery::from(text))
        .unwrap()
        .into_iter()
        .map(|h| h.memory.content)
        .collect()
}

fn replicas_see_each_others_writes(b: &dyn Backend) {
    let a = engine(b);
    let r = engine(b);
    let ann = Scope::user("ann");
    a.remember(&ann, NewMemory::text("Ann plays the cello"), Actor::Cli)
        .unwrap();
    // Replica r builds its in-memory index (the second recall ranks from it).
    assert_eq!(recall(&r, "cello"), ["Ann plays the cello"]);
    assert_eq!(recall(&r, "cello"), ["Ann plays the cello"]);

    a.remember(
        &ann,
        NewMemory::text("Ann's cello teacher is Marta"),
        Actor::Cli,
    )
    .unwrap();
    let found = recall(&r, "who teaches the cello");
    assert!(
        found.contains(&"Ann's cello teacher is Marta".to_string()),
        "{found:?}"
    );

    let out = a
        .remember(&ann, NewMemory::keyed("city", "Lisbon"), Actor::Cli)
        .unwrap();
    assert!(matches!(out, RememberOutcome::Added { .. }), "{out:?}");
    assert_eq!(recall(&r, "Lisbon"), ["Lisbon"]);
    a.remember(&ann, NewMemory::keyed("city", "Porto"), Actor::Cli)
        .unwrap();
    assert!(
        recall(&r, "Lisbon").is_empty(),
        "the superseded value left r's index"
    );
    assert_eq!(recall(&r, "Porto"), ["Porto"]);

    // A memory written through r is a duplicate when a remembers it again.
    r.remember(&ann, NewMemory::text("Ann bakes sourdough"), Actor::Cli)
        .unwrap();
    let again = a
        .remember(&ann, NewMemory::text("Ann bakes sourdough"), Actor::Cli)
        .unwrap();
    assert!(
        matches!(again, RememberOutcome::Unchanged { .. }),
        "{again:?}"
    );
}

/// Two users record into a session each calls `team-sync`, through different replicas;
/// both replicas find each user's turns there and never the other's.
fn two_users_share_a_session_id_across_replicas(b: &dyn Backend) {
    let (a, r) = (engine(b), engine(b));
    let (ann, ben) = (Caller::user("ann"), Caller::user("ben"));
    let say = |e: &Engine, who: &Caller, text: &str| {
        let req = serde_json::from_value(serde_json::json!({
            "session_id": "team-sync",
            "turns": [{ "role": "user", "content": text }]
        }))
        .unwrap();
        tools::add_turns(e, who, req).unwrap().turns[0].seq
    };
    assert_eq!(say(&a, &ann, "Ann booked the quarterly review room"), 1);
    assert_eq!(say(&r, &ben, "Ben booked the quarterly review flights"), 1);
    assert_eq!(say(&r, &ann, "Ann moved the quarterly review to Friday"), 2);
    for e in [&a, &r] {
        for (who, mine, theirs) in [(&ann, "Ann", "Ben"), (&ben, "Ben", "Ann")] {
            let req = serde_json::from_value(serde_json::json!({
                "query": "quarterly review booked", "session_id": "team-sync"
            }))
            .unwrap();
            let hits = tools::search_turns(e, who, req).unwrap().hits;
            assert!(!hits.is_empty());
            for h in hits {
                assert!(h.turn.content.starts_with(mine), "{}", h.turn.content);
                assert!(!h.turn.content.contains(theirs));
            }
        }
    }
}

#[test]
fn sqlite_replicas_keep_two_users_sessions_of_one_id_apart() {
    two_users_share_a_session_id_across_replicas(&SqliteBackend::new());
}

#[test]
fn postgres_replicas_keep_two_users_sessions_of_one_id_apart() {
    two_users_share_a_session_id_across_replicas(&PgBackend::new());
}

#[test]
fn sqlite_replicas_see_each_others_writes() {
    replicas_see_each_others_writes(&SqliteBackend::new());
}

#[test]
fn postgres_replicas_see_each_others_writes() {
    replicas_see_each_others_writes(&PgBackend::new());
}
