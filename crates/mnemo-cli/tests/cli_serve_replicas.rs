//! Two `mnemo serve` replicas on one PostgreSQL database, as they run behind a load
//! balancer: keys made once work on both and a revocation reaches both; a memory written
//! through one is found through the other at once. Then the replica proof of
//! `mnemo-replica-bench` in small: replicas with their workers and a fake model, clients
//! writing through both, one replica killed with SIGKILL (what it did not answer is sent
//! again to the survivor with the same idempotency key) and restarted. Every request is
//! acknowledged and stored exactly once, every job ran once (but at most the one the
//! killed replica held), every extracted memory is found through both replicas.

mod common;

use std::time::Duration;

use common::server::{create_key, Server};
use common::Mnemo;
use mnemo_store_tests::PgBackend;
use serde_json::{json, Value};

/// A fresh PostgreSQL database, and a `Mnemo` whose MNEMO_DB is it.
fn on_postgres() -> (PgBackend, Mnemo) {
    let db = PgBackend::new();
    let mut m = Mnemo::new();
    m.db = db.url().into();
    (db, m)
}

fn hits(v: &Value) -> Vec<String> {
    v["hits"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(|h| h["memory"]["content"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn search(s: &Server, key: &str, query: &str) -> Vec<String> {
    let (status, v) = s.call(
        "POST",
        "/v1/memories/search",
        Some(key),
        Some(&json!({ "query": query, "limit": 5 })),
    );
    assert_eq!(status, 200, "{v}");
    hits(&v)
}

#[test]
fn keys_and_memories_are_shared_by_replicas_at_once() {
    let (_db, m) = on_postgres();
    // A replica starts only when the database holds a key.
    create_key(&m, "ops", &["--admin"]);
    let a = Server::start(&m, &["--no-worker"]);
    let b = Server::start(&m, &["--no-worker"]);
    // A key made after both started works on both; a user's key never sees another's.
    let ann = create_key(&m, "ann", &[]);
    let bob = create_key(&m, "bob", &[]);
    let (status, v) = a.call(
        "POST",
        "/v1/memories",
        Some(&ann),
        Some(&json!({"content": "Ann plays the cello every Sunday"})),
    );
    assert!(status == 200 || status == 201, "{status} {v}");
    // No waiting: replica b's index is brought up to date by the search itself.
    assert_eq!(
        search(&b, &ann, "cello"),
        ["Ann plays the cello every Sunday"]
    );
    assert!(search(&b, &bob, "cello").is_empty());
    // b now holds an index of ann's memories; a write through a reaches it too.
    let (status, _) = a.call(
        "POST",
        "/v1/memories",
        Some(&ann),
        Some(&json!({"content": "Ann's cello teacher is called Marta"})),
    );
    assert!(status == 200 || status == 201);
    assert!(search(&b, &ann, "who teaches the cello")
        .contains(&"Ann's cello teacher is called Marta".to_string()));
    // And the other way round, with a delete.
    let (_, listed) = b.call("GET", "/v1/memories", Some(&ann), None);
    let marta = listed["memories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["content"].as_str().unwrap().contains("Marta"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = b.call("DELETE", &format!("/v1/memories/{marta}"), Some(&ann), None);
    assert_eq!(status, 200);
    assert!(!search(&a, &ann, "who teaches the cello")
        .contains(&"Ann's cello teacher is called Marta".to_string()));

    // A revocation reaches a replica that had not cached the key at once.
    let id = bob.split('_').nth(1).unwrap().to_owned();
    m.ok(&["keys", "revoke", &id]);
    let (status, _) = a.call(
        "POST",
        "/v1/memories/search",
        Some(&bob),
        Some(&json!({"query": "x"})),
    );
    assert_eq!(status, 401, "a revoked key is refused");
    let listed = m.json(&["keys", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
}

#[test]
fn replicas_share_the_queue_and_a_killed_one_loses_nothing_acknowledged() {
    let (db, _) = on_postgres();
    let dir = tempfile::tempdir().unwrap();
    let o = mnemo_bench::replicas::Options {
        db: db.url().to_owned(),
        users: 3,
        clients: 6,
        turns: 144,
        kill_at: 0.6,
        restart_after: Duration::from_millis(500),
        lease_secs: 3,
        // Slow enough that the killed replica's worker is likely to hold a job.
        model_delay: Duration::from_millis(40),
        mnemo: env!("CARGO_BIN_EXE_mnemo").into(),
        dir: dir.path().to_path_buf(),
        drain_timeout: Duration::from_secs(90),
    };
    let r = mnemo_bench::replicas::run(&o).unwrap();
    assert!(r.holds(), "{r:#?}");
    assert_eq!(r.acknowledged_turns, 144, "{r:#?}");
    assert_eq!(r.memories_expected, 72, "one memory per exchange: {r:#?}");
    assert!(
        r.killed_at_s > 0.0 && r.restarted_at_s > r.killed_at_s,
        "{r:#?}"
    );
}
