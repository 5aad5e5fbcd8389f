//! The OpenAI-compatible proxy of `mnemo serve`, driven by the official `openai` Python
//! client (PyPI `openai`), a client no one here wrote. The upstream is a local fake that
//! speaks the OpenAI chat-completions wire format exactly (`tests/python/
//! fake_openai_upstream.py`) and logs what it received; mnemo's own pipeline uses the same
//! upstream, so a stated preference becomes a memory for real.
//!
//! `tests/python/proxy_client.py` checks: seed 004's story (dark mode said in a first
//! conversation, asked about in a second) for one user without streaming and another with
//! streaming, asserting on the memory block the upstream received, on what the client got
//! and on the turns recorded; every field the client sent passes through, the upstream key
//! replaces the mnemo key; an upstream 500 (stream or not), a timeout and a non-JSON reply
//! come back with their status and an OpenAI-shaped body, the user's message recorded
//! first; a client that disconnects mid-stream stops the upstream and the partial reply is
//! recorded as cancelled; an admin key acts for the body's `user`; a bad key gets 401;
//! `/v1/models` lists the upstream's models.

mod common;

use std::process::Command;

use serde_json::json;

use common::server::{create_key, Server};
use common::upstream::Upstream;
use common::{pyenv, Mnemo};

#[test]
fn the_openai_client_gets_memory_through_the_proxy() {
    let venv = pyenv::venv();
    let python = venv.join("bin/python");
    let up = Upstream::start(&python);
    let m = Mnemo::new();
    let anna = create_key(&m, "anna", &[]);
    let ben = create_key(&m, "ben", &[]);
    let admin = create_key(&m, "root", &["--admin"]);
    let config = m.dir.path().join("proxy.toml");
    // A short timeout so the slow upstream times out quickly; no retries of pipeline calls.
    std::fs::write(&config, "[llm]\ntimeout = 1.5\nmax_retries = 0\n").unwrap();
    let base = format!("{}/v1", up.url);
    let s = Server::start_with(
        &m,
        &[],
        &[
            ("MNEMO_CONFIG", config.to_str().unwrap()),
            ("MNEMO_LLM_PROVIDER", "openai"),
            ("OPENAI_BASE_URL", &base),
            ("OPENAI_API_KEY", "sk-upstream-secret"),
            ("MNEMO_MODEL", "pipeline-model"),
        ],
    );
    let out = Command::new(&python)
        .arg(pyenv::script("proxy_client.py"))
        .args([&s.url, &up.url, &anna, &ben, &admin])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK proxy"),
        "the openai client's checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `mnemo usage --by task` shows Ben's three streamed completions with their tokens.
    let lines = m.json(&["--user", "ben", "usage", "--by", "task"]);
    let proxy = lines
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["key"] == "proxy")
        .unwrap_or_else(|| panic!("no proxy line in {lines}"));
    assert_eq!(
        (
            &proxy["calls"],
            &proxy["input_tokens"],
            &proxy["output_tokens"]
        ),
        (
            &serde_json::json!(3),
            &serde_json::json!(30),
            &serde_json::json!(15)
        ),
        "{lines}"
    );
}

#[test]
fn an_anthropic_upstream_is_translated_both_ways() {
    let venv = pyenv::venv();
    let python = venv.join("bin/python");
    let up = Upstream::start(&python);
    let m = Mnemo::new();
    let anna = create_key(&m, "anna", &[]);
    let config = m.dir.path().join("proxy.toml");
    // A completion may take longer than a REST request may.
    std::fs::write(
        &config,
        "[llm]\ntimeout = 3\n[server]\nrequest_timeout_secs = 1\n",
    )
    .unwrap();
    let s = Server::start_with(
        &m,
        &["--no-worker"],
        &[
            ("MNEMO_CONFIG", config.to_str().unwrap()),
            ("MNEMO_LLM_PROVIDER", "anthropic"),
            ("ANTHROPIC_BASE_URL", &up.url),
            ("ANTHROPIC_API_KEY", "sk-ant-upstream"),
            ("MNEMO_MODEL", "claude-fake"),
        ],
    );
    let out = Command::new(&python)
        .arg(pyenv::script("proxy_client.py"))
        .args(["anthropic", &s.url, &up.url, &anna])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK anthropic"),
        "the openai client's checks against an Anthropic upstream failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Session ids belong to their user, through every face: Anna and Ben both write into a
/// session they each call `team-sync` by REST, the proxy, the web UI's chat and MCP; each
/// sees all of their own turns there and none of the other's, by every route that reads
/// turns.
#[test]
fn two_users_share_a_session_id_through_every_face() {
    let venv = pyenv::venv();
    let up = Upstream::start(&venv.join("bin/python"));
    let m = Mnemo::new();
    let anna = create_key(&m, "anna", &[]);
    let ben = create_key(&m, "ben", &[]);
    let base = format!("{}/v1", up.url);
    let s = Server::start_with(
        &m,
        &["--no-worker"],
        &[
            ("MNEMO_LLM_PROVIDER", "openai"),
            ("OPENAI_BASE_URL", &base),
            ("OPENAI_API_KEY", "sk-upstream"),
            ("MNEMO_MODEL", "client-model"),
        ],
    );
    let sid = "team-sync";
    let ndjson = [("Content-Type", "application/json")];
    let mcp_headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    for (key, who) in [(&anna, "anna"), (&ben, "ben")] {
        let (st, out) = s.call(
            "POST",
            "/v1/turns",
            Some(key),
            Some(&json!({ "session_id": sid, "turns": [
                { "role": "user", "content": format!("{who} says the budget is set") }
            ]})),
        );
        assert_eq!((st, out["session_id"].as_str()), (202, Some(sid)), "{out}");
        let completion = json!({ "model": "client-model", "messages": [
            { "role": "user", "content": format!("{who} asks through the proxy") }
        ]});
        let (st, text) = s.call_text(
            "POST",
            "/v1/chat/completions",
            Some(key),
            &[
                ("X-Mnemo-Session", sid),
                ("Content-Type", "application/json"),
            ],
            Some(&completion),
        );
        assert_eq!(st, 200, "{text}");
        let chat =
            json!({ "message": format!("{who} asks through the web UI"), "session_id": sid });
        let (st, text) = s.call_text("POST", "/v1/chat", Some(key), &ndjson, Some(&chat));
        assert!(st == 200 && text.contains("\"done\""), "{st} {text}");
        let call = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "add_turns",
            "arguments": { "session_id": sid, "turns": [
                { "role": "user", "content": format!("{who} records through MCP") }
            ]}
        }});
        let (st, text) = s.call_text("POST", "/mcp", Some(key), &mcp_headers, Some(&call));
        assert!(
            st == 200 && !text.contains("\"isError\":true"),
            "{st} {text}"
        );
    }
    for (key, me, other) in [(&anna, "anna", "ben"), (&ben, "ben", "anna")] {
        let (st, session) = s.call("GET", &format!("/v1/sessions/{sid}"), Some(key), None);
        assert_eq!(st, 200, "{session}");
        let said: Vec<String> = session["turns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["content"].as_str().unwrap().to_owned())
            .collect();
        for face in ["budget", "proxy", "web UI", "MCP"] {
            assert!(
                said.iter().any(|t| t.starts_with(me) && t.contains(face)),
                "{me}'s {face} turn in their session: {said:?}"
            );
        }
        let reads = [
            s.call("GET", &format!("/v1/sessions/{sid}"), Some(key), None)
                .1,
            s.call(
                "GET",
                &format!("/v1/turns?session_id={sid}"),
                Some(key),
                None,
            )
            .1,
            s.call(
                "POST",
                "/v1/turns/search",
                Some(key),
                Some(&json!({ "query": "budget proxy web UI MCP asks records says" })),
            )
            .1,
            s.call("GET", "/v1/export", Some(key), None).1,
        ];
        let mcp_search = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "search_turns", "arguments": { "query": "budget", "session_id": sid }
        }});
        let (_, mcp) = s.call_text("POST", "/mcp", Some(key), &mcp_headers, Some(&mcp_search));
        for body in reads.iter().map(ToString::to_string).chain([mcp]) {
            assert!(body.contains(me), "{me} sees their own: {body}");
            assert!(
                !body.contains(other),
                "{me} sees nothing of {other}'s: {body}"
            );
        }
    }
}

/// Secrets never become memory: a memory or a turn holding one, through the CLI, REST,
/// MCP and the web UI's chat, leaves no secret value in the export, search results, the
/// context, or any request the model server received (the pipeline's included); turns hold
/// it masked with its kind recorded, and `secrets = "reject"` refuses it.
#[test]
fn secrets_never_reach_memory_search_the_context_or_a_model() {
    let venv = pyenv::venv();
    let up = Upstream::start(&venv.join("bin/python"));
    let m = Mnemo::new();
    let anna = create_key(&m, "anna", &[]);
    let base = format!("{}/v1", up.url);
    let envs = [
        ("MNEMO_LLM_PROVIDER", "openai"),
        ("OPENAI_BASE_URL", base.as_str()),
        ("OPENAI_API_KEY", "sk-upstream"),
        ("MNEMO_MODEL", "pipeline-model"),
    ];
    let s = Server::start_with(&m, &[], &envs);
    const VALUES: [&str; 6] = [
        "AKIAIOSFODNN7EXAMPLE",
        "hunter2xy",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "4111 1111 1111 1111",
        "s3cr3tPass",
        "sk-proj-4fJd8sK2LmQ9xZ1pR7tY3uV6wB0cN5eH",
    ];
    // REST: a memory and a conversation.
    let (st, mem) = s.call(
        "POST",
        "/v1/memories",
        Some(&anna),
        Some(
            &json!({ "content": "Anna's AWS key is AKIAIOSFODNN7EXAMPLE and password hunter2xy" }),
        ),
    );
    assert_eq!(st, 201, "{mem}");
    let (st, rec) = s.call(
        "POST",
        "/v1/turns",
        Some(&anna),
        Some(&json!({ "session_id": "ops", "turns": [
            { "role": "user", "content": "I prefer dark mode. The db is postgres://admin:s3cr3tPass@db:5432/app" },
            { "role": "assistant", "content": "Noted." }
        ]})),
    );
    assert_eq!(st, 202, "{rec}");
    let turn = &rec["turns"][0];
    assert_eq!(
        turn["meta"]["secrets"][0]["kind"], "connection_string",
        "{turn}"
    );
    assert!(turn["content"]
        .as_str()
        .unwrap()
        .contains("postgres://admin:[secret: connection_string]@db"));
    // MCP.
    let mcp = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    let call = |name: &str, arguments: serde_json::Value| {
        json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": { "name": name, "arguments": arguments } })
    };
    let add = call(
        "add_memory",
        json!({ "content": "Anna's GitHub token is ghp_16C7e42F292c6912E7710c838347Ae178B4a" }),
    );
    let (st, text) = s.call_text("POST", "/mcp", Some(&anna), &mcp, Some(&add));
    assert!(st == 200 && !text.contains("ghp_16C7"), "{st} {text}");
    let turns = call(
        "add_turns",
        json!({ "session_id": "ops", "turns": [
            { "role": "user", "content": "pay with card 4111 1111 1111 1111 please" }
        ]}),
    );
    let (st, text) = s.call_text("POST", "/mcp", Some(&anna), &mcp, Some(&turns));
    assert!(st == 200 && !text.contains("4111 1111"), "{st} {text}");
    // The CLI, on the same database.
    m.ok(&[
        "--user",
        "anna",
        "remember",
        "the OpenAI key is sk-proj-4fJd8sK2LmQ9xZ1pR7tY3uV6wB0cN5eH",
    ]);
    // The web UI's chat: the model is sent the message masked.
    let chat = json!({ "message": "remember my password: hunter2xy", "session_id": "ops" });
    let (st, text) = s.call_text(
        "POST",
        "/v1/chat",
        Some(&anna),
        &[("Content-Type", "application/json")],
        Some(&chat),
    );
    assert!(st == 200 && text.contains("\"done\""), "{st} {text}");
    // Let the pipeline extract from every turn (its requests go to the fake upstream).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, jobs) = s.call("GET", "/v1/jobs", Some(&anna), None);
        let counts = &jobs["counts"];
        if counts["queued"] == 0 && counts["running"] == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "jobs never ran: {jobs}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let mut seen = vec![
        s.call("GET", "/v1/export", Some(&anna), None).1.to_string(),
        s.call(
            "POST",
            "/v1/memories/search",
            Some(&anna),
            Some(&json!({ "query": "AWS key password token card OpenAI" })),
        )
        .1
        .to_string(),
        s.call(
            "POST",
            "/v1/turns/search",
            Some(&anna),
            Some(&json!({ "query": "postgres card password" })),
        )
        .1
        .to_string(),
        s.call(
            "POST",
            "/v1/context",
            Some(&anna),
            Some(&json!({ "message": "what are my keys, passwords and cards?", "session_id": "ops" })),
        )
        .1
        .to_string(),
    ];
    let log = s.agent_get(&format!("{}/_log", up.url));
    assert!(log.contains("pipeline-model"), "the pipeline ran: {log}");
    seen.push(log);
    seen.push(m.ok(&["--user", "anna", "export"]));
    for text in &seen {
        for v in VALUES {
            assert!(!text.contains(v), "`{v}` leaked: {text}");
        }
    }
    assert!(seen[0].contains("[secret: aws_access_key]"), "{}", seen[0]);
    // `reject` refuses a turn with a secret and says what and where.
    let out = m
        .cmd(&["--user", "anna", "turn", "add", "my PIN is 4821"])
        .env("MNEMO_SECRETS", "reject")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("password at character"),
        "{err}"
    );
}
