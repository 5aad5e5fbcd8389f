//! Turn search and hybrid recall through the public engine API: ranking signals, filters,
//! staleness of the in-memory indexes, embedding on write, and refusing mixed models.

use std::sync::Arc;

use mnemo_core::{Actor, NewTurn, Role, Scope, SystemClock, TurnFilter};
use mnemo_embed::{EmbedError, Embedder};
use mnemo_engine::{Engine, EngineSettings, NewMemory, RecallQuery, TurnQuery};
use mnemo_store_sqlite::SqliteStore;
use serde_json::Value;

/// A tiny "semantic" embedder: each concept is one dimension, and words map to concepts.
struct Concepts {
    id: &'static str,
}

const WORDS: &[(&str, usize)] = &[
    ("dog", 0),
    ("puppy", 0),
    ("retriever", 0),
    ("sushi", 1),
    ("food", 1),
    ("eat", 1),
    ("boston", 2),
    ("city", 2),
];

impl Embedder for Concepts {
    fn model_id(&self) -> &str {
        self.id
    }
    fn dims(&self) -> usize {
        4
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0.0, 0.0, 0.0, 0.1];
                for w in t.to_lowercase().split(|c: char| !c.is_alphanumeric()) {
                    if let Some((_, d)) = WORDS.iter().find(|(x, _)| *x == w) {
                        v[*d] += 1.0;
                    }
                }
                v
            })
            .collect())
    }
}

fn engine_at(path: &std::path::Path) -> Engine {
    let store = SqliteStore::open(path).unwrap();
    Engine::new(
        Arc::new(store),
        EngineSettings::default(),
        Arc::new(SystemClock),
    )
}

fn say(engine: &Engine, user: &str, session: &str, text: &str) {
    engine
        .add_turn(NewTurn {
            id: None,
            scope: Scope::user(user),
            session_id: session.into(),
            role: Role::User,
            content: text.into(),
            created_at: None,
            meta: Value::Null,
        })
        .unwrap();
}

fn texts(hits: &[mnemo_engine::TurnHit]) -> Vec<&str> {
    hits.iter().map(|h| h.turn.content.as_str()).collect()
}

#[test]
fn turn_search_ranks_filters_and_explains() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine_at(&dir.path().join("m.db"));
    say(&e, "ann", "s1", "Bob: where did you move last year?");
    say(
        &e,
        "ann",
        "s1",
        "Ann: we settled in a small flat near the harbour",
    );
    say(&e, "ann", "s1", "Bob: nice, I like the weather there");
    say(&e, "ann", "s2", "Ann: I started painting sunsets");
    say(&e, "zed", "z1", "Zed: I also moved last year");
    let scope = Scope::user("ann");
    let hits = e
        .search_turns(&scope, &TurnQuery::new("Where did she move?", 3))
        .unwrap();
    assert!(texts(&hits).contains(&"Ann: we settled in a small flat near the harbour"));
    assert!(hits.iter().all(|h| h.turn.user_id == "ann"));
    for h in &hits {
        assert!((h.score - h.parts.total).abs() < 1e-9);
        assert!(h.parts.total > 0.0);
    }
    // The answer shares no word with the question: it is found through its neighbour.
    let answer = hits.iter().find(|h| h.turn.seq == 2).unwrap();
    assert_eq!(answer.parts.bm25, 0.0);
    assert!(answer.parts.context > 0.0);
    let mut q = TurnQuery::new("painting sunsets", 5);
    q.session_id = Some("s1".into());
    assert!(e
        .search_turns(&scope, &q)
        .unwrap()
        .iter()
        .all(|h| h.turn.session_id == "s1"));
    assert!(e.search_turns(&scope, &TurnQuery::new("  ", 5)).is_err());
    assert!(e
        .search_turns(&scope, &TurnQuery::new("x", 0))
        .unwrap()
        .is_empty());
}

#[test]
fn indexes_follow_other_writers_and_forgotten_users() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let a = engine_at(&path);
    let b = engine_at(&path);
    let scope = Scope::user("ann");
    say(&a, "ann", "s1", "Ann: my cat is called Tom");
    assert_eq!(
        a.search_turns(&scope, &TurnQuery::new("cat", 5))
            .unwrap()
            .len(),
        1
    );
    say(&b, "ann", "s1", "Ann: the cat likes tuna");
    say(&a, "ann", "s1", "Ann: and the cat sleeps a lot");
    assert_eq!(
        a.search_turns(&scope, &TurnQuery::new("cat", 5))
            .unwrap()
            .len(),
        3
    );
    a.forget_user("ann").unwrap();
    assert!(a
        .search_turns(&scope, &TurnQuery::new("cat", 5))
        .unwrap()
        .is_empty());
    say(&b, "ann", "s2", "Ann: a new cat arrived");
    let hits = a.search_turns(&scope, &TurnQuery::new("cat", 5)).unwrap();
    assert_eq!(texts(&hits), vec!["Ann: a new cat arrived"]);
}

#[test]
fn hybrid_search_embeds_what_waits_and_finds_by_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let e = engine_at(&path).with_embedder(Arc::new(Concepts { id: "concepts@1" }));
    let scope = Scope::user("ann");
    say(&e, "ann", "s1", "Ann: we got a golden retriever");
    say(&e, "ann", "s2", "Ann: I had sushi for lunch");
    // Cold writes wait for their vectors; the first search makes them.
    assert!(e.store().vector_models(Some("ann")).unwrap().is_empty());
    assert_eq!(e.vector_backlog().unwrap().unwrap().turns, 2);
    let hits = e.search_turns(&scope, &TurnQuery::new("puppy", 1)).unwrap();
    let models = e.store().vector_models(Some("ann")).unwrap();
    assert_eq!(
        (models[0].model_id.as_str(), models[0].count),
        ("concepts@1", 2)
    );
    assert_eq!(texts(&hits), vec!["Ann: we got a golden retriever"]);
    // Found by meaning twice: the vectors are close, and "puppy" was expanded to the
    // scope's nearest word ("retriever"), which the full-text score then matched.
    assert!(hits[0].parts.cosine > 0.9 && hits[0].parts.bm25 > 0.0);

    e.remember(&scope, NewMemory::text("Ann owns a retriever"), Actor::Cli)
        .unwrap();
    e.remember(&scope, NewMemory::text("Ann lives in Boston"), Actor::Cli)
        .unwrap();
    let hits = e.recall(&scope, &RecallQuery::from("which puppy")).unwrap();
    assert_eq!(hits.len(), 1, "only the memory near in meaning: {hits:?}");
    assert_eq!(hits[0].memory.content, "Ann owns a retriever");
    assert!(hits[0].parts.dense > 0.99);

    // Another model's vectors are never mixed in: its searches use full text and say why.
    let other = engine_at(&path).with_embedder(Arc::new(Concepts { id: "concepts@2" }));
    let found = other
        .search_turns_noted(&scope, &TurnQuery::new("sushi", 1))
        .unwrap();
    assert_eq!(texts(&found.hits), vec!["Ann: I had sushi for lunch"]);
    let why = found.fallback.unwrap();
    assert!(why.contains("mnemo reindex"), "{why}");
    let found = other
        .recall_noted(&scope, &RecallQuery::from("Boston"))
        .unwrap();
    assert_eq!(found.hits[0].memory.content, "Ann lives in Boston");
    assert!(found.fallback.unwrap().contains("mnemo reindex"));
    let mut steps = Vec::new();
    let report = other.reindex(&mut |d, t| steps.push((d, t))).unwrap();
    assert_eq!((report.turns, report.memories, report.deleted), (2, 2, 4));
    assert_eq!(steps.last(), Some(&(4, 4)));
    assert_eq!(
        other
            .search_turns(&scope, &TurnQuery::new("puppy", 1))
            .unwrap()
            .len(),
        1
    );
    let turns = other.turns(&TurnFilter::default()).unwrap();
    assert_eq!(turns.len(), 2);
}

#[test]
fn recall_follows_changes_after_its_index_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let e = engine_at(&path);
    let other = engine_at(&path);
    let scope = Scope::user("ann");
    let q = || RecallQuery {
        text: "coffee".into(),
        touch: true,
        ..Default::default()
    };
    e.remember(
        &scope,
        NewMemory::text("Ann drinks black coffee"),
        Actor::Cli,
    )
    .unwrap();
    // First recall (store full text), second (builds the in-memory index), then changes.
    assert_eq!(e.recall(&scope, &q()).unwrap().len(), 1);
    assert_eq!(e.recall(&scope, &q()).unwrap().len(), 1);
    let added = other
        .remember(
            &scope,
            NewMemory::text("Ann hates decaf coffee"),
            Actor::Cli,
        )
        .unwrap();
    assert_eq!(e.recall(&scope, &q()).unwrap().len(), 2);
    other
        .forget("ann", &added.memory().id, false, None, Actor::Cli)
        .unwrap();
    let hits = e.recall(&scope, &q()).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].memory.content, "Ann drinks black coffee");
    assert!(hits[0].memory.access_count >= 2, "accesses are mirrored");
}

#[test]
fn a_patched_memory_index_ranks_like_a_freshly_built_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let with_concepts = |e: Engine| e.with_embedder(Arc::new(Concepts { id: "c1" }));
    let e = with_concepts(engine_at(&path));
    let other = with_concepts(engine_at(&path));
    let scope = Scope::user("ann");
    let remember = |engine: &Engine, new: NewMemory| {
        engine
            .remember(&scope, new, Actor::Cli)
            .unwrap()
            .memory()
            .clone()
    };
    remember(&e, NewMemory::text("Ann walks her dog every morning"));
    let sushi = remember(&e, NewMemory::text("Ann loves sushi and ramen food"));
    remember(&e, NewMemory::keyed("city", "Ann lives in Boston"));
    let tea = remember(&e, NewMemory::text("Ann drinks green tea"));
    let quiet = |text: &str| RecallQuery {
        text: text.into(),
        touch: false,
        ..Default::default()
    };
    let queries = ["puppy", "what food", "which city", "tea", "Ann"];
    for q in queries {
        e.recall(&scope, &quiet(q)).unwrap();
    }
    // Another process changes things: an insert, a new value for a key, an edit, a forget
    // and a purge.
    remember(&other, NewMemory::text("Ann adopted a retriever puppy"));
    remember(
        &other,
        NewMemory::keyed("city", "Ann moved to a new city, Lisbon"),
    );
    other
        .edit(
            "ann",
            &tea.id,
            mnemo_engine::MemoryEdit {
                content: Some("Ann drinks black tea with lemon".into()),
                ..Default::default()
            },
            Actor::Cli,
        )
        .unwrap();
    other
        .forget("ann", &sushi.id, true, None, Actor::Cli)
        .unwrap();
    let ids = |hits: Vec<mnemo_engine::RecallHit>| -> Vec<String> {
        hits.into_iter().map(|h| h.memory.content).collect()
    };
    for q in queries {
        let patched = ids(e.recall(&scope, &quiet(q)).unwrap());
        let fresh = ids(with_concepts(engine_at(&path))
            .recall(&scope, &quiet(q))
            .unwrap());
        assert_eq!(patched, fresh, "query {q:?}");
    }
    let city = ids(e.recall(&scope, &quiet("which city")).unwrap());
    assert_eq!(
        city.first().map(String::as_str),
        Some("Ann moved to a new city, Lisbon")
    );
    assert!(!city.iter().any(|c| c.contains("Boston")), "{city:?}");
    let food = ids(e.recall(&scope, &quiet("sushi")).unwrap());
    assert!(
        !food.iter().any(|f| f.contains("sushi")),
        "purged: {food:?}"
    );
    let tea = ids(e.recall(&scope, &quiet("tea")).unwrap());
    assert_eq!(tea, vec!["Ann drinks black tea with lemon"]);
}

#[test]
fn a_loaded_memory_index_never_resurrects_a_forgotten_user() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let a = engine_at(&path);
    let b = engine_at(&path);
    let ann = Scope::user("ann");
    let bob = Scope::user("bob");
    let quiet = |text: &str| RecallQuery {
        text: text.into(),
        touch: false,
        ..Default::default()
    };
    a.remember(&ann, NewMemory::text("Ann's cat is called Tom"), Actor::Cli)
        .unwrap();
    b.remember(&bob, NewMemory::text("Bob's cat is called Max"), Actor::Cli)
        .unwrap();
    for _ in 0..2 {
        assert_eq!(a.recall(&ann, &quiet("cat")).unwrap().len(), 1);
        assert_eq!(a.recall(&bob, &quiet("cat")).unwrap().len(), 1);
    }
    // Another process forgets Ann and she comes back with a new memory.
    b.forget_user("ann").unwrap();
    b.remember(&ann, NewMemory::text("Ann's new cat is Luna"), Actor::Cli)
        .unwrap();
    let hits = a.recall(&ann, &quiet("cat")).unwrap();
    let texts: Vec<&str> = hits.iter().map(|h| h.memory.content.as_str()).collect();
    assert_eq!(texts, vec!["Ann's new cat is Luna"]);
    // Bob's index, loaded before the forget, follows too.
    b.remember(
        &bob,
        NewMemory::text("Bob's cat sleeps all day"),
        Actor::Cli,
    )
    .unwrap();
    assert_eq!(a.recall(&bob, &quiet("cat")).unwrap().len(), 2);
}

/// [`Concepts`] behind a switch: down, it fails as an unreachable server does.
struct Flaky {
    up: std::sync::atomic::AtomicBool,
}

impl Embedder for Flaky {
    fn model_id(&self) -> &str {
        "flaky@1"
    }
    fn dims(&self) -> usize {
        4
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if !self.up.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(EmbedError::Unreachable {
                url: "http://embedder".into(),
                reason: "connection refused".into(),
            });
        }
        Concepts { id: "flaky@1" }.embed(texts)
    }
    fn is_remote(&self) -> bool {
        true
    }
}

#[test]
fn a_down_embedder_degrades_search_to_full_text_and_the_idle_worker_backfills() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let flaky = Arc::new(Flaky { up: false.into() });
    let e = engine_at(&dir.path().join("m.db")).with_embedder(flaky.clone());
    let scope = Scope::user("ann");
    say(&e, "ann", "s1", "Ann: we got a golden retriever");
    e.remember(
        &scope,
        NewMemory::text("Ann eats sushi on Fridays"),
        Actor::Cli,
    )
    .unwrap();
    let found = e
        .search_turns_noted(&scope, &TurnQuery::new("retriever", 5))
        .unwrap();
    assert_eq!(found.hits.len(), 1, "full text still finds it");
    assert!(found.fallback.unwrap().contains("connection refused"));
    let found = e.recall_noted(&scope, &RecallQuery::from("sushi")).unwrap();
    assert_eq!(found.hits.len(), 1);
    assert!(found.fallback.is_some());
    let backlog = e.vector_backlog().unwrap().unwrap();
    assert_eq!((backlog.turns, backlog.memories), (1, 1));

    flaky.up.store(true, Ordering::SeqCst);
    let worker = e
        .spawn_worker(mnemo_engine::WorkerOptions {
            name: "t".into(),
            idle_poll: std::time::Duration::from_millis(20),
            ..Default::default()
        })
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let waiting = |e: &Engine| {
        let b = e.vector_backlog().unwrap().unwrap();
        b.turns + b.memories
    };
    while waiting(&e) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    worker.stop();
    let backlog = e.vector_backlog().unwrap().unwrap();
    assert_eq!(
        (backlog.turns, backlog.memories),
        (0, 0),
        "backfilled while idle"
    );
    let found = e
        .search_turns_noted(&scope, &TurnQuery::new("puppy", 1))
        .unwrap();
    assert!(found.fallback.is_none());
    assert_eq!(texts(&found.hits), vec!["Ann: we got a golden retriever"]);
}
