//! HTTP embedders through the real binary: a server that is down blocks no command and
//! loses no write (records wait for vectors, searches fall back to full text and say so,
//! vectors are made when it comes back); text goes only to the configured URL; a write made
//! with another embedder never breaks the user's search.

mod common;
#[path = "common/fake_embed.rs"]
mod fake_embed;

use common::Mnemo;
use fake_embed::{closed_port_url, FakeEmbed};
use serde_json::Value;

/// Runs with extra environment variables; asserts success; returns (stdout, stderr).
fn ok_env(m: &Mnemo, env: &[(&str, &str)], args: &[&str]) -> (String, String) {
    let mut c = m.cmd(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(out.status.success(), "mnemo {args:?} failed: {e}");
    (o, e)
}

fn waiting(m: &Mnemo, env: &[(&str, &str)]) -> (u64, u64) {
    let (o, _) = ok_env(m, env, &["--json", "stats"]);
    let v: Value = serde_json::from_str(&o).unwrap();
    let w = &v["vectors_waiting"];
    (
        w["turns"].as_u64().unwrap(),
        w["memories"].as_u64().unwrap(),
    )
}

#[test]
fn an_embedder_that_is_down_blocks_no_command_and_loses_no_write() {
    let m = Mnemo::new();
    let url = format!("{}/v1", closed_port_url());
    let env = [
        ("MNEMO_EMBEDDER", "openai:emb"),
        ("MNEMO_EMBEDDER_URL", url.as_str()),
    ];
    ok_env(
        &m,
        &env,
        &[
            "turn",
            "add",
            "--session",
            "s1",
            "My dog Rex loves the beach",
        ],
    );
    ok_env(&m, &env, &["remember", "Allergic to peanuts"]);
    for args in [
        &["list"][..],
        &["jobs"],
        &["export"],
        &["log"],
        &["stats"],
        &["sessions"],
    ] {
        ok_env(&m, &env, args);
    }
    assert_eq!(waiting(&m, &env), (1, 1), "both records wait for vectors");
    let (o, e) = ok_env(&m, &env, &["recall", "peanuts"]);
    assert!(o.contains("Allergic to peanuts"), "{o}");
    assert!(
        e.contains("full-text search only") && e.contains(&url),
        "{e}"
    );
    let (o, e) = ok_env(&m, &env, &["--json", "log", "--search", "beach"]);
    let hits: Value = serde_json::from_str(&o).unwrap();
    assert_eq!(hits[0]["turn"]["content"], "My dog Rex loves the beach");
    let warning: Value = serde_json::from_str(e.trim()).unwrap();
    assert_eq!(warning["full_text_only"], true, "{e}");
    let (o, _) = ok_env(&m, &env, &["export"]);
    assert!(
        o.contains("Rex") && o.contains("peanuts"),
        "nothing was lost"
    );
}

#[test]
fn vectors_are_made_when_the_embedder_comes_back() {
    let m = Mnemo::new();
    let fake = FakeEmbed::start_down();
    let url = format!("{}/v1", fake.url);
    let env = [
        ("MNEMO_EMBEDDER", "openai:emb"),
        ("MNEMO_EMBEDDER_URL", url.as_str()),
    ];
    ok_env(
        &m,
        &env,
        &[
            "turn",
            "add",
            "--session",
            "s1",
            "We planned a trip to Kyoto",
        ],
    );
    ok_env(
        &m,
        &env,
        &[
            "turn",
            "add",
            "--session",
            "s1",
            "The flight leaves on Friday",
        ],
    );
    ok_env(&m, &env, &["remember", "Prefers window seats"]);
    let (_, e) = ok_env(&m, &env, &["log", "--search", "Kyoto"]);
    assert!(e.contains("full-text search only"), "{e}");
    assert_eq!(waiting(&m, &env), (2, 1));
    assert!(fake.paths().is_empty(), "a down server answered nothing");

    fake.set_up(true);
    let out = m.cmd(&["reindex", "--missing"]).envs(env).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("embedded 2 turns and 1 memories"),
        "{stdout}"
    );
    assert_eq!(waiting(&m, &env), (0, 0));
    let (_, e) = ok_env(&m, &env, &["log", "--search", "Kyoto"]);
    assert!(e.is_empty(), "semantic search is back: {e}");
    assert!(fake.paths().iter().all(|p| p == "/v1/embeddings"));

    // Down again with every vector made: a new process cannot even learn the vector
    // length; search still answers from full text.
    fake.set_up(false);
    let (o, e) = ok_env(&m, &env, &["log", "--search", "Kyoto"]);
    assert!(
        o.contains("Kyoto") && e.contains("full-text search only"),
        "{o}{e}"
    );
    // A record written while the server is down is embedded by the next search.
    ok_env(&m, &env, &["remember", "Travels with a cello"]);
    fake.set_up(true);
    let (o, e) = ok_env(&m, &env, &["recall", "cello"]);
    assert!(o.contains("cello") && e.is_empty(), "{o}{e}");
    assert_eq!(waiting(&m, &env), (0, 0));
}

#[test]
fn text_goes_only_to_the_configured_embedding_url() {
    let m = Mnemo::new();
    let llm_server = FakeEmbed::start();
    let own_server = FakeEmbed::start();
    let trap = FakeEmbed::start();
    let cfg = m.dir.path().join("config.toml");
    let trap_url = format!("{}/v1", trap.url);
    let env = [("MNEMO_CONFIG", cfg.to_str().unwrap())];
    // The [llm] base URL of an OpenAI-compatible chat model is the embedder's default...
    std::fs::write(
        &cfg,
        format!(
            "embedder = \"openai:emb\"\n[llm]\nprovider = \"openai\"\nbase_url = \"{}/v1\"\n",
            llm_server.url
        ),
    )
    .unwrap();
    ok_env(&m, &env, &["remember", "Lives in Porto"]);
    ok_env(&m, &env, &["recall", "Porto"]);
    assert_eq!(
        llm_server.paths().first().map(String::as_str),
        Some("/v1/embeddings")
    );
    // ... and an [embedding] url wins over it, and over OPENAI_BASE_URL (which moves the
    // chat model).
    let env = [
        ("MNEMO_CONFIG", cfg.to_str().unwrap()),
        ("OPENAI_BASE_URL", trap_url.as_str()),
    ];
    std::fs::write(
        &cfg,
        format!(
            "embedder = \"openai:emb\"\n[embedding]\nurl = \"{}/v1\"\n[llm]\nprovider = \"openai\"\nbase_url = \"{}/v1\"\n",
            own_server.url, llm_server.url
        ),
    )
    .unwrap();
    let before = llm_server.paths().len();
    ok_env(&m, &env, &["remember", "Works as a nurse"]);
    ok_env(&m, &env, &["recall", "nurse"]);
    assert!(!own_server.paths().is_empty());
    assert_eq!(
        llm_server.paths().len(),
        before,
        "the [llm] server got nothing more"
    );
    assert!(
        trap.paths().is_empty(),
        "OPENAI_BASE_URL was not the configured embedder URL"
    );
}

#[test]
fn the_public_openai_host_needs_a_key_before_any_text_is_sent() {
    let m = Mnemo::new();
    let out = m
        .cmd(&["remember", "secret"])
        .env("MNEMO_EMBEDDER", "openai:text-embedding-3-small")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("MNEMO_EMBEDDER_URL"), "{err}");
}

#[test]
fn a_write_with_another_embedder_never_breaks_the_users_search() {
    let m = Mnemo::new();
    let fake = FakeEmbed::start();
    let url = format!("{}/v1", fake.url);
    let other = [
        ("MNEMO_EMBEDDER", "openai:emb"),
        ("MNEMO_EMBEDDER_URL", url.as_str()),
    ];
    let mine = [("MNEMO_EMBEDDER", "static")];
    ok_env(
        &m,
        &mine,
        &[
            "turn",
            "add",
            "--session",
            "s1",
            "I adopted a puppy named Max",
        ],
    );
    ok_env(&m, &mine, &["remember", "Has a dog"]);
    ok_env(&m, &mine, &["log", "--search", "puppy"]);
    ok_env(&m, &mine, &["recall", "dog"]);
    // A script without the user's config writes with another embedder.
    ok_env(
        &m,
        &other,
        &[
            "turn",
            "add",
            "--session",
            "s1",
            "Max chewed my violin case",
        ],
    );
    ok_env(&m, &other, &["remember", "Plays the violin"]);
    // The user's own search still works with vectors (no fallback) and finds both writes.
    let (o, e) = ok_env(&m, &mine, &["log", "--search", "violin"]);
    assert!(o.contains("violin case") && e.is_empty(), "{o}{e}");
    let (o, e) = ok_env(&m, &mine, &["recall", "violin"]);
    assert!(o.contains("Plays the violin") && e.is_empty(), "{o}{e}");
    assert_eq!(waiting(&m, &mine), (0, 0));
    // The other embedder's search falls back to full text and names the fix.
    let (o, e) = ok_env(&m, &other, &["recall", "violin"]);
    assert!(o.contains("Plays the violin"), "{o}");
    assert!(e.contains("mnemo reindex"), "{e}");
}

#[test]
fn chat_works_with_the_embedder_down_and_work_makes_the_vectors_later() {
    use common::fake_llm::{pipeline_reply, FakeOllama};
    let m = Mnemo::new();
    let llm = FakeOllama::start(|req| {
        pipeline_reply(req, "They talked about a trip.").unwrap_or_else(|| "Sounds fun!".into())
    });
    let embed = FakeEmbed::start_down();
    let url = format!("{}/v1", embed.url);
    let env = [
        ("MNEMO_EMBEDDER", "openai:emb"),
        ("MNEMO_EMBEDDER_URL", url.as_str()),
        ("MNEMO_LLM_PROVIDER", "ollama"),
        ("OLLAMA_HOST", llm.url.as_str()),
        ("MNEMO_MODEL", "fake-model"),
    ];
    ok_env(&m, &env, &["remember", "Going to Kyoto in May"]);
    let (o, _) = ok_env(&m, &env, &["chat", "--once", "Any tips for my Kyoto trip?"]);
    assert!(o.contains("Sounds fun!"), "{o}");
    let (turns, memories) = waiting(&m, &env);
    assert!(turns >= 2 && memories >= 1, "{turns} {memories}");
    // The memory reached the model through the full-text fallback.
    let prompts = llm.system_prompts();
    assert!(
        prompts.iter().any(|p| p.contains("Kyoto in May")),
        "{prompts:?}"
    );

    embed.set_up(true);
    let (o, e) = ok_env(&m, &env, &["work", "--once"]);
    assert!(o.contains("that waited for vectors"), "{o}{e}");
    assert_eq!(waiting(&m, &env), (0, 0));
}
