//! Vectors (migration 0002): stored per owner with their model, loaded per user and model,
//! removed with their owner, and index epochs that move on every change.

mod common;

use common::{event, memory, now, put, say, scope, store};
use mnemo_core::{Op, OwnerKind, Store, VectorRecord, VectorStore};

fn rec(id: &str, model: &str, v: &[f32]) -> VectorRecord {
    VectorRecord {
        owner_kind: OwnerKind::Turn,
        owner_id: id.into(),
        model_id: model.into(),
        vector: v.to_vec(),
    }
}

#[test]
fn vectors_are_kept_per_owner_and_model_and_die_with_their_owner() {
    let (_dir, store) = store();
    let s = scope("alice", None);
    let t1 = say(&store, &s, "s1", "hello", "2026-01-01T10:00:00Z");
    let t2 = say(&store, &s, "s1", "again", "2026-01-01T10:01:00Z");
    let e0 = store.index_epoch(OwnerKind::Turn, "alice").unwrap();
    assert!(e0 > 0);
    store
        .put_vectors(&[
            rec(&t1.id, "m1", &[1.0, -0.5]),
            rec("no-such-turn", "m1", &[0.0, 1.0]),
        ])
        .unwrap();
    assert_eq!(
        store.vectors(OwnerKind::Turn, "alice", "m1").unwrap(),
        vec![(t1.id.clone(), vec![1.0, -0.5])]
    );
    assert!(store
        .vectors(OwnerKind::Turn, "alice", "m2")
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .missing_vectors(OwnerKind::Turn, "alice", "m1")
            .unwrap(),
        vec![t2.id.clone()]
    );
    assert_eq!(
        store.count_missing_vectors(OwnerKind::Turn, "m1").unwrap(),
        1
    );
    assert_eq!(
        store.count_missing_vectors(OwnerKind::Turn, "m9").unwrap(),
        2
    );
    assert_eq!(
        store
            .count_missing_vectors(OwnerKind::Memory, "m1")
            .unwrap(),
        0
    );
    store
        .put_vectors(&[rec(&t2.id, "m2", &[0.5, 0.5, 0.5])])
        .unwrap();
    let models = store.vector_models(Some("alice")).unwrap();
    let names: Vec<(&str, usize, u64)> = models
        .iter()
        .map(|m| (m.model_id.as_str(), m.dims, m.count))
        .collect();
    assert_eq!(names, vec![("m1", 2, 1), ("m2", 3, 1)]);
    assert_eq!(store.delete_vectors_except(Some("m2")).unwrap(), 1);
    assert_eq!(store.vector_models(None).unwrap().len(), 1);
    // Vectors add no epoch change; a turn does.
    assert_eq!(store.index_epoch(OwnerKind::Turn, "alice").unwrap(), e0);
    say(&store, &s, "s1", "third", "2026-01-01T10:02:00Z");
    assert_eq!(store.index_epoch(OwnerKind::Turn, "alice").unwrap(), e0 + 1);
    store.forget_user("alice").unwrap();
    assert!(store.vector_models(None).unwrap().is_empty());
    assert_eq!(store.index_epoch(OwnerKind::Turn, "alice").unwrap(), 0);
    say(&store, &s, "s9", "new life", "2026-01-02T10:00:00Z");
    assert!(store.index_epoch(OwnerKind::Turn, "alice").unwrap() > e0 + 1);
}

#[test]
fn the_memory_change_feed_names_what_changed_since_a_position() {
    let (_dir, store) = store();
    let s = scope("alice", None);
    let start = store.memory_change_seq().unwrap();
    let nothing = store.memory_changes_since("alice", start).unwrap().unwrap();
    assert!(nothing.ids.is_empty());
    assert_eq!(nothing.seq, start);
    let a = memory(&s, "likes tea", "2026-01-01T10:00:00Z");
    let b = memory(&s, "lives in Lyon", "2026-01-01T10:01:00Z");
    put(&store, &a);
    put(&store, &b);
    put(
        &store,
        &memory(&scope("bob", None), "other user", "2026-01-01T10:02:00Z"),
    );
    let after_puts = store.memory_changes_since("alice", start).unwrap().unwrap();
    assert_eq!(after_puts.ids, vec![a.id.clone(), b.id.clone()]);
    let mid = after_puts.seq;
    assert_eq!(mid, store.memory_change_seq().unwrap());
    // Access bookkeeping is not a change; an edit is, and a purge is.
    store
        .touch_memories(&a.user_id, std::slice::from_ref(&a.id), now())
        .unwrap();
    assert!(store
        .memory_changes_since("alice", mid)
        .unwrap()
        .unwrap()
        .ids
        .is_empty());
    let mut edited = b.clone();
    edited.content = "lives in Paris".into();
    store
        .update_memory(&edited, &event(&edited, Op::Update, now()))
        .unwrap();
    store.purge_memory(&a.user_id, &a.id).unwrap();
    let later = store.memory_changes_since("alice", mid).unwrap().unwrap();
    assert_eq!(later.ids, vec![b.id.clone(), a.id.clone()], "each id once");
    // Vectors of a few owners.
    store
        .put_vectors(&[VectorRecord {
            owner_kind: OwnerKind::Memory,
            owner_id: b.id.clone(),
            model_id: "m1".into(),
            vector: vec![0.5, 1.0],
        }])
        .unwrap();
    assert_eq!(
        store
            .vectors_of(OwnerKind::Memory, &[a.id.clone(), b.id.clone()], "m1")
            .unwrap(),
        vec![(b.id.clone(), vec![0.5, 1.0])]
    );
}
