//! Recording conversation with its pipeline work: the write path the chat and
//! `mnemo turn add` use. Turns and the jobs they make due are committed in one
//! transaction, before any model call; the call returns as soon as that commit does.

use mnemo_core::{Error, Job, NewTurn, Result, Role, Scope, Timestamp, Turn};
use mnemo_llm::{parse_memory_tags, MemoryTag};
use serde::Serialize;
use serde_json::Value;

use super::tags::TagSource;
use crate::engine::check_turn;
use crate::{tokens, Engine, RememberOutcome};

/// A turn as recorded, with the jobs now queued for its session.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedTurn {
    pub turn: Turn,
    pub jobs: Vec<Job>,
}

/// One exchange to record: the user's message and the assistant's reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub scope: Scope,
    pub session_id: String,
    pub user: String,
    /// The reply as shown to the user (memory tags already removed).
    pub assistant: String,
    /// Memory tags that were in the reply.
    pub tags: Vec<MemoryTag>,
    /// The chat model that wrote the reply.
    pub model: Option<String>,
    /// When it happened; `None` means now.
    pub at: Option<Timestamp>,
}

impl Exchange {
    /// An exchange from the model's raw reply: tags are taken out of it here.
    pub fn from_reply(
        scope: Scope,
        session_id: impl Into<String>,
        user: impl Into<String>,
        raw_reply: &str,
    ) -> Self {
        let (shown, tags) = parse_memory_tags(raw_reply);
        Exchange {
            scope,
            session_id: session_id.into(),
            user: user.into(),
            assistant: shown,
            tags,
            model: None,
            at: None,
        }
    }
}

/// What [`Engine::record_exchange`] did.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedExchange {
    pub user_turn: Turn,
    pub assistant_turn: Turn,
    /// The jobs now queued for the session (extraction of this exchange, maybe a summary).
    pub jobs: Vec<Job>,
    /// The memories the reply's tags became.
    pub tagged: Vec<RememberOutcome>,
}

impl Engine {
    /// Records a turn and queues the pipeline work it makes due, in one transaction: an
    /// assistant turn queues extraction of the turns since the last extraction (so do
    /// `extract_every_turns` turns without one); every `summary_every` turns a session
    /// summary is queued. No model is called; in-process workers are woken. This is the
    /// path of every conversation front end: `mnemo chat` (each turn), `mnemo turn add`.
    pub fn record_turn(&self, mut turn: NewTurn) -> Result<RecordedTurn> {
        check_turn(&mut turn, self.settings().secrets)?;
        let ranges = self
            .pipeline
            .settings
            .ranges_after_turn(turn.role == Role::Assistant);
        let tokens = tokens::count_if_loaded(&turn.content);
        let (mut turns, jobs) =
            self.store
                .add_turns_with_jobs(&[(turn, tokens)], &ranges, self.now())?;
        turns.iter().for_each(|t| self.index_turn(t));
        self.pipeline.bell.ring();
        let turn = turns
            .pop()
            .ok_or_else(|| Error::Storage("no turn recorded".into()))?;
        Ok(RecordedTurn { turn, jobs })
    }

    /// Records a whole exchange — user turn, assistant turn, their extraction job — in one
    /// transaction, then stores the reply's memory tags (step 1). For callers that have
    /// both texts at hand; a chat that must persist the user's message before calling the
    /// model uses [`record_turn`](Self::record_turn) twice instead.
    pub fn record_exchange(&self, ex: Exchange) -> Result<RecordedExchange> {
        // The reply's meta in the shape every chat face records (tools::finish_exchange).
        let reply = crate::tools::ModelReply {
            model: ex.model.clone(),
            ..Default::default()
        };
        let meta = crate::tools::reply_meta("engine", &reply, ex.tags.len());
        // A reply that was nothing but tags is stored as the tags, so the log says what
        // the assistant did.
        let assistant = if ex.assistant.trim().is_empty() {
            ex.tags
                .iter()
                .map(mnemo_llm::format_memory_tag)
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            ex.assistant.clone()
        };
        let mut user = new_turn(&ex, Role::User, ex.user.clone(), Value::Null);
        let mut reply = new_turn(&ex, Role::Assistant, assistant, meta);
        check_turn(&mut user, self.settings().secrets)?;
        check_turn(&mut reply, self.settings().secrets)?;
        let ranges = self.pipeline.settings.ranges_after_turn(true);
        let pairs = [
            (user.clone(), tokens::count_if_loaded(&user.content)),
            (reply.clone(), tokens::count_if_loaded(&reply.content)),
        ];
        let (turns, jobs) = self
            .store
            .add_turns_with_jobs(&pairs, &ranges, self.now())?;
        turns.iter().for_each(|t| self.index_turn(t));
        self.pipeline.bell.ring();
        let [user_turn, assistant_turn]: [Turn; 2] = turns
            .try_into()
            .map_err(|_| Error::Storage("expected two turns recorded".into()))?;
        let ids = [user_turn.id.clone(), assistant_turn.id.clone()];
        let source = TagSource {
            session_id: Some(&ex.session_id),
            turns: &ids,
            model: ex.model.as_deref(),
        };
        let tagged = self.remember_tags(&ex.scope, &ex.tags, &source)?;
        Ok(RecordedExchange {
            user_turn,
            assistant_turn,
            jobs,
            tagged,
        })
    }

    /// Queues what a session still needs when it ends: extraction of turns not yet
    /// extracted and a summary of turns not yet summarized. Called by
    /// [`Engine::end_session`].
    pub fn queue_session_end(&self, user_id: &str, session_id: &str) -> Result<Vec<Job>> {
        let ranges = self.pipeline.settings.ranges_at_session_end();
        let jobs = self
            .store
            .enqueue_ranges(user_id, session_id, &ranges, self.now())?;
        self.pipeline.bell.ring();
        Ok(jobs)
    }
}

fn new_turn(ex: &Exchange, role: Role, content: String, meta: Value) -> NewTurn {
    NewTurn {
        id: None,
        scope: ex.scope.clone(),
        session_id: ex.session_id.clone(),
        role,
        content,
        created_at: ex.at,
        meta,
    }
}
