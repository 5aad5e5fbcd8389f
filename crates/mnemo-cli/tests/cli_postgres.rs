//! The real binary on PostgreSQL + pgvector (a fresh database per test on the test server:
//! `MNEMO_TEST_PG_URL`, or one started by scripts/pg.sh; the tests fail, never skip, when
//! there is none): remember / recall / list / export through `--db postgres://…`, and
//! `mnemo migrate` copying a SQLite database there losslessly.

mod common;

use common::Mnemo;
use mnemo_store_tests::PgBackend;

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
