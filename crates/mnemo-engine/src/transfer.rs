//! Export and import as JSON Lines (format in [`mnemo_core::record`]). Export is
//! deterministic; import parses and checks the whole file before writing anything, then
//! writes it in one transaction, so a bad line leaves the database untouched and the
//! error names that line.

use std::io::{BufRead, Write};

use mnemo_core::{Error, ImportMode, ImportReport, Record, Result, EXPORT_FORMAT, EXPORT_VERSION};
use serde::Serialize;

use crate::Engine;

/// What an import did, with the file's header.
#[derive(Debug, Clone, Serialize)]
pub struct ImportSummary {
    pub records: usize,
    #[serde(flatten)]
    pub report: ImportReport,
}

impl Engine {
    /// Writes every record of `user_id` (or of the whole database) to `out`, one JSON
    /// object per line. Returns the number of lines written.
    pub fn export(&self, user_id: Option<&str>, out: &mut dyn Write) -> Result<usize> {
        let records = self.store.export(user_id)?;
        for r in &records {
            serde_json::to_writer(&mut *out, r)?;
            out.write_all(b"\n")
                .map_err(|e| Error::io("writing the export", e))?;
        }
        out.flush()
            .map_err(|e| Error::io("writing the export", e))?;
        Ok(records.len())
    }

    /// Reads an export and imports it in one transaction.
    pub fn import(&self, input: &mut dyn BufRead, mode: ImportMode) -> Result<ImportSummary> {
        let (records, lines) = parse_export(input)?;
        let report = self.store.import(&records, mode).map_err(|e| match e {
            // The store numbers records from 1; map back to the file's line.
            Error::ImportLine { line, reason } => Error::ImportLine {
                line: lines.get(line.saturating_sub(1)).copied().unwrap_or(line),
                reason,
            },
            other => other,
        })?;
        Ok(ImportSummary {
            records: records.len(),
            report,
        })
    }
}

/// Parses every line, checking the header; returns the records (header excluded) and the
/// file line number of each.
fn parse_export(input: &mut dyn BufRead) -> Result<(Vec<Record>, Vec<usize>)> {
    let mut records = Vec::new();
    let mut lines = Vec::new();
    let mut seen_header = false;
    for (i, line) in input.lines().enumerate() {
        let no = i + 1;
        let line = line.map_err(|e| Error::io(format!("reading line {no} of the import"), e))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(&line).map_err(|e| Error::ImportLine {
            line: no,
            reason: format!("not a mnemo export record: {e}"),
        })?;
        match record {
            Record::Header(h) => {
                check_header(&h, no, seen_header)?;
                seen_header = true;
            }
            _ if !seen_header => {
                return Err(Error::ImportLine {
                    line: no,
                    reason: "the file does not start with a mnemo export header; make it with `mnemo export`".into(),
                })
            }
            r => {
                records.push(r);
                lines.push(no);
            }
        }
    }
    if !seen_header {
        return Err(Error::invalid(
            "import",
            "the file is empty; nothing to import",
        ));
    }
    Ok((records, lines))
}

/// Checks an export's header line `no` (`seen`: a header came before it), as every import
/// does, file or API.
pub(crate) fn check_header(h: &mnemo_core::ExportHeader, no: usize, seen: bool) -> Result<()> {
    let err = |reason: String| Err(Error::ImportLine { line: no, reason });
    if seen {
        return err("a second header; concatenated exports must be imported one by one".into());
    }
    if h.format != EXPORT_FORMAT {
        return err(format!("format `{}` is not `{EXPORT_FORMAT}`", h.format));
    }
    if h.version > EXPORT_VERSION {
        return err(format!(
            "export version {} is newer than this mnemo reads ({EXPORT_VERSION}); upgrade mnemo",
            h.version
        ));
    }
    Ok(())
}
