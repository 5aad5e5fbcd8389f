//! The memory commands, driven through the real binary.

mod common;

use common::Mnemo;

#[test]
fn seed_000_flow_remember_a_key_then_recall_it_in_a_new_process() {
    let m = Mnemo::new();
    let out = m.ok(&["remember", "user_name=Alex"]);
    assert!(out.contains("remembered"), "{out}");

    let hits = m.json(&["recall", "what is my name"]);
    assert_eq!(hits[0]["memory"]["content"], "Alex");
    assert_eq!(hits[0]["memory"]["key"], "user_name");
    let listed = m.ok(&["list"]);
    assert!(
        listed.contains("Alex") && listed.contains("key=user_name"),
        "{listed}"
    );

    // A new value for the key supersedes the old one, which stays in history.
    let out = m.json(&["remember", "user_name=Alexandra"]);
    assert_eq!(out["outcome"], "superseded");
    let old_id = out["previous"]["id"].as_str().unwrap().to_string();
    let new_id = out["memory"]["id"].as_str().unwrap().to_string();
    let current = m.json(&["list"]);
    assert_eq!(current.as_array().unwrap().len(), 1);
    assert_eq!(current[0]["content"], "Alexandra");
    assert_eq!(m.json(&["list", "--all"]).as_array().unwrap().len(), 2);

    let old = m.json(&["show", &old_id[..8]]);
    assert_eq!(old["current"], false);
    assert_eq!(old["memory"]["superseded_by"], new_id.as_str());
    let ops: Vec<&str> = old["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["add", "supersede"]);
    assert_eq!(old["history"][1]["new_content"], "Alexandra");
    let text = m.ok(&["show", &new_id]);
    assert!(
        text.contains("Alexandra") && text.contains("status:     current"),
        "{text}"
    );

    // The same value again changes nothing.
    assert_eq!(
        m.json(&["remember", "user_name=Alexandra"])["outcome"],
        "unchanged"
    );
}

#[test]
fn remember_with_attributes_and_filtered_list() {
    let m = Mnemo::new();
    m.ok(&[
        "remember",
        "Prefers dark mode",
        "--kind",
        "preference",
        "--topic",
        "ui",
        "--salience",
        "0.9",
        "--pin",
    ]);
    m.ok(&[
        "remember",
        "Ship the CLI by Friday",
        "--kind",
        "plan",
        "--topic",
        "work",
    ]);
    m.ok(&["remember", "Uses", "helix", "as", "editor"]);
    let prefs = m.json(&["list", "--kind", "preference"]);
    assert_eq!(prefs.as_array().unwrap().len(), 1);
    assert_eq!(prefs[0]["pinned"], true);
    assert_eq!(prefs[0]["topic"], "ui");
    assert_eq!(m.json(&["list", "--topic", "work"])[0]["kind"], "plan");
    assert_eq!(m.json(&["list"]).as_array().unwrap().len(), 3);
    // Exact duplicates are not stored twice.
    assert_eq!(
        m.json(&["remember", "uses helix  as editor"])["outcome"],
        "unchanged"
    );
    // Users are isolated.
    assert!(m
        .json(&["--user", "sam", "list"])
        .as_array()
        .unwrap()
        .is_empty());
    let hits = m.json(&["--user", "sam", "recall", "dark mode"]);
    assert!(hits.as_array().unwrap().is_empty());
}

#[test]
fn recall_explains_scores_and_tolerates_query_syntax() {
    let m = Mnemo::new();
    m.ok(&["remember", "The staging database runs PostgreSQL 16"]);
    m.ok(&["remember", "Lunch is at noon"]);
    let out = m.ok(&["recall", "which", "database", "--explain"]);
    let first = out.lines().next().unwrap();
    assert!(first.contains("PostgreSQL"), "{out}");
    assert!(out.contains("relevance") && out.contains("bm25"), "{out}");
    // FTS syntax in a question is just words.
    for q in ["database AND (NOT \"lunch", "*", "col:umn ^ NEAR(", "-"] {
        m.ok(&["recall", q]);
    }
}

#[test]
fn edit_forget_restore_keep_history() {
    let m = Mnemo::new();
    let id = m.json(&["remember", "Works at Acme"])["memory"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    m.ok(&["edit", &id, "Works at Initech", "--reason", "changed jobs"]);
    let v = m.json(&["show", &id]);
    assert_eq!(v["memory"]["content"], "Works at Initech");
    assert_eq!(v["history"][1]["op"], "update");
    assert_eq!(v["history"][1]["old_content"], "Works at Acme");
    assert_eq!(v["history"][1]["reason"], "changed jobs");

    m.ok(&["forget", &id]);
    assert!(m.json(&["list"]).as_array().unwrap().is_empty());
    assert!(m
        .json(&["recall", "Initech"])
        .as_array()
        .unwrap()
        .is_empty());
    m.ok(&["restore", &id]);
    assert_eq!(m.json(&["list"]).as_array().unwrap().len(), 1);

    m.ok(&["forget", &id, "--purge"]);
    m.fails(&["show", &id], 3);
}

#[test]
fn bad_input_gets_a_clear_message_and_exit_code() {
    let m = Mnemo::new();
    let e = m.fails(&["remember", "x", "--salience", "1.5"], 2);
    assert!(e.contains("salience") && e.contains("0..1"), "{e}");
    let e = m.fails(&["remember", "x", "--expires", "soonish"], 2);
    assert!(e.contains("YYYY-MM-DD"), "{e}");
    let e = m.fails(&["remember", "x", "--kind", "two words"], 2);
    assert!(e.contains("kind"), "{e}");
    let e = m.fails(&["remember", "user_name="], 2);
    assert!(e.contains("empty value"), "{e}");
    let e = m.fails(&["show", "deadbeef"], 3);
    assert!(e.contains("deadbeef") && e.contains("hint:"), "{e}");
    let e = m.fails(&["remember", "x", "--expires", "2001-01-01"], 2);
    assert!(e.contains("past"), "{e}");
    // Nothing was written by any failed command.
    assert!(m.json(&["list", "--all"]).as_array().unwrap().is_empty());
}

#[test]
fn ids_resolve_by_unique_prefix_but_not_too_short_ones() {
    let m = Mnemo::new();
    let a = m.json(&["remember", "alpha"])["memory"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let e = m.fails(&["show", &a[..3]], 3);
    assert!(e.contains(&a[..3]), "{e}");
    assert_eq!(m.json(&["show", &a[..6]])["memory"]["content"], "alpha");
}

#[test]
fn edit_sets_and_clears_attributes_and_is_recorded_as_the_cli() {
    let m = Mnemo::new();
    let id = m.json(&["remember", "Works at Acme", "--topic", "work"])["memory"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let e = m.fails(&["edit", &id, "--expires", "soonish"], 2);
    assert!(e.contains("YYYY-MM-DD"), "{e}");
    let out = m.json(&[
        "edit",
        &id,
        "--pin",
        "--expires",
        "2999-01-01",
        "--topic",
        "",
    ]);
    assert_eq!(out["pinned"], true);
    assert!(
        out["expires_at"]
            .as_str()
            .unwrap()
            .starts_with("2999-01-01"),
        "{out}"
    );
    assert!(out["topic"].is_null(), "{out}");
    let out = m.json(&["edit", &id, "--no-expiry", "--unpin"]);
    assert!(out["expires_at"].is_null(), "{out}");
    assert_eq!(out["pinned"], false);
    let history = m.json(&["show", &id])["history"].clone();
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], "cli", "{history}");
}

#[test]
fn remember_may_name_a_session_that_has_no_turns_yet() {
    let m = Mnemo::new();
    for session in ["my-project", "ab"] {
        let text = format!("Deadline of {session} is Friday");
        let out = m.json(&["remember", "--session", session, &text]);
        assert_eq!(out["memory"]["session_id"], session, "{out}");
    }
    let listed = m.json(&["list", "--session", "my-project"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
}
