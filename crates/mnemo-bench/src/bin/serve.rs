//! `mnemo-serve-bench [--users N] [--memories N] [--clients N] [--secs S] [--seed S]
//! [--mnemo PATH] [--dir KEEP] [--store postgres://…] [--crash] [--flood N] [--json]`:
//! `mnemo serve`
//! under load (see `mnemo_bench::serve`). Defaults: 100 users, 100000 memories, 200
//! clients, 60 s, the `mnemo` binary next to this one, a temporary directory (or the
//! empty PostgreSQL database `--store` names). Build both with `--release`.

use std::process::ExitCode;

use mnemo_bench::serve::Options;

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
    let exe = std::env::current_exe()?;
    let mut o = Options {
        users: 100,
        memories: 100_000,
        clients: 200,
        secs: 60,
        seed: 42,
        mnemo: exe.with_file_name("mnemo"),
        dir: std::env::temp_dir(),
        crash: false,
        store: None,
        flood: 0,
    };
    let (mut json, mut keep) = (false, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--users" => o.users = value()?.parse()?,
            "--memories" => o.memories = value()?.parse()?,
            "--clients" => o.clients = value()?.parse()?,
            "--secs" => o.secs = value()?.parse()?,
            "--seed" => o.seed = value()?.parse()?,
            "--mnemo" => o.mnemo = value()?.into(),
            "--dir" => keep = Some(std::path::PathBuf::from(value()?)),
            "--store" => o.store = Some(value()?),
            "--crash" => o.crash = true,
            "--flood" => o.flood = value()?.parse()?,
            "--json" => json = true,
            _ => return Err(format!("unknown argument `{a}`").into()),
        }
    }
    let temp = tempfile::tempdir()?;
    o.dir = keep.unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&o.dir)?;
    let r = mnemo_bench::serve::run(&o)?;
    if json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    println!(
        "{} memories, {} users, {} clients, {:.1} s (seeding {:.1} s, warm-up {:.1} s)",
        r.memories, r.users, r.clients, r.secs, r.seed_s, r.warmup_s
    );
    println!("op             count      per s    p50 ms    p99 ms");
    for op in &r.ops {
        println!(
            "{:<12} {:>7} {:>10.1} {:>9.3} {:>9.3}",
            op.op, op.count, op.per_s, op.p50_ms, op.p99_ms
        );
    }
    println!(
        "total {:.1} req/s, errors {} (unanswered {}), cross-tenant results {}, server RSS {:.0} MB (peak {:.0} MB)",
        r.total_per_s, r.errors, r.transport_errors, r.cross_tenant_results, r.server_rss_mb, r.server_peak_rss_mb
    );
    if let Some(f) = &r.flood {
        println!(
            "flooding key ({} clients): {} answered, {} refused with 429",
            f.clients, f.answered, f.refused_429
        );
    }
    if let Some(c) = &r.crash {
        println!(
            "after SIGKILL: {}/{} acknowledged turns found, integrity {}, jobs queued {} running {}",
            c.found_turns,
            c.acknowledged_turns,
            match c.integrity_ok {
                Some(true) => "ok",
                Some(false) => "FAILED",
                None => "not checked (PostgreSQL)",
            },
            c.jobs_queued,
            c.jobs_running
        );
    }
    Ok(())
}
