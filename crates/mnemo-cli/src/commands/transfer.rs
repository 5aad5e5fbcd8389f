//! `export` and `import`.

use std::io::BufReader;

use anyhow::{Context, Result};
use mnemo_core::ImportMode;
use mnemo_engine::Engine;

use crate::cli::{ExportArgs, ImportArgs};
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
