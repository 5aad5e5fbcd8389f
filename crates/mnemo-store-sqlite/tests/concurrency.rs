//! Several connections on one file (as several mnemo processes would have): migrations and
//! writes serialise through SQLite's locks without errors or duplicate sequence numbers.

mod common;

use std::sync::Arc;
use std::thread;

use common::{now, scope, ts};
use mnemo_core::{NewTurn, Role, Store, TurnFilter};
use mnemo_store_sqlite::{SqliteStore, SCHEMA_VERSION};
use serde_json::Value;

#[test]
fn concurrent_opens_of_a_fresh_file_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = Arc::new(dir.path().join("mnemo.db"));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let path = Arc::clone(&path);
            thread::spawn(move || SqliteStore::open(&path).map(|s| s.stats().unwrap()))
        })
        .collect();
    for h in handles {
        let stats = h.join().unwrap().unwrap();
        assert_eq!(stats.schema_version, SCHEMA_VERSION);
    }
}

#[test]
fn concurrent_writers_get_distinct_consecutive_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mnemo.db");
    drop(SqliteStore::open(&path).unwrap());
    let handles: Vec<_> = (0..3)
        .map(|w| {
            let path = path.clone();
            thread::spawn(move || {
                let store = SqliteStore::open(&path).unwrap();
                for i in 0..20 {
                    let turn = NewTurn {
                        id: None,
                        scope: scope("alice", None),
                        session_id: "shared".into(),
                        role: Role::User,
                        content: format!("writer {w} turn {i}"),
                        created_at: Some(ts("2026-01-01T00:00:00Z")),
                        meta: Value::Null,
                    };
                    store.add_turn(&turn, 1, now()).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let filter = TurnFilter {
        session_id: Some("shared".into()),
        ..Default::default()
    };
    let seqs: Vec<i64> = store
        .list_turns(&filter)
        .unwrap()
        .iter()
        .map(|t| t.seq)
        .collect();
    assert_eq!(seqs, (1..=60).collect::<Vec<_>>());
}
