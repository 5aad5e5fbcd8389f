//! Memories: supersession and the time views, history, purge, forgetting a user, id
//! prefixes, access bookkeeping, topics and summaries.

use mnemo_core::{
    Error, MemoryFilter, NewJob, Op, OwnerKind, Scope, SessionSummary, TimeView, Topic,
    VectorRecord,
};
use serde_json::json;

use crate::fixtures::{event, kind, memory, now, put, say, scope, ts};
use crate::Backend;

pub fn supersession_and_as_of_views(b: &dyn Backend) {
    let store = b.open();
    let s = scope("alice", None);
    let mut old = memory(&s, "lives in Paris", "2026-01-01T00:00:00Z");
    old.key = Some("city".into());
    old.source_turns = vec!["t2".into(), "t1".into()];
    old.meta = json!({"model": "m", "prompt_version": 3});
    put(store.as_ref(), &old);

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

    assert_eq!(
        store
            .list_memories(&MemoryFilter::scope(s.clone()))
            .unwrap(),
        vec![new.clone()]
    );
    let as_of = |t: &str| {
        let f = MemoryFilter {
            view: TimeView::AsOf(ts(t)),
            ..MemoryFilter::scope(s.clone())
        };
        store.list_memories(&f).unwrap()
    };
    assert_eq!(
        as_of("2026-02-01T00:00:00Z"),
        vec![old.clone()],
        "provenance order and meta kept"
    );
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
    assert_eq!(store.current_by_key(&s, "city").unwrap(), Some(new.clone()));
    assert_eq!(
        store
            .current_by_key(&scope("alice", Some("bot")), "city")
            .unwrap(),
        None
    );

    // Atomic: a supersede whose insert fails leaves the old memory open.
    let mut closing = new.clone();
    closing.valid_to = Some(now());
    let mut clash = memory(&s, "x", "2026-04-01T00:00:00Z");
    clash.id = old.id.clone();
    let err = store.supersede_memory(
        &closing,
        &event(&closing, Op::Supersede, now()),
        &clash,
        &event(&clash, Op::Add, now()),
    );
    assert!(err.is_err(), "reusing an id must fail");
    assert_eq!(store.current_by_key(&s, "city").unwrap(), Some(new));
}

pub fn expiry_agents_and_filters(b: &dyn Backend) {
    let store = b.open();
    let user = scope("alice", None);
    let bot = scope("alice", Some("bot"));
    let mut expired = memory(&user, "old plan", "2026-01-01T00:00:00Z");
    expired.expires_at = Some(ts("2026-05-01T00:00:00Z"));
    expired.kind = kind("plan");
    put(store.as_ref(), &expired);
    let mut wide = memory(&user, "likes tea", "2026-01-02T00:00:00Z");
    wide.topic = Some("food".into());
    put(store.as_ref(), &wide);
    let agent = memory(&bot, "bot note", "2026-01-03T00:00:00Z");
    put(store.as_ref(), &agent);
    put(
        store.as_ref(),
        &memory(&scope("bob", None), "bob's", "2026-01-04T00:00:00Z"),
    );

    let ids = |f: MemoryFilter| -> Vec<String> {
        store
            .list_memories(&f)
            .unwrap()
            .into_iter()
            .map(|m| m.content)
            .collect()
    };
    assert_eq!(
        ids(MemoryFilter::scope(user.clone())),
        vec!["bot note", "likes tea"]
    );
    assert_eq!(
        ids(MemoryFilter::scope(bot.clone())),
        vec!["bot note", "likes tea"]
    );
    assert_eq!(
        ids(MemoryFilter {
            include_user_wide: false,
            ..MemoryFilter::scope(bot.clone())
        }),
        vec!["bot note"]
    );
    assert_eq!(
        ids(MemoryFilter {
            view: TimeView::All,
            kinds: vec![kind("plan")],
            ..MemoryFilter::scope(user.clone())
        }),
        vec!["old plan"]
    );
    assert_eq!(
        ids(MemoryFilter {
            topic: Some("food".into()),
            ..MemoryFilter::scope(user.clone())
        }),
        vec!["likes tea"]
    );
    assert_eq!(
        ids(MemoryFilter {
            since: Some(ts("2026-01-02T00:00:00Z")),
            until: Some(ts("2026-01-03T00:00:00Z")),
            ..MemoryFilter::scope(user.clone())
        }),
        vec!["likes tea"]
    );
    assert_eq!(
        ids(MemoryFilter {
            limit: Some(1),
            ..MemoryFilter::scope(user)
        }),
        vec!["bot note"]
    );
}

pub fn edits_history_touches_and_purge(b: &dyn Backend) {
    let store = b.open();
    let s = scope("alice", None);
    let mut m = memory(&s, "drinks coffee", "2026-01-01T00:00:00Z");
    put(store.as_ref(), &m);
    m.content = "drinks green tea".into();
    m.updated_at = ts("2026-02-01T00:00:00Z");
    let mut e = event(&m, Op::Update, m.updated_at);
    e.old_content = Some("drinks coffee".into());
    e.reason = Some("changed".into());
    store.update_memory(&m, &e).unwrap();
    let history = store.history(&m.user_id, &m.id).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1], e);

    let mut theirs = m.clone();
    theirs.user_id = "mallory".into();
    let refused = store.update_memory(&theirs, &event(&theirs, Op::Update, now()));
    assert!(matches!(refused, Err(Error::Invalid { .. })), "{refused:?}");

    store
        .touch_memories(
            &m.user_id,
            &[m.id.clone(), m.id.clone()],
            ts("2026-03-01T00:00:00Z"),
        )
        .unwrap();
    store
        .touch_memories(
            &m.user_id,
            std::slice::from_ref(&m.id),
            ts("2026-02-15T00:00:00Z"),
        )
        .unwrap();
    // Another user naming the id touches, reads and purges nothing.
    store
        .touch_memories(
            "bob",
            std::slice::from_ref(&m.id),
            ts("2026-04-01T00:00:00Z"),
        )
        .unwrap();
    assert!(store.history("bob", &m.id).unwrap().is_empty());
    assert!(matches!(
        store.purge_memory("bob", &m.id),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(store.history(&m.user_id, &m.id).unwrap().len(), 2);
    let got = store.get_memory(Some("alice"), &m.id[..8]).unwrap();
    assert_eq!(got.access_count, 3);
    assert_eq!(
        got.last_accessed,
        Some(ts("2026-03-01T00:00:00Z")),
        "never moves back"
    );
    assert!(matches!(
        store.get_memory(Some("bob"), &m.id),
        Err(Error::NotFound { .. })
    ));

    store
        .put_vectors(&[VectorRecord {
            owner_kind: OwnerKind::Memory,
            owner_id: m.id.clone(),
            model_id: "m1".into(),
            vector: vec![1.0, 0.0],
        }])
        .unwrap();
    store.purge_memory(&m.user_id, &m.id).unwrap();
    assert!(store.history(&m.user_id, &m.id).unwrap().is_empty());
    assert!(store
        .vectors(OwnerKind::Memory, "alice", "m1")
        .unwrap()
        .is_empty());
    assert!(matches!(
        store.purge_memory(&m.user_id, &m.id),
        Err(Error::NotFound { .. })
    ));
}

pub fn id_prefixes_resolve_or_say_why_not(b: &dyn Backend) {
    let store = b.open();
    let s = scope("alice", None);
    let mut a = memory(&s, "a", "2026-01-01T00:00:00Z");
    a.id = format!("abcd1{}", &a.id[5..]);
    let mut c = memory(&s, "c", "2026-01-01T00:00:00Z");
    c.id = format!("abcd2{}", &c.id[5..]);
    put(store.as_ref(), &a);
    put(store.as_ref(), &c);
    assert_eq!(store.get_memory(None, "ABCD-1").unwrap().id, a.id);
    match store.get_memory(Some("alice"), "abcd") {
        Err(Error::Ambiguous { count, .. }) => assert_eq!(count, 2),
        other => panic!("expected ambiguous, got {other:?}"),
    }
    assert!(matches!(
        store.get_memory(None, "ffff"),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        store.get_memory(None, "no"),
        Err(Error::NotFound { .. })
    ));
}

pub fn topics_and_summaries(b: &dyn Backend) {
    let store = b.open();
    let s = scope("alice", None);
    let t = Topic {
        id: mnemo_core::ids::new_id(),
        user_id: "alice".into(),
        agent_id: None,
        name: "Work".into(),
        summary: "works at a bakery".into(),
        updated_at: ts("2026-01-01T00:00:00Z"),
        meta: json!({"v": 1}),
    };
    let first = store.upsert_topic(&t).unwrap();
    let again = store
        .upsert_topic(&Topic {
            id: mnemo_core::ids::new_id(),
            summary: "bakes bread".into(),
            ..t.clone()
        })
        .unwrap();
    assert_eq!(again.id, first.id, "same scope and name: updated in place");
    assert_eq!(store.list_topics(&s).unwrap(), vec![again]);
    let hits = store.search_topics("bread", &s, 5).unwrap();
    assert_eq!(hits.len(), 1);
    assert!(hits[0].score > 0.0);

    say(store.as_ref(), &s, "s1", "hello", "2026-01-01T00:00:00Z");
    let sum = SessionSummary {
        id: mnemo_core::ids::new_id(),
        user_id: "alice".into(),
        agent_id: None,
        session_id: "s1".into(),
        first_seq: 1,
        last_seq: 1,
        summary: "they greeted each other".into(),
        created_at: ts("2026-01-02T00:00:00Z"),
        meta: serde_json::Value::Null,
    };
    store.add_summary(&sum).unwrap();
    assert_eq!(
        store.list_summaries(&s, Some("s1")).unwrap(),
        vec![sum.clone()]
    );
    assert_eq!(store.search_summaries("greeted", &s, 5).unwrap().len(), 1);
    let foreign = SessionSummary {
        id: mnemo_core::ids::new_id(),
        user_id: "bob".into(),
        ..sum
    };
    assert!(
        store.add_summary(&foreign).is_err(),
        "a summary of another user's session"
    );

    // Text a client sends to look things up may hold a NUL (PostgreSQL text cannot):
    // nothing is found or the request is refused as invalid, never a storage failure.
    let nul = "s\u{0}1";
    let refused_or_nothing = |r: mnemo_core::Result<usize>| match r {
        Ok(n) => assert_eq!(n, 0, "a NUL matched something"),
        Err(mnemo_core::Error::Invalid { .. } | mnemo_core::Error::NotFound { .. }) => {}
        Err(e) => panic!("a NUL in a filter is not a storage failure: {e:?}"),
    };
    refused_or_nothing(store.list_summaries(&s, Some(nul)).map(|v| v.len()));
    refused_or_nothing(store.search_summaries(nul, &s, 5).map(|v| v.len()));
    refused_or_nothing(store.get_session("alice", nul).map(|_| 1));
}

pub fn forgetting_a_user_cascades(b: &dyn Backend) {
    let store = b.open();
    let alice = scope("alice", None);
    let bob = scope("bob", None);
    let turn = say(
        store.as_ref(),
        &alice,
        "s1",
        "my secret is 42",
        "2026-01-01T00:00:00Z",
    );
    let m = memory(&alice, "secret is 42", "2026-01-01T00:00:00Z");
    put(store.as_ref(), &m);
    store
        .put_vectors(&[
            VectorRecord {
                owner_kind: OwnerKind::Memory,
                owner_id: m.id.clone(),
                model_id: "m".into(),
                vector: vec![1.0],
            },
            VectorRecord {
                owner_kind: OwnerKind::Turn,
                owner_id: turn.id.clone(),
                model_id: "m".into(),
                vector: vec![1.0],
            },
        ])
        .unwrap();
    store
        .enqueue_jobs(
            &[NewJob::new(
                mnemo_core::JobKind::Reconcile,
                alice.clone(),
                "x",
                json!({}),
            )],
            now(),
        )
        .unwrap();
    say(
        store.as_ref(),
        &bob,
        "s2",
        "bob's turn",
        "2026-01-01T00:00:00Z",
    );
    put(
        store.as_ref(),
        &memory(&bob, "bob's memory", "2026-01-01T00:00:00Z"),
    );
    let epoch_before = store.index_epoch(OwnerKind::Memory, "alice").unwrap();

    let report = store.forget_user("alice").unwrap();
    assert_eq!(
        (
            report.sessions,
            report.turns,
            report.memories,
            report.history
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(store.users().unwrap(), vec!["bob".to_string()]);
    assert!(store.list_jobs(&Default::default()).unwrap().is_empty());
    assert!(store.vector_models(Some("alice")).unwrap().is_empty());
    assert!(
        store.export(Some("alice")).unwrap().len() == 1,
        "only the header is left"
    );
    assert_eq!(
        store
            .list_memories(&MemoryFilter::scope(bob.clone()))
            .unwrap()
            .len(),
        1
    );
    // The feed no longer reaches back to before the forgotten user's entries.
    assert_eq!(store.memory_changes_since("bob", 0).unwrap(), None);

    // A re-created user never repeats an epoch of the forgotten one.
    put(
        store.as_ref(),
        &memory(&alice, "new life", "2026-02-01T00:00:00Z"),
    );
    assert!(store.index_epoch(OwnerKind::Memory, "alice").unwrap() > epoch_before);
    let _: &Scope = &alice;

    // A user who never had a session (memories only, a job, model usage) is forgotten
    // whole too: nothing of theirs is left in the queue or the usage table.
    let cyd = scope("cyd", None);
    put(
        store.as_ref(),
        &memory(&cyd, "cyd likes figs", "2026-01-01T00:00:00Z"),
    );
    store
        .enqueue_jobs(
            &[NewJob::new(
                mnemo_core::JobKind::Reconcile,
                cyd.clone(),
                "y",
                json!({}),
            )],
            now(),
        )
        .unwrap();
    store
        .record_usage(&mnemo_core::UsageRecord {
            job_id: None,
            user_id: "cyd".into(),
            agent_id: None,
            task: "extract".into(),
            provider: "ollama".into(),
            model: "m".into(),
            input_tokens: 5,
            output_tokens: 1,
            at: now(),
        })
        .unwrap();
    store.forget_user("cyd").unwrap();
    let left = store
        .list_jobs(&mnemo_core::JobFilter {
            user_id: Some("cyd".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(left.is_empty(), "jobs left: {left:?}");
    let usage = store
        .usage(&mnemo_core::UsageFilter {
            user_id: Some("cyd".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(usage.is_empty(), "usage left: {usage:?}");
}
