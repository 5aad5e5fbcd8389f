//! `kill -9` of `mnemo serve` under write load, then a restart: every write the server
//! acknowledged is in the database, SQLite's integrity check passes, and every queued
//! pipeline job completes once a model is there.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::fake_llm::{pipeline_reply, FakeOllama};
use common::server::{create_key, Server};
use common::Mnemo;
use serde_json::{json, Value};

#[test]
fn a_killed_server_loses_no_acknowledged_write_and_its_jobs_complete_after_restart() {
    let m = Mnemo::new();
    // Short leases so the jobs that were running when the server died are taken over soon.
    // One key writes as fast as it can here: no per-key rate limit.
    m.write_config(
        "[pipeline]\nlease_secs = 2\nretry_base_secs = 1\nmodel_down_secs = 1\n\
         [server]\nkey_requests_per_sec = 0\n",
    );
    let key = create_key(&m, "anna", &[]);
    // No model for the first server: the jobs pile up in the queue.
    let s = Server::start(&m, &[]);
    let acknowledged = Mutex::new(Vec::<String>::new());
    let stop_at = Instant::now() + Duration::from_millis(1500);
    std::thread::scope(|scope| {
        for t in 0..4 {
            let (s, key, acked) = (&s, &key, &acknowledged);
            scope.spawn(move || {
                let mut i = 0;
                loop {
                    let body = json!({ "messages": [
                        { "role": "user", "content": format!("client {t} says fact number {i}") },
                        { "role": "assistant", "content": format!("noted {t}/{i}") }
                    ]});
                    match s.try_post("/v1/turns", key, &body) {
                        Some((202, out)) => acked.lock().unwrap().extend(
                            out["turns"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|t| t["id"].as_str().unwrap().to_owned()),
                        ),
                        Some((status, out)) => panic!("{status}: {out}"),
                        None => return, // the server is gone
                    }
                    i += 1;
                }
            });
        }
        std::thread::sleep(stop_at - Instant::now());
        s.kill9();
    });
    drop(s);
    let acked = acknowledged.into_inner().unwrap();
    assert!(
        acked.len() > 20,
        "load ran: {} turns acknowledged",
        acked.len()
    );

    let conn = rusqlite::Connection::open(&m.db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut stmt = conn.prepare("SELECT 1 FROM turns WHERE id = ?1").unwrap();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !stmt.exists([id]).unwrap())
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged turns lost",
        missing.len()
    );
    drop(stmt);
    drop(conn);

    // Restart with a model: the worker inside the server drains the queue.
    let fake = FakeOllama::start(|req| {
        pipeline_reply(req, "They listed numbered facts.").unwrap_or_else(|| "ok".into())
    });
    let model = [
        ("MNEMO_LLM_PROVIDER", "ollama"),
        ("OLLAMA_HOST", fake.url.as_str()),
        ("MNEMO_MODEL", "qwen-fake"),
    ];
    let s = Server::start_with(&m, &[], &model);
    let deadline = Instant::now() + Duration::from_secs(90);
    let counts = loop {
        let (st, jobs) = s.call("GET", "/v1/jobs?limit=1", Some(&key), None);
        assert_eq!(st, 200, "{jobs}");
        let c: Value = jobs["counts"].clone();
        if c["queued"] == 0 && c["running"] == 0 {
            break c;
        }
        assert!(Instant::now() < deadline, "jobs still waiting: {c}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(counts["failed"], 0, "{counts}");
    assert!(counts["done"].as_u64().unwrap() > 0, "{counts}");
}

/// `mnemo backup` while a server takes writes from four clients: the copy passes SQLite's
/// integrity check and holds every turn acknowledged before the backup began; `mnemo
/// restore --backup` brings it back into an empty place, and refuses to replace a database
/// that holds data unless told to.
#[test]
fn a_backup_under_write_load_holds_every_acknowledged_turn() {
    let m = Mnemo::new();
    // One key writes as fast as it can here: no per-key rate limit.
    m.write_config("[server]\nkey_requests_per_sec = 0\n");
    let key = create_key(&m, "anna", &[]);
    let s = Server::start(&m, &["--no-worker"]);
    let acknowledged = Mutex::new(Vec::<(Instant, String)>::new());
    let backup = m.dir.path().join("backup.db");
    let (mut began, mut ended) = (Instant::now(), Instant::now());
    let writing = std::sync::atomic::AtomicBool::new(true);
    std::thread::scope(|scope| {
        for t in 0..4 {
            let (s, key, acked, writing) = (&s, &key, &acknowledged, &writing);
            scope.spawn(move || s.write_turns(key, t, writing, acked));
        }
        std::thread::sleep(Duration::from_millis(700));
        began = Instant::now();
        let out = m.run(&["backup", backup.to_str().unwrap()]);
        ended = Instant::now();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(300));
        writing.store(false, std::sync::atomic::Ordering::SeqCst);
    });
    let acked = acknowledged.into_inner().unwrap();
    let before: Vec<&str> = acked
        .iter()
        .filter(|(at, _)| *at < began)
        .map(|(_, t)| t.as_str())
        .collect();
    let during = acked
        .iter()
        .filter(|(at, _)| *at >= began && *at <= ended)
        .count();
    assert!(
        before.len() > 20,
        "{} writes before the backup",
        before.len()
    );
    let copy = rusqlite::Connection::open(&backup).unwrap();
    let ok: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let mut stmt = copy.prepare("SELECT content FROM turns").unwrap();
    let held: std::collections::HashSet<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let missing: Vec<&&str> = before.iter().filter(|t| !held.contains(**t)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the backup, not in it: {missing:?}"
    );
    eprintln!(
        "backup: {} turns acknowledged before it, {during} while it ran, {} in the copy",
        before.len(),
        held.len()
    );
    drop(stmt);
    drop(copy);

    // Back into an empty place; not over data without --replace.
    let restored = m.dir.path().join("restored/mnemo.db");
    let at = |db: &std::path::Path, args: &[&str]| {
        let mut all = vec!["--db", db.to_str().unwrap()];
        all.extend_from_slice(args);
        m.run(&all)
    };
    let out = at(
        &restored,
        &["--json", "restore", "--backup", backup.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["turns"].as_u64().unwrap() as usize, held.len());
    let out = at(&restored, &["--user", "anna", "log", "--limit", "100000"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(before[0]));
    let out = at(&m.db, &["restore", "--backup", backup.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--replace"), "{err}");
    // A backup never overwrites.
    let out = m.run(&["backup", backup.to_str().unwrap()]);
    assert!(!out.status.success());
}
