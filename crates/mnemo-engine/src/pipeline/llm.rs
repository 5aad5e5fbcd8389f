//! Calling the model from a job: usage accounting on every call, a second try with a larger
//! token limit when a reply is cut ([`call_whole`]), and the classification of failures
//! that decides what the queue does with the job ([`StepError`]).
//!
//! Why a cut reply is never a plain success: a reply that stopped at the token limit is
//! missing its end. Repaired JSON then silently lacks the items that did not fit (small
//! local models lost 1-4 of every 5 extractions this way), and a summary stops mid-phrase.
//! Each step decides what a reply that is still cut after the larger limit means: fewer
//! turns per call for extraction, a retry for the others.

use std::time::Duration;

use mnemo_core::{Error, Job, ModelErrorKind, UsageRecord};
use mnemo_llm::{extract_json, ChatRequest, ChatResponse, ErrorKind, LlmError, StopReason};
use serde_json::Value;

use super::PipelineLlm;
use crate::Engine;

/// Why a step did not finish, in the terms the queue acts on.
#[derive(Debug)]
pub enum StepError {
    /// Worth trying again later, counting an attempt: a rate limit, a timeout, a server
    /// error, a reply that could not be used, a storage hiccup.
    Retry {
        message: String,
        /// The wait the provider asked for, if any.
        after: Option<Duration>,
    },
    /// The model cannot be used at all right now (not configured, unreachable, a missing
    /// or rejected key, an unknown model). Not the job's fault: it is put back without
    /// counting an attempt, and the worker pauses.
    ModelDown(String),
    /// Retrying cannot help (the job's input is malformed, the provider rejected the
    /// request as bad): the job is marked failed now.
    Permanent(String),
    /// The prompt does not fit the model's context window. A step over a range of turns
    /// splits it; otherwise the job is marked failed now.
    TooLong(String),
}

impl StepError {
    /// A retryable failure with no provider-requested wait.
    pub fn retry(message: impl Into<String>) -> Self {
        StepError::Retry {
            message: message.into(),
            after: None,
        }
    }

    /// The message recorded on the job.
    pub fn message(&self) -> &str {
        match self {
            StepError::Retry { message, .. } => message,
            StepError::ModelDown(m) | StepError::Permanent(m) | StepError::TooLong(m) => m,
        }
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl From<LlmError> for StepError {
    fn from(e: LlmError) -> Self {
        let message = e.to_string();
        if e.is_context_overflow() {
            return StepError::TooLong(message);
        }
        match (e.kind(), &e) {
            (ErrorKind::Auth | ErrorKind::Config, _) => StepError::ModelDown(message),
            (_, LlmError::Unreachable { .. }) => StepError::ModelDown(message),
            (ErrorKind::BadRequest, _) => StepError::Permanent(message),
            _ => StepError::Retry {
                after: e.retry_after(),
                message,
            },
        }
    }
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid { .. } | Error::NotFound { .. } | Error::Ambiguous { .. } => {
                StepError::Permanent(e.to_string())
            }
            other => StepError::retry(other.to_string()),
        }
    }
}

/// A provider's error as the library error, its kind kept (so a face can answer 429, 400
/// or 502); a reply that could not be used counts as the provider being unavailable.
pub fn model_error(e: &LlmError) -> Error {
    let kind = match e.kind() {
        ErrorKind::RateLimited => ModelErrorKind::RateLimited,
        ErrorKind::BadRequest => ModelErrorKind::BadRequest,
        ErrorKind::Auth => ModelErrorKind::Auth,
        ErrorKind::Config => ModelErrorKind::Config,
        _ => ModelErrorKind::Unavailable,
    };
    Error::ModelCall {
        kind,
        message: e.to_string(),
    }
}

impl From<StepError> for Error {
    fn from(e: StepError) -> Self {
        Error::Model(e.to_string())
    }
}

/// Sends `req` for `job`, records its token usage, and returns the reply.
pub(crate) fn call(
    engine: &Engine,
    llm: &PipelineLlm,
    job: &Job,
    req: &ChatRequest,
) -> Result<ChatResponse, StepError> {
    let reply = llm.provider.chat(req)?;
    engine.store.record_usage(&UsageRecord {
        job_id: Some(job.id.clone()),
        user_id: job.user_id.clone(),
        agent_id: job.agent_id.clone(),
        task: job.kind.as_str().to_owned(),
        provider: llm.provider.name().to_owned(),
        model: reply.model.clone(),
        input_tokens: u64::from(reply.usage.input_tokens),
        output_tokens: u64::from(reply.usage.output_tokens),
        at: engine.now(),
    })?;
    Ok(reply)
}

/// Fewest and most tokens a cut reply is tried again with.
const RETRY_TOKENS: (u32, u32) = (2048, 8192);

/// Sends `req` like [`call`]; when the reply is cut at the token limit, sends it once more
/// with twice the tokens the cut reply used (2,048 to 8,192), unless it was cut because it
/// loops (small models repeat a phrase until the limit). The reply returned may still be
/// cut: callers check [`is_cut`] and never take a cut reply as a plain success.
pub(crate) fn call_whole(
    engine: &Engine,
    llm: &PipelineLlm,
    job: &Job,
    req: &ChatRequest,
) -> Result<ChatResponse, StepError> {
    let reply = call(engine, llm, job, req)?;
    if !is_cut(&reply) || super::guards::repetition(&reply.content).is_some() {
        // A reply that loops until the limit would only loop longer.
        return Ok(reply);
    }
    let used = reply.usage.output_tokens.max(req.max_tokens.unwrap_or(0));
    let bigger = used.saturating_mul(2).clamp(RETRY_TOKENS.0, RETRY_TOKENS.1);
    if req.max_tokens.is_some_and(|m| m >= bigger) {
        return Ok(reply);
    }
    call(engine, llm, job, &req.clone().with_max_tokens(bigger))
}

/// Whether the model stopped because of the token limit.
pub(crate) fn is_cut(reply: &ChatResponse) -> bool {
    reply.stop_reason == StopReason::MaxTokens
}

/// The retryable error for a reply still cut after the larger limit.
pub(crate) fn cut_error(reply: &ChatResponse) -> StepError {
    StepError::retry(format!(
        "the reply of {} was cut at the token limit ({} tokens), after a larger limit or looping; it began: {:?}",
        reply.model,
        reply.usage.output_tokens,
        snippet(&reply.content, 120)
    ))
}

/// The JSON document in a structured reply, repaired where a small model got it wrong;
/// an unusable reply is a retryable error that quotes the start of what came back.
pub(crate) fn json_of(reply: &ChatResponse) -> Result<Value, StepError> {
    extract_json(&reply.content).map_err(|e| {
        let cut = if is_cut(reply) {
            " (the reply hit the token limit)"
        } else {
            ""
        };
        StepError::retry(format!(
            "unusable reply from {}{cut}: {e}; it began: {:?}",
            reply.model,
            snippet(&reply.content, 160)
        ))
    })
}

/// The first `max` characters of `text`.
pub(crate) fn snippet(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_owned(),
    }
}

/// The plain-text reply of a summary call, or a retryable error when it is empty.
pub(crate) fn text_of(reply: &ChatResponse) -> Result<String, StepError> {
    let text = reply.content.trim();
    if text.is_empty() {
        return Err(StepError::retry(format!(
            "{} sent an empty reply",
            reply.model
        )));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llm_errors_are_classified_for_the_queue() {
        let down = StepError::from(LlmError::MissingApiKey {
            provider: "openai",
            env_var: "OPENAI_API_KEY",
        });
        assert!(matches!(down, StepError::ModelDown(_)));
        let limited = StepError::from(LlmError::RateLimited {
            provider: "openai",
            message: "slow".into(),
            retry_after: Some(Duration::from_secs(9)),
        });
        assert!(matches!(
            limited,
            StepError::Retry { after: Some(d), .. } if d == Duration::from_secs(9)
        ));
        let bad = StepError::from(LlmError::Http {
            provider: "ollama",
            status: 400,
            message: "bad".into(),
        });
        assert!(matches!(bad, StepError::Permanent(_)), "4xx fails at once");
        let overflow = StepError::from(LlmError::Http {
            provider: "openai",
            status: 400,
            message: "This model's maximum context length is 2048 tokens".into(),
        });
        assert!(matches!(overflow, StepError::TooLong(_)));
        for status in [408, 500, 503] {
            let e = StepError::from(LlmError::Http {
                provider: "openai",
                status,
                message: "busy".into(),
            });
            assert!(matches!(e, StepError::Retry { .. }), "{status}");
        }
        let core: Error = StepError::Permanent("x".into()).into();
        assert!(matches!(core, Error::Model(_)));
    }

    #[test]
    fn provider_errors_keep_their_kind_in_the_library_error() {
        let kind = |e: LlmError| match model_error(&e) {
            Error::ModelCall { kind, .. } => kind,
            other => panic!("{other:?}"),
        };
        let http = |status| LlmError::Http {
            provider: "openai",
            status,
            message: "x".into(),
        };
        assert_eq!(kind(http(429)), ModelErrorKind::RateLimited);
        assert_eq!(kind(http(503)), ModelErrorKind::Unavailable);
        assert_eq!(kind(http(400)), ModelErrorKind::BadRequest);
        assert_eq!(kind(http(401)), ModelErrorKind::Auth);
        assert_eq!(
            kind(LlmError::Config("bad url".into())),
            ModelErrorKind::Config
        );
    }
}
