//! The LLM layer of mnemo: one synchronous [`LlmProvider`] trait for chat, streaming and
//! structured output, with clients for a local Ollama server, OpenAI and OpenAI-compatible
//! servers, and Anthropic; plus the two parsers every model reply goes through: JSON repair
//! ([`extract_json`]) for extraction output and the inline memory tag protocol
//! ([`parse_memory_tags`]) for chat replies. [`ScriptedProvider`] stands in for a model in
//! the tests of the crates above.
//!
//! It is synchronous (blocking `ureq`, no async runtime) because the engine is: a background
//! job or a chat turn just waits for the model. Streaming reads the response body as it
//! arrives and hands text to a callback that can cancel.
//!
//! ```no_run
//! use mnemo_llm::{ChatRequest, LlmConfig, Message};
//!
//! let provider = LlmConfig::default().from_process_env()?.build()?;
//! let reply = provider.chat(&ChatRequest::new(vec![
//!     Message::system("Answer in one sentence."),
//!     Message::user("What is long-term memory for an agent?"),
//! ]))?;
//! println!("{} ({} tokens)", reply.content, reply.usage.output_tokens);
//! # Ok::<(), mnemo_llm::LlmError>(())
//! ```

pub mod anthropic;
pub mod config;
pub mod error;
pub mod json_repair;
pub mod ndjson;
pub mod ollama;
pub mod openai;
pub mod provider;
pub mod retry;
pub mod scripted;
pub mod sse;
mod structured;
pub mod tags;
#[cfg(feature = "testkit")]
pub mod testkit;
mod transport;
pub mod types;

pub use anthropic::AnthropicProvider;
pub use config::{ApiKey, LlmConfig, ProviderKind, StructuredOutput, Task, TaskModels};
pub use error::{ErrorKind, LlmError};
pub use json_repair::{extract_json, JsonRepairError};
pub use ollama::OllamaProvider;
pub use openai::OpenAiProvider;
pub use provider::LlmProvider;
pub use retry::{RetryPolicy, Sleeper, ThreadSleeper};
pub use scripted::ScriptedProvider;
pub use tags::{format_memory_tag, parse_memory_tags, MemoryTag};
pub use types::{ChatRequest, ChatResponse, Message, Role, StopReason, Usage};
