//! Opening databases: creation, migrations, reopening, refusal of newer or foreign files.

mod common;

use common::{memory, now, put, say, scope};
use mnemo_core::{Error, Store};
use mnemo_store_sqlite::{SqliteStore, SCHEMA_VERSION};
use rusqlite::Connection;

#[test]
fn a_fresh_file_is_created_with_parent_dirs_and_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/mnemo.db");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.path(), Some(path.as_path()));
    assert!(path.exists());
    let stats = store.stats().unwrap();
    assert_eq!(stats.schema_version, SCHEMA_VERSION);
    assert!(stats.db_bytes > 0);
    drop(store);

    let conn = Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    for table in [
        "sessions",
        "turns",
        "memories",
        "memory_sources",
        "history",
        "topics",
        "summaries",
        "memories_fts",
        "turns_fts",
        "topics_fts",
        "summaries_fts",
    ] {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "table {table}");
    }
}

#[test]
fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mnemo.db");
    let s = scope("alice", None);
    let m = memory(&s, "likes green tea", "2026-01-01T00:00:00Z");
    {
        let store = SqliteStore::open(&path).unwrap();
        put(&store, &m);
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.get_memory(Some("alice"), &m.id).unwrap(), m);
    assert_eq!(store.stats().unwrap().schema_version, SCHEMA_VERSION);
}

#[test]
fn a_database_from_a_newer_mnemo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mnemo.db");
    drop(SqliteStore::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .execute_batch(&format!("PRAGMA user_version = {};", SCHEMA_VERSION + 1))
        .unwrap();
    match SqliteStore::open(&path) {
        Err(Error::SchemaTooNew { found, supported }) => {
            assert_eq!(found, SCHEMA_VERSION + 1);
            assert_eq!(supported, SCHEMA_VERSION);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[test]
fn a_file_that_is_not_a_database_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(100)).unwrap();
    match SqliteStore::open(&path) {
        Err(Error::Storage(msg)) => {
            assert!(msg.contains("not a mnemo database"), "{msg}");
            assert!(msg.contains("notes.txt"), "{msg}");
        }
        other => panic!("expected Storage, got {other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn a_read_only_file_is_reported_as_read_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mnemo.db");
    drop(SqliteStore::open(&path).unwrap());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    if std::fs::OpenOptions::new().write(true).open(&path).is_ok() {
        // Running as root: permissions do not bind, so there is nothing to observe here;
        // `read_only_connections_are_refused` covers the mapping.
        eprintln!("skipped: file permissions are not enforced for this user");
        return;
    }
    match SqliteStore::open(&path) {
        Err(Error::ReadOnly(msg)) => assert!(msg.contains("mnemo.db"), "{msg}"),
        other => panic!("expected ReadOnly, got {other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn a_read_only_directory_is_reported_as_read_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let path = locked.join("mnemo.db");
    if std::fs::write(&path, b"").is_ok() {
        eprintln!("skipped: directory permissions are not enforced for this user");
        return;
    }
    match SqliteStore::open(&path) {
        Err(Error::ReadOnly(msg)) => assert!(msg.contains("mnemo.db"), "{msg}"),
        other => panic!("expected ReadOnly, got {other:?}"),
    }
}

#[test]
fn in_memory_stores_work_and_have_no_path() {
    let store = SqliteStore::open_in_memory().unwrap();
    assert!(store.path().is_none());
    let s = scope("u", None);
    put(&store, &memory(&s, "x", "2026-01-01T00:00:00Z"));
    assert_eq!(store.stats().unwrap().memories_total, 1);
    let _ = now();
}

/// A database made by schema 5 (sessions keyed by id alone), with a session, its turns
/// and their vector, a summary, a memory and a range job: migration 6 keys sessions by
/// (user, id) and keeps every row, the full-text index, the foreign keys and the triggers.
#[test]
fn a_schema_5_database_migrates_to_sessions_per_user() {
    const SCHEMA_5: [&str; 5] = [
        include_str!("../src/migrations/0001_init.sql"),
        include_str!("../src/migrations/0002_vectors.sql"),
        include_str!("../src/migrations/0003_jobs.sql"),
        include_str!("../src/migrations/0004_memory_changes.sql"),
        include_str!("../src/migrations/0005_api_keys.sql"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v5.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
    for sql in SCHEMA_5 {
        conn.execute_batch(sql).unwrap();
    }
    conn.execute_batch(
        "PRAGMA user_version = 5;
         INSERT INTO sessions (id, user_id, started_at) VALUES
             ('team-sync', 'alice', '2026-01-01T00:00:00.000000Z');
         INSERT INTO turns (id, session_id, seq, user_id, role, content, created_at, tokens)
         VALUES ('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1', 'team-sync', 1, 'alice', 'user',
                 'the budget review moved to Thursday', '2026-01-01T00:00:00.000000Z', 7),
                ('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2', 'team-sync', 2, 'alice', 'assistant',
                 'noted, Thursday it is', '2026-01-01T00:00:01.000000Z', 5);
         INSERT INTO vectors VALUES ('turn', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1', 'alice', 'm', 1,
                 x'0000803f');
         INSERT INTO summaries (id, user_id, session_id, first_seq, last_seq, summary, created_at)
         VALUES ('bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1', 'alice', 'team-sync', 1, 2,
                 'the review moved', '2026-01-01T00:00:02.000000Z');
         INSERT INTO memories (id, user_id, session_id, kind, content, salience, valid_from,
                 created_at, updated_at)
         VALUES ('ccccccccccccccccccccccccccccccc1', 'alice', 'team-sync', 'fact',
                 'budget review is on Thursday', 0.5, '2026-01-01T00:00:02.000000Z',
                 '2026-01-01T00:00:02.000000Z', '2026-01-01T00:00:02.000000Z');
         INSERT INTO jobs (id, kind, user_id, subject, session_id, first_seq, last_seq, status,
                 max_attempts, next_run_at, created_at, updated_at)
         VALUES ('ddddddddddddddddddddddddddddddd1', 'extract', 'alice', 'team-sync:1-2',
                 'team-sync', 1, 2, 'done', 3, '2026-01-01T00:00:02.000000Z',
                 '2026-01-01T00:00:02.000000Z', '2026-01-01T00:00:02.000000Z');",
    )
    .unwrap();
    drop(conn);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.stats().unwrap().schema_version, SCHEMA_VERSION);
    let alice = scope("alice", None);
    let in_session = |s: &mnemo_core::Scope| mnemo_core::TurnFilter {
        scope: Some(s.clone()),
        session_id: Some("team-sync".into()),
        ..Default::default()
    };
    let turns = store.list_turns(&in_session(&alice)).unwrap();
    assert_eq!(turns.iter().map(|t| t.seq).collect::<Vec<_>>(), vec![1, 2]);
    let hits = store
        .search_turns("budget", &in_session(&alice), 5)
        .unwrap();
    assert_eq!(
        hits.len(),
        1,
        "the full-text index still points at the turns"
    );
    assert_eq!(
        store
            .list_summaries(&alice, Some("team-sync"))
            .unwrap()
            .len(),
        1
    );

    // The id is now alice's alone: bob gets a session of his own under it.
    let bob = scope("bob", None);
    let turn = say(&store, &bob, "team-sync", "hi", "2026-01-02T00:00:00Z");
    assert_eq!(turn.seq, 1);
    assert_eq!(store.list_turns(&in_session(&alice)).unwrap().len(), 2);
    let next = say(&store, &alice, "team-sync", "third", "2026-01-02T00:00:00Z");
    assert_eq!(next.seq, 3);

    // Forgetting alice runs the recreated triggers: her vector and job go with her turns.
    store.forget_user("alice").unwrap();
    drop(store);
    let conn = Connection::open(&path).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM vectors"), 0);
    assert_eq!(count("SELECT count(*) FROM jobs"), 0);
    assert_eq!(count("SELECT count(*) FROM turns WHERE user_id = 'bob'"), 1);
    assert_eq!(count("SELECT count(*) FROM pragma_foreign_key_check"), 0);
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    conn.execute_batch(
        "INSERT INTO turns_fts (turns_fts) VALUES ('integrity-check');
         INSERT INTO summaries_fts (summaries_fts) VALUES ('integrity-check');",
    )
    .unwrap();
}
