//! The memory pipeline: the memory manager of the seeds, separate from the agent that
//! answers, which turns conversations into durable knowledge — made durable and
//! non-blocking.
//!
//! **Why a queue.** The seeds call the model inline after every reply: the chat waits, and
//! any failure (429, a timeout, a malformed JSON reply from a small local model, a crash)
//! loses the memory for good. Here a turn is committed first, together with the job that
//! will process it (one transaction, see [`mnemo_core::JobStore`]); the caller returns at
//! once, and a worker — the in-process one of [`Engine::spawn_worker`], or `mnemo work` —
//! runs the job later, retrying with backoff. With no model reachable, jobs simply wait.
//!
//! **The steps**, each a unit with its own tests, each recording the model and the prompt
//! version on what it writes, and the turns it came from:
//! 1. [`tags`]: `[MEMORY: kind|content]` tags in an assistant reply become memories at
//!    once (no model call; the caller strips them from what it shows).
//! 2. [`extract`]: a range of turns becomes memory cells {kind, topic, salience, content}
//!    through schema-constrained output, repaired when a model gets JSON wrong; an
//!    unusable reply is recorded on the job and retried, never dropped.
//! 3. [`reconcile`]: each cell is compared with similar current memories of the user and
//!    the model picks ADD / UPDATE / DELETE / NOOP (mem0's scheme); an exact duplicate is a
//!    NOOP without a model call. UPDATE supersedes and DELETE forgets (restorable), both
//!    with history and the model's reason.
//! 4. [`topics`]: a touched topic's summary is rewritten from its current memories.
//! 5. [`summaries`]: every `summary_every` turns, and when a session ends, the turns not
//!    yet summarized get a session summary (a cheaper model may be configured). The turns
//!    stay in the log: context assembly stops replaying summarized turns, nothing deletes
//!    them (seed 002 deletes them; we do not).
//! 6. Forgetting is not a job: it is [`crate::ForgettingPolicy`], applied at ranking time.
//!    Salience halves every `half_life_days` since a memory was last accessed (or
//!    created), never below `floor` × salience; pinned memories do not fade; a memory past
//!    `expires_at` leaves the current view. Nothing is deleted by time; `mnemo recall
//!    --explain` shows the decayed salience of each hit.
//!
//! Token usage of every model call is stored per job, model and user (`mnemo usage`).

pub mod extract;
pub mod guards;
mod lifecycle;
mod llm;
pub use llm::model_error;
mod prompts;
pub mod reconcile;
mod record;
mod run;
pub mod summaries;
pub mod tags;
pub mod topics;
mod worker;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use mnemo_core::{Error, JobKind, RangeJob};
use mnemo_llm::{LlmConfig, LlmProvider, Task};
use serde::{Deserialize, Serialize};

pub use llm::StepError;
pub use prompts::{Prompt, PROMPTS};
pub use record::{Exchange, RecordedExchange, RecordedTurn};
pub use run::{DrainReport, JobOutcome};
pub use worker::{WorkerHandle, WorkerOptions, WorkerStats};

/// Tunable behaviour of the pipeline (the `[pipeline]` table of the config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineSettings {
    /// Summarize a session every this many turns (seed 002: 20; seed 000: 30).
    pub summary_every: u32,
    /// When a session ends, summarize its remaining turns if there are at least this many.
    pub session_end_min_turns: u32,
    /// Most turns one extraction prompt holds (a long backlog becomes several jobs).
    pub extract_max_turns: u32,
    /// Queue extraction once this many turns wait unextracted even without an assistant
    /// turn (notes, hooks that record one side); 0: only after assistant turns.
    pub extract_every_turns: u32,
    /// A worker closes a session whose last turn is older than this (seconds), queueing
    /// its session-end work (extraction, summary); 0: sessions end only when told.
    pub session_idle_secs: u64,
    /// How long `mnemo chat` gives its in-process worker to finish queued jobs when it
    /// exits (after `--once`, or when the session is left); what is left stays queued.
    pub exit_wait_secs: f64,
    /// Attempts before a job is marked failed.
    pub max_attempts: u32,
    /// How long a worker holds a job before another may take it over (seconds). Longer
    /// than the slowest model call, including the client's own retries.
    pub lease_secs: u64,
    /// Backoff before the first retry of a failed job (seconds); doubles per attempt.
    pub retry_base_secs: u64,
    /// Cap on that backoff (seconds).
    pub retry_max_secs: u64,
    /// Wait before trying again when the model is unreachable or misconfigured (seconds).
    pub model_down_secs: u64,
    /// Existing memories shown to the model when reconciling a cell.
    pub similar_limit: usize,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            summary_every: 20,
            session_end_min_turns: 2,
            extract_max_turns: 20,
            extract_every_turns: 10,
            session_idle_secs: 1800,
            exit_wait_secs: 3.0,
            max_attempts: 5,
            lease_secs: 600,
            retry_base_secs: 30,
            retry_max_secs: 3600,
            model_down_secs: 60,
            similar_limit: 5,
        }
    }
}

impl PipelineSettings {
    /// The range jobs a newly recorded turn makes due: extraction of what is not yet
    /// extracted after an assistant turn, or once `extract_every_turns` turns wait (a
    /// session of user turns only is extracted too); a summary every `summary_every`.
    pub(crate) fn ranges_after_turn(&self, assistant: bool) -> Vec<RangeJob> {
        let mut out = Vec::new();
        if assistant {
            out.push(self.range(JobKind::Extract, 1));
        } else if self.extract_every_turns > 0 {
            let every = i64::from(self.extract_every_turns);
            out.push(self.range(JobKind::Extract, every));
        }
        if self.summary_every > 0 {
            let every = i64::from(self.summary_every);
            out.push(self.range(JobKind::Summarize, every));
        }
        out
    }

    /// The range jobs due when a session ends: whatever is not yet extracted or summarized.
    pub(crate) fn ranges_at_session_end(&self) -> Vec<RangeJob> {
        vec![
            self.range(JobKind::Extract, 1),
            self.range(
                JobKind::Summarize,
                i64::from(self.session_end_min_turns.max(1)),
            ),
        ]
    }

    fn range(&self, kind: JobKind, min_turns: i64) -> RangeJob {
        let max_turns = match kind {
            JobKind::Extract => i64::from(self.extract_max_turns),
            // A backlog (summaries were off) is summarized in chunks of the usual size.
            _ => i64::from(self.summary_every),
        };
        RangeJob {
            kind,
            min_turns,
            max_turns,
            max_attempts: self.max_attempts.max(1),
        }
    }

    pub(crate) fn lease(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.lease_secs).unwrap_or(600).max(1))
    }
}

/// The model the pipeline uses, and which model name to ask for per task.
#[derive(Clone)]
pub struct PipelineLlm {
    pub provider: Arc<dyn LlmProvider>,
    /// `None`: the provider's default model.
    pub extract_model: Option<String>,
    /// For topic and session summaries; seed 002 uses a cheaper model here.
    pub summarize_model: Option<String>,
}

impl std::fmt::Debug for PipelineLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineLlm")
            .field("provider", &self.provider.name())
            .field("extract_model", &self.extract_model)
            .field("summarize_model", &self.summarize_model)
            .finish()
    }
}

impl PipelineLlm {
    /// Every task on the provider's default model.
    pub fn new(provider: Arc<dyn LlmProvider>) -> Self {
        PipelineLlm {
            provider,
            extract_model: None,
            summarize_model: None,
        }
    }

    /// Builds the configured provider, with the configured model per task. Fails only on
    /// configuration errors (a missing API key, a malformed URL); it contacts no server.
    pub fn from_config(cfg: &LlmConfig) -> Result<Self, Error> {
        let provider = cfg.build().map_err(|e| llm::model_error(&e))?;
        Ok(PipelineLlm {
            provider: Arc::from(provider),
            extract_model: cfg.model_for(Task::Extract).map(str::to_owned),
            summarize_model: cfg.model_for(Task::Summarize).map(str::to_owned),
        })
    }

    pub(crate) fn model_for(&self, kind: JobKind) -> Option<String> {
        match kind {
            JobKind::Extract | JobKind::Reconcile => self.extract_model.clone(),
            JobKind::Topic | JobKind::Summarize => self.summarize_model.clone(),
        }
    }
}

/// The pipeline state an [`Engine`](crate::Engine) carries: settings, the model (if any),
/// the bell that wakes in-process workers when work is enqueued, and the leases this
/// process holds (so a stopping process can give them back).
#[derive(Debug, Default)]
pub struct Pipeline {
    pub(crate) settings: PipelineSettings,
    pub(crate) llm: Option<PipelineLlm>,
    pub(crate) bell: Bell,
    pub(crate) leases: lifecycle::Leases,
}

/// Wakes workers waiting for work (a counter, so a ring between two waits is not lost).
#[derive(Debug, Default)]
pub(crate) struct Bell {
    rings: Mutex<u64>,
    cond: Condvar,
}

impl Bell {
    pub(crate) fn ring(&self) {
        *self.rings.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.cond.notify_all();
    }

    pub(crate) fn rings(&self) -> u64 {
        *self.rings.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until a ring after `seen`, or `timeout`.
    pub(crate) fn wait(&self, seen: u64, timeout: Duration) {
        let guard = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self
            .cond
            .wait_timeout_while(guard, timeout, |rings| *rings == seen);
    }
}

impl Pipeline {
    pub(crate) fn with(settings: PipelineSettings, llm: Option<PipelineLlm>) -> Self {
        Pipeline {
            settings,
            llm,
            bell: Bell::default(),
            leases: lifecycle::Leases::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(ranges: &[RangeJob]) -> Vec<(JobKind, i64)> {
        ranges.iter().map(|r| (r.kind, r.min_turns)).collect()
    }

    #[test]
    fn user_turns_alone_queue_extraction_after_extract_every_turns() {
        let s = PipelineSettings {
            summary_every: 20,
            extract_every_turns: 10,
            ..PipelineSettings::default()
        };
        assert_eq!(
            kinds(&s.ranges_after_turn(true)),
            [(JobKind::Extract, 1), (JobKind::Summarize, 20)]
        );
        assert_eq!(
            kinds(&s.ranges_after_turn(false)),
            [(JobKind::Extract, 10), (JobKind::Summarize, 20)]
        );
        let only_replies = PipelineSettings {
            extract_every_turns: 0,
            summary_every: 0,
            ..s
        };
        assert!(only_replies.ranges_after_turn(false).is_empty());
    }
}
