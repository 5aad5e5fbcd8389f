//! Exit codes and error messages. Codes are stable so scripts can branch on them:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (also when stdout was closed early, e.g. piped into `head`) |
//! | 1 | any other failure |
//! | 2 | bad input: arguments, values, an import file line (clap uses 2 as well) |
//! | 3 | not found, or an ambiguous id prefix |
//! | 4 | the database cannot be used: newer schema, locked, read-only, corrupt |

use std::process::ExitCode;

use mnemo_core::Error;
use mnemo_engine::tools::{ErrorKind, ToolError};

/// Bad input.
pub const INVALID: u8 = 2;
/// Unknown or ambiguous id.
pub const NOT_FOUND: u8 = 3;
/// Database unusable.
pub const DATABASE: u8 = 4;

/// Prints `error: ...` and a hint, returns the exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(err) {
        return ExitCode::SUCCESS;
    }
    eprintln!("error: {err:#}");
    // A command that went through the tools layer carries the engine error inside.
    let tool_err = err.chain().find_map(|e| e.downcast_ref::<ToolError>());
    let engine_err = err
        .chain()
        .find_map(|e| e.downcast_ref::<Error>())
        .or_else(|| tool_err.and_then(ToolError::engine_error));
    if let Some(hint) = engine_err.and_then(hint) {
        eprintln!("hint: {hint}");
    }
    let code = match (engine_err, tool_err) {
        (Some(e), _) => code(e),
        (None, Some(t)) => tool_code(t),
        (None, None) => 1,
    };
    ExitCode::from(code)
}

/// The code of a tools layer's own error (one not made from an engine error).
fn tool_code(e: &ToolError) -> u8 {
    match e.kind {
        ErrorKind::Invalid => INVALID,
        ErrorKind::NotFound => NOT_FOUND,
        ErrorKind::Busy | ErrorKind::Storage => DATABASE,
        _ => 1,
    }
}

fn code(e: &Error) -> u8 {
    match e {
        Error::Invalid { .. } | Error::ImportLine { .. } => INVALID,
        Error::NotFound { .. } | Error::Ambiguous { .. } => NOT_FOUND,
        Error::SchemaTooNew { .. }
        | Error::NoDatabase { .. }
        | Error::Busy(_)
        | Error::Unavailable(_)
        | Error::ReadOnly(_)
        | Error::Storage(_) => DATABASE,
        _ => 1,
    }
}

fn hint(e: &Error) -> Option<&'static str> {
    Some(match e {
        Error::NotFound {
            what: "API key", ..
        } => "`mnemo keys list` shows key ids",
        Error::NotFound { what: "job", .. } => {
            "`mnemo jobs` shows job ids; ids are per user (--user)"
        }
        Error::NotFound {
            what: "session", ..
        } => "`mnemo sessions` shows session ids; ids are per user (--user)",
        Error::NotFound { .. } => "`mnemo list --all` shows ids; ids are per user (--user)",
        Error::ImportLine { .. } => "nothing was imported; fix that line and run the import again",
        Error::Busy(_) => "another mnemo process holds the database; retry when it finishes",
        Error::Unavailable(_) => "check that the database server is up and reachable at --db / MNEMO_DB",
        Error::ReadOnly(_) => {
            "check the file's permissions, or point --db / MNEMO_DB at a writable file"
        }
        Error::SchemaTooNew { .. } => {
            "this database was written by a newer mnemo; install that version"
        }
        Error::NoDatabase { .. } => {
            "`mnemo remember`, `mnemo turn add` or `mnemo chat` creates it; or point --db / MNEMO_DB at an existing database"
        }
        Error::Storage(_) => "check that --db / MNEMO_DB points at a mnemo database",
        Error::Invalid { field, .. } if field == "user" => "pass --user NAME or set MNEMO_USER",
        Error::Invalid { field, reason } if field == "forget" && reason.contains("purge") => {
            "`mnemo forget ID --purge` removes it for good"
        }
        _ => return None,
    })
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        let io = e
            .downcast_ref::<std::io::Error>()
            .or_else(|| match e.downcast_ref::<Error>() {
                Some(Error::Io { source, .. }) => Some(source),
                _ => None,
            });
        io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
