//! `mnemo-scale-bench [SIZES...] [--queries N] [--seed S] [--unkeyed] [--json] [--dir KEEP]
//! [--reuse] [--store URL]`: the synthetic scale benchmark (see `mnemo_bench::scale`), one fresh database
//! per size, in a temporary directory (or in KEEP, where `--reuse` picks up the database an
//! earlier run left there and skips the inserts). `--store postgres://…` runs one size in
//! that (empty) database instead. Default sizes: 10000 100000. Run it with `--release`.

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
    let (mut sizes, mut queries, mut seed, mut json) = (Vec::new(), 200usize, 42u64, false);
    let mut keep: Option<std::path::PathBuf> = None;
    let mut store: Option<String> = None;
    let mut opts = mnemo_bench::scale::RunOptions {
        keyed: true,
        reuse: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--queries" => queries = args.next().ok_or("--queries needs N")?.parse()?,
            "--seed" => seed = args.next().ok_or("--seed needs S")?.parse()?,
            "--json" => json = true,
            "--unkeyed" => opts.keyed = false,
            "--reuse" => opts.reuse = true,
            "--dir" => keep = Some(args.next().ok_or("--dir needs a folder")?.into()),
            "--store" => store = Some(args.next().ok_or("--store needs a URL")?),
            _ => sizes.push(a.parse::<usize>()?),
        }
    }
    if opts.reuse && keep.is_none() {
        return Err(
            "--reuse needs --dir KEEP (the folder an earlier run left its database in)".into(),
        );
    }
    if sizes.is_empty() {
        sizes = vec![10_000, 100_000];
    }
    if store.is_some() && sizes.len() > 1 {
        return Err("--store runs one size (each size needs an empty database)".into());
    }
    let temp = tempfile::tempdir()?;
    let dir = keep.unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    if !json {
        println!("memories  insert/s  fts build s  fts p50  fts p95  fts p99  vectors s  hybrid p50  hybrid p95  hybrid p99  after write  int8 R@10  ann R@10  int8 ms  ann ms  RSS MB  peak MB  db MB");
    }
    for n in sizes {
        let r = mnemo_bench::scale::run_on(store.as_deref(), &dir, n, queries, seed, opts)?;
        if json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            println!(
                "{:>8}  {:>8}  {:>11.2}  {:>7.3}  {:>7.3}  {:>7.3}  {:>9.2}  {:>10.3}  {:>10.3}  {:>10.3}  {:>11.3}  {:>9.3}  {:>8.3}  {:>7.3}  {:>6.3}  {:>6.0}  {:>7.0}  {:>5.0}",
                r.memories, r.insert_per_s, r.fts_build_s, r.fts_p50_ms, r.fts_p95_ms, r.fts_p99_ms, r.vector_build_s,
                r.hybrid_p50_ms, r.hybrid_p95_ms, r.hybrid_p99_ms, r.recall_after_write_p50_ms, r.int8_recall_at_10, r.ann_recall_at_10, r.int8_scan_p50_ms, r.ann_p50_ms, r.rss_mb, r.peak_rss_mb, r.db_mb
            );
        }
    }
    Ok(())
}
