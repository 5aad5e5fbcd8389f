//! Concurrent writers through separate handles (separate processes or servers in
//! production): no duplicate or missing sequence numbers, each job leased once, every
//! memory written reaches the change feed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::thread;

use chrono::Duration;
use mnemo_core::{JobFilter, JobKind, NewJob, RangeJob, Store, TurnFilter};
use serde_json::json;

use crate::fixtures::{memory, new_turn, now, put, scope};
use crate::Backend;

const THREADS: usize = 4;

pub fn concurrent_writers_never_collide(b: &dyn Backend) {
    let handles: Vec<Arc<dyn Store>> = (0..THREADS).map(|_| b.open()).collect();
    let s = scope("alice", None);
    let seq0 = handles[0].memory_change_seq().unwrap();
    thread::scope(|scope| {
        for (i, store) in handles.iter().enumerate() {
            let s = s.clone();
            scope.spawn(move || {
                for n in 0..10 {
                    let turn = new_turn(&s, "shared", &format!("writer {i} turn {n}"), None);
                    store.add_turn(&turn, 1, now()).unwrap();
                    put(
                        store.as_ref(),
                        &memory(&s, &format!("memory {i}/{n}"), "2026-01-01T00:00:00Z"),
                    );
                }
            });
        }
    });
    let turns = handles[0]
        .list_turns(&TurnFilter {
            session_id: Some("shared".into()),
            ..Default::default()
        })
        .unwrap();
    let seqs: Vec<i64> = turns.iter().map(|t| t.seq).collect();
    assert_eq!(seqs, (1..=(THREADS as i64 * 10)).collect::<Vec<_>>());
    let changes = handles[1]
        .memory_changes_since("alice", seq0)
        .unwrap()
        .unwrap();
    assert_eq!(
        changes.ids.len(),
        THREADS * 10,
        "every memory reached the feed"
    );
}

pub fn concurrent_workers_run_each_job_once(b: &dyn Backend) {
    let handles: Vec<Arc<dyn Store>> = (0..THREADS).map(|_| b.open()).collect();
    let jobs: Vec<NewJob> = (0..40)
        .map(|i| {
            NewJob::new(
                JobKind::Reconcile,
                scope(&format!("u{}", i % 5), None),
                format!("cell/{i}"),
                json!({"i": i}),
            )
        })
        .collect();
    handles[0].enqueue_jobs(&jobs, now()).unwrap();
    let runs: Mutex<HashMap<String, usize>> = Mutex::new(HashMap::new());
    thread::scope(|scope| {
        for (w, store) in handles.iter().enumerate() {
            let runs = &runs;
            scope.spawn(move || {
                let worker = format!("w{w}");
                while let Some(job) = store
                    .lease_job(&worker, &JobKind::ALL, now(), now() + Duration::minutes(5))
                    .unwrap()
                {
                    *runs.lock().unwrap().entry(job.id.clone()).or_default() += 1;
                    let lease = job.lease_owner.unwrap();
                    assert!(store
                        .complete_job(&job.id, &lease, &json!({}), &[], now())
                        .unwrap());
                }
            });
        }
    });
    let runs = runs.into_inner().unwrap();
    assert_eq!(runs.len(), 40);
    assert!(runs.values().all(|n| *n == 1), "{runs:?}");
    // Enqueueing the same identities again from every handle at once adds nothing.
    thread::scope(|scope| {
        for store in &handles {
            let jobs = &jobs;
            scope.spawn(move || store.enqueue_jobs(jobs, now()).unwrap());
        }
    });
    let ids: HashSet<String> = handles[0]
        .list_jobs(&Default::default())
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(ids.len(), 40);
}

/// Turns of one session recorded through several handles at once, each with the range
/// jobs it makes due: the extraction ranges cover every turn exactly once.
pub fn concurrent_turns_get_range_jobs_without_gaps_or_overlaps(b: &dyn Backend) {
    let handles: Vec<Arc<dyn Store>> = (0..THREADS).map(|_| b.open()).collect();
    let s = scope("alice", None);
    let range = |min| RangeJob {
        kind: JobKind::Extract,
        min_turns: min,
        max_turns: 3,
        max_attempts: 3,
    };
    thread::scope(|scope| {
        for (i, store) in handles.iter().enumerate() {
            let s = s.clone();
            scope.spawn(move || {
                for n in 0..10 {
                    let turn = new_turn(&s, "shared", &format!("writer {i} turn {n}"), None);
                    store
                        .add_turns_with_jobs(&[(turn, 1)], &[range(3)], now())
                        .unwrap();
                }
            });
        }
    });
    handles[0]
        .enqueue_ranges("alice", "shared", &[range(1)], now())
        .unwrap();
    let mut ranges: Vec<(i64, i64)> = handles[1]
        .list_jobs(&JobFilter {
            kinds: vec![JobKind::Extract],
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|j| (j.first_seq.unwrap(), j.last_seq.unwrap()))
        .collect();
    ranges.sort();
    let mut next = 1;
    for (first, last) in &ranges {
        assert_eq!(*first, next, "a gap or an overlap: {ranges:?}");
        assert!(last - first < 3, "{ranges:?}");
        next = last + 1;
    }
    assert_eq!(
        next,
        THREADS as i64 * 10 + 1,
        "every turn covered: {ranges:?}"
    );
}
