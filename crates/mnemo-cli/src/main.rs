//! The `mnemo` binary: parse arguments, resolve configuration, dispatch, and turn errors
//! into a one-line message with a hint and a stable exit code. Everything else lives in
//! the engine.

mod cli;
mod commands;
mod config;
mod exit;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let result =
        config::Config::load(&cli.global, &env).and_then(|cfg| commands::run(cli.command, &cfg));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit::report(&e),
    }
}
