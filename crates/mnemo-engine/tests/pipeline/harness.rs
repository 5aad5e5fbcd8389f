//! The harness: an engine on a real SQLite file with a clock the test moves, talking
//! through the real Ollama client to a local fake Ollama server whose "model" is a small
//! rule book: for each pipeline step (recognised by its system prompt) the first rule whose
//! needle appears in the request answers. Failures can be queued per step to simulate
//! malformed JSON, rate limits and timeouts.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Duration as Span;
use mnemo_core::{time, Clock, Memory, MemoryFilter, Scope, TimeView, Timestamp};
use mnemo_engine::{Engine, EngineSettings, Exchange, PipelineLlm, PipelineSettings};
use mnemo_llm::testkit::server::{FakeServer, Recorded, Reply};
use mnemo_llm::testkit::NoSleep;
use mnemo_llm::{LlmConfig, ProviderKind};
use mnemo_store_sqlite::SqliteStore;
use serde_json::{json, Value};

pub struct TestClock(Mutex<Timestamp>);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    pub fn advance(&self, d: Span) {
        *self.0.lock().unwrap() += d;
    }
}

/// Which step a request is for, from its system prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    Extract,
    Reconcile,
    Topic,
    Summarize,
    Other,
}

pub fn step_of(body: &Value) -> Step {
    // Anthropic takes the system prompt as a top-level field.
    let system = body["system"]
        .as_str()
        .or_else(|| body["messages"][0]["content"].as_str())
        .unwrap_or("");
    if system.starts_with("You are the memory manager") {
        Step::Extract
    } else if system.starts_with("You maintain the long-term memory") {
        Step::Reconcile
    } else if system.starts_with("You consolidate") {
        Step::Topic
    } else if system.starts_with("Summarize this part") {
        Step::Summarize
    } else {
        Step::Other
    }
}

/// The last user message of a request.
pub fn user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_owned()
}

/// A non-streamed Ollama reply.
pub fn ollama(content: &str) -> Reply {
    Reply::json(
        200,
        &json!({
            "model": "qwen-test",
            "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": content},
            "done": true,
            "done_reason": "stop",
            "prompt_eval_count": 40,
            "eval_count": 8
        }),
    )
}

#[derive(Default)]
struct Book {
    rules: Vec<(Step, String, String)>,
    failures: Vec<(Step, VecDeque<Reply>)>,
}

/// The fake model.
#[derive(Clone, Default)]
pub struct Model {
    book: Arc<Mutex<Book>>,
}

impl Model {
    /// For `step`, when `needle` is in the request, answer `reply`.
    pub fn on(&self, step: Step, needle: &str, reply: &str) -> &Self {
        self.book
            .lock()
            .unwrap()
            .rules
            .push((step, needle.into(), reply.into()));
        self
    }

    /// The next request for `step` gets `reply` (before any rule).
    pub fn fail_next(&self, step: Step, reply: Reply) {
        let mut book = self.book.lock().unwrap();
        match book.failures.iter_mut().find(|(s, _)| *s == step) {
            Some((_, q)) => q.push_back(reply),
            None => book.failures.push((step, VecDeque::from([reply]))),
        }
    }

    fn answer(&self, req: &Recorded, kind: ProviderKind) -> Reply {
        let step = step_of(&req.body);
        let mut book = self.book.lock().unwrap();
        if let Some((_, q)) = book.failures.iter_mut().find(|(s, _)| *s == step) {
            if let Some(r) = q.pop_front() {
                return r;
            }
        }
        let text = user_text(&req.body);
        let hit = book
            .rules
            .iter()
            .find(|(s, needle, _)| *s == step && text.contains(needle.as_str()));
        let content = match (hit, step) {
            (Some((_, _, reply)), _) => reply.clone(),
            (None, Step::Extract) => r#"{"memories": []}"#.to_owned(),
            (None, Step::Reconcile) => {
                r#"{"event": "ADD", "id": null, "text": "", "reason": "new"}"#.to_owned()
            }
            (None, Step::Topic) => format!("Topic summary. {}", first_line(&text)),
            (None, Step::Summarize) => "The user talked about their life.".to_owned(),
            (None, Step::Other) => {
                return Reply::json(400, &json!({"error": "unexpected request"}))
            }
        };
        match kind {
            ProviderKind::Ollama => ollama(&content),
            ProviderKind::OpenAi => openai(&content),
            ProviderKind::Anthropic => anthropic(&content, req.body["tools"].is_array()),
        }
    }
}

/// An OpenAI chat completion.
pub fn openai(content: &str) -> Reply {
    Reply::json(
        200,
        &json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "gpt-test",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": null},
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 40, "completion_tokens": 8, "total_tokens": 48}
        }),
    )
}

/// An Anthropic message: structured output comes back as the forced tool call.
pub fn anthropic(content: &str, structured: bool) -> Reply {
    let (block, stop) = if structured {
        let input: Value = serde_json::from_str(content).unwrap_or(json!({}));
        let block = json!({"type": "tool_use", "id": "toolu_1", "name": "respond", "input": input});
        (block, "tool_use")
    } else {
        (json!({"type": "text", "text": content}), "end_turn")
    };
    Reply::json(
        200,
        &json!({
            "id": "msg_1", "type": "message", "role": "assistant",
            "model": "claude-test",
            "content": [block],
            "stop_reason": stop, "stop_sequence": null,
            "usage": {"input_tokens": 40, "output_tokens": 8}
        }),
    )
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").to_owned()
}

pub struct Harness {
    pub _dir: tempfile::TempDir,
    pub engine: Engine,
    pub clock: Arc<TestClock>,
    pub server: FakeServer,
    pub model: Model,
    pub scope: Scope,
}

/// Settings with fast, deterministic retries.
pub fn settings() -> PipelineSettings {
    PipelineSettings {
        retry_base_secs: 10,
        lease_secs: 60,
        max_attempts: 5,
        ..PipelineSettings::default()
    }
}

/// A config for `url`: short timeout, no client-side retries (the queue retries).
pub fn config(kind: ProviderKind, url: &str) -> LlmConfig {
    LlmConfig {
        provider: kind,
        base_url: Some(url.into()),
        api_key: Some(mnemo_llm::ApiKey::new("sk-test")),
        timeout: Duration::from_millis(400),
        connect_timeout: Duration::from_millis(400),
        max_retries: 0,
        ..LlmConfig::default()
    }
}

pub fn llm_for(url: &str) -> PipelineLlm {
    llm_of(ProviderKind::Ollama, url)
}

pub fn llm_of(kind: ProviderKind, url: &str) -> PipelineLlm {
    let provider = config(kind, url)
        .build_with(Arc::new(NoSleep::default()))
        .expect("provider");
    PipelineLlm {
        provider: Arc::from(provider),
        extract_model: Some("qwen-test".into()),
        summarize_model: Some("qwen-small".into()),
    }
}

/// An engine with no model configured.
pub fn bare(settings: PipelineSettings) -> (tempfile::TempDir, Engine, Arc<TestClock>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(TestClock(Mutex::new(
        time::parse("2026-03-01T09:00:00Z").unwrap(),
    )));
    let store = SqliteStore::open(&dir.path().join("m.db"))
        .unwrap()
        .with_clock(clock.clone());
    let engine = Engine::new(Arc::new(store), EngineSettings::default(), clock.clone())
        .with_pipeline_settings(settings);
    (dir, engine, clock)
}

impl Harness {
    pub fn new() -> Self {
        Self::with_settings(settings())
    }

    pub fn with_settings(s: PipelineSettings) -> Self {
        Self::speaking(ProviderKind::Ollama, s)
    }

    /// A harness whose fake server speaks `kind`'s wire format.
    pub fn speaking(kind: ProviderKind, s: PipelineSettings) -> Self {
        let model = Model::default();
        let answering = model.clone();
        let server = FakeServer::respond_with(move |req| answering.answer(req, kind));
        let (dir, engine, clock) = bare(s);
        let engine = engine.with_llm(llm_of(kind, &server.url));
        Harness {
            _dir: dir,
            engine,
            clock,
            server,
            model,
            scope: Scope::user("alex"),
        }
    }

    /// Records an exchange in session `s1`.
    pub fn say(&self, user: &str, assistant: &str) -> mnemo_engine::RecordedExchange {
        self.clock.advance(Span::minutes(1));
        self.engine
            .record_exchange(Exchange::from_reply(
                self.scope.clone(),
                "s1",
                user,
                assistant,
            ))
            .unwrap()
    }

    /// Runs every due job; asserts the model was never reported down.
    pub fn drain(&self) -> mnemo_engine::pipeline::DrainReport {
        let report = self.engine.run_jobs("test", None).unwrap();
        assert_eq!(report.model_down, None, "{report:#?}");
        report
    }

    /// Current memories of the user, oldest first.
    pub fn current(&self) -> Vec<Memory> {
        let mut f = MemoryFilter::scope(self.scope.clone());
        f.view = TimeView::Current;
        let mut all = self.engine.list(&f).unwrap();
        all.reverse();
        all
    }

    pub fn contents(&self) -> Vec<String> {
        self.current().into_iter().map(|m| m.content).collect()
    }

    /// Requests the fake model received for a step.
    pub fn requests(&self, step: Step) -> Vec<Recorded> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| step_of(&r.body) == step)
            .collect()
    }
}

/// An extraction reply with these (kind, topic, content) cells.
pub fn cells(items: &[(&str, &str, &str)]) -> String {
    let memories: Vec<Value> = items
        .iter()
        .map(|(k, t, c)| json!({"kind": k, "topic": t, "salience": 0.8, "content": c}))
        .collect();
    json!({ "memories": memories }).to_string()
}
