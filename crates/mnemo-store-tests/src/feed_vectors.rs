//! What the engine's in-memory indexes rely on: vectors with their model ids, index
//! epochs, and the memory change feed — seen from a second handle on the same database
//! (another process or another server).

use mnemo_core::{MemoryFilter, Op, OwnerKind, VectorRecord};

use crate::fixtures::{event, memory, now, put, say, scope};
use crate::Backend;

fn vector(kind: OwnerKind, id: &str, model: &str, v: &[f32]) -> VectorRecord {
    VectorRecord {
        owner_kind: kind,
        owner_id: id.to_owned(),
        model_id: model.to_owned(),
        vector: v.to_vec(),
    }
}

pub fn vectors_keep_their_model_ids(b: &dyn Backend) {
    let store = b.open();
    let s = scope("alice", None);
    let t = say(store.as_ref(), &s, "s", "hello", "2026-01-01T00:00:00Z");
    let m1 = memory(&s, "likes tea", "2026-01-01T00:00:00Z");
    let m2 = memory(&s, "likes jazz", "2026-01-02T00:00:00Z");
    put(store.as_ref(), &m1);
    put(store.as_ref(), &m2);
    let exact = [0.1f32, -2.5e-7, 3.4028235e38, 1.0 / 3.0];
    store
        .put_vectors(&[
            vector(OwnerKind::Memory, &m1.id, "static", &exact),
            vector(OwnerKind::Turn, &t.id, "static", &[1.0, 0.0, 0.0, 0.0]),
            vector(OwnerKind::Memory, "missing-owner", "static", &[1.0]),
        ])
        .unwrap();
    assert_eq!(
        store.vectors(OwnerKind::Memory, "alice", "static").unwrap(),
        vec![(m1.id.clone(), exact.to_vec())]
    );
    assert_eq!(
        store
            .missing_vectors(OwnerKind::Memory, "alice", "static")
            .unwrap(),
        vec![m2.id.clone()]
    );
    assert_eq!(
        store
            .missing_vectors(OwnerKind::Turn, "alice", "other")
            .unwrap(),
        vec![t.id.clone()]
    );
    assert_eq!(
        store
            .vectors_of(OwnerKind::Memory, &[m2.id.clone(), m1.id.clone()], "static")
            .unwrap(),
        vec![(m1.id.clone(), exact.to_vec())]
    );
    store
        .put_vectors(&[vector(OwnerKind::Memory, &m2.id, "ollama:x", &[0.5, 0.5])])
        .unwrap();
    let models: Vec<_> = store
        .vector_models(Some("alice"))
        .unwrap()
        .into_iter()
        .map(|c| (c.owner_kind, c.model_id, c.dims, c.count))
        .collect();
    assert_eq!(
        models,
        vec![
            (OwnerKind::Memory, "ollama:x".to_string(), 2, 1),
            (OwnerKind::Memory, "static".to_string(), 4, 1),
            (OwnerKind::Turn, "static".to_string(), 4, 1),
        ]
    );
    // A vector of old text is wrong: editing the text drops it.
    let mut edited = m1.clone();
    edited.content = "likes coffee".into();
    store
        .update_memory(&edited, &event(&edited, Op::Update, now()))
        .unwrap();
    assert!(store
        .vectors_of(OwnerKind::Memory, std::slice::from_ref(&m1.id), "static")
        .unwrap()
        .is_empty());
    assert_eq!(store.delete_vectors_except(Some("static")).unwrap(), 1);
    assert_eq!(store.vector_models(None).unwrap().len(), 1);
}

pub fn epochs_and_the_change_feed_reach_other_handles(b: &dyn Backend) {
    let writer = b.open();
    let reader = b.open();
    let s = scope("alice", None);
    let e0 = reader.index_epoch(OwnerKind::Memory, "alice").unwrap();
    let seq0 = reader.memory_change_seq().unwrap();
    let m = memory(&s, "likes tea", "2026-01-01T00:00:00Z");
    put(writer.as_ref(), &m);
    let e1 = reader.index_epoch(OwnerKind::Memory, "alice").unwrap();
    assert_ne!(e1, e0);
    let other = memory(&scope("bob", None), "bob's", "2026-01-01T00:00:00Z");
    put(writer.as_ref(), &other);
    let mut edited = m.clone();
    edited.salience = 0.9;
    writer
        .update_memory(&edited, &event(&edited, Op::Update, now()))
        .unwrap();
    assert_eq!(
        reader.index_epoch(OwnerKind::Memory, "alice").unwrap(),
        e1 + 1,
        "one change moves it by one"
    );
    // Access bookkeeping moves neither the epoch nor the feed.
    let seq = reader.memory_change_seq().unwrap();
    writer
        .touch_memories(&m.user_id, std::slice::from_ref(&m.id), now())
        .unwrap();
    assert_eq!(reader.memory_change_seq().unwrap(), seq);
    assert_eq!(
        reader.index_epoch(OwnerKind::Memory, "alice").unwrap(),
        e1 + 1
    );

    let changes = reader.memory_changes_since("alice", seq0).unwrap().unwrap();
    assert_eq!(
        changes.ids,
        vec![m.id.clone()],
        "without repeats, only alice's"
    );
    assert_eq!(changes.seq, seq);
    let none = reader.memory_changes_since("alice", seq).unwrap().unwrap();
    assert!(none.ids.is_empty());
    writer.purge_memory(&m.user_id, &m.id).unwrap();
    let gone = reader.memory_changes_since("alice", seq).unwrap().unwrap();
    assert_eq!(gone.ids, vec![m.id.clone()]);
    assert!(reader
        .list_memories(&MemoryFilter::scope(s.clone()))
        .unwrap()
        .is_empty());

    let t0 = reader.index_epoch(OwnerKind::Turn, "alice").unwrap();
    say(writer.as_ref(), &s, "s", "hi", "2026-01-01T00:00:00Z");
    let t1 = reader.index_epoch(OwnerKind::Turn, "alice").unwrap();
    assert_ne!(t1, t0);
    say(writer.as_ref(), &s, "s", "again", "2026-01-01T00:00:01Z");
    assert_eq!(
        reader.index_epoch(OwnerKind::Turn, "alice").unwrap(),
        t1 + 1
    );
}
