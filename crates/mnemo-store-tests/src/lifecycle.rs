//! Contract pieces that the chat, the server and the vector backfill rely on: idle
//! sessions, leases handed back, queued jobs forced due, the count of records waiting for
//! vectors, and keyset pages of memories.

use chrono::Duration;
use mnemo_core::vectors::{OwnerKind, VectorRecord};
use mnemo_core::{JobKind, JobStatus, MemoryFilter, NewJob, TimeView};
use serde_json::json;

use crate::fixtures::{memory, now, put, say, scope, ts};
use crate::Backend;

/// Sessions whose last turn is older than the cut-off and that nobody ended, oldest first.
pub fn idle_sessions_are_found_oldest_first(b: &dyn Backend) {
    let store = b.open();
    let sc = scope("ann", None);
    say(store.as_ref(), &sc, "old", "first", "2024-01-01T10:00:00Z");
    say(
        store.as_ref(),
        &sc,
        "older",
        "first",
        "2024-01-01T09:00:00Z",
    );
    say(
        store.as_ref(),
        &sc,
        "fresh",
        "first",
        "2024-01-01T09:00:00Z",
    );
    say(
        store.as_ref(),
        &sc,
        "fresh",
        "again",
        "2024-01-01T12:00:00Z",
    );
    say(
        store.as_ref(),
        &sc,
        "ended",
        "first",
        "2024-01-01T08:00:00Z",
    );
    store
        .end_session("ann", "ended", ts("2024-01-01T08:30:00Z"))
        .unwrap();
    let pair = |id: &str| ("ann".to_string(), id.to_string());
    let idle = store.idle_sessions(ts("2024-01-01T11:00:00Z"), 10).unwrap();
    assert_eq!(idle, [pair("older"), pair("old")]);
    let one = store.idle_sessions(ts("2024-01-01T11:00:00Z"), 1).unwrap();
    assert_eq!(one, [pair("older")]);
}

/// A released lease makes the job due at once without counting the attempt; a queued job
/// can be forced due; a running one cannot be retried.
pub fn leases_are_handed_back_and_queued_jobs_forced(b: &dyn Backend) {
    let store = b.open();
    let sc = scope("ann", None);
    let job = NewJob::new(JobKind::Topic, sc, ":t", json!({}));
    let queued = store.enqueue_jobs(&[job], now()).unwrap().remove(0);
    let leased = store
        .lease_job("w", &[JobKind::Topic], now(), now() + Duration::minutes(10))
        .unwrap()
        .unwrap();
    assert_eq!(leased.id, queued.id);
    assert!(store.retry_job(&leased.id, now()).is_err(), "running");
    let lease = leased.lease_owner.clone().unwrap();
    assert!(store
        .release_lease(&leased.id, &lease, "stopped", now())
        .unwrap());
    assert!(!store
        .release_lease(&leased.id, &lease, "again", now())
        .unwrap());
    let back = store.get_job(None, &leased.id).unwrap();
    assert_eq!(back.status, JobStatus::Queued);
    assert_eq!(back.attempts, 0, "a handed-back attempt is not counted");
    // Taken again, failed with a retry an hour away, then forced due now.
    let again = store
        .lease_job("w", &[JobKind::Topic], now(), now() + Duration::minutes(10))
        .unwrap()
        .unwrap();
    let later = now() + Duration::hours(1);
    store
        .fail_job(
            &again.id,
            again.lease_owner.as_deref().unwrap(),
            "429",
            Some(later),
            now(),
        )
        .unwrap();
    assert!(store
        .lease_job("w", &[JobKind::Topic], now(), now() + Duration::minutes(10))
        .unwrap()
        .is_none());
    let forced = store.retry_job(&again.id, now()).unwrap();
    assert_eq!(forced.status, JobStatus::Queued);
    assert!(store
        .lease_job("w", &[JobKind::Topic], now(), now() + Duration::minutes(10))
        .unwrap()
        .is_some());
}

/// Records without a vector of a model are counted across users.
pub fn records_waiting_for_vectors_are_counted(b: &dyn Backend) {
    let store = b.open();
    let (ann, bob) = (scope("ann", None), scope("bob", None));
    let t = say(store.as_ref(), &ann, "s1", "hello", "2024-01-01T10:00:00Z");
    say(store.as_ref(), &bob, "s2", "hi", "2024-01-01T10:00:00Z");
    let m = memory(&ann, "Likes tea", "2024-01-01T10:00:00Z");
    put(store.as_ref(), &m);
    let count = |k| store.count_missing_vectors(k, "model-a").unwrap();
    assert_eq!((count(OwnerKind::Turn), count(OwnerKind::Memory)), (2, 1));
    store
        .put_vectors(&[
            VectorRecord {
                owner_kind: OwnerKind::Turn,
                owner_id: t.id.clone(),
                model_id: "model-a".into(),
                vector: vec![1.0, 0.0],
            },
            VectorRecord {
                owner_kind: OwnerKind::Memory,
                owner_id: m.id.clone(),
                model_id: "model-a".into(),
                vector: vec![0.0, 1.0],
            },
        ])
        .unwrap();
    assert_eq!((count(OwnerKind::Turn), count(OwnerKind::Memory)), (1, 0));
    assert_eq!(
        store
            .count_missing_vectors(OwnerKind::Memory, "model-b")
            .unwrap(),
        1
    );
}

/// Pages after a `(created_at, id)` key never repeat or skip a memory, even when several
/// share a creation time.
pub fn keyset_pages_of_memories(b: &dyn Backend) {
    let store = b.open();
    let sc = scope("ann", None);
    for (i, at) in [
        "2024-01-01T10:00:00Z",
        "2024-01-01T10:00:00Z",
        "2024-01-01T10:00:00Z",
    ]
    .iter()
    .chain(["2024-01-02T10:00:00Z", "2024-01-03T10:00:00Z"].iter())
    .enumerate()
    {
        put(store.as_ref(), &memory(&sc, &format!("fact {i}"), at));
    }
    let mut filter = MemoryFilter::scope(sc);
    filter.view = TimeView::All;
    let all = store.list_memories(&filter).unwrap();
    assert_eq!(all.len(), 5);
    filter.limit = Some(2);
    let mut seen = Vec::new();
    loop {
        let page = store.list_memories(&filter).unwrap();
        let Some(last) = page.last() else { break };
        filter.after = Some((last.created_at, last.id.clone()));
        seen.extend(page.into_iter().map(|m| m.id));
    }
    let expected: Vec<String> = all.into_iter().map(|m| m.id).collect();
    assert_eq!(seen, expected);
}
