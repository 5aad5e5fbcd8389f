//! Wire tests: each provider client against a local fake server that speaks that
//! provider's exact format (JSON, NDJSON or SSE), including errors, retries, timeouts and
//! cancellation. Linked as one test binary to keep the build small.

mod anthropic;
mod ollama;
mod openai;

pub(crate) use mnemo_llm::testkit::server;

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use mnemo_llm::{
    ApiKey, ChatRequest, ChatResponse, LlmConfig, LlmError, LlmProvider, Message, ProviderKind,
    Sleeper,
};

/// Records requested sleeps instead of sleeping; the clock is fixed.
#[derive(Default)]
pub struct FakeSleeper {
    slept: Mutex<Vec<Duration>>,
}

/// The fixed "now" of [`FakeSleeper`]: 2015-10-21T07:28:00Z.
pub fn fixed_now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480)
}

impl Sleeper for FakeSleeper {
    fn sleep(&self, d: Duration) {
        self.slept.lock().expect("lock").push(d);
    }

    fn now(&self) -> SystemTime {
        fixed_now()
    }
}

impl FakeSleeper {
    pub fn slept(&self) -> Vec<Duration> {
        self.slept.lock().expect("lock").clone()
    }
}

/// A config for `kind` at `base_url` with short timeouts and a test key.
pub fn config(kind: ProviderKind, base_url: &str) -> LlmConfig {
    LlmConfig {
        provider: kind,
        base_url: Some(base_url.to_string()),
        api_key: Some(ApiKey::new("sk-test-key")),
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        max_retries: 2,
        // A compatible server with no model configured is asked for its models first;
        // the wire tests name one (discovery has its own tests).
        model: (kind == ProviderKind::OpenAi).then(|| "gpt-4o-mini".to_string()),
        ..LlmConfig::default()
    }
}

/// Builds the provider through the public config path, with a fake sleeper.
pub fn build(cfg: &LlmConfig) -> (Box<dyn LlmProvider>, Arc<FakeSleeper>) {
    let sleeper = Arc::new(FakeSleeper::default());
    let provider = cfg.build_with(sleeper.clone()).expect("provider builds");
    (provider, sleeper)
}

pub fn hello() -> ChatRequest {
    ChatRequest::new(vec![Message::system("Be brief."), Message::user("Hello?")])
}

/// Streams, collecting each token; breaks after `stop_after` tokens when given.
pub fn stream(
    provider: &dyn LlmProvider,
    req: &ChatRequest,
    stop_after: Option<usize>,
) -> (Result<ChatResponse, LlmError>, Vec<String>) {
    let mut tokens = Vec::new();
    let result = provider.chat_stream(req, &mut |t| {
        tokens.push(t.to_string());
        match stop_after {
            Some(n) if tokens.len() >= n => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        }
    });
    (result, tokens)
}

/// A JSON schema for the structured-output tests.
pub fn memory_schema() -> serde_json::Value {
    serde_json::json!({
        "title": "memories",
        "type": "object",
        "properties": {"facts": {"type": "array", "items": {"type": "string"}}},
        "required": ["facts"],
        "additionalProperties": false
    })
}
