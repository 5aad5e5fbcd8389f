//! Command-line grammar. Only argument definitions live here; behaviour is in
//! `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// mnemo: long-term memory for AI agents.
#[derive(Debug, Parser)]
#[command(name = "mnemo", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Database: a SQLite file, or postgres://user:password@host/db [env: MNEMO_DB] [default: ~/.local/share/mnemo/mnemo.db]
    #[arg(long, global = true, value_name = "PATH|URL")]
    pub db: Option<PathBuf>,
    /// Whose memory to use [env: MNEMO_USER] [default: $USER]
    #[arg(long, short = 'u', global = true, value_name = "USER")]
    pub user: Option<String>,
    /// Narrow to one agent's memory (the user's shared memories stay visible) [env: MNEMO_AGENT]
    #[arg(long, global = true, value_name = "AGENT")]
    pub agent: Option<String>,
    /// Config file [env: MNEMO_CONFIG] [default: ~/.config/mnemo/config.toml]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print machine-readable JSON instead of text
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Chat with an assistant that remembers you across sessions
    Chat(ChatArgs),
    /// Store a memory: `mnemo remember "text"` or `mnemo remember KEY=VALUE`
    Remember(RememberArgs),
    /// Find the memories that match a query, best first
    Recall(RecallArgs),
    /// Show the context an agent would receive for a message: the memory block (facts,
    /// memories, summaries, turns of earlier conversations) and the replayed turns
    Context(ContextArgs),
    /// List memories (current by default)
    List(ListArgs),
    /// Show one memory with its history and the turns it came from
    Show(IdArg),
    /// Change a memory's text or attributes (opens $EDITOR when no change is given)
    Edit(EditArgs),
    /// Forget a memory, or with `--user U` and no id everything of a user
    Forget(ForgetArgs),
    /// Make a forgotten or superseded memory current again, or (--backup FILE) bring a
    /// database back from a backup
    Restore(RestoreArgs),
    /// Show the conversation log (turns)
    Log(LogArgs),
    /// List conversation sessions
    Sessions(SessionsArgs),
    /// Record conversation turns
    #[command(subcommand)]
    Turn(TurnCommand),
    /// Write memories, turns and history as JSON Lines to stdout
    Export(ExportArgs),
    /// Read a JSON Lines export (all or nothing)
    Import(ImportArgs),
    /// List the memory pipeline's jobs (extraction, reconciliation, topics, summaries)
    Jobs(crate::commands::jobs::JobsArgs),
    /// Run queued pipeline jobs with the configured model (`--once` drains and exits)
    Work(crate::commands::work::WorkArgs),
    /// Tokens (and cost, with [pricing] in the config) of model calls
    Usage(crate::commands::jobs::UsageArgs),
    /// Counts of what is stored
    Stats,
    /// Write a consistent copy of the database to FILE while servers and chats go on
    /// writing (SQLite; PostgreSQL has pg_dump)
    Backup(BackupArgs),
    /// Copy the whole database (history, provenance, vectors) into another, e.g. PostgreSQL
    Migrate(MigrateArgs),
    /// Print a commented default config file, where files are, or the effective settings
    Config(ConfigArgs),
    /// Run a benchmark (see `mnemo bench locomo --help`)
    #[command(subcommand)]
    Bench(crate::commands::index::BenchCommand),
    /// Serve the REST API, MCP at /mcp and the OpenAI-compatible proxy (API keys from `mnemo keys`)
    Serve(crate::commands::serve::ServeArgs),
    /// Serve MCP (Model Context Protocol) over stdio for one user, for MCP clients
    Mcp(crate::commands::mcp::McpArgs),
    /// Create, list and revoke API keys for `mnemo serve`
    #[command(subcommand)]
    Keys(crate::commands::keys::KeysCommand),
    /// Re-embed every turn and memory (after changing the embedder), with progress
    Reindex(crate::commands::index::ReindexArgs),
}

#[derive(Debug, Args)]
pub struct RememberArgs {
    /// The memory text, or KEY=VALUE to set a keyed fact
    #[arg(required = true, num_args = 1.., value_name = "TEXT")]
    pub text: Vec<String>,
    /// Kind: fact, preference, plan, decision, task, risk, summary, note, or your own word
    #[arg(long, short)]
    pub kind: Option<String>,
    /// Key: at most one current memory per key; a new value supersedes the old one
    #[arg(long)]
    pub key: Option<String>,
    /// Topic to file it under
    #[arg(long, short)]
    pub topic: Option<String>,
    /// Importance from 0 to 1
    #[arg(long, short)]
    pub salience: Option<f32>,
    /// Keep it from fading and rank it higher
    #[arg(long)]
    pub pin: bool,
    /// When it stops being relevant (YYYY-MM-DD, `YYYY-MM-DD HH:MM` UTC, or RFC 3339)
    #[arg(long, value_name = "DATE")]
    pub expires: Option<String>,
    /// Session it belongs to
    #[arg(long)]
    pub session: Option<String>,
    /// Store KEY=VALUE-looking text literally instead of as a keyed fact
    #[arg(long)]
    pub literal: bool,
}

#[derive(Debug, Args)]
pub struct ContextArgs {
    /// The message the reply would answer
    #[arg(required = true, num_args = 1.., value_name = "MESSAGE")]
    pub message: Vec<String>,
    /// The session the message would belong to (its recent turns are replayed)
    #[arg(long)]
    pub session: Option<String>,
    /// Token budget for the memory block and replayed turns (100 to 32000)
    #[arg(long, default_value_t = 2000)]
    pub budget: u32,
    /// hybrid (default), buffer, summary or vector
    #[arg(long)]
    pub pattern: Option<String>,
}

#[derive(Debug, Args)]
pub struct RecallArgs {
    /// What to look for
    #[arg(required = true, num_args = 1.., value_name = "QUERY")]
    pub query: Vec<String>,
    /// Most results to return
    #[arg(long, short = 'n')]
    pub limit: Option<usize>,
    /// Only these kinds (repeatable)
    #[arg(long, short)]
    pub kind: Vec<String>,
    /// Only this topic
    #[arg(long, short)]
    pub topic: Option<String>,
    /// Search what was true at this date instead of now
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Show each component of each hit's score
    #[arg(long)]
    pub explain: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only these kinds (repeatable)
    #[arg(long, short)]
    pub kind: Vec<String>,
    /// Only this topic
    #[arg(long, short)]
    pub topic: Option<String>,
    /// Only this key
    #[arg(long)]
    pub key: Option<String>,
    /// Only memories of this session
    #[arg(long)]
    pub session: Option<String>,
    /// Include superseded, forgotten and expired memories
    #[arg(long, conflicts_with = "as_of")]
    pub all: bool,
    /// Memories that were true at this date
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Most memories to list
    #[arg(long, short = 'n')]
    pub limit: Option<usize>,
}

#[derive(Debug, Args)]
pub struct IdArg {
    /// Memory id (or a unique prefix of at least 4 characters)
    pub id: String,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Memory id (or a unique prefix of at least 4 characters)
    #[arg(required_unless_present = "backup", conflicts_with = "backup")]
    pub id: Option<String>,
    /// Replace the database with this backup (from `mnemo backup`); stop every server and
    /// chat using the database first
    #[arg(long, value_name = "FILE")]
    pub backup: Option<std::path::PathBuf>,
    /// Restore over a database that holds data (it is replaced, not merged)
    #[arg(long, requires = "backup")]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The file to write (must not exist)
    pub file: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    /// Memory id (or a unique prefix)
    pub id: String,
    /// New text
    #[arg(value_name = "TEXT")]
    pub text: Option<String>,
    #[arg(long, short)]
    pub kind: Option<String>,
    /// New key (empty string removes it)
    #[arg(long)]
    pub key: Option<String>,
    /// New topic (empty string removes it)
    #[arg(long, short)]
    pub topic: Option<String>,
    #[arg(long, short)]
    pub salience: Option<f32>,
    #[arg(long, conflicts_with = "unpin")]
    pub pin: bool,
    #[arg(long)]
    pub unpin: bool,
    /// New expiry date
    #[arg(long, value_name = "DATE", conflicts_with = "no_expiry")]
    pub expires: Option<String>,
    /// Remove the expiry
    #[arg(long)]
    pub no_expiry: bool,
    /// Why (kept in the history)
    #[arg(long)]
    pub reason: Option<String>,
}

/// `mnemo forget ID` hides one memory; `mnemo forget --user U` (no id) deletes
/// everything of user U, after confirmation.
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// Memory id (or a unique prefix); leave out, with an explicit --user, to delete
    /// EVERYTHING of that user: sessions, turns, memories, history, topics, summaries
    pub id: Option<String>,
    /// Remove the memory and its history for good instead of hiding it
    #[arg(long)]
    pub purge: bool,
    /// Why (kept in the history)
    #[arg(long)]
    pub reason: Option<String>,
    /// Do not ask for confirmation
    #[arg(long, short)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Session id (or a unique prefix); default: every session of the user
    #[arg(long, short)]
    pub session: Option<String>,
    /// Most turns to show (the latest ones; with --search the best, 10 by default)
    #[arg(long, short = 'n')]
    pub limit: Option<usize>,
    /// Show the turns that best answer this text instead, best first (hybrid ranking:
    /// full text, the built-in embedder, neighbouring turns, the session, speakers, dates)
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// With --search: print every part of each hit's score
    #[arg(long, requires = "search")]
    pub explain: bool,
}

#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// Most sessions to show
    #[arg(long, short = 'n')]
    pub limit: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum TurnCommand {
    /// Record one turn of a conversation
    Add(TurnAddArgs),
}

#[derive(Debug, Args)]
pub struct TurnAddArgs {
    /// Session id; a new one is created (and printed) when left out
    #[arg(long, short)]
    pub session: Option<String>,
    /// user, assistant, system or tool
    #[arg(long, short, default_value = "user")]
    pub role: String,
    /// When it was said (default: now)
    #[arg(long, value_name = "DATE")]
    pub at: Option<String>,
    /// The message text ("-" reads stdin)
    #[arg(required = true, num_args = 1.., value_name = "TEXT")]
    pub text: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Export every user, not only --user
    #[arg(long)]
    pub all_users: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Export file to read ("-" for stdin)
    pub file: PathBuf,
    /// Overwrite records whose id already exists (default: keep the existing one)
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Where to copy to: postgres://user:password@host/db, sqlite://PATH or a file path
    #[arg(long, value_name = "URL")]
    pub to: String,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print where the config and database files are instead
    #[arg(long, conflicts_with = "effective")]
    pub paths: bool,
    /// Print the settings in effect after the config file, MNEMO_* variables and flags:
    /// provider, URL, models, embedder, database, pipeline (API keys never shown)
    #[arg(long)]
    pub effective: bool,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Resume a session by id or unique prefix (default: a new session)
    #[arg(long, short)]
    pub session: Option<String>,
    /// Model to chat with [env: MNEMO_MODEL]
    #[arg(long, short)]
    pub model: Option<String>,
    /// ollama, openai or anthropic [env: MNEMO_LLM_PROVIDER]
    #[arg(long)]
    pub provider: Option<String>,
    /// What memory to inject: buffer, summary, vector or hybrid
    #[arg(long)]
    pub pattern: Option<String>,
    /// Token budget for injected memory and replayed turns
    #[arg(long, default_value_t = 2000)]
    pub budget: u32,
    /// Send one message, print the reply and exit (with --json: one JSON object with
    /// the reply, the session and the jobs queued)
    #[arg(long, value_name = "MESSAGE")]
    pub once: Option<String>,
    /// Seconds to let the memory pipeline finish this chat's jobs before exiting; what is
    /// left stays queued for `mnemo work` or the next chat [default: exit_wait_secs in
    /// [pipeline], 3]
    #[arg(long, value_name = "SECS")]
    pub wait: Option<f64>,
}
