//! Remember / supersede / expire / decay / restore through the engine, with a clock the
//! test moves, on each backend: a real SQLite file and a PostgreSQL database.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use mnemo_core::{time, Actor, Clock, Error, MemoryFilter, Scope, TimeView, Timestamp};
use mnemo_engine::{Engine, EngineSettings, MemoryEdit, NewMemory, RecallQuery, RememberOutcome};
use mnemo_store_postgres::PgStore;
use mnemo_store_sqlite::SqliteStore;

struct TestClock(Mutex<Timestamp>);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

/// Where a test's data lives; kept alive for the test.
enum Db {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] mnemo_store_tests::PgBackend),
}

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

fn setup(backend: Backend) -> (Db, Engine, Arc<TestClock>) {
    let clock = Arc::new(TestClock(Mutex::new(
        time::parse("2026-01-01T00:00:00Z").unwrap(),
    )));
    let (db, store): (Db, Arc<dyn mnemo_core::Store>) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(&dir.path().join("m.db"))
                .unwrap()
                .with_clock(clock.clone());
            (Db::Sqlite(dir), Arc::new(store))
        }
        Backend::Postgres => {
            let pg = mnemo_store_tests::PgBackend::new();
            let store = PgStore::open(pg.url()).unwrap().with_clock(clock.clone());
            (Db::Postgres(pg), Arc::new(store))
        }
    };
    let engine = Engine::new(store, EngineSettings::default(), clock.clone());
    (db, engine, clock)
}

/// Each test once per backend.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::Backend::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(super::Backend::Postgres) } )*
        }
    };
}

on_both!(
    a_superseded_value_is_still_true_as_of_its_time,
    expired_memories_leave_the_current_view,
    idle_memories_fade_unless_pinned_and_explain_says_so,
    history_forbids_editing_the_past_and_restoring_over_a_key_holder,
    other_users_ids_are_not_found,
    memories_wait_for_vectors_until_searched_and_are_embedded_again_when_their_text_changes,
);

fn contents(e: &Engine, view: TimeView) -> Vec<String> {
    let mut f = MemoryFilter::scope(Scope::user("u"));
    f.view = view;
    e.list(&f).unwrap().into_iter().map(|m| m.content).collect()
}

fn a_superseded_value_is_still_true_as_of_its_time(backend: Backend) {
    let (_d, e, clock) = setup(backend);
    let u = Scope::user("u");
    e.remember(&u, NewMemory::keyed("city", "Lisbon"), Actor::Cli)
        .unwrap();
    let before = e.now() + Duration::hours(1);
    clock.advance(Duration::days(10));
    let out = e
        .remember(&u, NewMemory::keyed("city", "Porto"), Actor::Cli)
        .unwrap();
    assert!(matches!(out, RememberOutcome::Superseded { .. }));
    assert_eq!(contents(&e, TimeView::Current), ["Porto"]);
    assert_eq!(contents(&e, TimeView::AsOf(before)), ["Lisbon"]);
    assert_eq!(contents(&e, TimeView::All).len(), 2);
    let q = RecallQuery {
        text: "Lisbon".into(),
        view: TimeView::AsOf(before),
        ..Default::default()
    };
    assert_eq!(e.recall(&u, &q).unwrap()[0].memory.content, "Lisbon");
    assert!(e.recall(&u, &"Lisbon".into()).unwrap().is_empty());
}

fn expired_memories_leave_the_current_view(backend: Backend) {
    let (_d, e, clock) = setup(backend);
    let u = Scope::user("u");
    let mut m = NewMemory::text("Conference badge pickup at desk 4");
    m.expires_at = Some(e.now() + Duration::days(2));
    e.remember(&u, m, Actor::Cli).unwrap();
    assert_eq!(e.recall(&u, &"badge".into()).unwrap().len(), 1);
    clock.advance(Duration::days(3));
    assert!(e.recall(&u, &"badge".into()).unwrap().is_empty());
    assert!(contents(&e, TimeView::Current).is_empty());
    assert_eq!(contents(&e, TimeView::All).len(), 1);
}

fn idle_memories_fade_unless_pinned_and_explain_says_so(backend: Backend) {
    let (_d, e, clock) = setup(backend);
    let u = Scope::user("u");
    let mut a = NewMemory::text("project alpha deadline is March");
    a.salience = 0.8;
    let mut b = a.clone();
    b.content = "project alpha budget is small".into();
    b.pinned = true;
    e.remember(&u, a, Actor::Cli).unwrap();
    e.remember(&u, b, Actor::Cli).unwrap();
    clock.advance(Duration::days(60));
    let q = RecallQuery {
        text: "project alpha".into(),
        touch: false,
        ..Default::default()
    };
    let hits = e.recall(&u, &q).unwrap();
    let by = |s: &str| {
        hits.iter()
            .find(|h| h.memory.content.contains(s))
            .unwrap()
            .parts
    };
    let (faded, pinned) = (by("deadline"), by("budget"));
    assert!(
        (faded.salience - 0.2).abs() < 1e-6,
        "two half-lives: {faded:?}"
    );
    assert!((pinned.salience - 0.8).abs() < 1e-6, "{pinned:?}");
    assert_eq!(pinned.pinned, 1.0);
    assert!(hits[0].memory.pinned);
    assert!(hits.iter().all(|h| (h.score - h.parts.total).abs() < 1e-9));
}

fn history_forbids_editing_the_past_and_restoring_over_a_key_holder(backend: Backend) {
    let (_d, e, _clock) = setup(backend);
    let u = Scope::user("u");
    let old = e
        .remember(&u, NewMemory::keyed("editor", "vim"), Actor::Cli)
        .unwrap()
        .memory()
        .clone();
    let new = e
        .remember(&u, NewMemory::keyed("editor", "helix"), Actor::Cli)
        .unwrap()
        .memory()
        .clone();
    let edit = MemoryEdit {
        content: Some("emacs".into()),
        ..Default::default()
    };
    let err = e.edit("u", &old.id, edit, Actor::Cli).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    let err = e.restore("u", &old.id, Actor::Cli).unwrap_err().to_string();
    assert!(err.contains(&new.id[..8]), "{err}");
    e.forget("u", &new.id, false, None, Actor::Cli).unwrap();
    e.restore("u", &old.id, Actor::Cli).unwrap();
    assert_eq!(contents(&e, TimeView::Current), ["vim"]);
    let ops: Vec<_> = e
        .show("u", &old.id)
        .unwrap()
        .history
        .iter()
        .map(|h| h.op.as_str())
        .collect();
    assert_eq!(ops, ["add", "supersede", "restore"]);
}

fn other_users_ids_are_not_found(backend: Backend) {
    let (_d, e, _clock) = setup(backend);
    let m = e
        .remember(&Scope::user("a"), NewMemory::text("secret"), Actor::Cli)
        .unwrap()
        .memory()
        .clone();
    assert!(matches!(e.show("b", &m.id), Err(Error::NotFound { .. })));
    assert!(matches!(
        e.forget("b", &m.id, true, None, Actor::Cli),
        Err(Error::NotFound { .. })
    ));
}

fn memories_wait_for_vectors_until_searched_and_are_embedded_again_when_their_text_changes(
    backend: Backend,
) {
    use mnemo_core::vectors::OwnerKind;
    use mnemo_embed::{Embedder, StaticEmbedder};

    let (_d, e, _clock) = setup(backend);
    let embedder: Arc<dyn Embedder> = Arc::new(StaticEmbedder::builtin());
    let model = embedder.model_id().to_string();
    let e = e.with_embedder(embedder);
    let u = Scope::user("u");
    let m = e
        .remember(&u, NewMemory::text("Prefers green tea"), Actor::Cli)
        .unwrap()
        .memory()
        .clone();
    let stored = |e: &Engine| e.store().vectors(OwnerKind::Memory, "u", &model).unwrap();
    // A cold write (no index loaded in this process) does not wait for the embedder.
    assert!(stored(&e).is_empty());
    assert_eq!(e.vector_backlog().unwrap().unwrap().memories, 1);
    e.recall(&u, &"tea".into()).unwrap();
    assert_eq!(e.vector_backlog().unwrap().unwrap().memories, 0);
    let before = stored(&e);
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].0, m.id);
    let edit = MemoryEdit {
        content: Some("Prefers black coffee".into()),
        ..Default::default()
    };
    e.edit("u", &m.id, edit, Actor::Cli).unwrap();
    e.recall(&u, &"coffee".into()).unwrap();
    let after = stored(&e);
    assert_eq!(after.len(), 1);
    assert_ne!(after[0].1, before[0].1, "the vector follows the new text");
}
