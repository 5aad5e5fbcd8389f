//! Full-text search: ranking, scope isolation, filters, hostile query text, index sync.

mod common;

use common::{event, memory, now, put, say, scope, store, ts};
use mnemo_core::{ids, Kind, MemoryFilter, Op, SessionSummary, Store, TimeView, Topic, TurnFilter};
use mnemo_store_sqlite::SqliteStore;
use rusqlite::Connection;
use serde_json::Value;

/// Asserts every FTS index matches its content table exactly.
fn assert_indexes_in_sync(store: &SqliteStore) {
    let conn = Connection::open(store.path().expect("file store")).unwrap();
    for table in ["memories_fts", "turns_fts", "topics_fts", "summaries_fts"] {
        conn.execute(
            &format!("INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)"),
            [],
        )
        .unwrap_or_else(|e| panic!("{table} drifted: {e}"));
    }
}

#[test]
fn memories_are_ranked_and_scores_are_positive() {
    let (_dir, store) = store();
    let s = scope("alice", None);
    put(
        &store,
        &memory(
            &s,
            "Alice drinks coffee every morning; coffee is life",
            "2026-01-01T00:00:00Z",
        ),
    );
    put(
        &store,
        &memory(
            &s,
            "Alice likes tea and sometimes coffee",
            "2026-01-02T00:00:00Z",
        ),
    );
    put(
        &store,
        &memory(&s, "Alice has a cat named Tom", "2026-01-03T00:00:00Z"),
    );
    let hits = store
        .search_memories("How much coffee?", &MemoryFilter::scope(s.clone()), 10)
        .unwrap();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|h| h.score > 0.0));
    assert!(hits[0].score >= hits[1].score);
    assert!(hits[0].item.content.contains("coffee is life"), "{hits:?}");
    // Two query words in one memory beat one.
    let hits = store
        .search_memories(
            "What coffee does she like?",
            &MemoryFilter::scope(s.clone()),
            10,
        )
        .unwrap();
    assert!(hits[0].item.content.contains("likes tea"), "{hits:?}");
    // Stemming: "cats" finds "cat".
    let cats = store
        .search_memories("cats", &MemoryFilter::scope(s.clone()), 10)
        .unwrap();
    assert_eq!(cats.len(), 1);
    assert_eq!(
        store
            .search_memories("coffee", &MemoryFilter::scope(s), 1)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_user_never_sees_another_users_memories_or_turns() {
    let (_dir, store) = store();
    let alice = scope("alice", None);
    let bob = scope("bob", None);
    put(
        &store,
        &memory(&alice, "secret project falcon", "2026-01-01T00:00:00Z"),
    );
    put(
        &store,
        &memory(&bob, "bob's project falcon notes", "2026-01-01T00:00:00Z"),
    );
    say(
        &store,
        &alice,
        "sa",
        "falcon launch date",
        "2026-01-01T00:00:00Z",
    );
    say(&store, &bob, "sb", "falcon budget", "2026-01-01T00:00:00Z");

    let hits = store
        .search_memories("falcon", &MemoryFilter::scope(bob.clone()), 10)
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert!(hits.iter().all(|h| h.item.user_id == "bob"));
    let turn_filter = TurnFilter {
        scope: Some(bob.clone()),
        ..Default::default()
    };
    let turns = store.search_turns("falcon", &turn_filter, 10).unwrap();
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].item.content, "falcon budget");
    // Without a scope (administrative), both users match.
    assert_eq!(
        store
            .search_memories("falcon", &MemoryFilter::default(), 10)
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn search_honours_agent_scope_filters_and_time_views() {
    let (_dir, store) = store();
    let user = scope("alice", None);
    let bot = scope("alice", Some("bot"));
    let other = scope("alice", Some("other"));
    let mut plan = memory(&bot, "garden plan: plant tomatoes", "2026-01-01T00:00:00Z");
    plan.kind = Kind::Plan;
    put(&store, &plan);
    put(
        &store,
        &memory(&user, "garden is small", "2026-01-02T00:00:00Z"),
    );
    put(
        &store,
        &memory(&other, "garden gnome", "2026-01-03T00:00:00Z"),
    );
    let mut old = memory(&user, "garden was big", "2025-01-01T00:00:00Z");
    old.valid_to = Some(ts("2025-06-01T00:00:00Z"));
    put(&store, &old);

    let contents = |f: &MemoryFilter| -> Vec<String> {
        let mut c: Vec<String> = store
            .search_memories("garden", f, 10)
            .unwrap()
            .into_iter()
            .map(|h| h.item.content)
            .collect();
        c.sort();
        c
    };
    assert_eq!(
        contents(&MemoryFilter::scope(bot.clone())),
        vec!["garden is small", "garden plan: plant tomatoes"]
    );
    assert_eq!(
        contents(&MemoryFilter {
            include_user_wide: false,
            ..MemoryFilter::scope(bot.clone())
        }),
        vec!["garden plan: plant tomatoes"]
    );
    assert_eq!(contents(&MemoryFilter::scope(user.clone())).len(), 3);
    assert_eq!(
        contents(&MemoryFilter {
            kinds: vec![Kind::Plan],
            ..MemoryFilter::scope(user.clone())
        }),
        vec!["garden plan: plant tomatoes"]
    );
    assert_eq!(
        contents(&MemoryFilter {
            view: TimeView::AsOf(ts("2025-03-01T00:00:00Z")),
            ..MemoryFilter::scope(user.clone())
        }),
        vec!["garden was big"]
    );
    assert_eq!(
        contents(&MemoryFilter {
            view: TimeView::All,
            ..MemoryFilter::scope(user.clone())
        })
        .len(),
        4
    );
    // A kind or key is searchable too.
    assert_eq!(
        store
            .search_memories("plan", &MemoryFilter::scope(user.clone()), 10)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn hostile_or_empty_queries_never_fail() {
    let (_dir, store) = store();
    let s = scope("alice", None);
    put(
        &store,
        &memory(
            &s,
            "NEAR the river AND the NOT bridge",
            "2026-01-01T00:00:00Z",
        ),
    );
    let f = MemoryFilter::scope(s.clone());
    for q in [
        "",
        "   ",
        "\"",
        "\"\"",
        "*",
        "NEAR(",
        "AND",
        "a OR",
        "col:x",
        "^start",
        "(((",
        "-x",
        "content:river",
        "river*",
        "NOT",
        "\u{0}",
        "ü\u{301}",
    ] {
        store
            .search_memories(q, &f, 10)
            .unwrap_or_else(|e| panic!("query {q:?} failed: {e}"));
    }
    assert!(store.search_memories("", &f, 10).unwrap().is_empty());
    assert_eq!(store.search_memories("NEAR AND", &f, 10).unwrap().len(), 1);
    assert_eq!(
        store
            .search_memories("content:river", &f, 10)
            .unwrap()
            .len(),
        1
    );
    assert!(store.search_memories("river", &f, 0).unwrap().is_empty());
}

#[test]
fn updates_keep_the_index_in_sync() {
    let (_dir, store) = store();
    let s = scope("alice", None);
    let mut m = memory(&s, "the old wording", "2026-01-01T00:00:00Z");
    put(&store, &m);
    m.content = "a brand new phrasing".into();
    store
        .update_memory(&m, &event(&m, Op::Update, now()))
        .unwrap();
    store
        .touch_memories(&m.user_id, std::slice::from_ref(&m.id), now())
        .unwrap();
    let f = MemoryFilter::scope(s.clone());
    assert!(store.search_memories("wording", &f, 10).unwrap().is_empty());
    assert_eq!(store.search_memories("phrasing", &f, 10).unwrap().len(), 1);
    assert_indexes_in_sync(&store);
}

#[test]
fn topics_and_summaries_are_searchable_within_scope() {
    let (_dir, store) = store();
    let s = scope("alice", None);
    let turn = say(
        &store,
        &s,
        "s1",
        "we talked about the kitchen remodel",
        "2026-01-01T00:00:00Z",
    );
    let topic = Topic {
        id: ids::new_id(),
        user_id: "alice".into(),
        agent_id: None,
        name: "kitchen".into(),
        summary: "Remodel planned for spring; budget 10k".into(),
        updated_at: now(),
        meta: Value::Null,
    };
    let stored = store.upsert_topic(&topic).unwrap();
    assert_eq!(stored, topic);
    // Same (scope, name) with another id updates in place and keeps the stored id.
    let again = Topic {
        id: ids::new_id(),
        summary: "Remodel moved to autumn".into(),
        ..topic.clone()
    };
    let stored = store.upsert_topic(&again).unwrap();
    assert_eq!(stored.id, topic.id);
    assert_eq!(stored.summary, "Remodel moved to autumn");
    assert_eq!(store.list_topics(&s).unwrap(), vec![stored.clone()]);
    // An agent's topic of the same name is a different topic.
    let agent_topic = Topic {
        id: ids::new_id(),
        agent_id: Some("bot".into()),
        ..topic.clone()
    };
    store.upsert_topic(&agent_topic).unwrap();
    assert_eq!(store.list_topics(&s).unwrap().len(), 2);
    assert_eq!(store.list_topics(&scope("bob", None)).unwrap().len(), 0);

    let hits = store.search_topics("autumn remodel", &s, 10).unwrap();
    assert_eq!(hits[0].item.id, topic.id);
    assert!(store
        .search_topics("autumn", &scope("bob", None), 10)
        .unwrap()
        .is_empty());

    let summary = SessionSummary {
        id: ids::new_id(),
        user_id: "alice".into(),
        agent_id: None,
        session_id: turn.session_id.clone(),
        first_seq: 1,
        last_seq: 1,
        summary: "Discussed the kitchen remodel".into(),
        created_at: now(),
        meta: Value::Null,
    };
    store.add_summary(&summary).unwrap();
    assert_eq!(
        store.list_summaries(&s, Some("s1")).unwrap(),
        vec![summary.clone()]
    );
    assert!(store.list_summaries(&s, Some("s2")).unwrap().is_empty());
    let hits = store.search_summaries("kitchen", &s, 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert!(hits[0].score > 0.0);
    assert!(store
        .search_summaries("kitchen", &scope("bob", None), 10)
        .unwrap()
        .is_empty());
    // A summary for someone else's session is refused.
    let foreign = SessionSummary {
        id: ids::new_id(),
        user_id: "bob".into(),
        ..summary
    };
    assert!(store.add_summary(&foreign).is_err());
    assert_indexes_in_sync(&store);
}

#[test]
fn all_words_lookup_finds_candidates_shortest_first_within_scope() {
    let (_dir, store) = store();
    let a = scope("alice", None);
    put(
        &store,
        &memory(
            &a,
            "Uses helix as editor every day, and NOT vim",
            "2026-01-01T00:00:00Z",
        ),
    );
    put(
        &store,
        &memory(&a, "uses Helix as  editor", "2026-01-02T00:00:00Z"),
    );
    put(
        &store,
        &memory(&a, "Uses emacs as editor", "2026-01-03T00:00:00Z"),
    );
    put(
        &store,
        &memory(
            &scope("bob", None),
            "uses helix as editor",
            "2026-01-04T00:00:00Z",
        ),
    );
    let found = store
        .memories_with_all_words("uses helix as editor", &MemoryFilter::scope(a), 10)
        .unwrap();
    let texts: Vec<&str> = found.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        texts,
        [
            "uses Helix as  editor",
            "Uses helix as editor every day, and NOT vim"
        ]
    );
    let none = store
        .memories_with_all_words("?! (", &MemoryFilter::default(), 10)
        .unwrap();
    assert!(none.is_empty());
}
