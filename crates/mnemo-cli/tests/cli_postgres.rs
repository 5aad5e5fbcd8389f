//! The real binary on PostgreSQL + pgvector (a fresh database per test on the test server:
//! `MNEMO_TEST_PG_URL`, or one started by scripts/pg.sh; the tests fail, never skip, when
//! there is none): remember / recall / list / export through `--db postgres://…`, and
//! `mnemo migrate` copying a SQLite database there losslessly, and pipeline workers in
//! separate processes sharing the job queue (one of them killed with SIGKILL mid-job).

mod common;

use std::time::{Duration, Instant};

use common::fake_llm::{last_user_message, FakeOllama};
use common::Mnemo;
use mnemo_store_tests::PgBackend;
use serde_json::{json, Value};

/// A `Mnemo` whose MNEMO_DB is the PostgreSQL database of `db`.
fn on_postgres(db: &PgBackend) -> Mnemo {
    let mut m = Mnemo::new();
    m.db = db.url().into();
    m
}

#[test]
fn remember_recall_list_and_export_on_postgres() {
    let db = PgBackend::new();
    let m = on_postgres(&db);
    m.ok(&["remember", "I drink green tea every morning"]);
    m.ok(&["remember", "city=Paris"]);
    let updated = m.ok(&["remember", "city=Berlin"]);
    assert!(updated.contains("replaces"), "{updated}");
    let recall = m.ok(&["recall", "what does alex drink"]);
    assert!(recall.contains("green tea"), "{recall}");
    let list = m.json(&["list"]);
    let contents: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents.len(), 2, "{list}");
    assert!(contents.contains(&"Berlin"), "{contents:?}");
    let export = m.ok(&["export"]);
    assert_eq!(
        export.lines().count(),
        1 + 3 + 4,
        "header, 3 memories, 4 events: {export}"
    );
    // The password never reaches output.
    let stats = m.ok(&["stats"]);
    assert!(stats.contains("postgres://"), "{stats}");
    let mut m2 = on_postgres(&db);
    m2.db = db
        .url()
        .replacen("postgres://postgres@", "postgres://postgres:pw@", 1)
        .into();
    let stats = m2.ok(&["stats"]);
    assert!(
        !stats.contains(":pw@") && stats.contains(":***@"),
        "{stats}"
    );
}

#[test]
fn migrate_copies_a_sqlite_database_to_postgres_losslessly() {
    let sqlite = Mnemo::new();
    sqlite.ok(&["remember", "I adopted a golden retriever puppy"]);
    sqlite.ok(&["remember", "My favourite food is sushi"]);
    sqlite.ok(&["remember", "city=Paris"]);
    sqlite.ok(&["remember", "city=Berlin"]);
    sqlite.ok(&["--user", "bo", "remember", "Bo likes chess"]);
    sqlite.ok(&["turn", "add", "--role", "user", "we talked about the puppy"]);
    let out = sqlite
        .cmd(&["reindex"])
        .env("MNEMO_EMBEDDER", "static")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let db = PgBackend::new();
    let report = sqlite.json(&["migrate", "--to", db.url()]);
    assert_eq!(report["import"]["skipped"], 0, "{report}");
    assert!(report["vectors"].as_u64().unwrap() >= 4, "{report}");
    let pg = on_postgres(&db);
    assert_eq!(
        sqlite.ok(&["export", "--all-users"]),
        pg.ok(&["export", "--all-users"]),
        "exports of both backends are byte-identical"
    );
    // The vectors came along: hybrid recall on PostgreSQL finds the dog without a reindex.
    let out = pg
        .cmd(&["recall", "--explain", "dog"])
        .env("MNEMO_EMBEDDER", "static")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("golden retriever") && text.contains("cosine"),
        "{text}"
    );
    // Migrating again adds nothing.
    let again = sqlite.json(&["migrate", "--to", db.url()]);
    assert_eq!(again["import"]["inserted"], 0, "{again}");
}

/// Extraction of "My locker number is N" gives one memory per session; every other
/// pipeline request gets a plain answer. Each reply takes a moment, so a worker can be
/// killed while it holds a job.
fn slow_model(req: &Value) -> String {
    std::thread::sleep(Duration::from_millis(150));
    let system = req["messages"][0]["content"].as_str().unwrap_or("");
    let user = last_user_message(req);
    if system.starts_with("You are the memory manager") {
        let n: String = user
            .split("locker number is ")
            .nth(1)
            .unwrap_or("")
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if n.is_empty() {
            return r#"{"memories": []}"#.into();
        }
        return json!({"memories": [
            {"kind": "fact", "topic": "gym", "salience": 0.8, "content": format!("Locker number is {n}")}
        ]})
        .to_string();
    }
    common::fake_llm::pipeline_reply(req, "They talked about lockers.")
        .unwrap_or_else(|| "ok".into())
}

#[test]
fn workers_in_separate_processes_share_the_queue_and_survive_a_kill() {
    let db = PgBackend::new();
    let m = on_postgres(&db);
    let config = m.dir.path().join("config.toml");
    std::fs::write(&config, "[pipeline]\nlease_secs = 5\n").unwrap();
    let sessions = 6;
    for i in 0..sessions {
        let s = format!("s{i}");
        m.ok(&[
            "turn",
            "add",
            "--session",
            &s,
            &format!("My locker number is {}", 100 + i),
        ]);
        m.ok(&[
            "turn",
            "add",
            "--session",
            &s,
            "--role",
            "assistant",
            "Noted.",
        ]);
    }
    let fake = FakeOllama::start(slow_model);
    let worker = |args: &[&str]| {
        let mut c = m.cmd(args);
        c.env("MNEMO_CONFIG", &config)
            .env("MNEMO_LLM_PROVIDER", "ollama")
            .env("OLLAMA_HOST", &fake.url)
            .env("MNEMO_MODEL", "qwen-fake")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    let mut doomed = worker(&["work"]).spawn().unwrap();
    let mut other = worker(&["work", "--once"]).spawn().unwrap();
    // Kill the first worker while the model is answering one of its jobs.
    let start = Instant::now();
    while fake.requests().len() < 3 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    doomed.kill().unwrap(); // SIGKILL
    doomed.wait().unwrap();
    assert!(other.wait().unwrap().success());
    // After the killed worker's lease expires, another run finishes what it held.
    std::thread::sleep(Duration::from_millis(5500));
    let status = worker(&["work", "--once"]).status().unwrap();
    assert!(status.success());

    let jobs = m.json(&["jobs", "--limit", "1000"]);
    let counts = &jobs["counts"];
    assert_eq!(
        (
            counts["queued"].as_u64(),
            counts["running"].as_u64(),
            counts["failed"].as_u64()
        ),
        (Some(0), Some(0), Some(0)),
        "{jobs}"
    );
    let list = jobs["jobs"].as_array().unwrap();
    let extracts = list.iter().filter(|j| j["kind"] == "extract").count();
    assert_eq!(
        extracts, sessions,
        "one extraction per session, never two: {jobs}"
    );
    // Every job ran once, except at most the one the killed worker held.
    let reruns: u64 = list
        .iter()
        .map(|j| j["attempts"].as_u64().unwrap().saturating_sub(1))
        .sum();
    assert!(reruns <= 1, "{jobs}");
    let memories = m.json(&["list"]);
    let mut contents: Vec<&str> = memories
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["content"].as_str().unwrap())
        .collect();
    contents.sort();
    let expected: Vec<String> = (0..sessions)
        .map(|i| format!("Locker number is {}", 100 + i))
        .collect();
    assert_eq!(contents, expected, "every turn's memory exactly once");
}

/// The PostgreSQL backup the README documents, checked: `mnemo backup` names the tools,
/// `pg_dump --format=custom` taken while a server writes holds every turn acknowledged
/// before it began, and `pg_restore` into an empty database gives a database mnemo opens.
#[test]
fn pg_dump_under_write_load_restores_into_a_working_database() {
    use common::server::{create_key, Server};
    use std::process::Command;
    use std::sync::Mutex;
    let db = PgBackend::new();
    let m = on_postgres(&db);
    // One key writes as fast as it can here: no per-key rate limit.
    m.write_config("[server]\nkey_requests_per_sec = 0\n");
    let out = m.run(&["backup", m.dir.path().join("x.db").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("pg_dump"), "{err}");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg.sh");
    let bin = Command::new("bash")
        .arg(&script)
        .arg("bin")
        .output()
        .unwrap();
    assert!(
        bin.status.success(),
        "{}",
        String::from_utf8_lossy(&bin.stderr)
    );
    let bin = std::path::PathBuf::from(String::from_utf8_lossy(&bin.stdout).trim());
    let key = create_key(&m, "anna", &[]);
    let s = Server::start(&m, &["--no-worker"]);
    let acked = Mutex::new(Vec::<(Instant, String)>::new());
    let writing = std::sync::atomic::AtomicBool::new(true);
    let dump = m.dir.path().join("mnemo.dump");
    let mut began = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..2 {
            let (s, key, acked, writing) = (&s, &key, &acked, &writing);
            scope.spawn(move || s.write_turns(key, t, writing, acked));
        }
        std::thread::sleep(Duration::from_millis(500));
        began = Instant::now();
        let out = Command::new(bin.join("pg_dump"))
            .args([
                "--format=custom",
                "--file",
                dump.to_str().unwrap(),
                db.url(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        writing.store(false, std::sync::atomic::Ordering::SeqCst);
    });
    drop(s);
    let fresh = PgBackend::new();
    let out = Command::new(bin.join("pg_restore"))
        .args(["--dbname", fresh.url(), dump.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = on_postgres(&fresh);
    let log = restored.ok(&["--user", "anna", "log", "--limit", "100000"]);
    let before: Vec<String> = acked
        .into_inner()
        .unwrap()
        .into_iter()
        .filter(|(at, _)| *at < began)
        .map(|(_, t)| t)
        .collect();
    assert!(before.len() > 10, "{} writes before the dump", before.len());
    for t in &before {
        assert!(
            log.contains(t.as_str()),
            "`{t}` acknowledged before the dump, not restored"
        );
    }
    // The restored database takes writes.
    restored.ok(&["--user", "anna", "remember", "restored and writable"]);
}

/// A PostgreSQL server stopped for 10 s and started again under load: requests fail fast
/// with 503 and `Retry-After` (no hang), the server recovers by itself, no acknowledged
/// write is lost, and the pipeline worker finishes its jobs. The database is a private
/// server (`scripts/pg.sh` with its own directory), so stopping it touches no other test.
#[test]
fn a_postgres_outage_answers_503_fast_and_recovers_without_losing_writes() {
    use common::fake_llm::pipeline_reply;
    use common::server::{create_key, Server};
    use std::process::Command;
    use std::sync::Mutex;
    let dir = tempfile::tempdir().unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg.sh");
    let pg = |args: &[&str]| {
        let out = Command::new("bash")
            .arg(&script)
            .args(args)
            .env("MNEMO_PG_DIR", dir.path().join("pg"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let me = std::process::id().to_string();
    let url = pg(&["start", "--owner-pid", &me]);
    let mut m = Mnemo::new();
    m.db = url.into();
    let fake = FakeOllama::start(|req| pipeline_reply(req, "they talked").unwrap_or("ok".into()));
    let key = create_key(&m, "anna", &[]);
    // A job whose result could not be written while the database was down is taken
    // over when its lease ends: short leases, so that happens within the test.
    m.write_config("[server]\nkey_requests_per_sec = 0\n[pipeline]\nretry_base_secs = 1\nmodel_down_secs = 1\n\
         lease_secs = 2\n");
    let s = Server::start_with(
        &m,
        &[],
        &[
            ("MNEMO_LLM_PROVIDER", "ollama"),
            ("OLLAMA_HOST", fake.url.as_str()),
            ("MNEMO_MODEL", "qwen-fake"),
        ],
    );
    let acked = Mutex::new(Vec::<String>::new());
    let down = Mutex::new(Vec::<(u16, String, Duration)>::new());
    let writing = std::sync::atomic::AtomicBool::new(true);
    let outage = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for t in 0..2 {
            let (s, key, acked, down, writing, outage) =
                (&s, &key, &acked, &down, &writing, &outage);
            scope.spawn(move || {
                let mut i = 0;
                while writing.load(std::sync::atomic::Ordering::SeqCst) {
                    let body = json!({ "session_id": format!("c{t}"), "turns": [
                        { "role": "user", "content": format!("client {t} fact {i}") },
                        { "role": "assistant", "content": "noted" }
                    ]});
                    let started = Instant::now();
                    let (st, text) = s.call_text(
                        "POST",
                        "/v1/turns",
                        Some(key),
                        &[("Content-Type", "application/json")],
                        Some(&body),
                    );
                    let took = started.elapsed();
                    if st == 202 {
                        let v: Value = serde_json::from_str(&text).unwrap();
                        let mut a = acked.lock().unwrap();
                        a.extend(
                            v["turns"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|t| t["id"].as_str().unwrap().to_owned()),
                        );
                    } else if outage.load(std::sync::atomic::Ordering::SeqCst) {
                        down.lock().unwrap().push((st, text, took));
                    } else {
                        panic!("{st} while the database is up: {text}");
                    }
                    i += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
        }
        std::thread::sleep(Duration::from_millis(800));
        outage.store(true, std::sync::atomic::Ordering::SeqCst);
        pg(&["pause"]);
        std::thread::sleep(Duration::from_secs(10));
        pg(&["resume"]);
        // Back within a few seconds, by itself.
        let back = Instant::now();
        loop {
            let (st, _) = s.call("GET", "/readyz", None, None);
            if st == 200 {
                break;
            }
            assert!(
                back.elapsed() < Duration::from_secs(20),
                "the server never recovered"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(1500));
        outage.store(false, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(500));
        writing.store(false, std::sync::atomic::Ordering::SeqCst);
    });
    let down = down.into_inner().unwrap();
    assert!(!down.is_empty(), "writes during the outage were refused");
    for (st, text, took) in &down {
        assert_eq!(*st, 503, "a refused write is a 503: {text}");
        assert!(
            text.contains("storage_unavailable"),
            "with the code storage_unavailable: {text}"
        );
        assert!(
            *took < Duration::from_secs(3),
            "fast, not hanging: {took:?}"
        );
    }
    // A 503 says when to retry.
    pg(&["pause"]);
    let (st, text) = s.call_text("GET", "/v1/stats", Some(&key), &[], None);
    assert_eq!(st, 503, "{text}");
    pg(&["resume"]);
    // Every acknowledged write is there.
    let acked = acked.into_inner().unwrap();
    let log = m.ok(&["--user", "anna", "--json", "log", "--limit", "100000"]);
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !log.contains(id.as_str()))
        .collect();
    assert!(missing.is_empty(), "acknowledged, then lost: {missing:?}");
    // The worker finishes every job once the database is back.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, jobs) = s.call("GET", "/v1/jobs", Some(&key), None);
        let c = &jobs["counts"];
        if c["queued"] == 0 && c["running"] == 0 {
            assert_eq!(c["failed"], 0, "{jobs}");
            break;
        }
        assert!(Instant::now() < deadline, "jobs never finished: {jobs}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
