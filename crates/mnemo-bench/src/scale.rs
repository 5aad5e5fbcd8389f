//! Synthetic scale benchmark: N memories in one scope, written through the public engine
//! API, then full-text and hybrid recall latency, with a fixed seed and a fixed clock so
//! two runs see the same data.
//!
//! Text: 8-14 real English words per memory, drawn with a Zipf-like skew from the built-in
//! embedder's vocabulary (so the static embedder sees words it knows), plus a few frequent
//! "topic" words. Queries: 3-4 words of a random stored memory, so every query has at least
//! one strong match, as a real recall does.

use std::sync::Arc;
use std::time::Instant;

use mnemo_core::{Actor, FixedClock, OwnerKind, Result, Scope, Store};
use mnemo_embed::{Embedder, StaticEmbedder};
use mnemo_engine::retrieval::dense::{dot, normalized};
use mnemo_engine::retrieval::quant::QuantIndex;
use mnemo_engine::{store_from_uri, Create, Engine, EngineSettings, NewMemory, RecallQuery};
use mnemo_store_sqlite::SqliteStore;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::locomo::metrics::{percentile, round};

/// What one size measured.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleReport {
    pub memories: usize,
    pub insert_per_s: f64,
    pub fts_p50_ms: f64,
    pub fts_p95_ms: f64,
    pub fts_p99_ms: f64,
    /// Building the in-memory full-text index (first recall).
    pub fts_build_s: f64,
    /// Embedding every memory and building the vector index (first hybrid recall).
    pub vector_build_s: f64,
    pub hybrid_p50_ms: f64,
    pub hybrid_p95_ms: f64,
    pub hybrid_p99_ms: f64,
    /// Overlap of the int8 index's top 10 by exact scan with exact f32 search's top 10,
    /// over the queries.
    pub int8_recall_at_10: f64,
    /// The same for the search recall uses ([`QuantIndex::nearest`]: two-stage past
    /// [`EXACT_MAX`](mnemo_engine::retrieval::quant::EXACT_MAX) vectors).
    pub ann_recall_at_10: f64,
    /// A hybrid recall right after another process wrote one memory (the index patches
    /// itself from the store's change feed), p50 over 20 writes.
    pub recall_after_write_p50_ms: f64,
    /// The vector search alone, query embedded: exact int8 scan, p50.
    pub int8_scan_p50_ms: f64,
    /// The vector search alone with the search recall uses, p50.
    pub ann_p50_ms: f64,
    pub rss_mb: f64,
    pub peak_rss_mb: f64,
    pub db_mb: f64,
}

/// Seeded text generator over real words.
pub struct TextGen {
    words: Vec<String>,
    rng: SmallRng,
}

impl TextGen {
    /// A generator over the built-in embedder's whole-word vocabulary.
    pub fn new(seed: u64) -> Self {
        let embedder = StaticEmbedder::builtin();
        let vocab = embedder.tokenizer();
        let words: Vec<String> = (0..vocab.len() as u32)
            .filter_map(|id| vocab.token(id))
            .filter(|t| t.len() >= 3 && t.chars().all(|c| c.is_ascii_lowercase()))
            .map(str::to_owned)
            .collect();
        TextGen {
            words,
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// One word, skewed toward the vocabulary's frequent (low-id) words.
    fn word(&mut self) -> &str {
        let u: f64 = self.rng.random();
        let i = ((self.words.len() as f64).powf(u) as usize).min(self.words.len()) - 1;
        &self.words[i.min(self.words.len() - 1)]
    }

    /// A memory text.
    pub fn memory(&mut self) -> String {
        let n = self.rng.random_range(8..=14);
        (0..n)
            .map(|_| self.word().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A query made of 3-4 words of `text`.
    pub fn query_from(&mut self, text: &str) -> String {
        let words: Vec<&str> = text.split(' ').collect();
        let n = self.rng.random_range(3..=4).min(words.len());
        let start = self.rng.random_range(0..=words.len() - n);
        words[start..start + n].join(" ")
    }
}

/// How a run treats its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Each memory has a key (the engine checks the key); without, each goes through the
    /// duplicate check for an identical unkeyed text (`mnemo remember TEXT`, the pipeline's
    /// ADDs).
    pub keyed: bool,
    /// Reuse a database a previous run with the same size and seed left in the folder
    /// (skipping the inserts; `insert_per_s` is then 0), instead of starting afresh.
    pub reuse: bool,
}

/// Runs the benchmark for `n` memories in a database under `dir` (fresh unless
/// `opts.reuse` finds one).
pub fn run(
    dir: &std::path::Path,
    n: usize,
    queries: usize,
    seed: u64,
    opts: RunOptions,
) -> Result<ScaleReport> {
    run_on(None, dir, n, queries, seed, opts)
}

/// [`run`] in the database `store_uri` names (e.g. `postgres://…`; empty, or with
/// `opts.reuse` holding exactly an earlier run's memories) instead of a SQLite file in
/// `dir`.
pub fn run_on(
    store_uri: Option<&str>,
    dir: &std::path::Path,
    n: usize,
    queries: usize,
    seed: u64,
    opts: RunOptions,
) -> Result<ScaleReport> {
    let clock = Arc::new(FixedClock(mnemo_core::time::parse("2026-01-01T00:00:00Z")?));
    let keyed = if opts.keyed { "" } else { "-unkeyed" };
    let path = dir.join(format!("scale-{n}-seed{seed}{keyed}.db"));
    let (store, reuse): (Arc<dyn Store>, bool) = match store_uri {
        None => {
            let reuse = opts.reuse && path.exists();
            if !reuse {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            (
                Arc::new(SqliteStore::open(&path)?.with_clock(clock.clone())),
                reuse,
            )
        }
        Some(uri) => {
            let store = store_from_uri(uri, Create::File, clock.clone())?;
            let held = store.stats()?.memories_total;
            let reuse = opts.reuse && held > 0;
            if held > 0 && !reuse {
                return Err(mnemo_core::Error::invalid(
                    "store",
                    "the database already holds memories; give an empty one (or --reuse)",
                ));
            }
            (store, reuse)
        }
    };
    let db_bytes = {
        let store = store.clone();
        move || -> u64 {
            match store_uri {
                None => std::fs::metadata(&path).map_or(0, |m| m.len()),
                Some(_) => store.stats().map_or(0, |s| s.db_bytes),
            }
        }
    };
    let fts = Engine::new(store.clone(), EngineSettings::default(), clock.clone());
    let embedder: Arc<dyn Embedder> = Arc::new(StaticEmbedder::builtin());
    let hybrid = Engine::new(store, EngineSettings::default(), clock).with_embedder(embedder);
    let scope = Scope::user("scale");
    let mut gen = TextGen::new(seed);
    let mut texts = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let text = gen.memory();
        if !reuse {
            let new = if opts.keyed {
                NewMemory::keyed(format!("m{i}"), text.clone())
            } else {
                NewMemory::text(text.clone())
            };
            fts.remember(&scope, new, Actor::Cli)?;
        }
        texts.push(text);
    }
    let insert_per_s = if reuse {
        0.0
    } else {
        n as f64 / started.elapsed().as_secs_f64()
    };
    let qs: Vec<String> = (0..queries)
        .map(|_| {
            let i = gen.rng.random_range(0..texts.len());
            gen.query_from(&texts[i])
        })
        .collect();
    // The first recall of a process uses SQLite's full-text index; the second builds the
    // in-memory one.
    fts.recall(&scope, &quiet("warm up"))?;
    let t = Instant::now();
    fts.recall(&scope, &quiet("warm up"))?;
    let fts_build_s = t.elapsed().as_secs_f64();
    let fts_ms = time_recalls(&fts, &scope, &qs)?;
    let t = Instant::now();
    hybrid.recall(&scope, &quiet("warm up"))?;
    let vector_build_s = t.elapsed().as_secs_f64();
    let hybrid_ms = time_recalls(&hybrid, &scope, &qs)?;
    let mut after_write = Vec::new();
    let mut written = Vec::new();
    for (i, q) in qs.iter().take(20).enumerate() {
        let text = format!("{} {i}", gen.memory());
        let outcome = fts.remember(&scope, NewMemory::text(text), Actor::Cli)?;
        written.push(outcome.memory().id.clone());
        after_write.extend(time_recalls(&hybrid, &scope, std::slice::from_ref(q))?);
    }
    // Leave the database as it was, for `--reuse`.
    for id in &written {
        fts.forget(&scope.user_id, id, true, None, Actor::Cli)?;
    }
    let (rss, peak) = rss_mb();
    let vs = vector_search(&hybrid, &scope, &qs)?;
    Ok(ScaleReport {
        memories: n,
        insert_per_s: insert_per_s.round(),
        fts_p50_ms: round(percentile(&fts_ms, 50.0)),
        fts_p95_ms: round(percentile(&fts_ms, 95.0)),
        fts_p99_ms: round(percentile(&fts_ms, 99.0)),
        fts_build_s: round(fts_build_s),
        vector_build_s: round(vector_build_s),
        hybrid_p50_ms: round(percentile(&hybrid_ms, 50.0)),
        hybrid_p95_ms: round(percentile(&hybrid_ms, 95.0)),
        hybrid_p99_ms: round(percentile(&hybrid_ms, 99.0)),
        recall_after_write_p50_ms: round(percentile(&after_write, 50.0)),
        int8_recall_at_10: round(vs.int8_recall),
        ann_recall_at_10: round(vs.ann_recall),
        int8_scan_p50_ms: round(percentile(&vs.int8_ms, 50.0)),
        ann_p50_ms: round(percentile(&vs.ann_ms, 50.0)),
        rss_mb: rss,
        peak_rss_mb: peak,
        db_mb: round(db_bytes() as f64 / 1e6),
    })
}

/// A recall that does not count as an access (so timing does not write).
fn quiet(text: &str) -> RecallQuery {
    RecallQuery {
        text: text.to_string(),
        touch: false,
        ..Default::default()
    }
}

fn time_recalls(engine: &Engine, scope: &Scope, queries: &[String]) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(queries.len());
    for q in queries {
        let t = Instant::now();
        engine.recall(scope, &quiet(q))?;
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(out)
}

/// What the vector search alone measured.
struct VectorSearch {
    /// Mean overlap with the exact f32 top 10 of the queries' vectors: of the int8 exact
    /// scan, and of the search recall uses.
    int8_recall: f64,
    ann_recall: f64,
    int8_ms: Vec<f64>,
    ann_ms: Vec<f64>,
}

fn vector_search(engine: &Engine, scope: &Scope, queries: &[String]) -> Result<VectorSearch> {
    let mut out = VectorSearch {
        int8_recall: 0.0,
        ann_recall: 0.0,
        int8_ms: Vec::new(),
        ann_ms: Vec::new(),
    };
    let Some(embedder) = engine.embedder() else {
        return Ok(out);
    };
    let rows = engine
        .store()
        .vectors(OwnerKind::Memory, &scope.user_id, embedder.model_id())?;
    let exact: Vec<Vec<f32>> = rows.iter().map(|(_, v)| normalized(v)).collect();
    let mut quant = QuantIndex::new(embedder.dims());
    rows.iter().for_each(|(_, v)| quant.push(v));
    drop(rows);
    let overlap = |a: &[usize], b: &[usize]| {
        a.iter().filter(|i| b.contains(i)).count() as f64 / a.len().max(1) as f64
    };
    let embed = |q: &str| -> Result<Vec<f32>> {
        let v = embedder
            .embed(&[q])
            .map_err(|e| mnemo_core::Error::Model(e.to_string()))?;
        Ok(normalized(&v[0]))
    };
    // The first search builds the first stage's codes.
    if let Some(q) = queries.first() {
        if let Some(prepared) = quant.prepare(&embed(q)?) {
            quant.nearest(&prepared, 10, |_| true);
        }
    }
    for q in queries {
        let t = Instant::now();
        let v = embed(q)?;
        let mut a = vec![0.0f32; exact.len()];
        quant.scores(&v, &mut a);
        let int8_top = top10(&a);
        out.int8_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let v = embed(q)?;
        let found: Vec<usize> = match quant.prepare(&v) {
            Some(prepared) => quant
                .nearest(&prepared, 10, |_| true)
                .into_iter()
                .map(|(d, _)| d)
                .collect(),
            None => Vec::new(),
        };
        out.ann_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let e: Vec<f32> = exact.iter().map(|x| dot(x, &v)).collect();
        let te = top10(&e);
        out.int8_recall += overlap(&te, &int8_top);
        out.ann_recall += overlap(&te, &found);
    }
    let n = queries.len().max(1) as f64;
    out.int8_recall /= n;
    out.ann_recall /= n;
    Ok(out)
}

fn top10(scores: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    let by = |a: &usize, b: &usize| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b));
    if idx.len() > 10 {
        idx.select_nth_unstable_by(10, by);
        idx.truncate(10);
    }
    idx.sort_by(by);
    idx
}

/// Current and peak resident memory of this process in MB (Linux; 0 elsewhere).
pub fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kb| round(kb / 1024.0))
    };
    (field("VmRSS:"), field("VmHWM:"))
}
