//! The provider-neutral request and response shapes. Each provider module translates these
//! to and from its own wire format, so the engine never sees a provider's JSON.

use serde::{Deserialize, Serialize};

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model. Anthropic takes these as the top-level `system` field.
    System,
    /// The person (or the engine speaking for them).
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// The wire name shared by every provider.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Message {
            role: Role::System,
            content: content.into(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: content.into(),
        }
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Message {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// One chat call. `None` fields mean "the provider's (or the config's) default".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// Overrides the provider's default model for this call.
    pub model: Option<String>,
    pub messages: Vec<Message>,
    pub temperature: Option<f32>,
    /// Upper bound on generated tokens. Anthropic requires one; the config's
    /// `max_tokens` is used when this is `None`.
    pub max_tokens: Option<u32>,
    /// A JSON Schema the reply must follow (structured output). The reply's `content` is
    /// then a JSON document; parse it with [`crate::extract_json`] or use
    /// [`crate::LlmProvider::chat_json`].
    pub json_schema: Option<serde_json::Value>,
}

impl ChatRequest {
    /// A request with these messages and every option at its default.
    pub fn new(messages: Vec<Message>) -> Self {
        ChatRequest {
            messages,
            ..ChatRequest::default()
        }
    }

    /// Sets the model (`None` keeps the provider default).
    pub fn with_model(mut self, model: Option<impl Into<String>>) -> Self {
        self.model = model.map(Into::into);
        self
    }

    /// Sets the sampling temperature.
    pub fn with_temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Sets the token limit.
    pub fn with_max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Asks for structured output following `schema`.
    pub fn with_json_schema(mut self, schema: serde_json::Value) -> Self {
        self.json_schema = Some(schema);
        self
    }
}

/// Token counts as reported by the provider (zero when it reports none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u32,
    pub output_tokens: u32,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// The model finished on its own.
    #[default]
    Complete,
    /// The token limit cut the reply short: structured output may be truncated JSON.
    MaxTokens,
    /// The caller's `on_token` returned `ControlFlow::Break`.
    Cancelled,
}

/// The reply to a [`ChatRequest`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatResponse {
    /// The reply text; for structured output, the JSON document as text.
    pub content: String,
    /// The model that answered, as the provider names it.
    pub model: String,
    pub usage: Usage,
    pub stop_reason: StopReason,
}
