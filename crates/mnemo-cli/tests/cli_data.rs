//! The conversation log, export/import, whole-user deletion and database failures, driven
//! through the real binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::Mnemo;

#[test]
fn turns_sessions_and_log() {
    let m = Mnemo::new();
    let t1 = m.json(&[
        "turn",
        "add",
        "--role",
        "user",
        "My name is Dana and I prefer dark mode.",
    ]);
    let sid = t1["session_id"].as_str().unwrap().to_string();
    assert_eq!(t1["seq"], 1);
    // A one-shot command does not load the tokenizer: the count is made when needed.
    assert_eq!(t1["tokens"], 0, "{t1}");
    let t2 = m.json(&[
        "turn",
        "add",
        "--session",
        &sid[..8],
        "--role",
        "assistant",
        "Noted, Dana.",
    ]);
    assert_eq!(t2["session_id"], sid.as_str());
    assert_eq!(t2["seq"], 2);
    let log = m.ok(&["log", "--session", &sid[..8]]);
    assert!(log.contains("dark mode") && log.contains("Noted"), "{log}");
    let sessions = m.json(&["sessions"]);
    assert_eq!(sessions.as_array().unwrap().len(), 1);
    m.fails(&["turn", "add", "--role", "robot", "hi"], 2);
    m.fails(&["turn", "add", "   "], 2);
}

#[test]
fn export_import_export_is_identical() {
    let m = Mnemo::new();
    m.ok(&["turn", "add", "--session", "s1", "I live in Lisbon"]);
    m.ok(&["remember", "user_name=Alex"]);
    m.ok(&["remember", "user_name=Alexander"]);
    let id = m.json(&[
        "remember",
        "Likes tea",
        "--kind",
        "preference",
        "--topic",
        "food",
    ])["memory"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    m.ok(&["edit", &id, "Likes green tea"]);
    m.ok(&["forget", &id]);
    m.ok(&["recall", "name"]);
    let first = m.ok(&["export"]);
    assert!(first.lines().count() >= 8, "{first}");

    let file = m.dir.path().join("export.jsonl");
    std::fs::write(&file, &first).unwrap();
    let other = Mnemo::new();
    let r = other.json(&["import", file.to_str().unwrap()]);
    assert_eq!(r["skipped"], 0);
    assert_eq!(other.ok(&["export"]), first);
    // Importing again skips everything and changes nothing.
    let r = other.json(&["import", file.to_str().unwrap()]);
    assert_eq!(r["inserted"], 0);
    assert_eq!(other.ok(&["export"]), first);
}

#[test]
fn a_bad_import_line_imports_nothing_and_names_the_line() {
    let m = Mnemo::new();
    m.ok(&["remember", "one"]);
    m.ok(&["remember", "two"]);
    let mut lines: Vec<String> = m.ok(&["export"]).lines().map(String::from).collect();
    lines.insert(2, "{\"type\": \"memory\", \"oops\": true}".into());
    let file = m.dir.path().join("bad.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let other = Mnemo::new();
    let e = other.fails(&["import", file.to_str().unwrap()], 2);
    assert!(e.contains("line 3"), "{e}");
    assert!(other
        .json(&["list", "--all"])
        .as_array()
        .unwrap()
        .is_empty());

    std::fs::write(&file, "not json\n").unwrap();
    let e = other.fails(&["import", file.to_str().unwrap()], 2);
    assert!(e.contains("line 1"), "{e}");
}

#[test]
fn forget_user_cascades_and_asks_first() {
    let m = Mnemo::new();
    m.ok(&["turn", "add", "hello there"]);
    m.ok(&["remember", "user_name=Alex"]);
    m.ok(&["--user", "sam", "remember", "Sam's note"]);
    let e = m.fails(&["forget"], 1);
    assert!(e.contains("--user"), "{e}");
    let e = m.fails(&["forget", "--user", "alex"], 1);
    assert!(e.contains("--yes"), "{e}");
    let r = m.json(&["forget", "--user", "alex", "--yes"]);
    assert_eq!(
        (
            r["turns"].as_u64(),
            r["memories"].as_u64(),
            r["sessions"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(r["history"], 1);
    assert_eq!(m.ok(&["export"]).lines().count(), 1);
    assert!(m.json(&["recall", "Alex"]).as_array().unwrap().is_empty());
    assert_eq!(
        m.json(&["--user", "sam", "list"]).as_array().unwrap().len(),
        1
    );
}

#[test]
fn an_acknowledged_write_survives_a_kill() {
    let m = Mnemo::new();
    m.ok(&["remember", "the database exists before the kills"]);
    for i in 0..5 {
        let text = format!("durable fact number {i}");
        let mut child = m
            .cmd(&["remember", &text])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.contains("remembered"), "{line}");
        let _ = child.kill();
        let _ = child.wait();
    }
    assert_eq!(m.json(&["list"]).as_array().unwrap().len(), 6);
}

#[test]
fn database_problems_are_exit_code_4_with_a_hint() {
    let m = Mnemo::new();
    m.ok(&["remember", "x"]);
    {
        let conn = rusqlite::Connection::open(&m.db).unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
    }
    let e = m.fails(&["list"], 4);
    assert!(e.contains("newer") && e.contains("999"), "{e}");

    let not_db = m.dir.path().join("junk.db");
    std::fs::write(&not_db, vec![b'x'; 4096]).unwrap();
    m.fails(&["--db", not_db.to_str().unwrap(), "list"], 4);
}

#[test]
fn config_prints_a_commented_default_and_paths() {
    let m = Mnemo::new();
    let c = m.ok(&["config"]);
    assert!(
        c.contains("[engine]") && c.contains("# Database file"),
        "{c}"
    );
    let p = m.json(&["config", "--paths"]);
    assert_eq!(p["user"], "alex");
    assert_eq!(p["db"], m.db.to_str().unwrap());
}

#[test]
fn config_effective_shows_what_file_env_and_flags_resolve_to_without_secrets() {
    let m = Mnemo::new();
    let cfg = m.dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[llm]\nprovider = \"openai\"\nmodel = \"file-model\"\n[llm.models]\nsummarize = \"small\"\n[pipeline]\nsummary_every = 7\n",
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let run = |json: bool| {
        let mut args = vec![
            "--config",
            cfg,
            "--user",
            "flag-user",
            "config",
            "--effective",
        ];
        if json {
            args.insert(0, "--json");
        }
        let out = m
            .cmd(&args)
            .env("OPENAI_BASE_URL", "http://bob:hunter2@127.0.0.1:8080/v1")
            .env("OPENAI_API_KEY", "sk-very-secret")
            .env("MNEMO_MODEL", "env-model")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let v: serde_json::Value = serde_json::from_str(&run(true)).unwrap();
    assert_eq!(v["user"], "flag-user");
    assert_eq!(v["db"], m.db.to_str().unwrap());
    assert_eq!(v["embedder"], "static");
    assert_eq!(v["llm"]["provider"], "openai");
    assert_eq!(v["llm"]["url"], "http://***@127.0.0.1:8080/v1");
    assert_eq!(v["llm"]["models"]["chat"], "env-model");
    assert_eq!(v["llm"]["models"]["summarize"], "small");
    assert_eq!(v["llm"]["api_key"], "set (not shown)");
    assert_eq!(v["pipeline"]["summary_every"], 7);
    let text = run(false);
    assert!(text.contains("llm provider:    openai"), "{text}");
    assert!(text.contains("chat model:      env-model"), "{text}");
    for secret in ["sk-very-secret", "hunter2"] {
        assert!(
            !text.contains(secret) && !v.to_string().contains(secret),
            "{text}"
        );
    }
}

#[test]
fn log_search_ranks_turns_and_explains_each_score() {
    let m = Mnemo::new();
    let add = |session: &str, role: &str, text: &str| {
        m.ok(&["turn", "add", "--session", session, "--role", role, text]);
    };
    add(
        "trip",
        "user",
        "We are planning a hiking trip to the Alps in July.",
    );
    add("trip", "assistant", "Great, I will remember the Alps trip.");
    add("food", "user", "My favourite dish is a spicy green curry.");
    add("food", "assistant", "Noted: spicy green curry.");
    add("work", "user", "The quarterly report is due on Friday.");
    let text = m.ok(&[
        "log",
        "--search",
        "which curry do I like",
        "--explain",
        "-n",
        "3",
    ]);
    let first = text.lines().next().unwrap();
    assert!(first.contains("curry"), "{text}");
    assert!(text.contains("total ") && text.contains("bm25 "), "{text}");
    let hits = m.json(&["log", "--search", "hiking in the Alps"]);
    let hits = hits.as_array().unwrap();
    assert!(!hits.is_empty());
    assert!(hits[0]["turn"]["content"]
        .as_str()
        .unwrap()
        .contains("Alps"));
    assert!(hits[0]["parts"]["total"].as_f64().unwrap() > 0.0);
    // Narrowed to one session.
    let only = m.json(&["log", "--search", "curry", "--session", "work"]);
    assert!(only.as_array().unwrap().is_empty(), "{only}");
    // --explain needs --search.
    m.fails(&["log", "--explain"], 2);
}

#[test]
fn read_only_commands_never_create_a_database() {
    let m = Mnemo::new();
    for args in [
        &["stats"][..],
        &["list"],
        &["recall", "anything"],
        &["log"],
        &["sessions"],
        &["export"],
        &["jobs"],
        &["usage"],
    ] {
        let err = m.fails(args, 4);
        assert!(
            err.contains("no database at") && err.contains("does not exist"),
            "{args:?}: {err}"
        );
        assert!(err.contains("hint:"), "{args:?}: {err}");
        assert!(!m.db.exists(), "{args:?} created {}", m.db.display());
    }
    // The first write creates it; then reads work.
    m.ok(&["remember", "Likes green tea"]);
    assert!(m.db.exists());
    assert!(m.ok(&["list"]).contains("Likes green tea"));
}

#[test]
fn a_given_path_in_a_missing_directory_is_an_error_that_names_it() {
    let m = Mnemo::new();
    let missing = m.dir.path().join("no").join("such").join("dir");
    let db = missing.join("x.db");
    let db = db.to_str().unwrap();
    let err = m.fails(&["--db", db, "remember", "hello"], 4);
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("mkdir -p"), "{err}");
    let err = m.fails(&["--db", db, "stats"], 4);
    assert!(err.contains("no database at"), "{err}");
    assert!(!missing.exists(), "no directory may be created");
}

#[test]
fn the_default_location_is_created_with_its_directories() {
    let m = Mnemo::new();
    let out = m
        .cmd(&["remember", "Prefers tea"])
        .env_remove("MNEMO_DB")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let default = m.dir.path().join(".local/share/mnemo/mnemo.db");
    assert!(default.exists(), "{} not created", default.display());
}
