//! The tools layer against a real SQLite file: tenancy (another user's ids and prefixes
//! are "not found" and change nothing), cursor pages, forget-by-query's confirmation and
//! the import guard.

use std::sync::Arc;

use mnemo_core::{time, FixedClock, Role};
use mnemo_engine::tools::{self, Caller, ErrorKind};
use mnemo_engine::{Engine, EngineSettings};
use mnemo_store_sqlite::SqliteStore;

fn engine(dir: &tempfile::TempDir) -> Engine {
    // A fixed clock: every memory gets the same created_at, the hard case for cursors.
    let clock = Arc::new(FixedClock(time::parse("2026-05-01T12:00:00Z").unwrap()));
    let store = SqliteStore::open(&dir.path().join("m.db"))
        .unwrap()
        .with_clock(clock.clone());
    Engine::new(Arc::new(store), EngineSettings::default(), clock)
}

fn add(e: &Engine, who: &Caller, text: &str) -> String {
    let req = serde_json::from_value(serde_json::json!({ "content": text })).unwrap();
    tools::add_memory(e, who, req).unwrap().memory.id
}

#[test]
fn another_users_ids_and_prefixes_are_not_found_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let (anna, ben) = (Caller::user("anna"), Caller::user("ben"));
    let id = add(&e, &anna, "anna likes green tea");
    for probe in [id.as_str(), &id[..8], &id[..4]] {
        let err = tools::get_memory(&e, &ben, probe).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound, "{probe}: {err}");
        assert_eq!(
            tools::history(&e, &ben, probe).unwrap_err().kind,
            ErrorKind::NotFound
        );
        let upd = serde_json::from_value(serde_json::json!({ "content": "hacked" })).unwrap();
        assert_eq!(
            tools::update_memory(&e, &ben, probe, upd).unwrap_err().kind,
            ErrorKind::NotFound
        );
        assert_eq!(
            tools::forget(&e, &ben, probe, Default::default())
                .unwrap_err()
                .kind,
            ErrorKind::NotFound
        );
        assert_eq!(
            tools::restore(&e, &ben, probe).unwrap_err().kind,
            ErrorKind::NotFound
        );
    }
    let search = serde_json::from_value(serde_json::json!({ "query": "green tea" })).unwrap();
    assert!(tools::search(&e, &ben, search).unwrap().hits.is_empty());
    let listed = tools::list_memories(&e, &ben, Default::default()).unwrap();
    assert!(listed.memories.is_empty());
    let mine = tools::get_memory(&e, &anna, &id).unwrap();
    assert_eq!(mine.memory.content, "anna likes green tea");
    assert_eq!(mine.history.len(), 1, "nothing else touched it");
    assert!(tools::export(&e, &ben)
        .unwrap()
        .records
        .iter()
        .all(|r| !format!("{r:?}").contains("anna")));
}

#[test]
fn cursor_pages_cover_every_memory_once_even_with_equal_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let anna = Caller::user("anna");
    let mut added: Vec<String> = (0..23)
        .map(|i| add(&e, &anna, &format!("fact {i}")))
        .collect();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let req =
            serde_json::from_value(serde_json::json!({ "limit": 5, "cursor": cursor })).unwrap();
        let page = tools::list_memories(&e, &anna, req).unwrap();
        assert!(page.memories.len() <= 5);
        seen.extend(page.memories.into_iter().map(|m| m.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    added.sort();
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, added, "every memory exactly once");
    let bad = serde_json::from_value(serde_json::json!({ "cursor": "nonsense" })).unwrap();
    let err = tools::list_memories(&e, &anna, bad).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
}

#[test]
fn forget_by_query_previews_then_forgets_only_with_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let anna = Caller::user("anna");
    add(&e, &anna, "my cat is called Tom");
    add(&e, &anna, "I live in Lisbon");
    let req = |confirm: Option<&str>| {
        serde_json::from_value(
            serde_json::json!({ "query": "cat Tom", "limit": 1, "confirm": confirm }),
        )
        .unwrap()
    };
    let preview = tools::forget_by_query(&e, &anna, req(None)).unwrap();
    assert!(!preview.forgotten);
    assert_eq!(preview.memories.len(), 1);
    assert_eq!(
        tools::list_memories(&e, &anna, Default::default())
            .unwrap()
            .memories
            .len(),
        2
    );
    let stale = tools::forget_by_query(&e, &anna, req(Some("0000"))).unwrap_err();
    assert_eq!(stale.kind, ErrorKind::Conflict);
    let token = preview.confirm_token.unwrap();
    let done = tools::forget_by_query(&e, &anna, req(Some(&token))).unwrap();
    assert!(done.forgotten);
    let left = tools::list_memories(&e, &anna, Default::default()).unwrap();
    assert_eq!(left.memories.len(), 1);
    assert_eq!(left.memories[0].content, "I live in Lisbon");
}

#[test]
fn messages_queue_jobs_and_sessions_stay_with_their_user() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let (anna, ben) = (Caller::user("anna"), Caller::user("ben"));
    let req = serde_json::from_value(serde_json::json!({
        "messages": [
            { "role": "user", "content": "I switched to dark mode" },
            { "role": "assistant", "content": "Noted." }
        ]
    }))
    .unwrap();
    let out = tools::add_turns(&e, &anna, req).unwrap();
    assert_eq!(out.turns.len(), 2);
    assert_eq!(out.turns[1].role, Role::Assistant);
    assert!(!out.job_ids.is_empty(), "extraction queued");
    let jobs = tools::jobs(&e, &anna, Default::default()).unwrap();
    assert!(jobs.jobs.iter().all(|j| j.user_id == "anna"));
    assert!(tools::jobs(&e, &ben, Default::default())
        .unwrap()
        .jobs
        .is_empty());
    assert_eq!(
        tools::get_job(&e, &ben, &out.job_ids[0]).unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        tools::get_session(&e, &ben, &out.session_id)
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );
    // Session ids are per user: Ben naming Anna's session id writes to a session of his
    // own under that id; Anna's is untouched.
    let same_id = serde_json::from_value(serde_json::json!({
        "session_id": out.session_id,
        "messages": [{ "role": "user", "content": "hello" }]
    }))
    .unwrap();
    let bens = tools::add_turns(&e, &ben, same_id).unwrap();
    assert_eq!(bens.session_id, out.session_id);
    assert_eq!(bens.turns[0].seq, 1);
    let s = tools::get_session(&e, &anna, &out.session_id[..8]).unwrap();
    assert_eq!(
        s.turns.len(),
        2,
        "Ben's message did not land in Anna's session"
    );
    let s = tools::get_session(&e, &ben, &out.session_id).unwrap();
    assert_eq!(s.turns.len(), 1);
}

#[test]
fn an_import_holds_only_the_callers_records() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let anna = Caller::user("anna");
    add(&e, &anna, "anna's secret");
    let records = tools::export(&e, &anna).unwrap().records;
    let other = tempfile::tempdir().unwrap();
    let e2 = engine(&other);
    let req = |records| tools::ImportRequest {
        records,
        replace: false,
    };
    let err = tools::import(&e2, &Caller::user("ben"), req(records.clone())).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("belongs to user `anna`"), "{err}");
    // The header is checked as the CLI's import checks a file's.
    let mut newer = records.clone();
    match &mut newer[0] {
        mnemo_core::Record::Header(h) => h.version = mnemo_core::EXPORT_VERSION + 1,
        other => panic!("an export starts with its header, not {other:?}"),
    }
    let err = tools::import(&e2, &anna, req(newer)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("newer than this mnemo reads"), "{err}");
    let mut twice = records.clone();
    twice.insert(1, records[0].clone());
    assert!(tools::import(&e2, &anna, req(twice))
        .unwrap_err()
        .message
        .contains("a second header"));
    let ok = tools::import(&e2, &anna, req(records)).unwrap();
    assert_eq!(ok.report.inserted, 2, "the memory and its history event");
}

#[test]
fn searches_stay_right_when_a_small_index_budget_evicts_users() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FixedClock(time::parse("2026-05-01T12:00:00Z").unwrap()));
    let store = SqliteStore::open(&dir.path().join("m.db"))
        .unwrap()
        .with_clock(clock.clone());
    // 1 MiB for every user's index together: each of these users' indexes is ~1 MiB, so
    // every search of another user evicts the last one and the next search rebuilds it.
    let settings = EngineSettings {
        index_cache_mb: 1,
        ..Default::default()
    };
    let e = Engine::new(Arc::new(store), settings, clock);
    let users = ["u1", "u2", "u3"];
    let filler = "lorem ipsum ".repeat(1500);
    for u in users {
        let c = Caller::user(u);
        for i in 0..40 {
            add(&e, &c, &format!("{u} item{i} {filler}"));
        }
        add(&e, &c, &format!("the secret word of {u} is zebra{u}"));
    }
    for round in 0..3 {
        for u in users {
            let req = serde_json::from_value(serde_json::json!({ "query": format!("zebra{u}") }))
                .unwrap();
            let hits = tools::search(&e, &Caller::user(u), req).unwrap().hits;
            assert_eq!(hits.len(), 1, "round {round}, {u}");
            assert!(hits[0].memory.content.contains(&format!("zebra{u}")));
            assert_eq!(hits[0].memory.user_id, u);
        }
    }
}

#[test]
fn batched_accesses_reach_the_store_on_flush_and_when_the_engine_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir).with_batched_touches();
    let anna = Caller::user("anna");
    let id = add(&e, &anna, "the spare key is under the blue pot");
    let search = || {
        let req = serde_json::from_value(serde_json::json!({ "query": "spare key" })).unwrap();
        assert_eq!(tools::search(&e, &anna, req).unwrap().hits.len(), 1);
    };
    let stored = |e: &Engine| {
        e.store()
            .get_memory(Some("anna"), &id)
            .unwrap()
            .access_count
    };
    search();
    assert_eq!(stored(&e), 0, "not written yet");
    assert_eq!(e.flush_touches().unwrap(), 1);
    assert_eq!(stored(&e), 1);
    search();
    search();
    drop(e);
    let reopened = engine(&dir);
    assert_eq!(stored(&reopened), 3, "the last handle flushed on drop");
}

/// The one exchange every chat face uses: the user's turn before the model, a retry not
/// recorded twice, the reply with one shape of metadata, usage under the face's task,
/// memory tags only when the face asked for them, empty replies not recorded.
#[test]
fn an_exchange_records_the_message_first_then_the_reply_and_its_usage() {
    use tools::{ExchangeRequest, Face, ModelReply};
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let anna = Caller::user("anna");
    let req = |face, session: Option<&str>, text: &str| {
        ExchangeRequest::new(face, session.map(str::to_owned), text)
    };
    let begun = tools::begin_exchange(&e, &anna, req(Face::Proxy, Some("s1"), "hello")).unwrap();
    assert!(begun.recorded);
    assert_eq!(begun.user_turn.seq, 1);
    assert!(begun.prompt.system.starts_with(tools::SYSTEM_PROMPT));
    // The reply never came; the client retries the same message: not recorded twice.
    let again = tools::begin_exchange(&e, &anna, req(Face::Proxy, Some("s1"), "hello")).unwrap();
    assert!(!again.recorded);
    assert_eq!(again.user_turn.id, begun.user_turn.id);

    let reply = ModelReply {
        content: "Hi! [MEMORY: fact|Anna says hello]".into(),
        model: Some("m-1".into()),
        provider: "openai".into(),
        usage: Some((12, 4)),
        ..ModelReply::default()
    };
    let done = tools::finish_exchange(&e, &again, &reply).unwrap();
    let turn = done.turn.expect("the reply is recorded");
    assert_eq!(turn.seq, 2);
    assert_eq!(
        turn.meta,
        serde_json::json!({"via": "proxy", "model": "m-1", "cancelled": false,
            "truncated": false, "partial": false, "error": null, "memory_tags": 0})
    );
    assert!(done.remembered.is_empty(), "the proxy asked for no tags");
    assert!(
        turn.content.contains("[MEMORY:"),
        "kept as the model wrote it"
    );

    // A face that asks for tags gets them stored, and its reply shown without them.
    let mut tagged = req(Face::Terminal, Some("s1"), "remember this");
    tagged.memory_tags = true;
    let begun = tools::begin_exchange(&e, &anna, tagged).unwrap();
    assert!(begun.prompt.system.contains("[MEMORY: kind|the fact]"));
    let done = tools::finish_exchange(&e, &begun, &reply).unwrap();
    assert_eq!(done.reply, "Hi!");
    assert_eq!(done.remembered[0].content, "Anna says hello");

    // An empty reply is not recorded; a broken one is, as far as it came, marked partial.
    let begun = tools::begin_exchange(&e, &anna, req(Face::WebUi, None, "and?")).unwrap();
    let empty = ModelReply {
        provider: "ollama".into(),
        ..ModelReply::default()
    };
    assert!(tools::finish_exchange(&e, &begun, &empty)
        .unwrap()
        .turn
        .is_none());
    let broken = ModelReply {
        content: "Half a".into(),
        provider: "ollama".into(),
        error: Some("the stream broke".into()),
        ..ModelReply::default()
    };
    let turn = tools::finish_exchange(&e, &begun, &broken)
        .unwrap()
        .turn
        .unwrap();
    assert_eq!(turn.meta["via"], "web-ui");
    assert_eq!(turn.meta["partial"], true);

    // Usage by task: the proxy's call as reported, the terminal's too; failures and empty
    // replies without figures are not counted.
    let usage = tools::usage(
        &e,
        &anna,
        tools::UsageRequest {
            since: None,
            group: Some(tools::UsageGroupName::Task),
        },
    )
    .unwrap();
    let row = |task: &str| usage.rows.iter().find(|r| r.key == task).cloned();
    let proxy = row("proxy").unwrap();
    assert_eq!(
        (proxy.calls, proxy.input_tokens, proxy.output_tokens),
        (1, 12, 4)
    );
    assert_eq!(proxy.model, "openai/m-1");
    assert_eq!(row("chat").unwrap().calls, 1);
    let web = row("web-ui").unwrap();
    assert_eq!(
        web.calls, 1,
        "the empty reply counted by the tokenizer, the failure not"
    );
}

/// `[privacy] secrets`: masked by default (kind and position in the turn's meta); kept
/// as written on request, and then still masked in the context; refused on request.
/// Memories are masked whatever the policy.
#[test]
fn secrets_in_turns_follow_the_policy_and_never_reach_memories_or_the_context() {
    use mnemo_engine::secrets::SecretsPolicy;
    let with = |policy: SecretsPolicy| {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock(time::parse("2026-05-01T12:00:00Z").unwrap()));
        let store = SqliteStore::open(&dir.path().join("m.db"))
            .unwrap()
            .with_clock(clock.clone());
        let settings = EngineSettings {
            secrets: policy,
            ..Default::default()
        };
        (dir, Engine::new(Arc::new(store), settings, clock))
    };
    let anna = Caller::user("anna");
    let say = |e: &Engine| {
        let req = serde_json::from_value(serde_json::json!({
            "session_id": "s",
            "turns": [{ "role": "user", "content": "my password is hunter2xy, keep it" }]
        }))
        .unwrap();
        tools::add_turns(e, &anna, req)
    };
    let (_d, masked) = with(SecretsPolicy::Mask);
    let turn = say(&masked).unwrap().turns.remove(0);
    assert_eq!(turn.content, "my password is [secret: password], keep it");
    assert_eq!(
        turn.meta,
        serde_json::json!({"secrets": [{"kind": "password", "at": 15, "len": 9}]})
    );
    // A retry of the same call is recognised although the stored text differs.
    let retry = serde_json::from_value(serde_json::json!({
        "session_id": "s", "idempotency_key": "k1",
        "turns": [{ "role": "user", "content": "token ghp_16C7e42F292c6912E7710c838347Ae178B4a" }]
    }))
    .unwrap();
    tools::add_turns(&masked, &anna, retry).unwrap();
    let again = serde_json::from_value(serde_json::json!({
        "session_id": "s", "idempotency_key": "k1",
        "turns": [{ "role": "user", "content": "token ghp_16C7e42F292c6912E7710c838347Ae178B4a" }]
    }))
    .unwrap();
    assert!(tools::add_turns(&masked, &anna, again).unwrap().replayed);

    let (_d, kept) = with(SecretsPolicy::Keep);
    let turn = say(&kept).unwrap().turns.remove(0);
    assert!(turn.content.contains("hunter2xy"), "kept as written");
    let ctx = serde_json::from_value(serde_json::json!({
        "message": "what is my password?", "session_id": "s"
    }))
    .unwrap();
    let ctx = serde_json::to_string(&tools::context(&kept, &anna, ctx).unwrap()).unwrap();
    assert!(
        !ctx.contains("hunter2xy") && ctx.contains("[secret: password]"),
        "{ctx}"
    );
    let m = add(&kept, &anna, "Anna's password is hunter2xy");
    let m = tools::get_memory(&kept, &anna, &m).unwrap();
    assert_eq!(m.memory.content, "Anna's password is [secret: password]");

    let (_d, strict) = with(SecretsPolicy::Reject);
    let err = say(&strict).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("password at character 15"), "{err}");
}
