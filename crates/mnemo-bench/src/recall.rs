//! `mnemo bench recall`: memory search on personal facts asked about in other words.
//!
//! A file holds facts a user has stored and questions about them phrased as a user would
//! ask (job ↔ "what do I do for a living"), plus questions that no fact answers. Each fact
//! is remembered for one user; each question goes through the search every face makes
//! ([`mnemo_engine::tools::search`], as `mnemo recall`, REST and MCP do), three hits.
//! Reported: how often the fact is first and in the top three, and how often a question
//! with no relevant fact still gets a memory back (which then fills a prompt for nothing).
//! `crates/mnemo-bench/data/personal-facts-dev.json` is the dev set, written by hand.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use mnemo_core::{Actor, Error, Result, Scope};
use mnemo_engine::tools::{self, Caller, SearchRequest};
use mnemo_engine::{Engine, NewMemory};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::locomo::metrics::{percentile, round};

/// The file's shape.
#[derive(Debug, Deserialize)]
pub struct FactSet {
    pub facts: Vec<Fact>,
    pub questions: Vec<FactQuestion>,
}

/// A stored fact.
#[derive(Debug, Deserialize)]
pub struct Fact {
    pub id: String,
    pub text: String,
}

/// A question and the fact that answers it (`None`: no fact does).
#[derive(Debug, Deserialize)]
pub struct FactQuestion {
    pub q: String,
    pub fact: Option<String>,
}

/// A question whose fact was not first, or a no-fact question that got a memory.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub question: String,
    pub expected: Option<String>,
    pub got: Vec<String>,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RecallReport {
    pub facts: usize,
    /// Questions that a fact answers.
    pub questions: usize,
    /// Share of those whose fact comes first.
    pub first: f64,
    /// Share of those whose fact is among the first three.
    pub top3: f64,
    /// Questions that no fact answers.
    pub null_questions: usize,
    /// Share of those that got any memory back.
    pub null_with_hits: f64,
    pub p50_ms: f64,
    pub misses: Vec<Miss>,
    pub config: Value,
}

/// Runs the benchmark on `path` in a temporary database with `embedder` and `settings`.
pub fn run_file(
    path: &Path,
    embedder: &str,
    params: &[String],
    settings: mnemo_engine::EngineSettings,
) -> Result<RecallReport> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let set: FactSet = serde_json::from_str(&text)
        .map_err(|e| Error::invalid("facts file", format!("{}: {e}", path.display())))?;
    let retrieval = crate::setup::retrieval_params(params)?;
    let embed = crate::setup::embedder_from_spec(embedder)?;
    let dir = tempfile::tempdir().map_err(|e| Error::io("creating a temporary directory", e))?;
    let db = dir.path().join("recall.db");
    let engine = crate::setup::engine_at(&db.display().to_string(), settings, retrieval, embed)?;
    let config = json!({
        "embedder": embedder,
        "file": path.display().to_string(),
        "min_similarity": engine.min_similarity(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    run(&engine, &set, config)
}

/// Remembers the facts in `engine` (empty) and asks every question.
pub fn run(engine: &Engine, set: &FactSet, config: Value) -> Result<RecallReport> {
    let user = "facts-user";
    let scope = Scope::user(user);
    let mut by_memory: HashMap<String, String> = HashMap::new();
    for f in &set.facts {
        let out = engine.remember(&scope, NewMemory::text(&f.text), Actor::Cli)?;
        by_memory.insert(out.memory().id.clone(), f.id.clone());
    }
    engine.backfill_vectors()?;
    let caller = Caller::user(user);
    let search = |q: &str| -> Result<Vec<String>> {
        let req = SearchRequest {
            query: q.to_string(),
            limit: Some(3),
            ..Default::default()
        };
        let found = tools::search(engine, &caller, req)
            .map_err(|e| Error::invalid("search", e.to_string()))?;
        Ok(found
            .hits
            .iter()
            .map(|h| by_memory.get(&h.memory.id).cloned().unwrap_or_default())
            .collect())
    };
    search("warm up")?;
    let (mut first, mut top3, mut asked, mut nulls, mut null_hits) = (0, 0, 0, 0, 0);
    let mut misses = Vec::new();
    let mut latencies = Vec::new();
    for q in &set.questions {
        let t = Instant::now();
        let got = search(&q.q)?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        match &q.fact {
            Some(f) => {
                asked += 1;
                first += usize::from(got.first() == Some(f));
                top3 += usize::from(got.contains(f));
                if got.first() != Some(f) {
                    misses.push(Miss {
                        question: q.q.clone(),
                        expected: Some(f.clone()),
                        got,
                    });
                }
            }
            None => {
                nulls += 1;
                if !got.is_empty() {
                    null_hits += 1;
                    misses.push(Miss {
                        question: q.q.clone(),
                        expected: None,
                        got,
                    });
                }
            }
        }
    }
    let share = |a: usize, b: usize| {
        if b == 0 {
            0.0
        } else {
            round(a as f64 / b as f64)
        }
    };
    Ok(RecallReport {
        facts: set.facts.len(),
        questions: asked,
        first: share(first, asked),
        top3: share(top3, asked),
        null_questions: nulls,
        null_with_hits: share(null_hits, nulls),
        p50_ms: round(percentile(&latencies, 50.0)),
        misses,
        config,
    })
}

/// The report as text for people.
pub fn table(r: &RecallReport) -> String {
    let mut out = format!(
        "{} facts; {} questions: fact first {:.3}, in top 3 {:.3}; \
         {} questions with no fact: {:.3} got a memory anyway; search p50 {:.2} ms\n",
        r.facts, r.questions, r.first, r.top3, r.null_questions, r.null_with_hits, r.p50_ms
    );
    for m in &r.misses {
        out.push_str(&format!(
            "  miss: {:?} wanted {} got {:?}\n",
            m.question,
            m.expected.as_deref().unwrap_or("nothing"),
            m.got
        ));
    }
    out
}
