//! The conversation log: sequence numbers, sessions, ordering, lookups.

mod common;

use common::{say, scope, store, ts};
use mnemo_core::{Error, NewTurn, Role, Store, TurnFilter};

#[test]
fn turns_get_consecutive_seqs_and_create_their_session() {
    let (_dir, store) = store();
    let s = scope("alice", None);
    let t1 = say(&store, &s, "s1", "hello", "2026-01-01T10:00:00Z");
    let t2 = say(&store, &s, "s1", "how are you", "2026-01-01T10:01:00Z");
    let u1 = say(&store, &s, "s2", "other session", "2026-01-02T10:00:00Z");
    assert_eq!((t1.seq, t2.seq, u1.seq), (1, 2, 1));
    assert_eq!(t1.tokens, 3);

    let session = store.get_session("alice", "s1").unwrap();
    assert_eq!(session.started_at, ts("2026-01-01T10:00:00Z"));
    assert_eq!(session.ended_at, None);
    let sessions: Vec<String> = store
        .list_sessions(&s, None)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(sessions, vec!["s2", "s1"]);
    assert_eq!(store.list_sessions(&s, Some(1)).unwrap().len(), 1);

    store
        .end_session("alice", "s1", ts("2026-01-01T11:00:00Z"))
        .unwrap();
    assert_eq!(
        store.get_session("alice", "s1").unwrap().ended_at,
        Some(ts("2026-01-01T11:00:00Z"))
    );
    assert!(matches!(
        store.end_session("alice", "nope", ts("2026-01-01T11:00:00Z")),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        store.get_session("bob", "s1"),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn turns_list_in_conversation_order_or_newest_first_with_filters() {
    let (_dir, store) = store();
    let s = scope("alice", None);
    let a = say(&store, &s, "s1", "one", "2026-01-01T10:00:00Z");
    let b = say(&store, &s, "s2", "two", "2026-01-01T10:01:00Z");
    let c = say(&store, &s, "s1", "three", "2026-01-01T10:02:00Z");
    let mut reply = NewTurn {
        id: None,
        scope: s.clone(),
        session_id: "s1".into(),
        role: Role::Assistant,
        content: "four".into(),
        created_at: None,
        meta: serde_json::json!({"client": "test"}),
    };
    let d = store
        .add_turn(&reply, 1, ts("2026-01-01T10:03:00Z"))
        .unwrap();
    assert_eq!(d.created_at, ts("2026-01-01T10:03:00Z"), "None means now");
    say(
        &store,
        &scope("bob", None),
        "b1",
        "bob",
        "2026-01-01T10:00:00Z",
    );

    let contents = |f: TurnFilter| -> Vec<String> {
        store
            .list_turns(&f)
            .unwrap()
            .into_iter()
            .map(|t| t.content)
            .collect()
    };
    let base = TurnFilter {
        scope: Some(s.clone()),
        ..Default::default()
    };
    assert_eq!(contents(base.clone()), vec!["one", "two", "three", "four"]);
    assert_eq!(
        contents(TurnFilter {
            newest_first: true,
            limit: Some(2),
            ..base.clone()
        }),
        vec!["four", "three"]
    );
    assert_eq!(
        contents(TurnFilter {
            session_id: Some("s1".into()),
            ..base.clone()
        }),
        vec!["one", "three", "four"]
    );
    assert_eq!(
        contents(TurnFilter {
            role: Some(Role::Assistant),
            ..base.clone()
        }),
        vec!["four"]
    );
    assert_eq!(
        contents(TurnFilter {
            since: Some(ts("2026-01-01T10:01:00Z")),
            until: Some(ts("2026-01-01T10:03:00Z")),
            ..base.clone()
        }),
        vec!["two", "three"]
    );
    assert_eq!(contents(TurnFilter::default()).len(), 5);

    let got = store
        .get_turns(&c.user_id, &[c.id.clone(), "missing".into(), a.id.clone()])
        .unwrap();
    assert_eq!(got, vec![c, a]);
    let _ = (b, &mut reply);
}

#[test]
fn sessions_resolve_by_prefix() {
    let (_dir, store) = store();
    let s = scope("alice", None);
    let id1 = format!("1234aaaa{}", "0".repeat(24));
    let id2 = format!("1234bbbb{}", "0".repeat(24));
    say(&store, &s, &id1, "x", "2026-01-01T10:00:00Z");
    say(&store, &s, &id2, "y", "2026-01-01T10:00:00Z");
    assert_eq!(store.get_session("alice", "1234a").unwrap().id, id1);
    assert!(matches!(
        store.get_session("alice", "1234"),
        Err(Error::Ambiguous { count: 2, .. })
    ));
    assert!(matches!(
        store.get_session("alice", "9999"),
        Err(Error::NotFound { .. })
    ));
}
