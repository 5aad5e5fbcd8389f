//! `mnemo serve` as clients see it: the real binary on a free port, spoken to over HTTP.
//! Tenancy above all: with two users' keys, every endpoint tried across tenants by id, by
//! id prefix and by filter returns none of the other user's records and changes nothing.

mod common;

use common::server::{create_key, Server};
use common::Mnemo;
use serde_json::{json, Value};

/// Anna's data: a keyed memory, a conversation (with its queued jobs).
struct Seeded {
    memory_id: String,
    session_id: String,
    job_id: String,
}

fn seed(s: &Server, key: &str) -> Seeded {
    let (st, m) = s.call(
        "POST",
        "/v1/memories",
        Some(key),
        Some(&json!({ "content": "Anna drinks oolong tea", "key": "drink", "topic": "food" })),
    );
    assert_eq!(st, 201, "{m}");
    let (st, msgs) = s.call(
        "POST",
        "/v1/turns",
        Some(key),
        Some(&json!({ "messages": [
            { "role": "user", "content": "Anna moved to Porto last spring" },
            { "role": "assistant", "content": "Porto is lovely" }
        ]})),
    );
    assert_eq!(st, 202, "{msgs}");
    Seeded {
        memory_id: m["memory"]["id"].as_str().unwrap().to_owned(),
        session_id: msgs["session_id"].as_str().unwrap().to_owned(),
        job_id: msgs["job_ids"][0].as_str().unwrap().to_owned(),
    }
}

/// Whether a response body holds anything of Anna's that the request did not itself send
/// (a 404 may echo the id it was asked for).
fn leaks(body: &Value, asked: &str, a: &Seeded) -> bool {
    let text = body.to_string();
    let ids = [&a.memory_id, &a.session_id, &a.job_id];
    ["oolong", "Porto", "anna"]
        .iter()
        .any(|w| text.contains(w) && !asked.contains(w))
        || ids
            .iter()
            .any(|id| text.contains(id.as_str()) && !asked.contains(id.as_str()))
}

#[test]
fn no_endpoint_crosses_tenants_by_id_prefix_or_filter() {
    no_endpoint_crosses_tenants(&Mnemo::new());
}

/// The same probes with the server on PostgreSQL (its own SQL for every lookup).
#[test]
fn no_endpoint_crosses_tenants_on_postgres() {
    let db = mnemo_store_tests::PgBackend::new();
    let mut m = Mnemo::new();
    m.db = db.url().into();
    no_endpoint_crosses_tenants(&m);
}

fn no_endpoint_crosses_tenants(m: &Mnemo) {
    let anna = create_key(m, "anna", &[]);
    let ben = create_key(m, "ben", &[]);
    let s = Server::start(m, &["--no-worker"]);
    let a = seed(&s, &anna);
    let before = s.call("GET", "/v1/export", Some(&anna), None).1;

    let mem = &a.memory_id;
    let ses = &a.session_id;
    let job = &a.job_id;
    let mut probes: Vec<(&str, String, Option<Value>)> = Vec::new();
    for id in [mem.clone(), mem[..8].to_owned(), mem[..4].to_owned()] {
        probes.push(("GET", format!("/v1/memories/{id}"), None));
        probes.push(("GET", format!("/v1/memories/{id}/history"), None));
        probes.push((
            "PATCH",
            format!("/v1/memories/{id}"),
            Some(json!({ "content": "pwned" })),
        ));
        probes.push(("DELETE", format!("/v1/memories/{id}"), None));
        probes.push(("DELETE", format!("/v1/memories/{id}?purge=true"), None));
        probes.push(("POST", format!("/v1/memories/{id}/restore"), None));
    }
    for id in [ses.clone(), ses[..8].to_owned()] {
        probes.push(("GET", format!("/v1/sessions/{id}"), None));
        probes.push(("GET", format!("/v1/memories?session_id={id}"), None));
        probes.push(("GET", format!("/v1/summaries?session_id={id}"), None));
        probes.push(("GET", format!("/v1/jobs?session_id={id}"), None));
        probes.push((
            "POST",
            "/v1/context".into(),
            Some(json!({ "message": "where does Anna live", "session_id": id })),
        ));
        probes.push((
            "POST",
            "/v1/memories/search".into(),
            Some(json!({ "query": "Porto oolong", "session_id": id })),
        ));
        probes.push(("GET", format!("/v1/turns?session_id={id}"), None));
        probes.push((
            "POST",
            "/v1/turns/search".into(),
            Some(json!({ "query": "Porto", "session_id": id })),
        ));
    }
    for id in [job.clone(), job[..8].to_owned()] {
        probes.push(("GET", format!("/v1/jobs/{id}"), None));
        probes.push(("POST", format!("/v1/jobs/{id}/retry"), None));
    }
    for path in [
        "/v1/memories",
        "/v1/memories?view=all",
        "/v1/memories?key=drink",
        "/v1/memories?topic=food",
        "/v1/memories?as_of=2100-01-01",
        "/v1/sessions",
        "/v1/summaries",
        "/v1/topics",
        "/v1/jobs",
        "/v1/jobs?status=queued",
        "/v1/usage",
        "/v1/stats",
        "/v1/export",
    ] {
        probes.push(("GET", path.into(), None));
    }
    probes.push((
        "POST",
        "/v1/memories/search".into(),
        Some(json!({ "query": "Anna oolong tea Porto", "view": "all" })),
    ));
    probes.push((
        "POST",
        "/v1/context".into(),
        Some(json!({ "message": "what does Anna drink", "pattern": "buffer" })),
    ));
    probes.push(("GET", "/v1/turns?limit=50".into(), None));
    probes.push((
        "POST",
        "/v1/turns/search".into(),
        Some(json!({ "query": "where did Anna move, Porto?" })),
    ));
    probes.push((
        "POST",
        "/v1/memories/forget".into(),
        Some(json!({ "query": "oolong tea" })),
    ));
    // Session ids are per user: Ben writing to Anna's session id (or its prefix) starts a
    // session of his own under that id and touches nothing of Anna's. Last, so the reads
    // above probe before Ben has a session of that name (the prefix first: once Ben has a
    // session under Anna's full id, the prefix resolves to that session of his own).
    for id in [ses[..8].to_owned(), ses.clone()] {
        probes.push((
            "POST",
            "/v1/turns".into(),
            Some(json!({ "session_id": id, "messages": [{ "role": "user", "content": "hi" }] })),
        ));
    }
    // The former paths of renamed operations answer as their successors do.
    for id in [ses.clone(), ses[..8].to_owned()] {
        probes.push(("GET", format!("/v1/messages?session_id={id}"), None));
        probes.push((
            "POST",
            "/v1/messages/search".into(),
            Some(json!({ "query": "Porto", "session_id": id })),
        ));
    }
    probes.push((
        "POST",
        "/v1/search".into(),
        Some(json!({ "query": "Anna oolong tea Porto", "view": "all" })),
    ));
    for (method, path, body) in &probes {
        let (status, got) = s.call(method, path, Some(&ben), body.as_ref());
        assert!(status < 500, "{method} {path}: {status} {got}");
        let asked = format!(
            "{path} {}",
            body.as_ref().map(Value::to_string).unwrap_or_default()
        );
        assert!(!leaks(&got, &asked, &a), "{method} {path} leaked: {got}");
    }
    let after = s.call("GET", "/v1/export", Some(&anna), None).1;
    assert_eq!(before, after, "nothing of Anna's changed");
    let (_, mine) = s.call(
        "GET",
        &format!("/v1/memories/{}", &mem[..8]),
        Some(&anna),
        None,
    );
    assert_eq!(mine["memory"]["content"], "Anna drinks oolong tea");
}

#[test]
fn keys_are_required_checked_and_scoped() {
    let m = Mnemo::new();
    let err = m.fails(&["serve", "--listen", "127.0.0.1:0"], 1);
    assert!(err.contains("no API keys"), "{err}");
    let err = m.fails(&["serve", "--no-auth", "--listen", "0.0.0.0:0"], 1);
    assert!(err.contains("loopback"), "{err}");

    let anna = create_key(&m, "anna", &[]);
    let admin = create_key(&m, "root", &["--admin", "--name", "ops"]);
    let revoked = create_key(&m, "anna", &[]);
    let revoked_id = revoked.split('_').nth(1).unwrap();
    m.ok(&["keys", "revoke", revoked_id]);
    let listed = m.json(&["keys", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert!(
        !listed.to_string().contains(&anna),
        "secrets are never listed"
    );

    let s = Server::start(&m, &["--no-worker"]);
    let body = json!({ "content": "anna's note" });
    let (st, p) = s.call("POST", "/v1/memories", None, Some(&body));
    assert_eq!(st, 401);
    assert_eq!(p["code"], "unauthorized");
    let (st, raw) = s.call_text("GET", "/v1/memories", None, &[], None);
    assert_eq!(st, 401, "{raw}");
    for bad in [revoked.as_str(), "mnemo_000000000000_00", "nonsense"] {
        assert_eq!(
            s.call("GET", "/v1/memories", Some(bad), None).0,
            401,
            "{bad}"
        );
    }
    let last = if anna.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &anna[..anna.len() - 1]);
    assert_eq!(s.call("GET", "/v1/memories", Some(&forged), None).0, 401);
    assert_eq!(
        s.call("POST", "/v1/memories", Some(&anna), Some(&body)).0,
        201
    );

    // The admin key acts for the user its header names; a user key may not.
    let as_anna = [("X-Mnemo-User", "anna")];
    let (st, text) = s.call_text("GET", "/v1/memories", Some(&admin), &as_anna, None);
    assert_eq!(st, 200);
    assert!(text.contains("anna's note"), "{text}");
    let (st, text) = s.call_text("GET", "/v1/memories", Some(&admin), &[], None);
    assert_eq!(st, 200);
    assert!(
        !text.contains("anna's note"),
        "admin's own user is root: {text}"
    );
    let ben = create_key(&m, "ben", &[]);
    let (st, text) = s.call_text("GET", "/v1/memories", Some(&ben), &as_anna, None);
    assert_eq!(st, 403, "{text}");
    assert!(text.contains("\"code\":\"forbidden\""));
    // Health and metrics need no key.
    assert_eq!(s.call("GET", "/healthz", None, None).0, 200);
    assert_eq!(s.call("GET", "/readyz", None, None).0, 200);
    let (_, metrics) = s.call_text("GET", "/metrics", None, &[], None);
    assert!(
        metrics.contains(
            "mnemo_http_requests_total{method=\"POST\",route=\"/v1/memories\",status=\"201\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("mnemo_jobs{status=\"queued\"}"),
        "{metrics}"
    );
}

#[test]
fn errors_are_problem_documents_and_every_documented_route_exists() {
    let m = Mnemo::new();
    m.write_config("[server]\nbody_limit_bytes = 4096\n");
    let key = create_key(&m, "anna", &[]);
    let s = Server::start(&m, &["--no-worker"]);
    let json_ct = [("Content-Type", "application/json")];
    let (st, text) = s.call_text("GET", "/v1/nowhere", Some(&key), &[], None);
    assert_eq!(st, 404);
    assert!(text.contains("\"code\":\"no_route\""), "{text}");
    let (st, p) = s.call(
        "POST",
        "/v1/memories",
        Some(&key),
        Some(&json!({ "content": "" })),
    );
    assert_eq!(
        (st, p["code"].as_str()),
        (400, Some("invalid_value")),
        "{p}"
    );
    let (st, p) = s.call(
        "POST",
        "/v1/memories",
        Some(&key),
        Some(&json!({ "text": "x" })),
    );
    assert_eq!((st, p["code"].as_str()), (400, Some("invalid_body")), "{p}");
    let (st, p) = s.call("GET", "/v1/memories?limit=abc", Some(&key), None);
    assert_eq!(
        (st, p["code"].as_str()),
        (400, Some("invalid_query")),
        "{p}"
    );
    let (st, p) = s.call("GET", "/v1/memories/00000000", Some(&key), None);
    assert_eq!((st, p["code"].as_str()), (404, Some("not_found")), "{p}");
    let big = json!({ "content": "x".repeat(8000) });
    let (st, text) = s.call_text("POST", "/v1/memories", Some(&key), &json_ct, Some(&big));
    assert_eq!(st, 413, "{}", &text[..text.len().min(200)]);

    let (st, doc) = s.call("GET", "/openapi.json", None, None);
    assert_eq!(st, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "{}", paths.len());
    for (path, methods) in paths {
        for method in methods.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", "0000");
            let takes_body = methods[method].get("requestBody").is_some();
            let sent = takes_body.then(|| json!({}));
            let (st, body) = s.call(&method.to_uppercase(), &concrete, Some(&key), sent.as_ref());
            assert!(
                st != 405 && body["code"] != "no_route",
                "{method} {path}: {st} {body}"
            );
            // No model server runs here: the proxy says so (502), as it should.
            let no_upstream = body["error"]["code"] == "upstream_unavailable";
            assert!(st < 500 || no_upstream, "{method} {path}: {st} {body}");
        }
    }
    let (st, page) = s.call_text("GET", "/docs", None, &[], None);
    assert_eq!(st, 200);
    assert!(
        page.contains("/v1/memories/{id}/history") && !page.contains("<script"),
        "no script, no CDN"
    );
}

#[test]
fn the_cli_and_the_server_see_each_others_writes_and_shutdown_is_graceful() {
    let m = Mnemo::new();
    let key = create_key(&m, "alex", &[]);
    let s = Server::start(&m, &[]);
    m.ok(&["remember", "written by the CLI while the server runs"]);
    let (_, list) = s.call("GET", "/v1/memories", Some(&key), None);
    assert!(list.to_string().contains("written by the CLI"), "{list}");
    let (st, _) = s.call(
        "POST",
        "/v1/memories",
        Some(&key),
        Some(&json!({ "content": "written over HTTP" })),
    );
    assert_eq!(st, 201);
    assert!(m.ok(&["list"]).contains("written over HTTP"));
    // Recorded messages queue jobs; with no model they stay queued across a shutdown.
    let (st, msgs) = s.call(
        "POST",
        "/v1/turns",
        Some(&key),
        Some(&json!({ "messages": [
            { "role": "user", "content": "I prefer dark mode" },
            { "role": "assistant", "content": "Dark mode it is" }
        ]})),
    );
    assert_eq!(st, 202, "{msgs}");
    assert!(s.terminate(), "SIGTERM ends the server cleanly");
    let jobs = m.json(&["jobs"]);
    assert!(jobs.to_string().contains("queued"), "{jobs}");
}

#[test]
fn messages_are_listed_in_order_and_searched() {
    let m = Mnemo::new();
    let anna = create_key(&m, "anna", &[]);
    let s = Server::start(&m, &["--no-worker"]);
    let a = seed(&s, &anna);
    let (st, more) = s.call(
        "POST",
        "/v1/turns",
        Some(&anna),
        Some(&json!({ "session_id": a.session_id, "messages": [
            { "role": "user", "content": "My sister Lena plays the violin" }
        ]})),
    );
    assert_eq!(st, 202, "{more}");
    let (st, all) = s.call(
        "GET",
        &format!("/v1/turns?session_id={}", &a.session_id[..8]),
        Some(&anna),
        None,
    );
    assert_eq!(st, 200, "{all}");
    let contents: Vec<&str> = all["turns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        [
            "Anna moved to Porto last spring",
            "Porto is lovely",
            "My sister Lena plays the violin"
        ]
    );
    let (_, newest) = s.call("GET", "/v1/turns?limit=1", Some(&anna), None);
    assert_eq!(
        newest["turns"][0]["content"], "My sister Lena plays the violin",
        "{newest}"
    );
    let (st, bad) = s.call("GET", "/v1/turns?limit=0", Some(&anna), None);
    assert_eq!(st, 400, "{bad}");
    let (st, found) = s.call(
        "POST",
        "/v1/turns/search",
        Some(&anna),
        Some(&json!({ "query": "who plays the violin?" })),
    );
    assert_eq!(st, 200, "{found}");
    assert_eq!(
        found["hits"][0]["turn"]["content"], "My sister Lena plays the violin",
        "{found}"
    );
    assert_eq!(found["full_text_only"], false, "{found}");
    assert!(found["hits"][0]["parts"]["bm25"].as_f64().unwrap() > 0.0);
    let (st, _) = s.call(
        "POST",
        "/v1/turns/search",
        Some(&anna),
        Some(&json!({ "query": "   " })),
    );
    assert_eq!(st, 400);
}

#[test]
fn a_retry_with_the_same_idempotency_key_records_nothing_twice() {
    let m = Mnemo::new();
    let anna = create_key(&m, "anna", &[]);
    let ben = create_key(&m, "ben", &[]);
    let s = Server::start(&m, &["--no-worker"]);
    let body = json!({ "messages": [
        { "role": "user", "content": "My passport number ends in 4471" },
        { "role": "assistant", "content": "Noted." }
    ]});
    let post = |key: &str, idem: &str, body: &Value| {
        let (st, text) = s.call_text(
            "POST",
            "/v1/turns",
            Some(key),
            &[("Idempotency-Key", idem)],
            Some(body),
        );
        (
            st,
            serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
        )
    };
    let (st, first) = post(&anna, "k-1", &body);
    assert_eq!(st, 202, "{first}");
    assert_eq!(first["replayed"], false);
    // The retry (no session given either time) answers with the same turns and session.
    let (st, again) = post(&anna, "k-1", &body);
    assert_eq!(st, 202, "{again}");
    assert_eq!(again["replayed"], true, "{again}");
    assert_eq!(again["turns"], first["turns"]);
    assert_eq!(again["session_id"], first["session_id"]);
    // The body field works as the header does.
    let mut with_field = body.clone();
    with_field["idempotency_key"] = "k-1".into();
    let (st, third) = s.call("POST", "/v1/turns", Some(&anna), Some(&with_field));
    assert_eq!(
        (st, third["replayed"].clone()),
        (202, json!(true)),
        "{third}"
    );
    let (_, listed) = s.call("GET", "/v1/turns", Some(&anna), None);
    assert_eq!(listed["turns"].as_array().unwrap().len(), 2, "{listed}");
    // The same key for other messages is refused; another user's key space is their own.
    let other = json!({ "messages": [{ "role": "user", "content": "something else" }] });
    let (st, refused) = post(&anna, "k-1", &other);
    assert_eq!(st, 409, "{refused}");
    assert!(refused.to_string().contains("idempotency_key"), "{refused}");
    let (st, bens) = post(&ben, "k-1", &body);
    assert_eq!(
        (st, bens["replayed"].clone()),
        (202, json!(false)),
        "{bens}"
    );
    // Header and body must agree.
    let mut differs = body.clone();
    differs["idempotency_key"] = "k-2".into();
    let (st, _) = post(&anna, "k-1", &differs);
    assert_eq!(st, 400);
}

/// Fair tenants: one key sending 50 requests at once gets 429s with `Retry-After` (its
/// concurrency is bounded) while another key's searches all succeed meanwhile; an admin
/// key is not limited; the limits come from `[server]`.
#[test]
fn one_flooding_key_is_refused_while_another_is_served() {
    let m = Mnemo::new();
    m.write_config("[server]\nkey_requests_per_sec = 0\nkey_concurrency = 4\n");
    let flooder = create_key(&m, "flo", &[]);
    let other = create_key(&m, "oli", &[]);
    let admin = create_key(&m, "root", &["--admin"]);
    let s = Server::start(&m, &["--no-worker"]);
    for key in [&flooder, &other] {
        let (st, _) = s.call(
            "POST",
            "/v1/memories",
            Some(key),
            Some(&json!({ "content": "the quarterly report is due on Friday" })),
        );
        assert_eq!(st, 201);
    }
    let search = json!({ "query": "when is the quarterly report due?" });
    let (statuses, others) = std::thread::scope(|scope| {
        let floods: Vec<_> = (0..50)
            .map(|_| {
                let (s, key, search) = (&s, &flooder, &search);
                scope.spawn(move || {
                    let (st, text) = s.call_text(
                        "POST",
                        "/v1/memories/search",
                        Some(key),
                        &[("Content-Type", "application/json")],
                        Some(search),
                    );
                    (st, text)
                })
            })
            .collect();
        let others: Vec<u16> = (0..20)
            .map(|_| {
                s.call("POST", "/v1/memories/search", Some(&other), Some(&search))
                    .0
            })
            .collect();
        let statuses: Vec<(u16, String)> = floods.into_iter().map(|h| h.join().unwrap()).collect();
        (statuses, others)
    });
    let refused: Vec<&(u16, String)> = statuses.iter().filter(|(st, _)| *st == 429).collect();
    assert!(
        !refused.is_empty(),
        "50 at once with a limit of 4 must see 429s"
    );
    assert!(refused[0].1.contains("rate_limited"), "{}", refused[0].1);
    assert!(statuses.iter().all(|(st, _)| *st == 200 || *st == 429));
    assert!(
        others.iter().all(|st| *st == 200),
        "the other key: {others:?}"
    );
    // The refusal says when to come back.
    let url = format!("{}/v1/memories/search", s.url);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let saw_retry_after = std::thread::scope(|scope| {
        let hs: Vec<_> = (0..30)
            .map(|_| {
                let (agent, url, key, body) = (&agent, &url, &flooder, search.to_string());
                scope.spawn(move || {
                    let res = agent
                        .post(url)
                        .header("Authorization", &format!("Bearer {key}"))
                        .header("Content-Type", "application/json")
                        .send(body)
                        .unwrap();
                    (
                        res.status().as_u16(),
                        res.headers().get("retry-after").is_some(),
                    )
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .any(|(st, ra)| st == 429 && ra)
    });
    assert!(saw_retry_after, "a 429 carries Retry-After");
    // An admin key is exempt.
    let admins: Vec<u16> = std::thread::scope(|scope| {
        let hs: Vec<_> = (0..20)
            .map(|_| {
                let (s, key, search) = (&s, &admin, &search);
                scope.spawn(move || {
                    s.call("POST", "/v1/memories/search", Some(key), Some(search))
                        .0
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(admins.iter().all(|st| *st == 200), "{admins:?}");
}
