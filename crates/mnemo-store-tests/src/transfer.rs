//! Export and import: a round trip is lossless, an import is all or nothing, and the same
//! data exported from two backends is byte-identical (so a database moves between
//! backends without losing history, provenance, vectors or their model ids).

use mnemo_core::{
    Error, ImportMode, MemoryFilter, Op, OwnerKind, Record, SessionSummary, Store, TimeView, Topic,
    VectorRecord,
};
use serde_json::json;

use crate::fixtures::{event, export_lines, kind, memory, put, say, scope, ts};
use crate::Backend;

/// Fills `store` with one of everything, with awkward values (unicode, JSON meta,
/// provenance order, closed and deleted memories, agents), through the write API.
pub fn sample_data(store: &dyn Store) {
    let alice = scope("alice", None);
    let bot = scope("alice", Some("bot"));
    let t1 = say(
        store,
        &alice,
        "s-1",
        "Ich heiße Zoë 🙂 and I \"quote\"",
        "2026-01-01T00:00:00.123456Z",
    );
    let t2 = say(store, &alice, "s-1", "second", "2026-01-01T00:00:01Z");
    say(store, &bot, "s-2", "agent session", "2026-01-02T00:00:00Z");
    say(
        store,
        &scope("bob", None),
        "B",
        "bob",
        "2026-01-01T00:00:00Z",
    );
    let mut m = memory(&alice, "name is Zoë", "2026-01-01T00:00:02Z");
    m.source_turns = vec![t2.id.clone(), t1.id.clone()];
    m.session_id = Some("s-1".into());
    m.key = Some("name".into());
    m.kind = kind("preference");
    m.salience = 0.123_456_79;
    m.pinned = true;
    m.meta = json!({"model": "qwen", "prompt_version": 2, "nested": {"a": [1, 2.5, null]}});
    put(store, &m);
    let mut newer = memory(&alice, "name is Zoe", "2026-01-03T00:00:00Z");
    newer.key = Some("name".into());
    let mut closed = m.clone();
    closed.valid_to = Some(ts("2026-01-03T00:00:00Z"));
    closed.superseded_by = Some(newer.id.clone());
    store
        .supersede_memory(
            &closed,
            &event(&closed, Op::Supersede, closed.valid_to.unwrap()),
            &newer,
            &event(&newer, Op::Add, newer.created_at),
        )
        .unwrap();
    let mut gone = memory(&bot, "deleted one", "2026-01-01T00:00:00Z");
    gone.expires_at = Some(ts("2027-01-01T00:00:00Z"));
    put(store, &gone);
    gone.deleted = true;
    gone.valid_to = Some(ts("2026-02-01T00:00:00Z"));
    store
        .update_memory(&gone, &event(&gone, Op::Delete, ts("2026-02-01T00:00:00Z")))
        .unwrap();
    store
        .upsert_topic(&Topic {
            id: mnemo_core::ids::new_id(),
            user_id: "alice".into(),
            agent_id: Some("bot".into()),
            name: "Zebra".into(),
            summary: "z".into(),
            updated_at: ts("2026-01-01T00:00:00Z"),
            meta: json!({"k": "v"}),
        })
        .unwrap();
    store
        .add_summary(&SessionSummary {
            id: mnemo_core::ids::new_id(),
            user_id: "alice".into(),
            agent_id: None,
            session_id: "s-1".into(),
            first_seq: 1,
            last_seq: 2,
            summary: "greetings".into(),
            created_at: ts("2026-01-04T00:00:00Z"),
            meta: serde_json::Value::Null,
        })
        .unwrap();
    store
        .put_vectors(&[
            VectorRecord {
                owner_kind: OwnerKind::Memory,
                owner_id: newer.id,
                model_id: "static".into(),
                vector: vec![0.25, -1.0, 1e-8],
            },
            VectorRecord {
                owner_kind: OwnerKind::Turn,
                owner_id: t1.id,
                model_id: "static".into(),
                vector: vec![3.0, 2.0, 1.0],
            },
        ])
        .unwrap();
}

/// Copies everything from `from` to `to`: the export, then every vector with its model.
pub fn copy_all(from: &dyn Store, to: &dyn Store) {
    let records = from.export(None).unwrap();
    to.import(&records[1..], ImportMode::SkipExisting).unwrap();
    let mut vectors = Vec::new();
    for user in from.users().unwrap() {
        for model in from.vector_models(Some(&user)).unwrap() {
            for (id, v) in from
                .vectors(model.owner_kind, &user, &model.model_id)
                .unwrap()
            {
                vectors.push(VectorRecord {
                    owner_kind: model.owner_kind,
                    owner_id: id,
                    model_id: model.model_id.clone(),
                    vector: v,
                });
            }
        }
    }
    to.put_vectors(&vectors).unwrap();
}

pub fn export_import_round_trip(b: &dyn Backend) {
    let source = b.open();
    sample_data(source.as_ref());
    let first = export_lines(source.as_ref(), None);
    let records = source.export(None).unwrap();
    // Importing into the same database skips everything and changes nothing.
    let report = source
        .import(&records[1..], ImportMode::SkipExisting)
        .unwrap();
    assert_eq!(report.inserted, 0);
    let replaced = source.import(&records[1..], ImportMode::Replace).unwrap();
    assert_eq!(replaced.replaced as usize, records.len() - 1);
    assert_eq!(
        export_lines(source.as_ref(), None),
        first,
        "replace with the same data is a no-op"
    );
    let alice = export_lines(source.as_ref(), Some("alice"));
    assert!(!alice.contains("\"bob\""), "{alice}");
}

pub fn imports_are_all_or_nothing(b: &dyn Backend) {
    let store = b.open();
    let s = scope("alice", None);
    let m = memory(&s, "fine", "2026-01-01T00:00:00Z");
    let mut bad = memory(&s, "bad", "2026-01-01T00:00:00Z");
    bad.salience = 7.0;
    let err = store
        .import(
            &[Record::Memory(m.clone()), Record::Memory(bad)],
            ImportMode::SkipExisting,
        )
        .unwrap_err();
    match err {
        Error::ImportLine { line, reason } => {
            assert_eq!(line, 2);
            assert!(reason.contains("salience"), "{reason}");
        }
        other => panic!("expected ImportLine, got {other:?}"),
    }
    let all = MemoryFilter {
        view: TimeView::All,
        ..MemoryFilter::scope(s.clone())
    };
    assert!(
        store.list_memories(&all).unwrap().is_empty(),
        "nothing of a failed import stays"
    );
    let orphan = event(&m, Op::Add, m.created_at);
    assert!(store
        .import(&[Record::History(orphan)], ImportMode::SkipExisting)
        .is_err());
    let mut theirs = m.clone();
    store
        .import(&[Record::Memory(m)], ImportMode::SkipExisting)
        .unwrap();
    theirs.user_id = "mallory".into();
    assert!(
        store
            .import(&[Record::Memory(theirs)], ImportMode::Replace)
            .is_err(),
        "never moves data between users"
    );
}

/// `a` and `b` are two (possibly different) backends: data written to `a`, copied to `b`,
/// exports byte-identical, vectors and model ids identical, jobs not part of an export.
pub fn copy_between_backends_is_lossless(a: &dyn Backend, b: &dyn Backend) {
    let from = a.open();
    let to = b.open();
    sample_data(from.as_ref());
    copy_all(from.as_ref(), to.as_ref());
    let left = export_lines(from.as_ref(), None);
    let right = export_lines(to.as_ref(), None);
    assert_eq!(
        left,
        right,
        "export of {} and {} differ",
        a.name(),
        b.name()
    );
    assert_eq!(
        export_lines(from.as_ref(), Some("alice")),
        export_lines(to.as_ref(), Some("alice"))
    );
    for user in ["alice", "bob"] {
        assert_eq!(
            from.vector_models(Some(user)).unwrap(),
            to.vector_models(Some(user)).unwrap()
        );
        for model in from.vector_models(Some(user)).unwrap() {
            let mut x = from
                .vectors(model.owner_kind, user, &model.model_id)
                .unwrap();
            let mut y = to.vectors(model.owner_kind, user, &model.model_id).unwrap();
            x.sort_by(|p, q| p.0.cmp(&q.0));
            y.sort_by(|p, q| p.0.cmp(&q.0));
            assert_eq!(x, y);
        }
    }
    let s = scope("alice", None);
    let hist_from: Vec<_> = from
        .list_memories(&MemoryFilter {
            view: TimeView::All,
            ..MemoryFilter::scope(s.clone())
        })
        .unwrap();
    for m in &hist_from {
        assert_eq!(
            from.history(&m.user_id, &m.id).unwrap(),
            to.history(&m.user_id, &m.id).unwrap()
        );
    }
}
