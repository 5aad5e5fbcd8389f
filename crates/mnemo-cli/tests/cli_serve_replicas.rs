//! Two `mnemo serve` replicas on one PostgreSQL database, each with its own pipeline
//! worker, as they run behind a load balancer: keys made once work on both and a
//! revocation reaches both; a memory written through one is found through the other at
//! once; clients write conversations through both while one replica is killed with
//! SIGKILL (requests it did not answer are sent again to the survivor with the same
//! idempotency key). Afterwards every exchange is acknowledged and stored exactly once,
//! every job ran once (but at most the one the killed replica held, re-run when its lease
//! expired), and every memory the workers extracted is found through the surviving
//! replica and a restarted one.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::fake_llm::{pipeline_reply, FakeOllama};
use common::server::{create_key, Server};
use common::Mnemo;
use mnemo_core::{Scope, TurnFilter};
use mnemo_store_tests::{Backend, PgBackend};
use serde_json::{json, Value};

/// The locker numbers a text states ("my locker number is 123").
fn lockers(text: &str) -> Vec<String> {
    text.split("locker number is ")
        .skip(1)
        .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect())
        .filter(|n: &String| !n.is_empty())
        .collect()
}

/// Extraction turns every locker number of the turns it is shown into one memory; every
/// other pipeline request gets a plain answer. A short pause per reply, so a worker can be
/// killed while it holds a job.
fn model(req: &Value) -> String {
    std::thread::sleep(Duration::from_millis(40));
    let system = req["messages"][0]["content"].as_str().unwrap_or("");
    if system.starts_with("You are the memory manager") {
        let shown: Vec<String> = req["messages"]
            .as_array()
            .map(|m| m[1..].iter().map(|m| m["content"].to_string()).collect())
            .unwrap_or_default();
        let shown = shown.join(" ");
        let mut numbers = lockers(&shown);
        numbers.sort();
        numbers.dedup();
        let memories: Vec<Value> = numbers
            .iter()
            .map(|n| {
                json!({"kind": "fact", "topic": "gym", "salience": 0.8,
                            "content": format!("Locker number is {n}")})
            })
            .collect();
        return json!({ "memories": memories }).to_string();
    }
    pipeline_reply(req, "They talked about lockers.").unwrap_or_else(|| "ok".into())
}

fn hits(v: &Value) -> Vec<String> {
    v["hits"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(|h| h["memory"]["content"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn search(s: &Server, key: &str, query: &str) -> Vec<String> {
    let (status, v) = s.call(
        "POST",
        "/v1/search",
        Some(key),
        Some(&json!({ "query": query, "limit": 5 })),
    );
    assert_eq!(status, 200, "{v}");
    hits(&v)
}

struct Setup {
    db: PgBackend,
    m: Mnemo,
    _fake: FakeOllama,
    envs: Vec<(String, String)>,
}

impl Setup {
    fn new() -> Setup {
        let db = PgBackend::new();
        let mut m = Mnemo::new();
        m.db = db.url().into();
        let config = m.dir.path().join("config.toml");
        // Short leases: a killed replica's job is taken over after 3 s.
        std::fs::write(&config, "[pipeline]\nlease_secs = 3\n").unwrap();
        let fake = FakeOllama::start(model);
        let envs = vec![
            ("MNEMO_CONFIG".into(), config.display().to_string()),
            ("MNEMO_LLM_PROVIDER".into(), "ollama".into()),
            ("OLLAMA_HOST".into(), fake.url.clone()),
            ("MNEMO_MODEL".into(), "qwen-fake".into()),
        ];
        Setup {
            db,
            m,
            _fake: fake,
            envs,
        }
    }

    fn replica(&self) -> Server {
        let envs: Vec<(&str, &str)> = self
            .envs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Server::start_with(&self.m, &[], &envs)
    }
}

#[test]
fn keys_and_memories_are_shared_by_replicas_at_once() {
    let s = Setup::new();
    // A replica starts only when the database holds a key.
    create_key(&s.m, "ops", &["--admin"]);
    let a = s.replica();
    let b = s.replica();
    // A key made after both started works on both; a user's key never sees another's.
    let ann = create_key(&s.m, "ann", &[]);
    let bob = create_key(&s.m, "bob", &[]);
    let (status, v) = a.call(
        "POST",
        "/v1/memories",
        Some(&ann),
        Some(&json!({"content": "Ann plays the cello every Sunday"})),
    );
    assert!(status == 200 || status == 201, "{status} {v}");
    // No waiting: replica b's index is brought up to date by the search itself.
    assert_eq!(
        search(&b, &ann, "cello"),
        ["Ann plays the cello every Sunday"]
    );
    assert!(search(&b, &bob, "cello").is_empty());
    // b now holds an index of ann's memories; a write through a reaches it too.
    let (status, _) = a.call(
        "POST",
        "/v1/memories",
        Some(&ann),
        Some(&json!({"content": "Ann's cello teacher is called Marta"})),
    );
    assert!(status == 200 || status == 201);
    assert!(search(&b, &ann, "who teaches the cello")
        .contains(&"Ann's cello teacher is called Marta".to_string()));
    // And the other way round, with a delete.
    let (_, listed) = b.call("GET", "/v1/memories", Some(&ann), None);
    let marta = listed["memories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["content"].as_str().unwrap().contains("Marta"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = b.call("DELETE", &format!("/v1/memories/{marta}"), Some(&ann), None);
    assert_eq!(status, 200);
    assert!(!search(&a, &ann, "who teaches the cello")
        .contains(&"Ann's cello teacher is called Marta".to_string()));

    // A revocation reaches a replica that had not cached the key at once.
    let id = bob.split('_').nth(1).unwrap().to_owned();
    s.m.ok(&["keys", "revoke", &id]);
    let (status, _) = a.call(
        "POST",
        "/v1/search",
        Some(&bob),
        Some(&json!({"query": "x"})),
    );
    assert_eq!(status, 401, "a revoked key is refused");
    let listed = s.m.json(&["keys", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
}

/// What the clients saw.
#[derive(Default)]
struct Outcome {
    /// Content of every acknowledged turn, with its id.
    acked: Mutex<BTreeMap<String, String>>,
    /// Content of turns whose request got no answer, even when sent again.
    unanswered: Mutex<BTreeSet<String>>,
    /// Requests that got no answer from the killed replica and were sent again to the
    /// survivor with the same idempotency key.
    retried: AtomicUsize,
    /// Requests answered with an error status.
    refused: AtomicUsize,
}

#[test]
fn replicas_share_the_queue_and_a_killed_one_loses_nothing_acknowledged() {
    let s = Setup::new();
    let users = ["ann", "bob", "cyd"];
    let keys: Vec<String> = users.iter().map(|u| create_key(&s.m, u, &[])).collect();
    let a = s.replica();
    let b = s.replica();
    let replicas = [&a, &b];
    let out = Outcome::default();
    let a_dead = AtomicBool::new(false);
    let (clients, exchanges) = (6, 12);
    let mut acked_at_kill = 0;

    std::thread::scope(|scope| {
        for c in 0..clients {
            let (out, a_dead, keys) = (&out, &a_dead, &keys);
            scope.spawn(move || {
                let key = &keys[c % keys.len()];
                for e in 0..exchanges {
                    // Alternate replicas, as a round-robin balancer; only b once a died.
                    let target = if a_dead.load(Ordering::SeqCst) {
                        replicas[1]
                    } else {
                        replicas[(c + e) % 2]
                    };
                    let user_text = format!("My locker number is {}", 1000 + c * 100 + e);
                    let body = json!({
                        "session_id": format!("client{c}"),
                        "idempotency_key": format!("client{c}-exchange{e}"),
                        "messages": [
                            {"role": "user", "content": user_text},
                            {"role": "assistant", "content": format!("Noted, {c}-{e}.")}
                        ]
                    });
                    // No answer (the replica died): send it again to the survivor, with
                    // the same key, as a client behind a load balancer would.
                    let answer = target.try_post("/v1/messages", key, &body).or_else(|| {
                        out.retried.fetch_add(1, Ordering::SeqCst);
                        replicas[1].try_post("/v1/messages", key, &body)
                    });
                    match answer {
                        Some((status, v)) if (200..300).contains(&status) => {
                            let mut acked = out.acked.lock().unwrap();
                            for t in v["turns"].as_array().unwrap() {
                                acked.insert(
                                    t["content"].as_str().unwrap().to_owned(),
                                    t["id"].as_str().unwrap().to_owned(),
                                );
                            }
                        }
                        Some(_) => {
                            out.refused.fetch_add(1, Ordering::SeqCst);
                        }
                        None => {
                            out.unanswered.lock().unwrap().insert(user_text);
                        }
                    }
                }
            });
        }
        // Kill replica a (SIGKILL) once a third of the exchanges are acknowledged.
        let start = Instant::now();
        while out.acked.lock().unwrap().len() < clients * exchanges * 2 / 3
            && start.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        a.kill9();
        a_dead.store(true, Ordering::SeqCst);
        acked_at_kill = out.acked.lock().unwrap().len();
    });
    assert_eq!(out.refused.load(Ordering::SeqCst), 0);
    let acked = out.acked.into_inner().unwrap();
    let unanswered = out.unanswered.into_inner().unwrap();
    assert!(
        acked.len() > acked_at_kill,
        "the clients went on through the survivor ({acked_at_kill} acknowledged at the kill)"
    );
    // With the retries, every exchange was acknowledged (once, checked below).
    assert!(unanswered.is_empty(), "{unanswered:?}");
    assert_eq!(acked.len(), clients * exchanges * 2);

    // Every acknowledged turn is stored exactly once, under the id it was acknowledged with.
    let store = s.db.open();
    let mut stored: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for u in users {
        let turns = store
            .list_turns(&TurnFilter {
                scope: Some(Scope::user(u)),
                ..Default::default()
            })
            .unwrap();
        for t in turns {
            stored.entry(t.content).or_default().push(t.id);
        }
    }
    for (content, id) in &acked {
        assert_eq!(
            stored.get(content),
            Some(&vec![id.clone()]),
            "acknowledged turn {content:?}"
        );
    }
    for (content, ids) in &stored {
        assert!(
            acked.contains_key(content) || ids.len() == 1,
            "an unacknowledged turn stored twice: {content:?}"
        );
    }

    // The survivor's worker finishes the queue, the killed replica's job after its lease.
    let started = Instant::now();
    let jobs = loop {
        let jobs = s.m.json(&["jobs", "--all-users", "--limit", "10000"]);
        let c = &jobs["counts"];
        if c["queued"] == 0 && c["running"] == 0 {
            break jobs;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the queue did not drain: {c}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(jobs["counts"]["failed"], 0, "{jobs}");
    let reruns: u64 = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["attempts"].as_u64().unwrap().saturating_sub(1))
        .sum();
    assert!(
        reruns <= 1,
        "only the killed replica's job may run twice: {jobs}"
    );

    // Every acknowledged locker number became one memory, found through both the
    // surviving replica and a restarted one.
    let c = s.replica();
    for (i, u) in users.iter().enumerate() {
        let listed = s.m.json(&["list", "--user", u, "--limit", "1000"]);
        let mut contents: Vec<String> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect();
        let before = contents.len();
        contents.sort();
        contents.dedup();
        assert_eq!(before, contents.len(), "a memory extracted twice: {listed}");
        let said: BTreeSet<String> = acked
            .keys()
            .chain(unanswered.iter())
            .filter(|t| stored.contains_key(*t))
            .flat_map(|t| lockers(t))
            .filter(|n| (n.parse::<usize>().unwrap() - 1000) / 100 % users.len() == i)
            .map(|n| format!("Locker number is {n}"))
            .collect();
        let have: BTreeSet<String> = contents.into_iter().collect();
        assert_eq!(have, said, "user {u}");
        for memory in said.iter().step_by(3) {
            let n = memory.rsplit(' ').next().unwrap();
            for replica in [&b, &c] {
                let found = search(replica, &keys[i], &format!("locker number {n}"));
                assert!(found.contains(memory), "{memory} not found: {found:?}");
            }
        }
    }
}
