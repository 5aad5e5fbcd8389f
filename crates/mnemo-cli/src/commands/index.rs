//! Commands about search indexes and their quality: `mnemo bench locomo` (the LoCoMo
//! retrieval benchmark, see `mnemo_bench::locomo`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use mnemo_engine::{Engine, RetrievalParams};
use serde_json::{json, Map, Value};

use crate::config::Config;

/// `mnemo bench ...`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// LoCoMo turn retrieval: recall@5/10/25, session hit rates, latency, ingest speed.
    /// Runs in a temporary database; your own database is not touched.
    Locomo(LocomoArgs),
}

#[derive(Debug, Args)]
pub struct LocomoArgs {
    /// A LoCoMo JSON file (a list of conversations)
    pub path: PathBuf,
    /// Embedder for hybrid search: `none` (full text only)
    #[arg(long, default_value = "none")]
    pub embedder: String,
    /// Override a retrieval setting, e.g. `--param context_weight=0.3` (repeatable)
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Only the first N conversations
    #[arg(long, value_name = "N")]
    pub conversations: Option<usize>,
}

/// Runs a benchmark command.
pub fn bench(command: BenchCommand, cfg: &Config) -> Result<()> {
    match command {
        BenchCommand::Locomo(a) => locomo(a, cfg),
    }
}

fn locomo(args: LocomoArgs, cfg: &Config) -> Result<()> {
    let mut conversations = mnemo_bench::locomo::load(&args.path)?;
    if let Some(n) = args.conversations {
        conversations.truncate(n);
    }
    let params = retrieval_params(&args.params)?;
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let engine = Engine::open_sqlite(&dir.path().join("locomo.db"), cfg.engine.clone())?
        .with_retrieval_params(params);
    let config = json!({ "embedder": args.embedder, "file": args.path.display().to_string() });
    let report = mnemo_bench::locomo::run(&engine, &conversations, config)?;
    if cfg.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", mnemo_bench::locomo::table(&report));
    }
    Ok(())
}

/// The default retrieval settings with `KEY=VALUE` overrides applied.
pub fn retrieval_params(overrides: &[String]) -> Result<RetrievalParams> {
    let mut value = serde_json::to_value(RetrievalParams::default())?;
    let map: &mut Map<String, Value> = value.as_object_mut().context("settings object")?;
    for o in overrides {
        let (key, raw) = o
            .split_once('=')
            .with_context(|| format!("`{o}` is not KEY=VALUE"))?;
        let parsed = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.into()));
        map.insert(key.trim().to_string(), parsed);
    }
    serde_json::from_value(value).context("invalid --param")
}
