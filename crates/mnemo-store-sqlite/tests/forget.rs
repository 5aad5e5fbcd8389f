//! Forgetting a user removes every trace of them, index rows included, and nothing else.

mod common;

use common::{event, memory, now, put, say, scope, store};
use mnemo_core::{
    ids, ForgetReport, MemoryFilter, Op, SessionSummary, Store, Topic, TurnFilter, VectorStore,
};
use rusqlite::Connection;
use serde_json::Value;

#[test]
fn forget_user_reports_exact_counts_and_leaves_nothing() {
    let (dir, store) = store();
    let alice = scope("alice", None);
    let bob = scope("bob", None);
    say(
        &store,
        &alice,
        "s1",
        "zebra talk one",
        "2026-01-01T00:00:00Z",
    );
    say(
        &store,
        &alice,
        "s1",
        "zebra talk two",
        "2026-01-01T00:01:00Z",
    );
    say(
        &store,
        &alice,
        "s2",
        "zebra talk three",
        "2026-01-02T00:00:00Z",
    );
    say(&store, &bob, "b1", "zebra of bob", "2026-01-02T00:00:00Z");
    let mut m1 = memory(
        &scope("alice", Some("bot")),
        "zebra fact",
        "2026-01-01T00:00:00Z",
    );
    m1.source_turns = vec!["t1".into()];
    put(&store, &m1);
    let mut m2 = memory(&alice, "another zebra fact", "2026-01-01T00:00:00Z");
    put(&store, &m2);
    m2.content = "edited zebra fact".into();
    store
        .update_memory(&m2, &event(&m2, Op::Update, now()))
        .unwrap();
    put(
        &store,
        &memory(&bob, "bob zebra fact", "2026-01-01T00:00:00Z"),
    );
    store
        .upsert_topic(&Topic {
            id: ids::new_id(),
            user_id: "alice".into(),
            agent_id: None,
            name: "zebras".into(),
            summary: "all about zebras".into(),
            updated_at: now(),
            meta: Value::Null,
        })
        .unwrap();
    store
        .add_summary(&SessionSummary {
            id: ids::new_id(),
            user_id: "alice".into(),
            agent_id: None,
            session_id: "s1".into(),
            first_seq: 1,
            last_seq: 2,
            summary: "zebra chat".into(),
            created_at: now(),
            meta: Value::Null,
        })
        .unwrap();

    let report = store.forget_user("alice").unwrap();
    assert_eq!(
        report,
        ForgetReport {
            sessions: 2,
            turns: 3,
            memories: 2,
            history: 3,
            topics: 1,
            summaries: 1,
        }
    );
    assert_eq!(store.forget_user("alice").unwrap(), ForgetReport::default());
    assert_eq!(store.users().unwrap(), vec!["bob"]);

    assert!(store
        .search_memories("zebra", &MemoryFilter::scope(alice.clone()), 10)
        .unwrap()
        .is_empty());
    assert!(store.search_topics("zebra", &alice, 10).unwrap().is_empty());
    assert!(store
        .search_summaries("zebra", &alice, 10)
        .unwrap()
        .is_empty());
    let alice_turns = TurnFilter {
        scope: Some(alice.clone()),
        ..Default::default()
    };
    assert!(store
        .search_turns("zebra", &alice_turns, 10)
        .unwrap()
        .is_empty());
    assert_eq!(
        store.export(Some("alice")).unwrap().len(),
        1,
        "only the header"
    );
    // Bob is untouched.
    assert_eq!(
        store
            .search_memories("zebra", &MemoryFilter::default(), 10)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .search_turns("zebra", &TurnFilter::default(), 10)
            .unwrap()
            .len(),
        1
    );

    // Directly in the file: no row and no index entry is left for alice.
    let conn = Connection::open(dir.path().join("mnemo.db")).unwrap();
    for (table, expected) in [
        ("memories_fts", 1),
        ("turns_fts", 1),
        ("topics_fts", 0),
        ("summaries_fts", 0),
    ] {
        let n: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM {table} WHERE {table} MATCH 'zebra'"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, expected, "{table}");
        conn.execute(
            &format!("INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)"),
            [],
        )
        .unwrap();
    }
    let sources: i64 = conn
        .query_row("SELECT count(*) FROM memory_sources", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sources, 0);
    let changes: i64 = conn
        .query_row(
            "SELECT count(*) FROM memory_changes WHERE user_id = 'alice'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(changes, 0, "the change feed names no forgotten user");
    // An index loaded before the forget cannot patch itself past the cut: it rebuilds.
    assert_eq!(store.memory_changes_since("bob", 0).unwrap(), None);
}
