//! The LoCoMo retrieval benchmark (protocol: `../shared/bench/README.md`).
//!
//! Each conversation becomes one user (`sample_id`); every turn is recorded with
//! [`Engine::add_turn`], the path a user's turns take, at its session's date, with its
//! `dia_id` in the turn's `meta`. Each question is then answered with
//! [`Engine::search_turns`] in that user's scope and the hits are mapped back to `dia_id`s.
//! Nothing here is tuned to the data: the engine sees turns and questions, nothing else.

pub mod context;
pub mod data;
pub mod metrics;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use mnemo_core::{Error, NewTurn, Result, Role, Scope, Turn};
use mnemo_engine::{Engine, TurnQuery};
use serde::Serialize;
use serde_json::{json, Value};

pub use data::{parse, Conversation};
use metrics::{percentile, round, score, Averages, Tally};

/// Hits retrieved per question (the largest k scored).
pub const DEPTH: usize = 25;

/// The result of a run, with exactly the keys the protocol names.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub n: usize,
    pub skipped: usize,
    pub recall_at_5: f64,
    pub recall_at_10: f64,
    pub recall_at_25: f64,
    pub session_any_at_10: f64,
    pub session_all_at_10: f64,
    pub per_category: BTreeMap<String, Averages>,
    pub adversarial: Averages,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub ingest_turns_per_s: f64,
    pub config: Value,
}

/// Reads and parses a LoCoMo file.
pub fn load(path: &Path) -> Result<Vec<Conversation>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading LoCoMo file {}", path.display()), e))?;
    parse(&text)
}

/// Runs the whole protocol on a file in a temporary database: `embedder` is an embedder
/// name (see [`crate::setup::embedder_from_spec`]), `params` retrieval overrides, `limit`
/// the number of conversations to use (all when `None`).
pub fn run_file(
    path: &Path,
    embedder: &str,
    params: &[String],
    limit: Option<usize>,
) -> Result<Report> {
    run_file_in(None, path, embedder, params, limit)
}

/// [`run_file`] in the database `store` names (an empty one: `postgres://…`, or a new
/// SQLite file), or in a temporary SQLite file when `None`: the same protocol on another
/// backend.
pub fn run_file_in(
    store: Option<&str>,
    path: &Path,
    embedder: &str,
    params: &[String],
    limit: Option<usize>,
) -> Result<Report> {
    let mut conversations = load(path)?;
    if let Some(n) = limit {
        conversations.truncate(n);
    }
    let params = crate::setup::retrieval_params(params)?;
    let embed = crate::setup::embedder_from_spec(embedder)?;
    let model = embed.as_ref().map(|e| e.model_id().to_string());
    let dir = tempfile::tempdir().map_err(|e| Error::io("creating a temporary directory", e))?;
    let temp = dir.path().join("locomo.db");
    let uri = store.map_or_else(|| temp.display().to_string(), str::to_owned);
    let engine = crate::setup::engine_at(&uri, Default::default(), params, embed)?;
    let config = json!({
        "embedder": embedder,
        "model_id": model,
        "file": path.display().to_string(),
        "store": mnemo_engine::DbLocation::parse(&uri).label(),
    });
    run(&engine, &conversations, config)
}

/// Ingests `conversations` into `engine` (which should be empty) and scores retrieval.
/// `config` is reported as given, with the engine's retrieval settings added.
pub fn run(engine: &Engine, conversations: &[Conversation], mut config: Value) -> Result<Report> {
    let started = Instant::now();
    let mut turns = 0usize;
    for c in conversations {
        turns += ingest(engine, c)?;
    }
    // Writes leave embedding for later; ingest counts until every turn has its vector.
    engine.backfill_vectors()?;
    let ingest_s = started.elapsed().as_secs_f64();
    let mut tally = Tally::default();
    let mut latencies = Vec::new();
    for c in conversations {
        let scope = Scope::user(&c.sample_id);
        // Build the conversation's index before timing (the protocol times searches with
        // everything loaded).
        engine.search_turns(&scope, &TurnQuery::new("warm up", 1))?;
        for q in &c.questions {
            if q.evidence.is_empty() {
                tally.skipped += 1;
                continue;
            }
            let t = Instant::now();
            let hits = engine.search_turns(&scope, &TurnQuery::new(&q.question, DEPTH))?;
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            let ranked = dia_ids(hits.iter().map(|h| &h.turn));
            tally
                .by_category
                .entry(q.category)
                .or_default()
                .push(score(&q.evidence, &ranked));
        }
    }
    if let Value::Object(map) = &mut config {
        map.insert(
            "retriever".into(),
            rounded(serde_json::to_value(engine.retrieval_params())?),
        );
        map.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
        map.insert("depth".into(), json!(DEPTH));
    }
    let overall = tally.overall();
    Ok(Report {
        n: overall.n,
        skipped: tally.skipped,
        recall_at_5: overall.recall_at_5,
        recall_at_10: overall.recall_at_10,
        recall_at_25: overall.recall_at_25,
        session_any_at_10: overall.session_any_at_10,
        session_all_at_10: overall.session_all_at_10,
        per_category: tally.per_category(),
        adversarial: tally.adversarial(),
        p50_ms: round(percentile(&latencies, 50.0)),
        p95_ms: round(percentile(&latencies, 95.0)),
        ingest_turns_per_s: (turns as f64 / ingest_s.max(1e-9)).round(),
        config,
    })
}

/// Numbers rounded to 4 decimals (the settings are `f32`; 0.4 should read 0.4).
fn rounded(v: Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => json!(round(n.as_f64().unwrap_or_default())),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, rounded(v))).collect()),
        other => other,
    }
}

/// Records every turn of a conversation; returns how many.
pub(crate) fn ingest(engine: &Engine, c: &Conversation) -> Result<usize> {
    let scope = Scope::user(&c.sample_id);
    let mut n = 0;
    for s in &c.sessions {
        let session_id = format!("{}:session_{}", c.sample_id, s.number);
        for t in &s.turns {
            engine.add_turn(NewTurn {
                id: None,
                scope: scope.clone(),
                session_id: session_id.clone(),
                role: Role::User,
                content: t.text.clone(),
                created_at: s.date,
                meta: json!({ "dia_id": t.dia_id, "speaker": t.speaker }),
            })?;
            n += 1;
        }
    }
    Ok(n)
}

/// The `dia_id`s of hits, de-duplicated, in rank order.
fn dia_ids<'a>(turns: impl Iterator<Item = &'a Turn>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in turns {
        if let Some(id) = t.meta.get("dia_id").and_then(Value::as_str) {
            if !out.iter().any(|o| o == id) {
                out.push(id.to_string());
            }
        }
    }
    out
}

const CATEGORY_NAMES: [(&str, &str); 4] = [
    ("1", "multi-hop"),
    ("2", "temporal"),
    ("3", "open-domain"),
    ("4", "single-hop"),
];

/// The report as a table for people.
pub fn table(r: &Report) -> String {
    let mut out = String::from("group          n     R@5    R@10    R@25  any@10  all@10\n");
    let row = |name: &str, a: &Averages| {
        format!(
            "{name:<12} {:>4}  {:>6.3}  {:>6.3}  {:>6.3}  {:>6.3}  {:>6.3}\n",
            a.n,
            a.recall_at_5,
            a.recall_at_10,
            a.recall_at_25,
            a.session_any_at_10,
            a.session_all_at_10
        )
    };
    let overall = Averages {
        n: r.n,
        recall_at_5: r.recall_at_5,
        recall_at_10: r.recall_at_10,
        recall_at_25: r.recall_at_25,
        session_any_at_10: r.session_any_at_10,
        session_all_at_10: r.session_all_at_10,
    };
    out.push_str(&row("overall 1-4", &overall));
    for (key, name) in CATEGORY_NAMES {
        if let Some(a) = r.per_category.get(key) {
            out.push_str(&row(&format!("{key} {name}"), a));
        }
    }
    out.push_str(&row("5 adversarial", &r.adversarial));
    out.push_str(&format!(
        "skipped (no valid evidence): {}\nsearch latency p50 {:.3} ms, p95 {:.3} ms; ingest {} turns/s\n",
        r.skipped, r.p50_ms, r.p95_ms, r.ingest_turns_per_s
    ));
    out
}
