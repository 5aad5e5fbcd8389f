//! `mnemo-locomo PATH [--json] [--embedder E] [--param KEY=VALUE]... [--conversations N]`:
//! the same LoCoMo run as `mnemo bench locomo`, without the rest of the CLI.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut path, mut json, mut embedder, mut params, mut limit) =
        (None, false, "static".to_string(), Vec::new(), None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json = true,
            "--embedder" => embedder = args.next().ok_or("--embedder needs a value")?,
            "--param" => params.push(args.next().ok_or("--param needs KEY=VALUE")?),
            "--conversations" => {
                limit = Some(args.next().ok_or("--conversations needs N")?.parse()?)
            }
            _ if path.is_none() && !a.starts_with("--") => path = Some(PathBuf::from(a)),
            _ => return Err(format!("unexpected argument `{a}`").into()),
        }
    }
    let path = path.ok_or("usage: mnemo-locomo PATH [--json] [--embedder E] [--param K=V]")?;
    let report = mnemo_bench::locomo::run_file(&path, &embedder, &params, limit)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", mnemo_bench::locomo::table(&report));
    }
    Ok(())
}
