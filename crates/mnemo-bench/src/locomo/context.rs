//! `mnemo bench context`: the context the agent receives, measured on the product path.
//!
//! The conversations of a LoCoMo-format file are ingested as [`super::run`] does; then each
//! question is sent, as a user's new message in a new session, through the same tools-layer
//! call the chat, the proxy, MCP `get_context` and `POST /v1/context` make
//! ([`mnemo_engine::tools::context`], default pattern and settings), once per budget. An
//! evidence turn counts as recalled when the turn itself is in the context (its quoted text
//! in the memory block, or replayed), or when a memory in the context names it among its
//! source turns. Scored are categories 1-4 (5, adversarial, apart), as in the retrieval
//! protocol; what the model then answers is scored by `scripts/locomo_qa.py` from `--dump`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use mnemo_core::{Error, Result, Scope, TurnFilter};
use mnemo_engine::tools::{self, Caller, ContextToolRequest};
use mnemo_engine::{Context, Engine, Section};
use serde::Serialize;
use serde_json::{json, Value};

use super::metrics::{percentile, round};
use super::Conversation;

/// Budgets measured when none are given.
pub const DEFAULT_BUDGETS: [u32; 4] = [500, 1000, 2000, 4000];

/// Recall at one budget.
#[derive(Debug, Clone, Serialize, Default)]
pub struct BudgetResult {
    /// Mean share of a question's evidence turns found in the context (categories 1-4).
    pub recall: f64,
    /// Mean tokens of the context (memory block and replayed turns).
    pub tokens_mean: f64,
    /// The same by category (`"5"` is the adversarial category, not in `recall`).
    pub per_category: BTreeMap<String, CategoryResult>,
    pub p50_ms: f64,
}

/// Recall of one category at one budget.
#[derive(Debug, Clone, Serialize, Default)]
pub struct CategoryResult {
    pub n: usize,
    pub recall: f64,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct ContextReport {
    /// Questions scored (categories 1-4).
    pub n: usize,
    /// Questions without valid evidence.
    pub skipped: usize,
    /// By budget (JSON keys are the budgets as strings).
    pub budgets: BTreeMap<u32, BudgetResult>,
    /// Latency of the context call, over every call of every budget.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub config: Value,
}

/// One question's context, as `--dump` writes it.
#[derive(Debug, Serialize)]
struct Dumped<'a> {
    sample_id: &'a str,
    question: &'a str,
    answer: &'a str,
    category: u32,
    budget: u32,
    recall: f64,
    context: String,
}

/// Runs the context benchmark on `path` in a temporary database (see [`super::run_file_in`]
/// for `store`, `embedder`, `params` and `limit`), at `budgets`, writing each question's
/// context to `dump` when given.
pub fn run_file(
    store: Option<&str>,
    path: &Path,
    embedder: &str,
    params: &[String],
    limit: Option<usize>,
    budgets: &[u32],
    dump: Option<&Path>,
) -> Result<ContextReport> {
    let mut conversations = super::load(path)?;
    if let Some(n) = limit {
        conversations.truncate(n);
    }
    let retrieval = crate::setup::retrieval_params(params)?;
    let embed = crate::setup::embedder_from_spec(embedder)?;
    let dir = tempfile::tempdir().map_err(|e| Error::io("creating a temporary directory", e))?;
    let temp = dir.path().join("context.db");
    let uri = store.map_or_else(|| temp.display().to_string(), str::to_owned);
    let engine = crate::setup::engine_at(&uri, Default::default(), retrieval, embed)?;
    let mut out = match dump {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p).map_err(
            |e| Error::io(format!("creating the dump file {}", p.display()), e),
        )?)),
        None => None,
    };
    let config = json!({
        "embedder": embedder,
        "file": path.display().to_string(),
        "store": mnemo_engine::DbLocation::parse(&uri).label(),
        "context": serde_json::to_value(&engine.settings().context)?,
        "pattern": "hybrid",
        "version": env!("CARGO_PKG_VERSION"),
    });
    run(
        &engine,
        &conversations,
        budgets,
        out.as_mut().map(|w| w as &mut dyn Write),
        config,
    )
}

/// Ingests `conversations` into `engine` (empty) and measures the context at `budgets`.
pub fn run(
    engine: &Engine,
    conversations: &[Conversation],
    budgets: &[u32],
    mut dump: Option<&mut dyn Write>,
    config: Value,
) -> Result<ContextReport> {
    if budgets.is_empty() {
        return Err(Error::invalid("budgets", "give at least one budget"));
    }
    for c in conversations {
        super::ingest(engine, c)?;
    }
    engine.backfill_vectors()?;
    // recall[budget][category] = per-question recalls; tokens[budget] likewise.
    let mut recalls: BTreeMap<u32, BTreeMap<u32, Vec<f64>>> = BTreeMap::new();
    let mut tokens: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    let mut latency: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    let mut skipped = 0;
    for c in conversations {
        let caller = Caller::user(&c.sample_id);
        let dia = dia_of_turns(engine, &c.sample_id)?;
        // Loads the conversation's indexes before anything is timed.
        context_at(engine, &caller, "warm up", budgets[0])?;
        for q in &c.questions {
            if q.evidence.is_empty() {
                skipped += 1;
                continue;
            }
            for &b in budgets {
                let t = Instant::now();
                let ctx = context_at(engine, &caller, &q.question, b)?;
                latency
                    .entry(b)
                    .or_default()
                    .push(t.elapsed().as_secs_f64() * 1000.0);
                let found = recalled(engine, &c.sample_id, &ctx, &dia)?;
                let hit = q.evidence.iter().filter(|e| found.contains(*e)).count();
                let recall = hit as f64 / q.evidence.len() as f64;
                recalls
                    .entry(b)
                    .or_default()
                    .entry(q.category)
                    .or_default()
                    .push(recall);
                if (1..=4).contains(&q.category) {
                    tokens.entry(b).or_default().push(f64::from(ctx.tokens));
                }
                if let Some(w) = dump.as_mut() {
                    let line = Dumped {
                        sample_id: &c.sample_id,
                        question: &q.question,
                        answer: &q.answer,
                        category: q.category,
                        budget: b,
                        recall,
                        context: ctx.memory_block.clone().unwrap_or_default(),
                    };
                    serde_json::to_writer(&mut *w, &line)?;
                    w.write_all(b"\n")
                        .map_err(|e| Error::io("writing the dump", e))?;
                }
            }
        }
    }
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let mut out = BTreeMap::new();
    let mut n = 0;
    for (&b, by_cat) in &recalls {
        let scored: Vec<f64> = by_cat
            .iter()
            .filter(|(c, _)| (1..=4).contains(*c))
            .flat_map(|(_, v)| v.iter().copied())
            .collect();
        n = scored.len();
        let per_category = by_cat
            .iter()
            .map(|(c, v)| {
                (
                    c.to_string(),
                    CategoryResult {
                        n: v.len(),
                        recall: round(mean(v)),
                    },
                )
            })
            .collect();
        out.insert(
            b,
            BudgetResult {
                recall: round(mean(&scored)),
                tokens_mean: round(mean(tokens.get(&b).map_or(&[][..], Vec::as_slice))),
                per_category,
                p50_ms: round(percentile(
                    latency.get(&b).map_or(&[][..], Vec::as_slice),
                    50.0,
                )),
            },
        );
    }
    let all: Vec<f64> = latency.values().flatten().copied().collect();
    Ok(ContextReport {
        n,
        skipped,
        budgets: out,
        p50_ms: round(percentile(&all, 50.0)),
        p95_ms: round(percentile(&all, 95.0)),
        config,
    })
}

/// The tools-layer context call the chat and the proxy make, for a new session.
fn context_at(engine: &Engine, caller: &Caller, message: &str, budget: u32) -> Result<Context> {
    let req = ContextToolRequest {
        message: message.to_string(),
        session_id: None,
        pattern: None,
        budget_tokens: Some(budget),
        max_memories: None,
        max_recent_turns: None,
    };
    tools::context(engine, caller, req).map_err(|e| Error::invalid("context", e.to_string()))
}

/// Turn id → `dia_id` for one conversation's user.
fn dia_of_turns(engine: &Engine, user: &str) -> Result<HashMap<String, String>> {
    let turns = engine.store().list_turns(&TurnFilter {
        scope: Some(Scope::user(user)),
        ..Default::default()
    })?;
    Ok(turns
        .into_iter()
        .filter_map(|t| {
            let dia = t.meta.get("dia_id").and_then(Value::as_str)?.to_string();
            Some((t.id, dia))
        })
        .collect())
}

/// The `dia_id`s the context holds: turns that are in it (and whose text the block
/// really carries), and the source turns of the memories in it.
fn recalled(
    engine: &Engine,
    user: &str,
    ctx: &Context,
    dia: &HashMap<String, String>,
) -> Result<std::collections::HashSet<String>> {
    let block = ctx.memory_block.as_deref().unwrap_or_default();
    let mut found = std::collections::HashSet::new();
    for it in &ctx.items {
        match it.section {
            Section::PastTurn if block.contains(&it.text) => {
                found.extend(dia.get(&it.id).cloned());
            }
            Section::RecentTurn => {
                found.extend(dia.get(&it.id).cloned());
            }
            Section::Memory | Section::Fact => {
                let m = engine.store().get_memory(Some(user), &it.id)?;
                found.extend(m.source_turns.iter().filter_map(|t| dia.get(t).cloned()));
            }
            _ => {}
        }
    }
    Ok(found)
}

/// The report as a table for people.
pub fn table(r: &ContextReport) -> String {
    let mut out = String::from("budget  recall  tokens  ");
    let cats: Vec<String> = r
        .budgets
        .values()
        .next()
        .map(|b| b.per_category.keys().cloned().collect())
        .unwrap_or_default();
    for c in &cats {
        out.push_str(&format!("  cat {c:<3}"));
    }
    out.push_str("  p50 ms\n");
    for (b, res) in &r.budgets {
        out.push_str(&format!(
            "{b:>6}  {:>6.3}  {:>6.0}  ",
            res.recall, res.tokens_mean
        ));
        for c in &cats {
            let v = res.per_category.get(c).map_or(0.0, |x| x.recall);
            out.push_str(&format!("  {v:>7.3}"));
        }
        out.push_str(&format!("  {:>6.2}\n", res.p50_ms));
    }
    out.push_str(&format!(
        "{} questions scored (categories 1-4; 5 shown apart), {} skipped without evidence\n\
         context call latency p50 {:.2} ms, p95 {:.2} ms\n",
        r.n, r.skipped, r.p50_ms, r.p95_ms
    ));
    out
}
