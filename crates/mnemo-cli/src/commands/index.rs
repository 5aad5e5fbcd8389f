//! Commands about search indexes and their quality: `mnemo bench locomo` (the LoCoMo
//! retrieval benchmark, see `mnemo_bench::locomo`) and `mnemo reindex`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::{Args, Subcommand};
use mnemo_engine::Engine;

use crate::config::Config;

/// `mnemo bench ...`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// LoCoMo turn retrieval: recall@5/10/25, session hit rates, latency, ingest speed.
    /// Runs in a temporary database; your own database is not touched.
    Locomo(LocomoArgs),
    /// The context an agent receives, on the product path: for each question of a
    /// LoCoMo-format file, as a new message in a new session, the context the chat and the
    /// proxy would inject; evidence recall and tokens per budget, latency of the call.
    /// Runs in a temporary database; your own database is not touched.
    Context(ContextArgs),
    /// Memory search on personal facts asked about in other words: how often the fact is
    /// first and in the top 3, and how often a question no fact answers gets a memory.
    /// `crates/mnemo-bench/data/personal-facts-dev.json` is a hand-written dev set.
    Recall(RecallBenchArgs),
}

#[derive(Debug, Args)]
pub struct RecallBenchArgs {
    /// A facts file (`{"facts": [{"id", "text"}], "questions": [{"q", "fact"}]}`)
    pub path: PathBuf,
    /// Embedder, as for `bench locomo`
    #[arg(long, default_value = "static")]
    pub embedder: String,
    /// Override a retrieval setting (repeatable)
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// The similarity a memory sharing no word with the query needs (default: the
    /// configured `[engine.ranking] min_similarity`)
    #[arg(long, value_name = "COSINE")]
    pub min_similarity: Option<f64>,
}

#[derive(Debug, Args)]
pub struct ContextArgs {
    #[command(flatten)]
    pub run: LocomoArgs,
    /// Token budgets to measure, comma-separated
    #[arg(long, value_delimiter = ',', default_values_t = mnemo_bench::locomo::context::DEFAULT_BUDGETS)]
    pub budgets: Vec<u32>,
    /// Write each question's context as JSON Lines (question, answer, category, budget,
    /// recall, context) to FILE, for scoring answers with `scripts/locomo_qa.py`
    #[arg(long, value_name = "FILE")]
    pub dump: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LocomoArgs {
    /// A LoCoMo JSON file (a list of conversations)
    pub path: PathBuf,
    /// Embedder for hybrid search: `none` (full text only), `static` (built in, offline),
    /// `static:FILE` (a table on disk), `ollama:MODEL`, `openai:MODEL`
    #[arg(long, default_value = "static")]
    pub embedder: String,
    /// Override a retrieval setting, e.g. `--param context_weight=0.3` (repeatable)
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Only the first N conversations
    #[arg(long, value_name = "N")]
    pub conversations: Option<usize>,
    /// Run in this empty database instead of a temporary SQLite file, e.g.
    /// `postgres://user@host/bench` to measure the PostgreSQL backend
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
}

/// Runs a benchmark command.
pub fn bench(command: BenchCommand, cfg: &Config) -> Result<()> {
    match command {
        BenchCommand::Locomo(a) => {
            let report = mnemo_bench::locomo::run_file_in(
                a.store.as_deref(),
                &a.path,
                &a.embedder,
                &a.params,
                a.conversations,
            )?;
            if cfg.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", mnemo_bench::locomo::table(&report));
            }
            Ok(())
        }
        BenchCommand::Recall(a) => {
            let mut settings = cfg.engine.clone();
            if let Some(m) = a.min_similarity {
                settings.ranking.min_similarity = Some(m);
            }
            let report = mnemo_bench::recall::run_file(&a.path, &a.embedder, &a.params, settings)?;
            if cfg.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", mnemo_bench::recall::table(&report));
            }
            Ok(())
        }
        BenchCommand::Context(a) => {
            if let Some(b) = a.budgets.iter().find(|b| !(100..=32_000).contains(*b)) {
                anyhow::bail!(
                    "--budgets: {b} is out of range; give budgets of 100 to 32000 tokens"
                );
            }
            let report = mnemo_bench::locomo::context::run_file(
                a.run.store.as_deref(),
                &a.run.path,
                &a.run.embedder,
                &a.run.params,
                a.run.conversations,
                &a.budgets,
                a.dump.as_deref(),
            )?;
            if cfg.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", mnemo_bench::locomo::context::table(&report));
            }
            Ok(())
        }
    }
}

/// `mnemo reindex`
#[derive(Debug, Args)]
pub struct ReindexArgs {
    /// Embedder to re-embed with (default: the configured one, else the built-in `static`)
    #[arg(long)]
    pub embedder: Option<String>,
    /// Only embed the turns and memories that wait for a vector (after an embedding server
    /// was down); keeps every stored vector
    #[arg(long)]
    pub missing: bool,
}

/// Gives `engine` the configured embedder (`embedder` in the config file, `MNEMO_EMBEDDER`;
/// `none` for none) with its `[embedding]` settings. Nothing is contacted here: an HTTP
/// embedder is reached on first use, so commands that need no vectors never wait for it.
pub fn with_configured_embedder(engine: Engine, cfg: &Config) -> Result<Engine> {
    Ok(
        match mnemo_engine::embedder_with(&cfg.embedder, &cfg.embedding)? {
            Some(e) => engine.with_embedder(e),
            None => engine,
        },
    )
}

/// Deletes every stored vector and embeds every turn and memory again (or, with
/// `--missing`, only those without one), printing progress lines to stderr.
pub fn reindex(engine: Engine, cfg: &Config, a: ReindexArgs) -> Result<()> {
    let spec = a.embedder.unwrap_or_else(|| cfg.embedder.clone());
    let settings = match spec == cfg.embedder {
        true => cfg.embedding.clone(),
        false => crate::config::embedder_settings(&spec, Default::default(), &cfg.llm, &|k| {
            std::env::var(k).ok()
        })?,
    };
    let Some(embedder) = mnemo_engine::embedder_with(&spec, &settings)? else {
        anyhow::bail!("`--embedder none` has nothing to reindex with; name an embedder");
    };
    let engine = engine.with_embedder(embedder);
    if a.missing {
        return backfill(&engine, cfg);
    }
    let started = Instant::now();
    let mut last = Instant::now();
    let report = engine.reindex(&mut |done, total| {
        if done == total || last.elapsed().as_millis() >= 500 {
            last = Instant::now();
            let pct = (done * 100).checked_div(total).unwrap_or(100);
            eprintln!("reindex: {done}/{total} ({pct}%)");
        }
    })?;
    if cfg.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "re-embedded {} turns and {} memories with {} in {:.1} s ({} old vectors removed)",
            report.turns,
            report.memories,
            report.model_id,
            started.elapsed().as_secs_f64(),
            report.deleted
        );
    }
    Ok(())
}

/// `reindex --missing`: embeds what waits for a vector.
fn backfill(engine: &Engine, cfg: &Config) -> Result<()> {
    let started = Instant::now();
    let report = engine.backfill_vectors()?;
    if cfg.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "embedded {} turns and {} memories with {} in {:.1} s",
            report.turns,
            report.memories,
            report.model_id,
            started.elapsed().as_secs_f64()
        );
        for user in &report.skipped_users {
            eprintln!(
                "warning: user {user} has vectors of another model; run `mnemo reindex` to re-embed them all"
            );
        }
    }
    if let Some(e) = &report.error {
        anyhow::bail!("embedding stopped: {e}; what is left waits (run this again later)");
    }
    Ok(())
}
