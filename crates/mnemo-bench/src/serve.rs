//! Load benchmark of `mnemo serve` over loopback HTTP: a seeded database of memories spread
//! over many users (one API key each), the real `mnemo` binary serving it, and many
//! concurrent clients mixing search, add-message and list for a fixed time. Reports
//! throughput and p50/p99 latency per operation, errors, results that belonged to another
//! user (must be 0), and the server's resident memory. With `crash`, the server is killed
//! with SIGKILL at the end of the load instead of stopped, and the report adds what a
//! restart finds: acknowledged writes present, SQLite's integrity check, queued jobs.
//! With `store`, the server runs on that PostgreSQL database instead of a SQLite file.
//!
//! Not a test: figures depend on the machine; run it with `--release`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mnemo_core::{Actor, Scope, Store};
use mnemo_embed::{Embedder, StaticEmbedder};
use mnemo_engine::{
    server_stores_from_uri, store_from_uri, Create, Engine, EngineSettings, NewMemory,
};
use mnemo_store_sqlite::SqliteStore;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{json, Value};

use crate::locomo::metrics::{percentile, round};
use crate::scale::TextGen;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub users: usize,
    pub memories: usize,
    pub clients: usize,
    pub secs: u64,
    pub seed: u64,
    /// The `mnemo` binary to serve with.
    pub mnemo: PathBuf,
    /// Where the database lives (kept, and reused when it has the same size and seed).
    pub dir: PathBuf,
    /// A PostgreSQL database (`postgres://…`) to serve instead of a SQLite file in `dir`:
    /// empty (it is seeded) or holding exactly an earlier run's memories (reused).
    pub store: Option<String>,
    /// Kill the server with SIGKILL at the end and check what a restart finds.
    pub crash: bool,
    /// Clients that flood the server with searches, all with the first user's key (the
    /// other clients then use the other keys): how the per-key limits keep the others'
    /// latency.
    pub flood: usize,
}

/// Latency figures of one operation.
#[derive(Debug, Clone, Serialize)]
pub struct OpReport {
    pub op: String,
    pub count: usize,
    pub per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub users: usize,
    pub memories: usize,
    pub clients: usize,
    pub secs: f64,
    pub seed_s: f64,
    pub warmup_s: f64,
    pub total_per_s: f64,
    pub ops: Vec<OpReport>,
    /// Answers other than 2xx.
    pub errors: u64,
    /// Requests with no answer (with `crash`: those in flight when the server died).
    pub transport_errors: u64,
    pub cross_tenant_results: u64,
    pub server_rss_mb: f64,
    pub server_peak_rss_mb: f64,
    /// With `crash`: acknowledged turns, how many a restart found, integrity, jobs left.
    pub crash: Option<CrashReport>,
    /// With `flood`: the flooding key's answered and refused (429) requests.
    pub flood: Option<FloodReport>,
}

/// What the flooding key got.
#[derive(Debug, Clone, Serialize)]
pub struct FloodReport {
    pub clients: usize,
    pub answered: u64,
    pub refused_429: u64,
}

/// What a restart after SIGKILL found.
#[derive(Debug, Clone, Serialize)]
pub struct CrashReport {
    pub acknowledged_turns: usize,
    pub found_turns: usize,
    /// SQLite's `PRAGMA integrity_check` (`None` on PostgreSQL).
    pub integrity_ok: Option<bool>,
    pub jobs_queued: u64,
    pub jobs_running: u64,
}

const OPS: [&str; 3] = ["search", "add_turns", "list"];

/// Runs the benchmark.
pub fn run(o: &Options) -> Result<Report, Box<dyn std::error::Error>> {
    let db = match &o.store {
        Some(url) => url.clone(),
        None => o
            .dir
            .join(format!(
                "serve-{}u-{}m-seed{}.db",
                o.users, o.memories, o.seed
            ))
            .display()
            .to_string(),
    };
    let started = Instant::now();
    let texts = seed(&db, o)?;
    let seed_s = started.elapsed().as_secs_f64();
    let keys = make_keys(&db, o.users)?;
    let mut server = start_server(o, &db)?;
    let url = server.url.clone();
    let warm = Instant::now();
    let agent = agent();
    for (u, key) in keys.iter().enumerate() {
        let q = texts[u][0].split(' ').take(3).collect::<Vec<_>>().join(" ");
        post(
            &agent,
            &url,
            "/v1/memories/search",
            key,
            &json!({ "query": q }),
        )
        .map_err(|_| format!("warm-up search of user {u} failed"))?;
    }
    let warmup_s = warm.elapsed().as_secs_f64();
    let shared = Shared::default();
    let deadline = Instant::now() + Duration::from_secs(o.secs);
    // With `crash`, the clients are still sending when the server is killed.
    let clients_until = deadline + Duration::from_secs(if o.crash { 5 } else { 0 });
    let load_started = Instant::now();
    let mut rss = (0.0, 0.0);
    let flooded = (AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|scope| {
        // The flooding key is the first user's; the measured clients use the others.
        let first = usize::from(o.flood > 0 && keys.len() > 1);
        for c in 0..o.clients {
            let (keys, texts, shared, url) = (&keys, &texts, &shared, &url);
            let seed = o.seed ^ (c as u64 + 1);
            scope.spawn(move || client(url, keys, texts, first, shared, seed, clients_until));
        }
        for _ in 0..o.flood {
            let (key, text, url, flooded) = (&keys[0], &texts[0][0], &url, &flooded);
            scope.spawn(move || flood(url, key, text, flooded, clients_until));
        }
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        rss = rss_mb(server.child.id());
        if o.crash {
            let _ = server.child.kill(); // SIGKILL, mid-load
        }
    });
    let secs = load_started.elapsed().as_secs_f64();
    let (rss, peak) = rss;
    let crash = if o.crash {
        let _ = server.child.wait();
        Some(after_crash(&db, &shared)?)
    } else {
        server.stop();
        None
    };
    let lat = shared.latencies.lock().unwrap_or_else(|e| e.into_inner());
    let ops: Vec<OpReport> = OPS
        .iter()
        .enumerate()
        .map(|(i, op)| OpReport {
            op: (*op).to_owned(),
            count: lat[i].len(),
            per_s: round(lat[i].len() as f64 / secs),
            p50_ms: round(percentile(&lat[i], 50.0)),
            p99_ms: round(percentile(&lat[i], 99.0)),
        })
        .collect();
    let total: usize = lat.iter().map(Vec::len).sum();
    Ok(Report {
        users: o.users,
        memories: o.memories,
        clients: o.clients,
        secs: round(secs),
        seed_s: round(seed_s),
        warmup_s: round(warmup_s),
        total_per_s: round(total as f64 / secs),
        ops,
        errors: shared.errors.load(Ordering::Relaxed),
        transport_errors: shared.transport_errors.load(Ordering::Relaxed),
        cross_tenant_results: shared.cross.load(Ordering::Relaxed),
        server_rss_mb: rss,
        server_peak_rss_mb: peak,
        crash,
        flood: (o.flood > 0).then(|| FloodReport {
            clients: o.flood,
            answered: flooded.0.load(Ordering::Relaxed),
            refused_429: flooded.1.load(Ordering::Relaxed),
        }),
    })
}

/// A flooding client: searches with one key as fast as answers come, counting answers
/// and refusals.
fn flood(url: &str, key: &str, text: &str, counts: &(AtomicU64, AtomicU64), deadline: Instant) {
    let agent = agent();
    let q = text.split(' ').take(3).collect::<Vec<_>>().join(" ");
    while Instant::now() < deadline {
        let res = agent
            .post(&format!("{url}/v1/memories/search"))
            .header("Authorization", &format!("Bearer {key}"))
            .header("Content-Type", "application/json")
            .send(json!({ "query": q }).to_string());
        match res.map(|r| r.status().as_u16()) {
            Ok(429) => counts.1.fetch_add(1, Ordering::Relaxed),
            Ok(_) => counts.0.fetch_add(1, Ordering::Relaxed),
            Err(_) => return,
        };
    }
}

/// Fills (or reuses) the database: `memories` spread evenly over `users`, through the
/// engine with the built-in embedder, so vectors are stored as a server would store them.
/// Returns each user's texts (regenerated from the seed when reused).
fn seed(db: &str, o: &Options) -> Result<Vec<Vec<String>>, Box<dyn std::error::Error>> {
    let per_user = o.memories / o.users.max(1);
    let mut gen = TextGen::new(o.seed);
    let texts: Vec<Vec<String>> = (0..o.users)
        .map(|_| (0..per_user).map(|_| gen.memory()).collect())
        .collect();
    let clock: Arc<dyn mnemo_core::Clock> = Arc::new(mnemo_core::SystemClock);
    if o.store.is_some() {
        let store = store_from_uri(db, Create::Never, clock.clone())?;
        let held = store.stats()?.memories_total;
        if held == (per_user * o.users) as u64 {
            return Ok(texts);
        }
        if held > 0 {
            return Err(format!(
                "{db} holds {held} memories, not this run's {}: give an empty database",
                per_user * o.users
            )
            .into());
        }
        // Several writers at once: PostgreSQL takes them in parallel.
        seed_with(store, clock, &texts, 4)?;
        return Ok(texts);
    }
    let db = Path::new(db);
    if db.exists() {
        return Ok(texts);
    }
    let partial = db.with_extension("partial");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&partial)?);
    seed_with(store, clock, &texts, 1)?;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", partial.display()));
    }
    std::fs::rename(&partial, db)?;
    Ok(texts)
}

/// Writes every user's memories through the engine (built-in embedder), users spread
/// over `threads` writers.
fn seed_with(
    store: Arc<dyn Store>,
    clock: Arc<dyn mnemo_core::Clock>,
    texts: &[Vec<String>],
    threads: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let embedder: Arc<dyn Embedder> = Arc::new(StaticEmbedder::builtin());
    let engine = Engine::new(store, EngineSettings::default(), clock).with_embedder(embedder);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|w| {
                let engine = &engine;
                scope.spawn(move || -> mnemo_core::Result<()> {
                    for (u, list) in texts.iter().enumerate().skip(w).step_by(threads) {
                        let scope = Scope::user(user_name(u));
                        for (i, t) in list.iter().enumerate() {
                            engine.remember(
                                &scope,
                                NewMemory::keyed(format!("m{i}"), t.clone()),
                                Actor::Import,
                            )?;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| "a seeding thread panicked")??;
        }
        Ok(())
    })
}

fn user_name(u: usize) -> String {
    format!("user{u:03}")
}

/// One new API key per user (keys of earlier runs stay, unused).
fn make_keys(db: &str, users: usize) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let store = server_stores_from_uri(db, Create::Never, Arc::new(mnemo_core::SystemClock))?.keys;
    let now = mnemo_core::time::truncate(chrono::Utc::now());
    (0..users)
        .map(|u| {
            let k = mnemo_server::auth::new_key(&user_name(u), None, false, None, now)?;
            store.insert_key(&k.key)?;
            Ok(k.text)
        })
        .collect()
}

/// A `mnemo serve` child process and its URL.
pub(crate) struct ServerProcess {
    pub(crate) child: Child,
    pub(crate) url: String,
}

impl ServerProcess {
    /// SIGTERM, then waits.
    pub(crate) fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn start_server(o: &Options, db: &str) -> Result<ServerProcess, Box<dyn std::error::Error>> {
    spawn_serve(
        &o.mnemo,
        &[
            ("MNEMO_DB", db.to_owned()),
            (
                "MNEMO_CONFIG",
                o.dir.join("no-config.toml").display().to_string(),
            ),
        ],
    )
}

/// Starts `mnemo serve --listen 127.0.0.1:0` with `envs` (no model unless `envs` names
/// one) and waits for its start-up line.
pub(crate) fn spawn_serve(
    mnemo: &Path,
    envs: &[(&str, String)],
) -> Result<ServerProcess, Box<dyn std::error::Error>> {
    use std::io::BufRead;
    let mut cmd = Command::new(mnemo);
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("MNEMO_LLM_PROVIDER")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", mnemo.display()))?;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .ok_or_else(|| format!("the server did not start: {line:?}"))?;
    Ok(ServerProcess {
        child,
        url: format!("http://{addr}"),
    })
}

#[derive(Default)]
struct Shared {
    latencies: Mutex<[Vec<f64>; 3]>,
    errors: AtomicU64,
    transport_errors: AtomicU64,
    cross: AtomicU64,
    /// (user, turn id) of every acknowledged turn.
    acknowledged: Mutex<Vec<(String, String)>>,
    gone: AtomicBool,
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// One client: random user, random operation, until the deadline.
#[allow(clippy::too_many_arguments)]
fn client(
    url: &str,
    keys: &[String],
    texts: &[Vec<String>],
    first: usize,
    shared: &Shared,
    seed: u64,
    deadline: Instant,
) {
    let agent = agent();
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut gen = TextGen::new(seed);
    let mut mine: [Vec<f64>; 3] = Default::default();
    while Instant::now() < deadline && !shared.gone.load(Ordering::Relaxed) {
        let u = rng.random_range(first..keys.len());
        let user = user_name(u);
        let roll: f64 = rng.random();
        let op = if roll < 0.7 {
            0
        } else if roll < 0.85 {
            1
        } else {
            2
        };
        let t = Instant::now();
        let result = match op {
            0 => {
                let text = &texts[u][rng.random_range(0..texts[u].len())];
                let q = gen.query_from(text);
                post(
                    &agent,
                    url,
                    "/v1/memories/search",
                    &keys[u],
                    &json!({ "query": q, "limit": 10 }),
                )
            }
            1 => {
                // An exchange: the assistant turn queues an extraction job.
                let body = json!({ "messages": [
                    { "role": "user", "content": gen.memory() },
                    { "role": "assistant", "content": gen.memory() }
                ]});
                post(&agent, url, "/v1/turns", &keys[u], &body)
            }
            _ => get(&agent, url, "/v1/memories?limit=20", &keys[u]),
        };
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(v) => {
                mine[op].push(ms);
                let cross = foreign_results(&v, &user);
                shared.cross.fetch_add(cross, Ordering::Relaxed);
                if op == 1 {
                    if let Some(turns) = v["turns"].as_array() {
                        let mut acked = shared
                            .acknowledged
                            .lock()
                            .unwrap_or_else(|e| e.into_inner());
                        acked.extend(turns.iter().filter_map(|t| {
                            t["id"].as_str().map(|id| (user.clone(), id.to_owned()))
                        }));
                    }
                }
            }
            Err(Failure::Status) => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
            }
            Err(Failure::Transport) => {
                shared.transport_errors.fetch_add(1, Ordering::Relaxed);
                shared.gone.store(true, Ordering::Relaxed);
            }
        }
    }
    let mut all = shared.latencies.lock().unwrap_or_else(|e| e.into_inner());
    for (i, v) in mine.into_iter().enumerate() {
        all[i].extend(v);
    }
}

/// How many records in a response belong to someone other than `user`.
fn foreign_results(v: &Value, user: &str) -> u64 {
    let records = [
        v["hits"]
            .as_array()
            .map(|h| h.iter().map(|h| &h["memory"]).collect::<Vec<_>>()),
        v["memories"].as_array().map(|m| m.iter().collect()),
        v["turns"].as_array().map(|t| t.iter().collect()),
    ];
    records
        .into_iter()
        .flatten()
        .flatten()
        .filter(|r| r["user_id"].as_str() != Some(user))
        .count() as u64
}

pub(crate) enum Failure {
    Status,
    Transport,
}

pub(crate) fn read(
    res: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Value, Failure> {
    let mut res = res.map_err(|_| Failure::Transport)?;
    let ok = res.status().is_success();
    let text = res
        .body_mut()
        .read_to_string()
        .map_err(|_| Failure::Transport)?;
    if !ok {
        return Err(Failure::Status);
    }
    serde_json::from_str(&text).map_err(|_| Failure::Status)
}

pub(crate) fn post(
    agent: &ureq::Agent,
    url: &str,
    path: &str,
    key: &str,
    body: &Value,
) -> Result<Value, Failure> {
    read(
        agent
            .post(format!("{url}{path}"))
            .header("Authorization", format!("Bearer {key}"))
            .header("Content-Type", "application/json")
            .send(body.to_string()),
    )
}

pub(crate) fn get(agent: &ureq::Agent, url: &str, path: &str, key: &str) -> Result<Value, Failure> {
    read(
        agent
            .get(format!("{url}{path}"))
            .header("Authorization", format!("Bearer {key}"))
            .call(),
    )
}

/// Resident and peak resident memory of a process, from /proc (0 where unavailable).
pub(crate) fn rss_mb(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| round(kb / 1024.0))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Opens the database after the SIGKILL: are the acknowledged turns there, is it intact,
/// what is left in the queue.
fn after_crash(db: &str, shared: &Shared) -> Result<CrashReport, Box<dyn std::error::Error>> {
    // One handle: SQLite's own, for its integrity check too.
    let (store, integrity_ok): (Arc<dyn Store>, _) = match mnemo_engine::DbLocation::parse(db) {
        mnemo_engine::DbLocation::Sqlite(path) => {
            let sqlite = SqliteStore::open(&path)?;
            let ok = sqlite.integrity_check()?;
            (Arc::new(sqlite), Some(ok))
        }
        mnemo_engine::DbLocation::Postgres(_) => (
            store_from_uri(db, Create::Never, Arc::new(mnemo_core::SystemClock))?,
            None,
        ),
    };
    let acked = shared
        .acknowledged
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut by_user: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (user, id) in &acked {
        by_user.entry(user).or_default().push(id.clone());
    }
    let mut found = 0;
    for (user, ids) in by_user {
        for chunk in ids.chunks(500) {
            found += store.get_turns(user, chunk)?.len();
        }
    }
    let counts = mnemo_core::JobStore::job_counts(
        store.as_ref(),
        None,
        mnemo_core::time::truncate(chrono::Utc::now()),
    )?;
    Ok(CrashReport {
        acknowledged_turns: acked.len(),
        found_turns: found,
        integrity_ok,
        jobs_queued: counts.queued,
        jobs_running: counts.running,
    })
}
