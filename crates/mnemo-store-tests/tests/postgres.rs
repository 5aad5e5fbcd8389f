//! The conformance suite on PostgreSQL + pgvector (a fresh database per test on the test
//! server: `MNEMO_TEST_PG_URL`, or one started by scripts/pg.sh), and what only the
//! PostgreSQL backend has: byte-identical copies from SQLite, pgvector search, the schema
//! version check.

use mnemo_core::{Error, OwnerKind, VectorRecord, VectorStore};
use mnemo_store_postgres::PgStore;
use mnemo_store_tests::fixtures::{memory, put, scope};
use mnemo_store_tests::{Backend, PgBackend, SqliteBackend};

mnemo_store_tests::conformance_tests!(PgBackend::new());

#[test]
fn a_sqlite_database_copies_to_postgres_byte_for_byte() {
    mnemo_store_tests::copy_between_backends_is_lossless(&SqliteBackend::new(), &PgBackend::new());
}

#[test]
fn a_postgres_database_copies_to_sqlite_byte_for_byte() {
    mnemo_store_tests::copy_between_backends_is_lossless(&PgBackend::new(), &SqliteBackend::new());
}

#[test]
fn nearest_memories_search_runs_in_the_database() {
    let db = PgBackend::new();
    let store = PgStore::open(db.url()).unwrap();
    let s = scope("alice", None);
    let mut records = Vec::new();
    let mut ids = Vec::new();
    for i in 0..50 {
        let m = memory(&s, &format!("memory {i}"), "2026-01-01T00:00:00Z");
        put(&store, &m);
        let angle = i as f32 * 0.05;
        records.push(VectorRecord {
            owner_kind: OwnerKind::Memory,
            owner_id: m.id.clone(),
            model_id: "static".into(),
            vector: vec![angle.cos(), angle.sin(), 0.0],
        });
        ids.push(m.id);
    }
    let bob = memory(&scope("bob", None), "bob", "2026-01-01T00:00:00Z");
    put(&store, &bob);
    records.push(VectorRecord {
        owner_kind: OwnerKind::Memory,
        owner_id: bob.id.clone(),
        model_id: "static".into(),
        vector: vec![1.0, 0.0, 0.0],
    });
    store.put_vectors(&records).unwrap();
    let mut c = postgres::Client::connect(db.url(), postgres::NoTls).unwrap();
    let hnsw = |c: &mut postgres::Client| -> i64 {
        c.query_one(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'vectors_hnsw_3'",
            &[],
        )
        .unwrap()
        .get(0)
    };
    assert_eq!(hnsw(&mut c), 0, "writes alone never pay for an HNSW index");
    let hits = store
        .nearest_memories("alice", "static", &[1.0, 0.0, 0.0], 3)
        .unwrap();
    let got: Vec<&str> = hits.iter().map(|h| h.0.as_str()).collect();
    assert_eq!(got, vec![ids[0].as_str(), ids[1].as_str(), ids[2].as_str()]);
    assert!((hits[0].1 - 1.0).abs() < 1e-5, "{hits:?}");
    assert!(store
        .nearest_memories("alice", "other-model", &[1.0, 0.0, 0.0], 3)
        .unwrap()
        .is_empty());
    // The first search built the HNSW index; later writes keep it current.
    assert_eq!(hnsw(&mut c), 1);
    let late = memory(&s, "late", "2026-01-02T00:00:00Z");
    put(&store, &late);
    store
        .put_vectors(&[VectorRecord {
            owner_kind: OwnerKind::Memory,
            owner_id: late.id.clone(),
            model_id: "static".into(),
            vector: vec![1.0, 0.001, 0.0],
        }])
        .unwrap();
    let hits = store
        .nearest_memories("alice", "static", &[1.0, 0.0, 0.0], 2)
        .unwrap();
    assert!(hits.iter().any(|h| h.0 == late.id), "{hits:?}");
}

#[test]
fn a_database_of_a_newer_mnemo_is_refused() {
    let db = PgBackend::new();
    drop(db.open());
    let mut c = postgres::Client::connect(db.url(), postgres::NoTls).unwrap();
    c.batch_execute("UPDATE mnemo_schema SET version = 99")
        .unwrap();
    match PgStore::open(db.url()) {
        Err(Error::SchemaTooNew { found, supported }) => assert_eq!(
            (found, supported),
            (99, mnemo_store_postgres::SCHEMA_VERSION)
        ),
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[test]
fn an_unreachable_server_is_a_clear_error_without_the_password() {
    let e = PgStore::open("postgres://mnemo:hunter2@127.0.0.1:1/mnemo").unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("cannot connect to postgres://mnemo:***@127.0.0.1:1/mnemo"),
        "{text}"
    );
    assert!(!text.contains("hunter2"));
}

#[test]
fn connections_the_server_dropped_are_replaced() {
    let db = PgBackend::new();
    let store = PgStore::open(db.url()).unwrap();
    let s = scope("alice", None);
    put(&store, &memory(&s, "before", "2026-01-01T00:00:00Z"));
    let mut admin = postgres::Client::connect(db.url(), postgres::NoTls).unwrap();
    let killed: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        killed >= 1,
        "the store's pooled connection was there to kill"
    );
    // A read on the dead pooled connection is retried on a new one.
    let found =
        mnemo_core::Store::list_memories(&store, &mnemo_core::MemoryFilter::scope(s.clone()))
            .unwrap();
    assert_eq!(found.len(), 1);
    put(&store, &memory(&s, "after", "2026-01-02T00:00:00Z"));
}

#[test]
fn text_postgres_cannot_hold_is_refused_by_field() {
    let db = PgBackend::new();
    let store = db.open();
    let s = scope("alice", None);
    let turn = mnemo_store_tests::fixtures::new_turn(&s, "s1", "a\0b", None);
    match store.add_turn(&turn, 1, mnemo_store_tests::fixtures::now()) {
        Err(Error::Invalid { field, reason }) => {
            assert_eq!(field, "content");
            assert!(reason.contains("NUL"), "{reason}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    // A SQLite database holding such text says which record cannot move, and nothing moves.
    let sqlite_db = SqliteBackend::new();
    let sqlite = sqlite_db.open();
    let bad = memory(&s, "x\0y", "2026-01-01T00:00:00Z");
    put(sqlite.as_ref(), &bad);
    let records = sqlite.export(None).unwrap();
    match store.import(&records[1..], mnemo_core::ImportMode::SkipExisting) {
        Err(Error::ImportLine { line, reason }) => {
            assert_eq!(line, 1);
            assert!(
                reason.contains(&bad.id) && reason.contains("NUL"),
                "{reason}"
            );
        }
        other => panic!("expected ImportLine, got {other:?}"),
    }
    assert_eq!(store.stats().unwrap().memories_total, 0);
}

/// Many threads on one store share at most its pool's connections: they wait for one
/// instead of opening (and then closing) a connection each.
#[test]
fn concurrent_callers_share_a_bounded_pool() {
    use mnemo_core::Store;
    let db = PgBackend::new();
    let store = PgStore::open_with_pool(db.url(), 3).unwrap();
    put(
        &store,
        &memory(&scope("alice", None), "pooled", "2026-01-01T00:00:00Z"),
    );
    std::thread::scope(|s| {
        for _ in 0..24 {
            s.spawn(|| {
                for _ in 0..10 {
                    assert_eq!(store.stats().unwrap().memories_total, 1);
                }
            });
        }
    });
    let mut admin = postgres::Client::connect(db.url(), postgres::NoTls).unwrap();
    let open: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        (1..=3).contains(&open),
        "{open} connections left open by a pool of 3"
    );
}

/// A database made by schema 2 (sessions keyed by id alone), with a session, its turns, a
/// summary and a memory: migration 3 keys sessions by (user, id) and keeps every row.
#[test]
fn a_schema_2_database_migrates_to_sessions_per_user() {
    let db = PgBackend::new();
    let mut c = postgres::Client::connect(db.url(), postgres::NoTls).unwrap();
    c.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS vector;
         CREATE TABLE mnemo_schema (version bigint NOT NULL);
         INSERT INTO mnemo_schema VALUES (2);",
    )
    .unwrap();
    c.batch_execute(include_str!(
        "../../mnemo-store-postgres/src/migrations/0001_init.sql"
    ))
    .unwrap();
    c.batch_execute(include_str!(
        "../../mnemo-store-postgres/src/migrations/0002_api_keys.sql"
    ))
    .unwrap();
    c.batch_execute(
        "INSERT INTO sessions (id, user_id, started_at) VALUES
             ('team-sync', 'alice', '2026-01-01T00:00:00Z');
         INSERT INTO turns (id, session_id, seq, user_id, role, content, created_at, tokens)
         VALUES ('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1', 'team-sync', 1, 'alice', 'user',
                 'the budget review moved to Thursday', '2026-01-01T00:00:00Z', 7),
                ('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2', 'team-sync', 2, 'alice', 'assistant',
                 'noted, Thursday it is', '2026-01-01T00:00:01Z', 5);
         INSERT INTO summaries (id, user_id, session_id, first_seq, last_seq, summary, created_at)
         VALUES ('bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1', 'alice', 'team-sync', 1, 2,
                 'the review moved', '2026-01-01T00:00:02Z');",
    )
    .unwrap();
    drop(c);

    let store = PgStore::open(db.url()).unwrap();
    use mnemo_core::Store;
    assert_eq!(
        store.stats().unwrap().schema_version,
        mnemo_store_postgres::SCHEMA_VERSION
    );
    let in_session = |user: &str| mnemo_core::TurnFilter {
        scope: Some(scope(user, None)),
        session_id: Some("team-sync".into()),
        ..Default::default()
    };
    assert_eq!(store.list_turns(&in_session("alice")).unwrap().len(), 2);
    assert_eq!(
        store
            .search_turns("budget", &in_session("alice"), 5)
            .unwrap()
            .len(),
        1
    );
    let bob = mnemo_store_tests::fixtures::say(
        &store,
        &scope("bob", None),
        "team-sync",
        "hi",
        "2026-01-02T00:00:00Z",
    );
    assert_eq!(bob.seq, 1, "bob's own session under the same id");
    let alice = mnemo_store_tests::fixtures::say(
        &store,
        &scope("alice", None),
        "team-sync",
        "third",
        "2026-01-02T00:00:00Z",
    );
    assert_eq!(alice.seq, 3);
    assert_eq!(
        store
            .list_summaries(&scope("alice", None), Some("team-sync"))
            .unwrap()
            .len(),
        1
    );
    store.forget_user("alice").unwrap();
    assert_eq!(store.list_turns(&in_session("bob")).unwrap().len(), 1);
}
