//! The web UI in a real browser: Debian's chromium driven through chromedriver against the
//! real `mnemo serve` binary, with a fake model server speaking Ollama's wire format.
//! Needs `scripts/setup-browser.sh`; fails loudly (never skips) when the browser is missing.
//!
//! Screenshots of every page at desktop and phone width are written to
//! `$MNEMO_SCREENSHOTS` (default: `target/tmp/ui-screenshots`).

#[path = "../common/mod.rs"]
mod common;
mod webdriver;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::fake_llm::{last_user_message, pipeline_reply, FakeOllama, Reply};
use common::server::{create_key, Server};
use common::Mnemo;
use serde_json::Value;
use webdriver::Browser;

const PAGES: [&str; 6] = [
    "memories",
    "conversations",
    "topics",
    "chat",
    "pipeline",
    "keys",
];
const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

fn shots_dir() -> PathBuf {
    let dir = std::env::var_os("MNEMO_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Console messages at error level (network failures included).
fn console_errors(b: &Browser) -> Vec<Value> {
    b.console()
        .into_iter()
        .filter(|m| m["level"] == "SEVERE")
        .collect()
}

fn sign_in(b: &Browser, url: &str, key: &str) {
    // Leave the page (a new hash alone would not reload it), signed out.
    b.goto(&format!("{url}/#memories"));
    b.exec("sessionStorage.clear();", serde_json::json!([]));
    b.goto("about:blank");
    b.goto(&format!("{url}/#memories"));
    // By keyboard: Enter in the key field signs in.
    b.fill("#signin-key", &format!("{key}\u{E007}"));
    b.wait_text("#who-text", "Signed in as", 10);
}

/// A model whose pipeline replies can be made to fail, and whose chat reply is fixed.
fn fake_model(fail: Arc<AtomicBool>) -> FakeOllama {
    FakeOllama::start_replies(Duration::from_millis(20), move |req| {
        if req["stream"] == true {
            if last_user_message(req).contains("story") {
                return Reply::Broken("Once upon a time".into());
            }
            return Reply::Text("You like dark teal, and green tea in the morning.".into());
        }
        if fail.load(Ordering::SeqCst) {
            return Reply::Status(400, "the fake model refuses this request".into());
        }
        let text = req["messages"].to_string();
        let structured = req.get("format").is_some_and(|f| !f.is_null());
        if structured && text.contains("green tea") && !text.contains("NOOP") {
            return Reply::Text(
                r#"{"memories": [{"kind": "preference", "topic": "drinks", "salience": 0.6,
                    "content": "Drinks green tea every morning"}]}"#
                    .into(),
            );
        }
        Reply::Text(pipeline_reply(req, "They talked about colours and tea.").unwrap_or_default())
    })
}

#[test]
fn web_ui_in_a_real_browser() {
    let m = Mnemo::new();
    let config = m.dir.path().join("config.toml");
    // One attempt per job, so a refused extraction fails at once (the retry is the button).
    // A price for the fake model, so the Pipeline page shows costs.
    std::fs::write(
        &config,
        "[pipeline]\nmax_attempts = 1\n[pricing]\n\"qwen-fake\" = [1000.0, 2000.0]\n",
    )
    .unwrap();
    let alice = create_key(&m, "alice", &[]);
    let bob = create_key(&m, "bob", &[]);
    let admin = create_key(&m, "root", &["--admin"]);
    let fail = Arc::new(AtomicBool::new(false));
    let fake = fake_model(fail.clone());
    let s = Server::start_with(
        &m,
        &[],
        &[
            ("MNEMO_CONFIG", config.to_str().unwrap()),
            ("MNEMO_LLM_PROVIDER", "ollama"),
            ("OLLAMA_HOST", fake.url.as_str()),
            ("MNEMO_MODEL", "qwen-fake"),
        ],
    );
    let shots = shots_dir();
    let b = Browser::start(DESKTOP.0, DESKTOP.1);

    // Signed out, the page asks for a key.
    b.goto(&format!("{}/", s.url));
    b.wait_text("#page-signin", "API key", 10);
    b.screenshot(&shots.join("signin-desktop.png"));

    // A user key: add a memory in the UI; the CLI on the same database sees it.
    sign_in(&b, &s.url, &alice);
    b.click("#mem-add summary");
    b.fill("#add-content", "My favourite colour is teal");
    b.fill("#add-key", "favourite_colour");
    b.click("#mem-add-form button[type=submit]");
    b.wait_text("#mem-list", "My favourite colour is teal", 10);
    let listed = String::from_utf8(
        m.cmd(&["list"])
            .env("MNEMO_USER", "alice")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(listed.contains("My favourite colour is teal"), "{listed}");

    // Edit it; the history timeline shows the old and new text, who and why.
    b.wait_text("#mem-detail", "History", 10);
    b.fill("#edit-content", "My favourite colour is dark teal");
    b.fill("#edit-reason", "it is the darker one");
    b.click("#edit-form button[type=submit]");
    let history = b.wait_text("#history", "update", 10);
    assert!(
        history.contains("My favourite colour is dark teal"),
        "{history}"
    );
    assert!(history.contains("My favourite colour is teal"), "{history}");
    assert!(history.contains("it is the darker one"), "{history}");
    assert!(history.contains("by user"), "{history}");

    // Search as you type, with the score parts.
    b.fill("#mem-q", "colour");
    b.wait_text("#mem-count", "found for", 10);
    let found = b.wait_text("#mem-list", "relevance", 10);
    assert!(found.contains("dark teal"), "{found}");

    // Pin it and change its salience.
    b.click("#pin-btn");
    b.wait_text("#mem-detail", "pinned", 10);
    b.fill("#edit-salience", "0.9");
    b.click("#salience-form button[type=submit]");
    b.wait_text("#mem-detail", "salience 0.90", 10);

    // Forget: search no longer returns it (nor does the CLI's recall); the "all versions"
    // view still lists it; restore brings it back.
    let recall = |m: &Mnemo| {
        let out = m
            .cmd(&["recall", "favourite colour"])
            .env("MNEMO_USER", "alice")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(recall(&m).contains("dark teal"));
    b.click("#forget-btn");
    b.wait_text("#mem-detail", "forgotten", 10);
    b.fill("#mem-q", "favourite colour");
    b.wait_text("#mem-count", "0 found", 10);
    assert!(!recall(&m).contains("dark teal"));
    b.fill("#mem-q", "");
    b.exec(
        "const v = document.getElementById('mem-view'); v.value = 'all'; \
         v.dispatchEvent(new Event('change'));",
        serde_json::json!([]),
    );
    b.wait_text("#mem-list", "forgotten", 10);
    // As of yesterday nothing was known yet.
    b.exec(
        "const v = document.getElementById('mem-view'); v.value = 'as_of'; \
         v.dispatchEvent(new Event('change')); \
         const d = document.getElementById('mem-asof'); \
         d.value = new Date(Date.now() - 86400000).toISOString().slice(0, 10); \
         d.dispatchEvent(new Event('change'));",
        serde_json::json!([]),
    );
    b.wait_text("#mem-count", "0 memories", 10);
    b.exec(
        "const v = document.getElementById('mem-view'); v.value = 'current'; \
         v.dispatchEvent(new Event('change'));",
        serde_json::json!([]),
    );
    b.click("#restore-btn");
    b.wait_text("#mem-detail", "restore", 10);
    b.fill("#mem-q", "favourite colour");
    b.wait_text("#mem-list", "dark teal", 10);
    b.fill("#mem-q", "");

    // Chat streams a reply from the fake model; the context panel shows the injected memory.
    fail.store(true, Ordering::SeqCst);
    b.goto(&format!("{}/#chat", s.url));
    b.wait_text("#chat-model", "qwen-fake", 10);
    b.fill(
        "#chat-input",
        // Enter sends (Shift+Enter would make a new line).
        "I drink green tea every morning. Which colour do I like?\u{E007}",
    );
    b.wait_text(
        "#chat-log",
        "You like dark teal, and green tea in the morning.",
        20,
    );
    b.wait_text("#chat-context", "My favourite colour is dark teal", 10);
    let sent = fake.chat_requests();
    let last = sent.last().expect("a chat request");
    assert!(last["messages"][0]["content"]
        .as_str()
        .unwrap()
        .contains("dark teal"));
    assert!(last_user_message(last).contains("green tea"));

    // The extraction of that exchange fails (the model refuses): the Pipeline page shows the
    // error; Retry queues it again and it completes; the chat shows what was learned.
    b.goto(&format!("{}/#pipeline", s.url));
    let mut failed = false;
    for _ in 0..100 {
        b.click("#job-refresh");
        std::thread::sleep(Duration::from_millis(200));
        let t = b.text("#jobs");
        if t.contains("failed") && t.contains("refuses") {
            failed = true;
            break;
        }
    }
    assert!(failed, "no failed job with its error: {}", b.text("#jobs"));
    b.screenshot(&shots.join("pipeline-failed-desktop.png"));
    fail.store(false, Ordering::SeqCst);
    b.click("#jobs button.retry");
    let mut retried = false;
    for _ in 0..150 {
        std::thread::sleep(Duration::from_millis(200));
        b.click("#job-refresh");
        let n = b.exec(
            "return document.querySelectorAll('#jobs tr[data-status=failed]').length",
            serde_json::json!([]),
        );
        if n == 0 && b.text("#job-counts").contains("failed 0") {
            retried = true;
            break;
        }
    }
    assert!(
        retried,
        "the retried job did not complete: {}",
        b.text("#jobs")
    );
    // Token use: the chat reply (task `web-ui`, the face it came through) and the
    // pipeline's calls, by task and model, with a cost; the chart from one request by day.
    let by_task = b.wait_text("#usage-task", "web-ui", 10);
    assert!(by_task.contains("extract"), "{by_task}");
    let by_model = b.wait_text("#usage-model", "ollama/qwen-fake", 10);
    assert!(by_model.contains('$'), "a cost: {by_model}");
    b.wait_text("#usage-chart", "Cost: $", 10);
    // The memories made from the exchange: the chat page's panel, and the Memories page
    // filtered by the session.
    b.goto(&format!("{}/#chat", s.url));
    b.wait_text("#chat-learned", "Drinks green tea every morning", 20);
    let sessions = s.call("GET", "/v1/sessions", Some(&alice), None).1;
    let sid = sessions["sessions"][0]["id"].as_str().unwrap().to_owned();
    b.goto(&format!("{}/#memories", s.url));
    b.fill("#mem-session", &sid);
    b.wait_text("#mem-list", "Drinks green tea every morning", 20);
    b.fill("#mem-session", "");

    // Conversations: the session with its turns; turn search finds the message.
    b.goto(&format!("{}/#conversations/{sid}", s.url));
    b.wait_text("#session", "Which colour do I like?", 10);
    b.fill("#turn-q", "green tea");
    b.click("#turn-search button[type=submit]");
    b.wait_text("#turn-hits", "I drink green tea", 10);
    // A hit links to its turn in the session, which takes the focus.
    b.click("#turn-hits li:last-child a");
    b.wait_text("#session", "Which colour do I like?", 10);
    let mut focused = serde_json::Value::Null;
    for _ in 0..50 {
        focused = b.exec("return document.activeElement.id", serde_json::json!([]));
        if focused == "turn-1" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(focused, "turn-1", "the linked turn has the focus");

    // A stream that breaks: what came is shown and kept (marked partial), with the error.
    b.goto(&format!("{}/#chat", s.url));
    b.fill("#chat-input", "Tell me a story\u{E007}");
    b.wait_text("#chat-log", "Once upon a time", 20);
    b.wait_text("#error", "ollama", 10);
    let (_, session) = s.call("GET", &format!("/v1/sessions/{sid}"), Some(&alice), None);
    let last = session["turns"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["content"], "Once upon a time", "{last}");
    assert_eq!(last["meta"]["partial"], true, "{last}");
    let _ = b.console();

    // Topics with their summaries and member memories.
    b.goto(&format!("{}/#topics", s.url));
    b.wait_text("#topics", "Drinks green tea every morning", 10);

    // Every page, at desktop and phone width, with no console errors.
    let _ = b.console();
    for (label, (w, h)) in [("desktop", DESKTOP), ("phone", PHONE)] {
        b.resize(w, h);
        for page in PAGES {
            if page == "keys" {
                continue;
            }
            b.goto(&format!("{}/#{page}", s.url));
            b.wait_text(&format!("#page-{page}"), "", 10);
            std::thread::sleep(Duration::from_millis(400));
            b.screenshot(&shots.join(format!("{page}-{label}.png")));
            let errors = console_errors(&b);
            assert!(
                errors.is_empty(),
                "console errors on {page} ({label}): {errors:?}"
            );
            let overflow = b.exec(
                "return document.documentElement.scrollWidth > window.innerWidth + 1",
                serde_json::json!([]),
            );
            assert_eq!(
                overflow, false,
                "{page} overflows sideways at {label} width"
            );
        }
    }
    b.resize(DESKTOP.0, DESKTOP.1);

    // The dark theme follows prefers-color-scheme.
    b.color_scheme("dark");
    for page in ["memories", "chat"] {
        b.goto(&format!("{}/#{page}", s.url));
        std::thread::sleep(Duration::from_millis(400));
        let bg = b.exec(
            "return getComputedStyle(document.body).backgroundColor",
            serde_json::json!([]),
        );
        assert_eq!(bg, "rgb(20, 22, 26)", "dark background on {page}");
        b.screenshot(&shots.join(format!("{page}-dark-desktop.png")));
    }
    b.color_scheme("light");

    // A second user's key sees none of it.
    sign_in(&b, &s.url, &bob);
    b.wait_text("#mem-count", "0 memories", 10);
    b.fill("#mem-q", "teal");
    b.wait_text("#mem-count", "0 found", 10);
    b.goto(&format!("{}/#conversations", s.url));
    b.wait_text("#sessions", "No conversations yet", 10);
    b.goto(&format!("{}/#pipeline", s.url));
    b.wait_text("#jobs", "No jobs", 10);
    assert!(
        !b.exec(
            "return !document.getElementById('nav-keys').hidden",
            serde_json::json!([])
        )
        .as_bool()
        .unwrap(),
        "a user key has no Keys page"
    );

    // An admin key: create and revoke a key; act as alice and see her memory.
    sign_in(&b, &s.url, &admin);
    b.goto(&format!("{}/#keys", s.url));
    b.fill("#key-user", "carol");
    b.fill("#key-name", "from the ui");
    b.click("#key-form button[type=submit]");
    let made = b.wait_text("#key-new", "mnemo_", 10);
    let carol = made
        .split_whitespace()
        .find(|w| w.starts_with("mnemo_"))
        .unwrap()
        .to_owned();
    assert_eq!(s.call("GET", "/v1/memories", Some(&carol), None).0, 200);
    b.wait_text("#keys", "carol", 10);
    for (label, (w, h)) in [("desktop", DESKTOP), ("phone", PHONE)] {
        b.resize(w, h);
        std::thread::sleep(Duration::from_millis(300));
        b.screenshot(&shots.join(format!("keys-{label}.png")));
    }
    b.resize(DESKTOP.0, DESKTOP.1);
    let _ = b.console();
    // Newest first: the first Revoke button is carol's key.
    b.click("#keys button.danger");
    b.wait_text("#keys", "revoked", 10);
    let errors = console_errors(&b);
    assert!(errors.is_empty(), "console errors on keys: {errors:?}");
    b.fill("#act-as-user", "alice");
    b.click("#act-as button[type=submit]");
    b.wait_text("#who-text", "alice", 10);
    b.goto(&format!("{}/#memories", s.url));
    b.wait_text("#mem-list", "dark teal", 10);
    drop(b);
    drop(s);

    // Without a model (OpenAI chosen, no API key) everything but chat works, and the chat
    // page says why.
    let s2 = Server::start_with(&m, &[], &[("MNEMO_LLM_PROVIDER", "openai")]);
    let b = Browser::start(DESKTOP.0, DESKTOP.1);
    sign_in(&b, &s2.url, &alice);
    b.wait_text("#mem-list", "dark teal", 10);
    b.goto(&format!("{}/#chat", s2.url));
    b.wait_text("#chat-model", "No model is configured", 10);
    assert_eq!(
        b.exec(
            "return document.getElementById('chat-send').disabled",
            serde_json::json!([])
        ),
        true
    );
    b.screenshot(&shots.join("chat-no-model-desktop.png"));
    let errors = console_errors(&b);
    assert!(
        errors.is_empty(),
        "console errors without a model: {errors:?}"
    );
    drop(s2);

    // A model that cannot be reached: the chat says so plainly.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let s3 = Server::start_with(
        &m,
        &[],
        &[
            ("MNEMO_LLM_PROVIDER", "ollama"),
            ("OLLAMA_HOST", closed.as_str()),
        ],
    );
    sign_in(&b, &s3.url, &alice);
    b.goto(&format!("{}/#chat", s3.url));
    b.wait_text("#chat-model", "Model: ollama/", 10);
    b.fill("#chat-input", "Hello?");
    b.click("#chat-send");
    b.wait_text("#chat-log", "The model is unreachable", 60);
    b.wait_text("#error", "unreachable", 5);
    b.screenshot(&shots.join("chat-unreachable-desktop.png"));
}
