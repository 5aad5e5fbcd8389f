//! Two `mnemo serve` replicas on one PostgreSQL database, as behind a load balancer, each
//! with its pipeline worker, under concurrent clients, one replica killed with SIGKILL
//! mid-run (and restarted, as a supervisor would); a request the killed replica did not
//! answer is sent again to the other one with the same idempotency key. What it proves,
//! from the database afterwards: every request is acknowledged, and every acknowledged turn
//! is stored exactly once under the id it was acknowledged with; every job ran once, except jobs whose lease the killed replica held;
//! every memory the workers extracted is found by a search through either replica. During
//! the run, probes write a memory through one replica and time how long until a search
//! through the other finds it.
//!
//! The model is a local fake speaking Ollama's `/api/chat` (from `mnemo-llm`'s testkit):
//! extraction turns "my locker number is N" into the memory "Locker number is N", so what
//! must exist afterwards is known exactly.
//!
//! Not a test: figures depend on the machine; run it with `--release`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use mnemo_core::{JobFilter, JobStatus, KeyStore, MemoryFilter, Scope, Store, TurnFilter};
use mnemo_llm::testkit::server::{FakeServer, Recorded, Reply};
use serde::Serialize;
use serde_json::{json, Value};

use crate::locomo::metrics::{percentile, round};
use crate::scale::TextGen;
use crate::serve::{agent, post, spawn_serve, Failure};

type BoxError = Box<dyn std::error::Error>;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// An empty PostgreSQL database (`postgres://…`).
    pub db: String,
    pub users: usize,
    pub clients: usize,
    /// Turns to write (two per request: the user's and the assistant's).
    pub turns: usize,
    /// Kill replica A when this fraction of the requests is acknowledged.
    pub kill_at: f64,
    /// Restart it this long after the kill.
    pub restart_after: Duration,
    /// Job lease of the replicas (`[pipeline] lease_secs`).
    pub lease_secs: u64,
    /// How long the fake model takes per reply.
    pub model_delay: Duration,
    /// The `mnemo` binary to serve with.
    pub mnemo: PathBuf,
    /// Where the replicas' config file goes.
    pub dir: PathBuf,
    /// Give up waiting for the queue to drain after this long.
    pub drain_timeout: Duration,
}

/// What a run found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub users: usize,
    pub clients: usize,
    pub requests: usize,
    pub load_s: f64,
    pub requests_per_s: f64,
    pub request_p50_ms: f64,
    pub request_p99_ms: f64,
    /// Requests answered 2xx, and their turns.
    pub acknowledged_requests: usize,
    pub acknowledged_turns: usize,
    /// Requests answered with an error status.
    pub refused_requests: usize,
    /// Requests with no answer from the killed replica, sent again to the other one with
    /// the same idempotency key (answered with what the first attempt stored, if it did).
    pub retried_requests: usize,
    /// Retries answered as replays: the first attempt had been stored, its answer lost.
    pub retries_replayed: usize,
    /// Requests with no answer even when sent again, and how many of their turns were
    /// stored anyway.
    pub unanswered_requests: usize,
    pub unanswered_turns_stored: usize,
    /// Acknowledged turns found exactly once under their id; missing; stored more than once.
    pub acked_turns_found_once: usize,
    pub acked_turns_missing: usize,
    pub turns_duplicated: usize,
    pub killed_at_s: f64,
    pub restarted_at_s: f64,
    /// Seconds from the end of the load until no job was queued or running.
    pub drain_s: f64,
    pub jobs: usize,
    pub jobs_done: usize,
    pub jobs_failed: usize,
    pub jobs_left: usize,
    /// Jobs leased more than once (each extra lease is a re-run after a lease expired).
    pub jobs_run_more_than_once: usize,
    pub model_calls: usize,
    /// Locker numbers in stored turns; memories extracted for them (exactly one each).
    pub memories_expected: usize,
    pub memories_found_once: usize,
    pub memories_missing: usize,
    pub memories_duplicated: usize,
    /// Searches through replica A and B that found each expected memory.
    pub searchable_via_a: usize,
    pub searchable_via_b: usize,
    /// Probes: memory written through one replica, searched through the other.
    pub probes: usize,
    pub probes_found_within_1s: usize,
    pub probe_p50_ms: f64,
    pub probe_max_ms: f64,
}

/// The replica a client sends to, swapped when it is killed and restarted.
struct Replicas {
    a: RwLock<Option<String>>,
    b: String,
}

impl Replicas {
    /// Replica A for even `n` while it is up, else B.
    fn pick(&self, n: usize) -> String {
        match self.a.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(a) if n.is_multiple_of(2) => a.clone(),
            _ => self.b.clone(),
        }
    }
}

#[derive(Default)]
struct Seen {
    /// Content → id of every acknowledged turn.
    acked: Mutex<BTreeMap<String, String>>,
    acked_requests: AtomicUsize,
    retried: AtomicUsize,
    replayed: AtomicUsize,
    unanswered: Mutex<Vec<String>>,
    refused: AtomicUsize,
    latencies: Mutex<Vec<f64>>,
    probe_ms: Mutex<Vec<f64>>,
}

fn user_name(u: usize) -> String {
    format!("user{u:03}")
}

/// The locker numbers a text states.
fn lockers(text: &str) -> Vec<u64> {
    text.split("locker number is ")
        .skip(1)
        .filter_map(|rest| {
            let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
            n.parse().ok()
        })
        .collect()
}

/// The fake model's answer to one pipeline request.
fn model_reply(req: &Recorded, delay: Duration) -> Reply {
    std::thread::sleep(delay);
    let body = &req.body;
    let system = body["messages"][0]["content"].as_str().unwrap_or("");
    let all = body["messages"].to_string();
    let text = if system.starts_with("You are the memory manager") {
        let shown: String = body["messages"]
            .as_array()
            .map(|m| m[1..].iter().map(|m| m["content"].to_string()).collect())
            .unwrap_or_default();
        let mut numbers = lockers(&shown);
        numbers.sort_unstable();
        numbers.dedup();
        let memories: Vec<Value> = numbers
            .iter()
            .map(|n| {
                json!({"kind": "fact", "topic": "gym", "salience": 0.7,
                            "content": format!("Locker number is {n}")})
            })
            .collect();
        json!({ "memories": memories }).to_string()
    } else if body.get("format").is_some_and(|f| !f.is_null()) {
        if all.contains("ADD") && all.contains("NOOP") {
            r#"{"event": "ADD", "id": null, "text": "", "reason": "new"}"#.into()
        } else {
            r#"{"memories": []}"#.into()
        }
    } else {
        "They talked about lockers.".into()
    };
    Reply::json(
        200,
        &json!({"model": body["model"], "message": {"role": "assistant", "content": text},
                "done": true, "done_reason": "stop", "prompt_eval_count": 40, "eval_count": 8}),
    )
}

/// Runs the benchmark.
pub fn run(o: &Options) -> Result<Report, BoxError> {
    let clock: Arc<dyn mnemo_core::Clock> = Arc::new(mnemo_core::SystemClock);
    let stores = mnemo_engine::server_stores_from_uri(&o.db, mnemo_engine::Create::Never, clock)?;
    let store = stores.store.clone();
    if store.stats()?.turns > 0 || !store.users()?.is_empty() {
        return Err("the database is not empty: give an empty PostgreSQL database".into());
    }
    let keys = make_keys(stores.keys.as_ref(), o.users)?;
    let delay = o.model_delay;
    let model = FakeServer::respond_with(move |req| model_reply(req, delay));
    let config = o.dir.join("replica-config.toml");
    std::fs::write(
        &config,
        format!("[pipeline]\nlease_secs = {}\n", o.lease_secs),
    )?;
    let envs = vec![
        ("MNEMO_DB", o.db.clone()),
        ("MNEMO_CONFIG", config.display().to_string()),
        ("MNEMO_LLM_PROVIDER", "ollama".to_owned()),
        ("OLLAMA_HOST", model.url.clone()),
        ("MNEMO_MODEL", "fake".to_owned()),
    ];
    let mut a = spawn_serve(&o.mnemo, &envs)?;
    let mut b = spawn_serve(&o.mnemo, &envs)?;
    let replicas = Replicas {
        a: RwLock::new(Some(a.url.clone())),
        b: b.url.clone(),
    };
    let seen = Seen::default();
    let requests = o.turns.div_ceil(2);
    let next = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let mut report = Report {
        users: o.users,
        clients: o.clients,
        requests,
        ..Default::default()
    };
    let started = Instant::now();
    std::thread::scope(|scope| -> Result<(), BoxError> {
        for c in 0..o.clients {
            let (seen, next, replicas, keys) = (&seen, &next, &replicas, &keys);
            scope.spawn(move || client(c, requests, next, replicas, keys, seen));
        }
        let probes = scope.spawn(|| probe(&replicas, &keys, &seen, &done));
        let kill_after = (requests as f64 * o.kill_at) as usize;
        while seen.acked_requests.load(Ordering::SeqCst) < kill_after
            && next.load(Ordering::SeqCst) < requests
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        *replicas.a.write().unwrap_or_else(|e| e.into_inner()) = None;
        let _ = a.child.kill(); // SIGKILL
        let _ = a.child.wait();
        report.killed_at_s = round(started.elapsed().as_secs_f64());
        std::thread::sleep(o.restart_after);
        a = spawn_serve(&o.mnemo, &envs)?;
        *replicas.a.write().unwrap_or_else(|e| e.into_inner()) = Some(a.url.clone());
        report.restarted_at_s = round(started.elapsed().as_secs_f64());
        while next.load(Ordering::SeqCst) < requests {
            std::thread::sleep(Duration::from_millis(10));
        }
        done.store(true, Ordering::SeqCst);
        let _ = probes.join();
        Ok(())
    })?;
    report.load_s = round(started.elapsed().as_secs_f64());
    let drain_started = Instant::now();
    while !drained(store.as_ref())? && drain_started.elapsed() < o.drain_timeout {
        std::thread::sleep(Duration::from_millis(200));
    }
    report.drain_s = round(drain_started.elapsed().as_secs_f64());
    report.model_calls = model.requests().len();
    check_turns(store.as_ref(), o.users, &seen, &mut report)?;
    check_jobs(store.as_ref(), &mut report)?;
    let expected = check_memories(store.as_ref(), o.users, &mut report)?;
    check_search(&a.url, &b.url, &keys, &expected, &mut report);
    let lat = seen.latencies.lock().unwrap_or_else(|e| e.into_inner());
    report.requests_per_s = round(lat.len() as f64 / report.load_s.max(1e-9));
    report.request_p50_ms = round(percentile(&lat, 50.0));
    report.request_p99_ms = round(percentile(&lat, 99.0));
    let probe_ms = seen.probe_ms.lock().unwrap_or_else(|e| e.into_inner());
    report.probes = probe_ms.len();
    report.probes_found_within_1s = probe_ms.iter().filter(|ms| **ms <= 1000.0).count();
    report.probe_p50_ms = round(percentile(&probe_ms, 50.0));
    report.probe_max_ms = round(probe_ms.iter().copied().fold(0.0, f64::max));
    a.stop();
    b.stop();
    Ok(report)
}

impl Report {
    /// Whether every promise held: every request acknowledged (after at most one retry
    /// with its idempotency key) and its turns stored exactly once; the queue drained with
    /// no failure, at most the killed replica's one job run twice; every expected memory
    /// exactly once and found through both replicas; every probe seen within a second.
    pub fn holds(&self) -> bool {
        self.acked_turns_missing == 0
            && self.acknowledged_requests == self.requests
            && self.acked_turns_found_once == self.acknowledged_turns
            && self.turns_duplicated == 0
            && self.jobs_left == 0
            && self.jobs_failed == 0
            && self.jobs_run_more_than_once <= 1
            && self.memories_missing == 0
            && self.memories_duplicated == 0
            && self.searchable_via_a == self.memories_expected
            && self.searchable_via_b == self.memories_expected
            && self.probes_found_within_1s == self.probes
    }
}

fn make_keys(keys: &dyn KeyStore, users: usize) -> Result<Vec<String>, BoxError> {
    let now = mnemo_core::time::truncate(chrono::Utc::now());
    (0..users)
        .map(|u| {
            let k = mnemo_server::auth::new_key(&user_name(u), None, false, None, now)?;
            keys.insert_key(&k.key)?;
            Ok(k.text)
        })
        .collect()
}

/// One client: takes the next request number until all are sent; request `n` is user
/// `n % users`, in that user's session of this client, sent round-robin to the replicas.
fn client(
    c: usize,
    requests: usize,
    next: &AtomicUsize,
    replicas: &Replicas,
    keys: &[String],
    seen: &Seen,
) {
    let agent = agent();
    let mut gen = TextGen::new(c as u64 + 7);
    let mut mine = Vec::new();
    loop {
        let n = next.fetch_add(1, Ordering::SeqCst);
        if n >= requests {
            break;
        }
        let u = n % keys.len();
        let url = replicas.pick(n / keys.len() + c);
        let user_text = format!("{} And my locker number is {n}.", gen.memory());
        let body = json!({
            "session_id": format!("{}-c{c}", user_name(u)),
            "idempotency_key": format!("request-{n}"),
            "messages": [
                {"role": "user", "content": user_text},
                {"role": "assistant", "content": format!("Noted: locker {n}.")}
            ]
        });
        let t = Instant::now();
        // No answer (the replica died): send it again to the other replica with the same
        // key, as a client behind a load balancer would; a stored first attempt is replayed.
        let answer = match post(&agent, &url, "/v1/turns", &keys[u], &body) {
            Err(Failure::Transport) => {
                seen.retried.fetch_add(1, Ordering::SeqCst);
                post(&agent, &replicas.b, "/v1/turns", &keys[u], &body)
            }
            other => other,
        };
        match answer {
            Ok(v) => {
                if v["replayed"] == true {
                    seen.replayed.fetch_add(1, Ordering::SeqCst);
                }
                mine.push(t.elapsed().as_secs_f64() * 1000.0);
                seen.acked_requests.fetch_add(1, Ordering::SeqCst);
                let mut acked = seen.acked.lock().unwrap_or_else(|e| e.into_inner());
                for turn in v["turns"].as_array().into_iter().flatten() {
                    if let (Some(content), Some(id)) =
                        (turn["content"].as_str(), turn["id"].as_str())
                    {
                        acked.insert(content.to_owned(), id.to_owned());
                    }
                }
            }
            Err(Failure::Status) => {
                seen.refused.fetch_add(1, Ordering::SeqCst);
            }
            Err(Failure::Transport) => {
                // No answer from either replica: not acknowledged.
                seen.unanswered
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(user_text);
            }
        }
    }
    seen.latencies
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend(mine);
}

/// Probes while the load runs: a memory written through one replica, then searched
/// through the other until found (up to 5 s); the time from the write's answer.
fn probe(replicas: &Replicas, keys: &[String], seen: &Seen, done: &AtomicBool) {
    let agent = agent();
    let mut i = 0u64;
    while !done.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
        let Some(a) = replicas.a.read().unwrap_or_else(|e| e.into_inner()).clone() else {
            continue;
        };
        i += 1;
        let (from, to) = if i.is_multiple_of(2) {
            (a, replicas.b.clone())
        } else {
            (replicas.b.clone(), a)
        };
        let key = &keys[i as usize % keys.len()];
        let word = format!("zq{i}probe");
        let body = json!({ "content": format!("The probe word number {i} is {word}") });
        if post(&agent, &from, "/v1/memories", key, &body).is_err() {
            continue;
        }
        let written = Instant::now();
        while written.elapsed() < Duration::from_secs(5) {
            let found = post(
                &agent,
                &to,
                "/v1/memories/search",
                key,
                &json!({ "query": word, "limit": 3 }),
            )
            .map(|v| v.to_string().contains(&word));
            match found {
                Ok(true) => {
                    seen.probe_ms
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(written.elapsed().as_secs_f64() * 1000.0);
                    break;
                }
                Ok(false) => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => break, // the target was killed meanwhile
            }
        }
    }
}

fn drained(store: &dyn Store) -> Result<bool, BoxError> {
    let now = mnemo_core::time::truncate(chrono::Utc::now());
    let c = store.job_counts(None, now)?;
    Ok(c.queued == 0 && c.running == 0)
}

/// Every acknowledged turn stored once under its id; turns stored twice; unanswered ones.
fn check_turns(
    store: &dyn Store,
    users: usize,
    seen: &Seen,
    r: &mut Report,
) -> Result<(), BoxError> {
    let mut stored: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for u in 0..users {
        let turns = store.list_turns(&TurnFilter {
            scope: Some(Scope::user(user_name(u))),
            ..Default::default()
        })?;
        for t in turns {
            stored.entry(t.content).or_default().push(t.id);
        }
    }
    let acked = seen.acked.lock().unwrap_or_else(|e| e.into_inner());
    r.acknowledged_requests = seen.acked_requests.load(Ordering::SeqCst);
    r.acknowledged_turns = acked.len();
    r.refused_requests = seen.refused.load(Ordering::SeqCst);
    for (content, id) in acked.iter() {
        match stored.get(content) {
            Some(ids) if ids == std::slice::from_ref(id) => r.acked_turns_found_once += 1,
            Some(_) => {}
            None => r.acked_turns_missing += 1,
        }
    }
    r.turns_duplicated = stored.values().filter(|ids| ids.len() > 1).count();
    let unanswered = seen.unanswered.lock().unwrap_or_else(|e| e.into_inner());
    r.unanswered_requests = unanswered.len();
    r.retried_requests = seen.retried.load(Ordering::SeqCst);
    r.retries_replayed = seen.replayed.load(Ordering::SeqCst);
    r.unanswered_turns_stored = unanswered
        .iter()
        .filter(|t| stored.contains_key(*t))
        .count();
    Ok(())
}

fn check_jobs(store: &dyn Store, r: &mut Report) -> Result<(), BoxError> {
    let jobs = store.list_jobs(&JobFilter {
        limit: Some(1_000_000),
        ..Default::default()
    })?;
    r.jobs = jobs.len();
    r.jobs_done = jobs.iter().filter(|j| j.status == JobStatus::Done).count();
    r.jobs_failed = jobs
        .iter()
        .filter(|j| j.status == JobStatus::Failed)
        .count();
    r.jobs_left = jobs
        .iter()
        .filter(|j| matches!(j.status, JobStatus::Queued | JobStatus::Running))
        .count();
    r.jobs_run_more_than_once = jobs.iter().filter(|j| j.attempts > 1).count();
    Ok(())
}

/// The memory each locker number in a stored user turn must have become, exactly once.
/// Returns (user index, memory text) of each expected memory.
fn check_memories(
    store: &dyn Store,
    users: usize,
    r: &mut Report,
) -> Result<Vec<(usize, String)>, BoxError> {
    let mut expected = Vec::new();
    for u in 0..users {
        let scope = Scope::user(user_name(u));
        let said: BTreeSet<u64> = store
            .list_turns(&TurnFilter {
                scope: Some(scope.clone()),
                role: Some(mnemo_core::Role::User),
                ..Default::default()
            })?
            .iter()
            .flat_map(|t| lockers(&t.content))
            .collect();
        let mut have: BTreeMap<String, usize> = BTreeMap::new();
        for m in store.list_memories(&MemoryFilter {
            scope: Some(scope),
            ..Default::default()
        })? {
            *have.entry(m.content).or_default() += 1;
        }
        for n in said {
            let text = format!("Locker number is {n}");
            match have.get(&text) {
                Some(1) => r.memories_found_once += 1,
                Some(_) => r.memories_duplicated += 1,
                None => r.memories_missing += 1,
            }
            expected.push((u, text));
        }
    }
    r.memories_expected = expected.len();
    Ok(expected)
}

/// Searches each expected memory through both replicas.
fn check_search(a: &str, b: &str, keys: &[String], expected: &[(usize, String)], r: &mut Report) {
    let agent = agent();
    let found = |url: &str, key: &str, text: &str| {
        let n = text.rsplit(' ').next().unwrap_or("");
        let q = json!({ "query": format!("locker number {n}"), "limit": 5 });
        post(&agent, url, "/v1/memories/search", key, &q).is_ok_and(|v| {
            v["hits"]
                .as_array()
                .is_some_and(|h| h.iter().any(|h| h["memory"]["content"] == text))
        })
    };
    for (u, text) in expected {
        r.searchable_via_a += usize::from(found(a, &keys[*u], text));
        r.searchable_via_b += usize::from(found(b, &keys[*u], text));
    }
}
