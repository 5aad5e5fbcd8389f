//! Commands about search indexes and their quality: `mnemo bench locomo` (the LoCoMo
//! retrieval benchmark, see `mnemo_bench::locomo`) and `mnemo reindex`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

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
}

/// Runs a benchmark command.
pub fn bench(command: BenchCommand, cfg: &Config) -> Result<()> {
    match command {
        BenchCommand::Locomo(a) => {
            let report = mnemo_bench::locomo::run_file(
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
    }
}
