//! The [`Engine`] handle: construction, and the conversation log (turns and sessions).

use std::path::Path;
use std::sync::Arc;

use crate::secrets::SecretsPolicy;
use mnemo_core::{
    ids, Clock, Error, NewTurn, Result, Scope, Session, Stats, Store, SystemClock, Timestamp, Turn,
    TurnFilter,
};
use mnemo_store_sqlite::{Create, SqliteStore};

use crate::{tokens, EngineSettings};

/// The memory engine. Cheap to clone; all clones share the store.
#[derive(Clone)]
pub struct Engine {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: Arc<EngineSettings>,
    /// Derived search indexes (retrieval); rebuilt from the store when stale.
    pub(crate) indexes: Arc<crate::retrieval::Indexes>,
    /// The memory pipeline: its settings, its model (if any), the worker bell.
    pub(crate) pipeline: Arc<crate::pipeline::Pipeline>,
    /// Recall accesses waiting to be written, when batched (servers).
    pub(crate) touches: Option<Arc<crate::touches::TouchBuffer>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over any store, with an explicit clock (tests use a fixed one).
    pub fn new(store: Arc<dyn Store>, settings: EngineSettings, clock: Arc<dyn Clock>) -> Self {
        Engine {
            store,
            clock,
            settings: Arc::new(settings),
            indexes: Arc::default(),
            pipeline: Arc::default(),
            touches: None,
        }
    }

    /// Gives the pipeline a model: queued jobs can then run (see [`crate::pipeline`]).
    pub fn with_llm(mut self, llm: crate::pipeline::PipelineLlm) -> Self {
        let settings = self.pipeline.settings.clone();
        self.pipeline = Arc::new(crate::pipeline::Pipeline::with(settings, Some(llm)));
        self
    }

    /// Uses these pipeline settings (summary interval, retries, leases).
    pub fn with_pipeline_settings(mut self, settings: crate::pipeline::PipelineSettings) -> Self {
        let llm = self.pipeline.llm.clone();
        self.pipeline = Arc::new(crate::pipeline::Pipeline::with(settings, llm));
        self
    }

    /// The pipeline's model provider, if one is configured.
    pub fn llm(&self) -> Option<&Arc<dyn mnemo_llm::LlmProvider>> {
        self.pipeline.llm.as_ref().map(|l| &l.provider)
    }

    /// The pipeline settings in effect.
    pub fn pipeline_settings(&self) -> &crate::pipeline::PipelineSettings {
        &self.pipeline.settings
    }

    /// Uses these turn-search weights (the defaults were tuned on LoCoMo's dev half).
    pub fn with_retrieval_params(mut self, params: crate::retrieval::RetrievalParams) -> Self {
        self.indexes = Arc::new(crate::retrieval::Indexes::new(params));
        self
    }

    /// The turn-search weights in effect.
    pub fn retrieval_params(&self) -> &crate::retrieval::RetrievalParams {
        &self.indexes.params
    }

    /// Opens (creating it and its directories if needed) a SQLite database file.
    pub fn open_sqlite(path: &Path, settings: EngineSettings) -> Result<Self> {
        Self::open_sqlite_with(path, Create::FileAndDirs, settings)
    }

    /// Opens a SQLite database file, creating only what `create` allows.
    pub fn open_sqlite_with(path: &Path, create: Create, settings: EngineSettings) -> Result<Self> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = SqliteStore::open_with(path, create)?.with_clock(clock.clone());
        Ok(Engine::new(Arc::new(store), settings, clock))
    }

    /// The store, for operations the engine does not wrap.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The engine's settings.
    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// Now, by the engine's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Records a turn without queueing any pipeline work: for bulk ingest that must not
    /// call a model (the LoCoMo benchmark, tests). Conversation goes through
    /// [`Engine::record_turn`], which commits the turn with the jobs it makes due.
    pub fn add_turn(&self, mut turn: NewTurn) -> Result<Turn> {
        check_turn(&mut turn, self.settings.secrets)?;
        let tokens = tokens::count_if_loaded(&turn.content);
        let turn = self.store.add_turn(&turn, tokens, self.now())?;
        self.index_turn(&turn);
        Ok(turn)
    }

    /// A fresh session id.
    pub fn new_session_id(&self) -> String {
        ids::new_id()
    }

    /// Turns matching a filter.
    pub fn turns(&self, filter: &TurnFilter) -> Result<Vec<Turn>> {
        self.store.list_turns(filter)
    }

    /// Sessions of a scope, newest first.
    pub fn sessions(&self, scope: &Scope, limit: Option<usize>) -> Result<Vec<Session>> {
        self.store.list_sessions(scope, limit)
    }

    /// A session by id or unique prefix.
    pub fn session(&self, user_id: &str, id_or_prefix: &str) -> Result<Session> {
        self.store.get_session(user_id, id_or_prefix)
    }

    /// Marks a session as ended now, and queues what it still needs from the pipeline
    /// (extraction of its last turns, a summary of the turns not yet summarized).
    pub fn end_session(&self, user_id: &str, session_id: &str) -> Result<()> {
        self.store.end_session(user_id, session_id, self.now())?;
        self.queue_session_end(user_id, session_id).map(drop)
    }

    /// Database counts.
    pub fn stats(&self) -> Result<Stats> {
        self.store.stats()
    }
}

/// The checks every recorded turn passes: text, scope and session must be given.
/// Checks a turn before it is stored, and applies the secrets policy to its text: masked
/// (what was masked goes into `meta.secrets` as kind and position, never the value),
/// refused, or kept as written.
pub(crate) fn check_turn(turn: &mut NewTurn, secrets: SecretsPolicy) -> Result<()> {
    if turn.content.trim().is_empty() {
        return Err(Error::invalid(
            "turn",
            "the text is empty; give the message text",
        ));
    }
    check_scope(&turn.scope)?;
    if turn.session_id.trim().is_empty() {
        return Err(Error::invalid("session", "the session id is empty"));
    }
    if secrets == SecretsPolicy::Keep {
        return Ok(());
    }
    let (text, masked) = crate::secrets::mask(&turn.content);
    let Some(first) = masked.first() else {
        return Ok(());
    };
    if secrets == SecretsPolicy::Reject {
        return Err(Error::invalid(
            "turn",
            format!(
                "the text holds a secret ({} at character {}); remove it, or set [privacy] \
                 secrets = \"mask\" to store it masked",
                first.kind, first.at
            ),
        ));
    }
    turn.content = text;
    let record = serde_json::to_value(&masked)?;
    match &mut turn.meta {
        serde_json::Value::Object(m) => {
            m.insert("secrets".into(), record);
        }
        other => *other = serde_json::json!({ "secrets": record }),
    }
    Ok(())
}

/// Rejects empty user ids: every record must belong to someone.
pub(crate) fn check_scope(scope: &Scope) -> Result<()> {
    if scope.user_id.trim().is_empty() {
        return Err(Error::invalid(
            "user",
            "the user id is empty; name whose memory this is",
        ));
    }
    if scope
        .agent_id
        .as_deref()
        .is_some_and(|a| a.trim().is_empty())
    {
        return Err(Error::invalid(
            "agent",
            "the agent id is empty; leave it out or give a name",
        ));
    }
    Ok(())
}
