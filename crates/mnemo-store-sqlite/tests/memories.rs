//! Memory writes and reads: supersede and the time views, keys, prefixes, filters,
//! provenance, touches, purge.

mod common;

use common::{event, memory, now, put, scope, store, ts};
use mnemo_core::{Error, Kind, MemoryFilter, Op, Store, TimeView};

#[test]
fn supersede_closes_the_old_memory_and_as_of_sees_both_periods() {
    let (_dir, store) = store();
    let s = scope("alice", None);
    let mut old = memory(&s, "lives in Paris", "2026-01-01T00:00:00Z");
    old.key = Some("city".into());
    put(&store, &old);

    let switch = ts("2026-03-01T00:00:00Z");
    let mut new = memory(&s, "lives in Berlin", "2026-03-01T00:00:00Z");
    new.key = Some("city".into());
    old.valid_to = Some(switch);
    old.superseded_by = Some(new.id.clone());
    old.updated_at = switch;
    store
        .supersede_memory(
            &old,
            &event(&old, Op::Supersede, switch),
            &new,
            &event(&new, Op::Add, switch),
        )
        .unwrap();

    let current = store
        .list_memories(&MemoryFilter::scope(s.clone()))
        .unwrap();
    assert_eq!(current, vec![new.clone()]);

    let as_of = |t: &str| {
        let filter = MemoryFilter {
            view: TimeView::AsOf(ts(t)),
            ..MemoryFilter::scope(s.clone())
        };
        store.list_memories(&filter).unwrap()
    };
    assert_eq!(as_of("2026-02-01T00:00:00Z"), vec![old.clone()]);
    assert_eq!(as_of("2026-03-01T00:00:00Z"), vec![new.clone()]);
    assert!(as_of("2025-12-31T00:00:00Z").is_empty());

    let all = MemoryFilter {
        view: TimeView::All,
        ..MemoryFilter::scope(s.clone())
    };
    assert_eq!(
        store.list_memories(&all).unwrap(),
        vec![new.clone(), old.clone()]
    );

    let ops: Vec<Op> = store
        .history(&old.user_id, &old.id)
        .unwrap()
        .iter()
        .map(|e| e.op)
        .collect();
    assert_eq!(ops, vec![Op::Add, Op::Supersede]);
    assert_eq!(store.current_by_key(&s, "city").unwrap(), Some(new));
}

#[test]
fn supersede_is_atomic() {
    let (_dir, store) = store();
    let s = scope("alice", None);
    let mut old = memory(&s, "a", "2026-01-01T00:00:00Z");
    put(&store, &old);
    let existing = memory(&s, "b", "2026-01-02T00:00:00Z");
    put(&store, &existing);
    old.valid_to = Some(now());
    // The "new" memory reuses an existing id, so its insert fails after the old one closed.
    let mut new = memory(&s, "c", "2026-01-03T00:00:00Z");
    new.id = existing.id.clone();
    let err = store
        .supersede_memory(
            &old,
            &event(&old, Op::Supersede, now()),
            &new,
            &event(&new, Op::Add, now()),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    let stored = store.get_memory(None, &old.id).unwrap();
    assert_eq!(stored.valid_to, None, "the old memory must not be closed");
    assert_eq!(store.history(&old.user_id, &old.id).unwrap().len(), 1);
}

#[test]
fn current_by_key_matches_the_exact_scope() {
    let (_dir, store) = store();
    let user = scope("alice", None);
    let agent = scope("alice", Some("bot"));
    let mut a = memory(&user, "tea", "2026-01-01T00:00:00Z");
    a.key = Some("drink".into());
    let mut b = memory(&agent, "coffee", "2026-01-02T00:00:00Z");
    b.key = Some("drink".into());
    let mut deleted = memory(&user, "water", "2026-01-03T00:00:00Z");
    deleted.key = Some("drink".into());
    deleted.deleted = true;
    deleted.valid_to = Some(ts("2026-01-04T00:00:00Z"));
    for m in [&a, &b, &deleted] {
        put(&store, m);
    }
    assert_eq!(store.current_by_key(&user, "drink").unwrap(), Some(a));
    assert_eq!(store.current_by_key(&agent, "drink").unwrap(), Some(b));
    assert_eq!(
        store
            .current_by_key(&scope("alice", Some("other")), "drink")
            .unwrap(),
        None
    );
    assert_eq!(
        store.current_by_key(&scope("bob", None), "drink").unwrap(),
        None
    );
    assert_eq!(store.current_by_key(&user, "food").unwrap(), None);
}

#[test]
fn ids_resolve_by_unique_prefix() {
    let (_dir, store) = store();
    let s = scope("alice", None);
    let mut a = memory(&s, "a", "2026-01-01T00:00:00Z");
    a.id = format!("abcd1111{}", "0".repeat(24));
    let mut b = memory(&s, "b", "2026-01-01T00:00:00Z");
    b.id = format!("abcd2222{}", "0".repeat(24));
    let mut other = memory(&scope("bob", None), "c", "2026-01-01T00:00:00Z");
    other.id = format!("abcd3333{}", "0".repeat(24));
    for m in [&a, &b, &other] {
        put(&store, m);
    }
    assert_eq!(store.get_memory(Some("alice"), "abcd1").unwrap().id, a.id);
    assert_eq!(
        store.get_memory(Some("alice"), "ABCD-2222").unwrap().id,
        b.id
    );
    assert_eq!(store.get_memory(None, &a.id).unwrap().id, a.id);
    match store.get_memory(Some("alice"), "abcd") {
        Err(Error::Ambiguous { count, .. }) => assert_eq!(count, 2),
        other => panic!("expected Ambiguous, got {other:?}"),
    }
    match store.get_memory(None, "abcd") {
        Err(Error::Ambiguous { count, .. }) => assert_eq!(count, 3),
        other => panic!("expected Ambiguous, got {other:?}"),
    }
    // Another user's memory is invisible, even by full id.
    assert!(matches!(
        store.get_memory(Some("alice"), &other.id),
        Err(Error::NotFound { .. })
    ));
    for missing in ["abcd9", "abc", "hello", "", "ffff"] {
        assert!(
            matches!(
                store.get_memory(Some("alice"), missing),
                Err(Error::NotFound { .. })
            ),
            "{missing:?}"
        );
    }
}

#[test]
fn list_filters_and_limits() {
    let (_dir, store) = store();
    let user = scope("alice", None);
    let bot = scope("alice", Some("bot"));
    let mut plan = memory(&bot, "plan a trip", "2026-01-05T00:00:00Z");
    plan.kind = Kind::Plan;
    plan.topic = Some("travel".into());
    plan.session_id = Some("s1".into());
    let mut fact = memory(&user, "has a cat", "2026-01-04T00:00:00Z");
    fact.key = Some("pet".into());
    let mut expired = memory(&user, "is in a meeting", "2026-01-03T00:00:00Z");
    expired.expires_at = Some(ts("2026-02-01T00:00:00Z"));
    let mut later = memory(&user, "will expire later", "2026-01-02T00:00:00Z");
    later.expires_at = Some(ts("2027-01-01T00:00:00Z"));
    let other_user = memory(&scope("bob", None), "bob's", "2026-01-06T00:00:00Z");
    let other_agent = memory(&scope("alice", Some("x")), "x's", "2026-01-07T00:00:00Z");
    for m in [&plan, &fact, &expired, &later, &other_user, &other_agent] {
        put(&store, m);
    }
    let ids = |f: MemoryFilter| -> Vec<String> {
        store
            .list_memories(&f)
            .unwrap()
            .into_iter()
            .map(|m| m.content)
            .collect()
    };
    let base = MemoryFilter::scope(user.clone());
    assert_eq!(
        ids(base.clone()),
        vec!["x's", "plan a trip", "has a cat", "will expire later"]
    );
    assert_eq!(
        ids(MemoryFilter::scope(bot.clone())),
        vec!["plan a trip", "has a cat", "will expire later"]
    );
    assert_eq!(
        ids(MemoryFilter {
            include_user_wide: false,
            ..MemoryFilter::scope(bot.clone())
        }),
        vec!["plan a trip"]
    );
    assert_eq!(
        ids(MemoryFilter {
            kinds: vec![Kind::Plan],
            ..base.clone()
        }),
        vec!["plan a trip"]
    );
    assert_eq!(
        ids(MemoryFilter {
            topic: Some("travel".into()),
            ..base.clone()
        }),
        vec!["plan a trip"]
    );
    assert_eq!(
        ids(MemoryFilter {
            session_id: Some("s1".into()),
            ..base.clone()
        }),
        vec!["plan a trip"]
    );
    assert_eq!(
        ids(MemoryFilter {
            key: Some("pet".into()),
            ..base.clone()
        }),
        vec!["has a cat"]
    );
    assert_eq!(
        ids(MemoryFilter {
            since: Some(ts("2026-01-04T00:00:00Z")),
            until: Some(ts("2026-01-05T00:00:00Z")),
            ..base.clone()
        }),
        vec!["has a cat"]
    );
    assert_eq!(
        ids(MemoryFilter {
            limit: Some(2),
            ..base.clone()
        }),
        vec!["x's", "plan a trip"]
    );
    assert_eq!(
        ids(MemoryFilter {
            view: TimeView::All,
            ..base.clone()
        })
        .len(),
        5,
        "All includes the expired memory"
    );
    assert_eq!(
        ids(MemoryFilter::default()).len(),
        5,
        "no scope: every user, current only"
    );
}

#[test]
fn provenance_keeps_its_order_and_updates_replace_it() {
    let (_dir, store) = store();
    let s = scope("alice", None);
    let mut m = memory(&s, "x", "2026-01-01T00:00:00Z");
    m.source_turns = vec!["t3".into(), "t1".into(), "t2".into()];
    m.meta = serde_json::json!({"model": "m", "prompt_version": 2});
    put(&store, &m);
    assert_eq!(store.get_memory(None, &m.id).unwrap(), m);

    m.source_turns = vec!["t9".into()];
    m.content = "y".into();
    m.pinned = true;
    m.salience = 0.9;
    store
        .update_memory(&m, &event(&m, Op::Update, now()))
        .unwrap();
    assert_eq!(store.get_memory(None, &m.id).unwrap(), m);
    assert_eq!(store.history(&m.user_id, &m.id).unwrap().len(), 2);
}

#[test]
fn writes_validate_their_input() {
    let (_dir, store) = store();
    let s = scope("alice", None);
    let mut m = memory(&s, "x", "2026-01-01T00:00:00Z");
    m.salience = 1.5;
    let err = store
        .insert_memory(&m, &event(&m, Op::Add, now()))
        .unwrap_err();
    assert!(
        matches!(err, Error::Invalid { ref field, .. } if field == "salience"),
        "{err:?}"
    );
    m.salience = f32::NAN;
    assert!(store.insert_memory(&m, &event(&m, Op::Add, now())).is_err());
    m.salience = 0.5;
    m.id = "not-an-id".into();
    assert!(store.insert_memory(&m, &event(&m, Op::Add, now())).is_err());
    let m = memory(&s, "x", "2026-01-01T00:00:00Z");
    let mut e = event(&m, Op::Add, now());
    e.user_id = "mallory".into();
    assert!(store.insert_memory(&m, &e).is_err());
    // Updating a memory that does not exist is NotFound.
    let err = store
        .update_memory(&m, &event(&m, Op::Update, now()))
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(store.stats().unwrap().memories_total, 0);
}

#[test]
fn touch_counts_accesses_and_purge_removes_everything() {
    let (_dir, store) = store();
    let s = scope("alice", None);
    let m = memory(&s, "remember the milk", "2026-01-01T00:00:00Z");
    put(&store, &m);
    let t1 = ts("2026-05-01T00:00:00Z");
    let t0 = ts("2026-04-01T00:00:00Z");
    store
        .touch_memories(&m.user_id, &[m.id.clone(), "unknown".into()], t1)
        .unwrap();
    store
        .touch_memories(&m.user_id, std::slice::from_ref(&m.id), t0)
        .unwrap();
    let got = store.get_memory(None, &m.id).unwrap();
    assert_eq!(got.access_count, 2);
    assert_eq!(got.last_accessed, Some(t1), "last_accessed never goes back");

    store.purge_memory(&m.user_id, &m.id).unwrap();
    assert!(matches!(
        store.get_memory(None, &m.id),
        Err(Error::NotFound { .. })
    ));
    assert!(store.history(&m.user_id, &m.id).unwrap().is_empty());
    let hits = store
        .search_memories("milk", &MemoryFilter::scope(s.clone()), 10)
        .unwrap();
    assert!(hits.is_empty());
    assert!(matches!(
        store.purge_memory(&m.user_id, &m.id),
        Err(Error::NotFound { .. })
    ));
}
