//! Vectors (migration 0002): stored per owner with their model, loaded per user and model,
//! removed with their owner, and index epochs that move on every change.

mod common;

use common::{say, scope, store};
use mnemo_core::{OwnerKind, Store, VectorRecord, VectorStore};

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
