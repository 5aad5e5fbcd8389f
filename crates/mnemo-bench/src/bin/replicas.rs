//! `mnemo-replica-bench --db postgres://…/empty_db [--users N] [--clients N] [--turns N]
//! [--kill-at F] [--restart-after S] [--lease-secs S] [--model-ms MS] [--mnemo PATH]
//! [--json]`: two `mnemo serve` replicas on one PostgreSQL database, one killed with
//! SIGKILL mid-run (see `mnemo_bench::replicas`). Defaults: 50 users, 20 clients, 10000
//! turns, kill at 0.5, restart after 2 s, leases of 5 s, a 5 ms model, the `mnemo` binary
//! next to this one. Exits 1 when a request is not acknowledged (after one retry with the
//! same idempotency key), an acknowledged turn is missing or stored twice, a job
//! is left or failed, or an expected memory is missing, duplicated or not found through
//! both replicas. Build both with `--release`.

use std::process::ExitCode;
use std::time::Duration;

use mnemo_bench::replicas::{Options, Report};

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let temp = tempfile::tempdir()?;
    let mut o = Options {
        db: String::new(),
        users: 50,
        clients: 20,
        turns: 10_000,
        kill_at: 0.5,
        restart_after: Duration::from_secs(2),
        lease_secs: 5,
        model_delay: Duration::from_millis(5),
        mnemo: exe.with_file_name("mnemo"),
        dir: temp.path().to_path_buf(),
        drain_timeout: Duration::from_secs(900),
    };
    let mut json = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--db" => o.db = value()?,
            "--users" => o.users = value()?.parse()?,
            "--clients" => o.clients = value()?.parse()?,
            "--turns" => o.turns = value()?.parse()?,
            "--kill-at" => o.kill_at = value()?.parse()?,
            "--restart-after" => o.restart_after = Duration::from_secs_f64(value()?.parse()?),
            "--lease-secs" => o.lease_secs = value()?.parse()?,
            "--model-ms" => o.model_delay = Duration::from_millis(value()?.parse()?),
            "--mnemo" => o.mnemo = value()?.into(),
            "--json" => json = true,
            _ => return Err(format!("unknown argument `{a}`").into()),
        }
    }
    if !o.db.starts_with("postgres://") && !o.db.starts_with("postgresql://") {
        return Err(
            "give --db postgres://…/an_empty_database (scripts/pg.sh start prints a server's URL)"
                .into(),
        );
    }
    let r = mnemo_bench::replicas::run(&o)?;
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        print(&r);
    }
    Ok(r.holds())
}

fn print(r: &Report) {
    println!(
        "{} requests ({} turns) from {} clients for {} users in {:.1} s: {:.1} req/s, p50 {:.1} ms, p99 {:.1} ms",
        r.requests, r.requests * 2, r.clients, r.users, r.load_s, r.requests_per_s, r.request_p50_ms, r.request_p99_ms
    );
    println!(
        "replica A killed (SIGKILL) at {:.1} s, restarted at {:.1} s",
        r.killed_at_s, r.restarted_at_s
    );
    println!(
        "acknowledged: {} requests, {} turns; stored exactly once under their id: {}; missing: {}; any turn stored twice: {}",
        r.acknowledged_requests, r.acknowledged_turns, r.acked_turns_found_once, r.acked_turns_missing, r.turns_duplicated
    );
    println!(
        "no answer from the killed replica, sent again with the same idempotency key: {} ({} of them had been stored: answered as replays); refused: {}; unanswered after that: {} (stored anyway: {})",
        r.retried_requests, r.retries_replayed, r.refused_requests, r.unanswered_requests, r.unanswered_turns_stored
    );
    println!(
        "jobs: {} ({} done, {} failed, {} left), leased more than once: {}; queue drained {:.1} s after the load; model calls {}",
        r.jobs, r.jobs_done, r.jobs_failed, r.jobs_left, r.jobs_run_more_than_once, r.drain_s, r.model_calls
    );
    println!(
        "memories: {} expected, {} exactly once, {} missing, {} duplicated; found by search through A {} and B {}",
        r.memories_expected, r.memories_found_once, r.memories_missing, r.memories_duplicated, r.searchable_via_a, r.searchable_via_b
    );
    println!(
        "probes (write through one replica, search through the other): {}, found within 1 s: {}, p50 {:.1} ms, max {:.1} ms",
        r.probes, r.probes_found_within_1s, r.probe_p50_ms, r.probe_max_ms
    );
    println!(
        "{}",
        if r.holds() {
            "ALL HELD"
        } else {
            "FAILED: see above"
        }
    );
}
