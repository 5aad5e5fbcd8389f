//! `export`, `import`, `migrate` (a whole database into another, across backends),
//! `backup` and `restore --backup`.

use std::io::BufReader;

use anyhow::{Context, Result};
use mnemo_core::ImportMode;
use mnemo_engine::{copy_store, store_from_uri, Create, DbLocation, Engine};

use crate::cli::{ExportArgs, ImportArgs, MigrateArgs};
use crate::config::Config;
use crate::output::Out;

pub fn export(engine: &Engine, cfg: &Config, a: ExportArgs) -> Result<()> {
    let user = (!a.all_users).then_some(cfg.user.as_str());
    let mut out = Out::new();
    let n = engine.export(user, out.raw())?;
    out.flush()?;
    if n <= 1 {
        eprintln!(
            "note: nothing stored for user `{}` (use --all-users for everyone)",
            cfg.user
        );
    }
    Ok(())
}

pub fn import(engine: &Engine, cfg: &Config, a: ImportArgs) -> Result<()> {
    let mode = if a.replace {
        ImportMode::Replace
    } else {
        ImportMode::SkipExisting
    };
    let summary = if a.file.as_os_str() == "-" {
        engine.import(&mut std::io::stdin().lock(), mode)?
    } else {
        let f = std::fs::File::open(&a.file)
            .with_context(|| format!("cannot open {}", a.file.display()))?;
        engine.import(&mut BufReader::new(f), mode)?
    };
    let mut out = Out::new();
    if cfg.json {
        out.json(&summary)?;
    } else {
        let r = &summary.report;
        out.line(format!(
            "imported {} records: {} new, {} replaced, {} skipped (already present)",
            summary.records, r.inserted, r.replaced, r.skipped
        ))?;
    }
    out.flush()
}

/// Copies everything of the configured database into `--to` (created if it is a new
/// SQLite file; a PostgreSQL database must exist). Records already there are kept.
pub fn migrate(engine: &Engine, cfg: &Config, a: MigrateArgs) -> Result<()> {
    let target = DbLocation::parse(&a.to);
    let to = store_from_uri(
        &a.to,
        Create::File,
        std::sync::Arc::new(mnemo_core::SystemClock),
    )
    .with_context(|| format!("cannot open the target database {}", target.label()))?;
    let report = copy_store(engine.store(), to.as_ref())?;
    let mut out = Out::new();
    if cfg.json {
        out.json(&report)?;
    } else {
        let r = &report.import;
        out.line(format!(
            "copied {} records to {} ({} new, {} already there) and {} vectors with their model ids",
            report.records,
            target.label(),
            r.inserted,
            r.skipped,
            report.vectors
        ))?;
    }
    out.flush()
}

/// `mnemo backup FILE`: a consistent copy, taken while others go on writing.
pub fn backup(cfg: &Config, file: &std::path::Path) -> Result<()> {
    let r = mnemo_engine::backup(&cfg.db.to_string_lossy(), file)?;
    report_backup(cfg, &r, "backed up")
}

/// `mnemo restore --backup FILE [--replace]`.
pub fn restore_backup(cfg: &Config, file: &std::path::Path, replace: bool) -> Result<()> {
    let r = mnemo_engine::restore(&cfg.db.to_string_lossy(), file, replace)?;
    report_backup(cfg, &r, "restored")
}

fn report_backup(cfg: &Config, r: &mnemo_engine::BackupReport, done: &str) -> Result<()> {
    let mut out = Out::new();
    if cfg.json {
        out.json(&serde_json::json!({
            "path": r.path,
            "bytes": r.bytes,
            "schema_version": r.schema_version,
            "sessions": r.sessions,
            "turns": r.turns,
            "memories": r.memories,
            "integrity": "ok",
        }))?;
    } else {
        out.line(format!(
            "{done} {}: {} sessions, {} turns, {} memories, {} KiB, schema v{}, integrity ok",
            r.path.display(),
            r.sessions,
            r.turns,
            r.memories,
            r.bytes / 1024,
            r.schema_version
        ))?;
    }
    out.flush()
}
