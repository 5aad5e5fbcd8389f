//! Which provider to use and how to reach it. Defaults live in `Default`; the CLI reads an
//! `[llm]` TOML table into [`LlmConfig`] (serde), then [`LlmConfig::from_env_over`] lets the
//! usual environment variables override it, and [`LlmConfig::build`] turns the result into
//! a provider. The API key is wrapped in [`ApiKey`] so no `Debug` print or log leaks it.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::anthropic::AnthropicProvider;
use crate::ollama::OllamaProvider;
use crate::openai::OpenAiProvider;
use crate::retry::{RetryPolicy, Sleeper, ThreadSleeper};
use crate::{LlmError, LlmProvider};

/// The provider families mnemo speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// A local Ollama server (`/api/chat`). The default: no key, no data leaves the machine.
    #[default]
    Ollama,
    /// OpenAI or any server with an OpenAI-compatible `/chat/completions` (llama.cpp,
    /// vLLM, LM Studio, OpenRouter, ...).
    #[serde(alias = "openai-compatible", alias = "openai_compatible")]
    OpenAi,
    /// Anthropic's Messages API.
    Anthropic,
}

impl ProviderKind {
    /// The name used in config, env and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Ollama => "ollama",
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderKind {
    type Err = LlmError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ollama" => Ok(ProviderKind::Ollama),
            "openai" | "openai-compatible" | "openai_compatible" => Ok(ProviderKind::OpenAi),
            "anthropic" => Ok(ProviderKind::Anthropic),
            other => Err(LlmError::Config(format!(
                "unknown LLM provider `{other}`; use ollama, openai or anthropic"
            ))),
        }
    }
}

/// How structured output ([`crate::ChatRequest::json_schema`]) is asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StructuredOutput {
    /// The provider's schema-constrained mode: Ollama `format: <schema>`, OpenAI
    /// `response_format: json_schema` (strict), Anthropic a forced tool call.
    #[default]
    JsonSchema,
    /// Plain JSON mode, for servers that reject schemas (old Ollama, some OpenAI-compatible
    /// servers): Ollama `format: "json"`, OpenAI `response_format: json_object`, Anthropic
    /// still a forced tool call. The schema goes into the system prompt.
    JsonObject,
    /// No provider feature at all; the schema only goes into the system prompt.
    None,
}

/// Which job a model is used for, so each can have its own model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    /// Talking with the user.
    Chat,
    /// Extracting memories from turns (structured output).
    Extract,
    /// Summarizing sessions and topics.
    Summarize,
}

/// Per-task model overrides; a `None` falls back to [`LlmConfig::model`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskModels {
    pub chat: Option<String>,
    pub extract: Option<String>,
    pub summarize: Option<String>,
}

/// An API key. Its `Debug` prints `"[redacted]"`; read it with [`ApiKey::expose`].
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// The key itself, for the request header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"[redacted]\"")
    }
}

/// Settings for the LLM layer; the `[llm]` table of `mnemo.toml`.
///
/// ```toml
/// [llm]
/// provider = "openai"              # ollama | openai | anthropic
/// model = "gpt-4o-mini"            # default: the provider's default model
/// base_url = "http://127.0.0.1:8080/v1"
/// timeout = 120                    # seconds without data from the server
/// max_retries = 3
/// structured_output = "json_object" # json_schema | json_object | none
/// [llm.models]
/// extract = "gpt-4o-mini"
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    pub provider: ProviderKind,
    /// Default model; `None` means the provider's own default.
    pub model: Option<String>,
    /// Per-task overrides of `model`.
    pub models: TaskModels,
    /// Server URL; `None` means the provider's default (or its env var).
    pub base_url: Option<String>,
    /// API key; usually from `OPENAI_API_KEY` / `ANTHROPIC_API_KEY` instead.
    pub api_key: Option<ApiKey>,
    /// Longest wait for the server: for the whole reply when not streaming, and between
    /// chunks when streaming. Seconds in TOML (fractions allowed).
    #[serde(deserialize_with = "seconds")]
    pub timeout: Duration,
    /// Longest wait to establish a connection. Seconds in TOML.
    #[serde(deserialize_with = "seconds")]
    pub connect_timeout: Duration,
    /// Retries after the first attempt for rate limits, 5xx, timeouts and resets.
    pub max_retries: u32,
    /// Token limit when a request sets none (Anthropic requires one).
    pub max_tokens: u32,
    /// How structured output is asked for.
    pub structured_output: StructuredOutput,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            provider: ProviderKind::default(),
            model: None,
            models: TaskModels::default(),
            base_url: None,
            api_key: None,
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            max_retries: RetryPolicy::default().max_retries,
            max_tokens: 1024,
            structured_output: StructuredOutput::default(),
        }
    }
}

fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(d)?;
    Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
}

impl LlmConfig {
    /// Applies environment overrides, read through `lookup` (pass
    /// `|k| std::env::var(k).ok()`, or a map in tests). Empty values are ignored.
    ///
    /// `MNEMO_LLM_PROVIDER` picks the provider; when it differs from the configured one,
    /// `base_url`, `api_key`, `model` and `models` are dropped because they belonged to the
    /// other provider. Then `MNEMO_MODEL`, and the selected provider's own variables:
    /// `OLLAMA_HOST`; `OPENAI_BASE_URL`, `OPENAI_API_KEY`; `ANTHROPIC_BASE_URL`,
    /// `ANTHROPIC_API_KEY`.
    pub fn from_env_over(
        mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, LlmError> {
        let get = |key: &str| {
            lookup(key)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if let Some(name) = get("MNEMO_LLM_PROVIDER") {
            let kind: ProviderKind = name.parse()?;
            if kind != self.provider {
                self.provider = kind;
                self.base_url = None;
                self.api_key = None;
                self.model = None;
                self.models = TaskModels::default();
            }
        }
        if let Some(model) = get("MNEMO_MODEL") {
            self.model = Some(model);
        }
        let (url_var, key_var) = match self.provider {
            ProviderKind::Ollama => ("OLLAMA_HOST", None),
            ProviderKind::OpenAi => ("OPENAI_BASE_URL", Some("OPENAI_API_KEY")),
            ProviderKind::Anthropic => ("ANTHROPIC_BASE_URL", Some("ANTHROPIC_API_KEY")),
        };
        if let Some(url) = get(url_var) {
            self.base_url = Some(url);
        }
        if let Some(key) = key_var.and_then(get) {
            self.api_key = Some(ApiKey(key));
        }
        Ok(self)
    }

    /// [`from_env_over`](Self::from_env_over) with the process environment.
    pub fn from_process_env(self) -> Result<Self, LlmError> {
        self.from_env_over(|key| std::env::var(key).ok())
    }

    /// The model configured for `task`: its override, else `model`. `None` means the
    /// provider's default; put it in [`crate::ChatRequest::model`] as is.
    pub fn model_for(&self, task: Task) -> Option<&str> {
        let specific = match task {
            Task::Chat => &self.models.chat,
            Task::Extract => &self.models.extract,
            Task::Summarize => &self.models.summarize,
        };
        specific.as_deref().or(self.model.as_deref())
    }

    /// The retry policy these settings describe.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.max_retries,
            ..RetryPolicy::default()
        }
    }

    /// Builds the configured provider. Fails if a required API key is missing or the URL
    /// is malformed; does not contact the server.
    pub fn build(&self) -> Result<Box<dyn LlmProvider>, LlmError> {
        self.build_with(Arc::new(ThreadSleeper))
    }

    /// [`build`](Self::build) with a custom [`Sleeper`] (tests use one that does not sleep).
    pub fn build_with(&self, sleeper: Arc<dyn Sleeper>) -> Result<Box<dyn LlmProvider>, LlmError> {
        Ok(match self.provider {
            ProviderKind::Ollama => Box::new(OllamaProvider::new(self, sleeper)?),
            ProviderKind::OpenAi => Box::new(OpenAiProvider::new(self, sleeper)?),
            ProviderKind::Anthropic => Box::new(AnthropicProvider::new(self, sleeper)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn env_overrides_the_file() {
        let cfg = LlmConfig {
            provider: ProviderKind::OpenAi,
            model: Some("file-model".into()),
            ..LlmConfig::default()
        };
        let cfg = cfg
            .from_env_over(env(&[
                ("MNEMO_MODEL", "env-model"),
                ("OPENAI_API_KEY", "sk-env"),
                ("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1"),
                ("ANTHROPIC_API_KEY", "not-for-openai"),
                ("OLLAMA_HOST", "ignored"),
            ]))
            .unwrap();
        assert_eq!(cfg.model.as_deref(), Some("env-model"));
        assert_eq!(cfg.api_key, Some(ApiKey::new("sk-env")));
        assert_eq!(cfg.base_url.as_deref(), Some("http://127.0.0.1:8080/v1"));
    }

    #[test]
    fn switching_provider_drops_the_other_providers_settings() {
        let cfg = LlmConfig {
            base_url: Some("http://gpu-box:11434".into()),
            model: Some("llama3.2".into()),
            models: TaskModels {
                extract: Some("qwen2.5:3b".into()),
                ..TaskModels::default()
            },
            ..LlmConfig::default()
        };
        let cfg = cfg
            .from_env_over(env(&[
                ("MNEMO_LLM_PROVIDER", "Anthropic"),
                ("ANTHROPIC_API_KEY", "sk-ant"),
            ]))
            .unwrap();
        assert_eq!(cfg.provider, ProviderKind::Anthropic);
        assert_eq!(cfg.base_url, None);
        assert_eq!(cfg.model_for(Task::Extract), None);
        assert_eq!(cfg.api_key, Some(ApiKey::new("sk-ant")));
    }

    #[test]
    fn same_provider_from_env_keeps_the_file_settings_and_empty_values_are_ignored() {
        let cfg = LlmConfig {
            model: Some("llama3.2".into()),
            ..LlmConfig::default()
        };
        let cfg = cfg
            .from_env_over(env(&[
                ("MNEMO_LLM_PROVIDER", "ollama"),
                ("MNEMO_MODEL", "  "),
                ("OLLAMA_HOST", "gpu-box"),
            ]))
            .unwrap();
        assert_eq!(cfg.model.as_deref(), Some("llama3.2"));
        assert_eq!(cfg.base_url.as_deref(), Some("gpu-box"));
    }

    #[test]
    fn unknown_provider_is_a_config_error() {
        let err = LlmConfig::default()
            .from_env_over(env(&[("MNEMO_LLM_PROVIDER", "gemini")]))
            .unwrap_err();
        assert!(err.to_string().contains("unknown LLM provider `gemini`"));
    }

    #[test]
    fn debug_redacts_the_key() {
        let cfg = LlmConfig {
            api_key: Some(ApiKey::new("sk-secret-123")),
            ..LlmConfig::default()
        };
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("sk-secret-123"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn task_models_fall_back_to_the_default_model() {
        let cfg = LlmConfig {
            model: Some("big".into()),
            models: TaskModels {
                extract: Some("small".into()),
                ..TaskModels::default()
            },
            ..LlmConfig::default()
        };
        assert_eq!(cfg.model_for(Task::Extract), Some("small"));
        assert_eq!(cfg.model_for(Task::Summarize), Some("big"));
        assert_eq!(LlmConfig::default().model_for(Task::Chat), None);
    }

    #[test]
    fn reads_an_llm_toml_table() {
        #[derive(Deserialize)]
        struct File {
            llm: LlmConfig,
        }
        let text = r#"
            [llm]
            provider = "openai"
            base_url = "http://127.0.0.1:8080/v1"
            api_key = "sk-file"
            timeout = 2.5
            max_retries = 0
            structured_output = "json_object"
            [llm.models]
            extract = "small"
        "#;
        let cfg = toml::from_str::<File>(text).unwrap().llm;
        assert_eq!(cfg.provider, ProviderKind::OpenAi);
        assert_eq!(cfg.timeout, Duration::from_millis(2500));
        assert_eq!(cfg.connect_timeout, Duration::from_secs(10));
        assert_eq!(cfg.max_retries, 0);
        assert_eq!(cfg.structured_output, StructuredOutput::JsonObject);
        assert_eq!(cfg.model_for(Task::Extract), Some("small"));
        assert_eq!(cfg.api_key.as_ref().map(ApiKey::expose), Some("sk-file"));
        let bad = toml::from_str::<File>("[llm]\nprovder = \"openai\"\n");
        assert!(bad.is_err(), "unknown keys are rejected");
    }
}
