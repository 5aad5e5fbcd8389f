//! Remembering, editing, forgetting and restoring memories. Every change goes through
//! here so that each one is validated and recorded in the memory's history with an actor
//! and a reason. A new value for a key, or a replacement by the pipeline, *supersedes*:
//! the old memory is closed (`valid_to`), not destroyed.

use mnemo_core::vectors::OwnerKind;
use mnemo_core::{
    ids, Actor, Error, HistoryEvent, Kind, Memory, MemoryFilter, Op, Result, Scope, Timestamp, Turn,
};
use serde::Serialize;
use serde_json::{json, Value};

use crate::engine::check_scope;
use crate::{keyvalue, Engine};

/// Longest memory text accepted (characters).
pub const MAX_CONTENT_CHARS: usize = 20_000;

/// A memory to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMemory {
    pub kind: Kind,
    pub key: Option<String>,
    pub content: String,
    pub topic: Option<String>,
    pub salience: f32,
    pub pinned: bool,
    pub expires_at: Option<Timestamp>,
    pub session_id: Option<String>,
    pub source_turns: Vec<String>,
    pub meta: Value,
    /// Why it is being added (recorded in history).
    pub reason: Option<String>,
}

impl NewMemory {
    /// A note with default attributes.
    pub fn text(content: impl Into<String>) -> Self {
        NewMemory {
            kind: Kind::Note,
            key: None,
            content: content.into(),
            topic: None,
            salience: 0.5,
            pinned: false,
            expires_at: None,
            session_id: None,
            source_turns: Vec::new(),
            meta: Value::Null,
            reason: None,
        }
    }

    /// A keyed fact (`remember KEY=VALUE`).
    pub fn keyed(key: impl Into<String>, value: impl Into<String>) -> Self {
        NewMemory {
            kind: Kind::Fact,
            key: Some(key.into()),
            salience: 0.7,
            ..NewMemory::text(value)
        }
    }
}

/// What `remember` did.
// Returned once per call and usually destructured at once: boxing would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RememberOutcome {
    /// A new memory was stored.
    Added { memory: Memory },
    /// A new memory replaced the current one with the same key.
    Superseded { memory: Memory, previous: Memory },
    /// An identical current memory exists; nothing was written.
    Unchanged { memory: Memory },
}

impl RememberOutcome {
    /// The memory that is current after the call.
    pub fn memory(&self) -> &Memory {
        match self {
            RememberOutcome::Added { memory }
            | RememberOutcome::Superseded { memory, .. }
            | RememberOutcome::Unchanged { memory } => memory,
        }
    }
}

/// Changes to apply to a memory; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryEdit {
    pub content: Option<String>,
    pub kind: Option<Kind>,
    /// `Some(None)` clears the key.
    pub key: Option<Option<String>>,
    pub topic: Option<Option<String>>,
    pub salience: Option<f32>,
    pub pinned: Option<bool>,
    pub expires_at: Option<Option<Timestamp>>,
    pub reason: Option<String>,
}

impl MemoryEdit {
    /// Whether the edit changes nothing.
    pub fn is_empty(&self) -> bool {
        self.content.is_none()
            && self.kind.is_none()
            && self.key.is_none()
            && self.topic.is_none()
            && self.salience.is_none()
            && self.pinned.is_none()
            && self.expires_at.is_none()
    }
}

/// A memory with its history and the turns it came from.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryView {
    pub memory: Memory,
    pub history: Vec<HistoryEvent>,
    pub sources: Vec<Turn>,
    /// Whether the memory is in the current view.
    pub current: bool,
}

impl Engine {
    /// Stores a memory. With a key, a different value supersedes the current one and the
    /// same value changes nothing; without a key, an identical current memory of the same
    /// kind in the same scope is not stored twice.
    pub fn remember(&self, scope: &Scope, new: NewMemory, actor: Actor) -> Result<RememberOutcome> {
        check_scope(scope)?;
        let new = validate_new(new, self.now())?;
        if let Some(key) = new.key.clone() {
            if let Some(old) = self.store.current_by_key(scope, &key)? {
                if same_text(&old.content, &new.content) && old.kind == new.kind {
                    return Ok(RememberOutcome::Unchanged { memory: old });
                }
                return self.supersede(old, scope, new, actor);
            }
        } else if let Some(dup) = self.find_duplicate(scope, &new)? {
            return Ok(RememberOutcome::Unchanged { memory: dup });
        }
        let now = self.now();
        let memory = build_memory(scope, &new, now);
        let event = event(
            &memory,
            Op::Add,
            None,
            Some(&memory.content),
            actor,
            new.reason,
            now,
        );
        self.store.insert_memory(&memory, &event)?;
        self.embed_memory(&memory);
        Ok(RememberOutcome::Added { memory })
    }

    /// Closes `old` and stores `new` in its place, atomically.
    pub fn supersede(
        &self,
        mut old: Memory,
        scope: &Scope,
        new: NewMemory,
        actor: Actor,
    ) -> Result<RememberOutcome> {
        let now = self.now();
        let mut memory = build_memory(scope, &new, now);
        if memory.topic.is_none() {
            memory.topic = old.topic.clone();
        }
        old.valid_to = Some(now);
        old.superseded_by = Some(memory.id.clone());
        old.updated_at = now;
        let reason = new
            .reason
            .clone()
            .or_else(|| Some("replaced by a newer value".into()));
        let mut old_ev = event(
            &old,
            Op::Supersede,
            Some(&old.content),
            Some(&memory.content),
            actor,
            reason.clone(),
            now,
        );
        old_ev.meta = json!({ "superseded_by": memory.id });
        let mut new_ev = event(
            &memory,
            Op::Add,
            None,
            Some(&memory.content),
            actor,
            reason,
            now,
        );
        new_ev.meta = json!({ "supersedes": old.id });
        self.store
            .supersede_memory(&old, &old_ev, &memory, &new_ev)?;
        self.embed_memory(&memory);
        Ok(RememberOutcome::Superseded {
            memory,
            previous: old,
        })
    }

    /// A memory by id or unique prefix, with history and provenance.
    pub fn show(&self, user_id: &str, id: &str) -> Result<MemoryView> {
        let memory = self.store.get_memory(Some(user_id), id)?;
        let history = self.store.history(&memory.user_id, &memory.id)?;
        let sources = self
            .store
            .get_turns(&memory.user_id, &memory.source_turns)?;
        let current = memory.is_current(self.now());
        Ok(MemoryView {
            memory,
            history,
            sources,
            current,
        })
    }

    /// Memories matching a filter.
    pub fn list(&self, filter: &MemoryFilter) -> Result<Vec<Memory>> {
        self.store.list_memories(filter)
    }

    /// Applies an edit in place, recording old and new content.
    pub fn edit(&self, user_id: &str, id: &str, edit: MemoryEdit, actor: Actor) -> Result<Memory> {
        if edit.is_empty() {
            return Err(Error::invalid(
                "edit",
                "nothing to change; give a new text or an attribute to set",
            ));
        }
        let old = self.store.get_memory(Some(user_id), id)?;
        let now = self.now();
        if !old.is_current(now) && !old.deleted && old.valid_to.is_some() {
            return Err(Error::invalid(
                "edit",
                format!(
                    "memory {} was superseded and is history; edit the current one ({})",
                    ids::short(&old.id),
                    old.superseded_by
                        .as_deref()
                        .map(ids::short)
                        .unwrap_or("none")
                ),
            ));
        }
        let mut new = old.clone();
        let changed = apply_edit(&mut new, &edit)?;
        if let Some(key) = new
            .key
            .as_deref()
            .filter(|k| old.key.as_deref() != Some(*k))
        {
            if let Some(holder) = self.store.current_by_key(&old.scope(), key)? {
                return Err(Error::invalid(
                    "key",
                    format!(
                        "key `{key}` already belongs to memory {}; forget or re-key that one first",
                        ids::short(&holder.id)
                    ),
                ));
            }
        }
        new.updated_at = now;
        let mut ev = event(
            &new,
            Op::Update,
            Some(&old.content),
            Some(&new.content),
            actor,
            edit.reason,
            now,
        );
        ev.meta = json!({ "changed": changed });
        self.store.update_memory(&new, &ev)?;
        if new.content != old.content {
            self.embed_memory(&new);
        }
        Ok(new)
    }

    /// Forgets a memory: closes and hides it (restorable), or with `purge` removes it and
    /// its history for good.
    pub fn forget(
        &self,
        user_id: &str,
        id: &str,
        purge: bool,
        reason: Option<String>,
        actor: Actor,
    ) -> Result<Memory> {
        let mut m = self.store.get_memory(Some(user_id), id)?;
        if purge {
            self.store.purge_memory(&m.user_id, &m.id)?;
            return Ok(m);
        }
        if m.deleted {
            return Err(Error::invalid(
                "forget",
                format!(
                    "memory {} is already forgotten; purge it to remove it for good",
                    ids::short(&m.id)
                ),
            ));
        }
        let now = self.now();
        m.deleted = true;
        m.valid_to.get_or_insert(now);
        m.updated_at = now;
        let ev = event(&m, Op::Delete, Some(&m.content), None, actor, reason, now);
        self.store.update_memory(&m, &ev)?;
        Ok(m)
    }

    /// Makes a forgotten or superseded memory current again.
    pub fn restore(&self, user_id: &str, id: &str, actor: Actor) -> Result<Memory> {
        let mut m = self.store.get_memory(Some(user_id), id)?;
        if !m.deleted && m.valid_to.is_none() {
            return Err(Error::invalid(
                "restore",
                format!("memory {} is already current", ids::short(&m.id)),
            ));
        }
        if let Some(key) = &m.key {
            if let Some(holder) = self.store.current_by_key(&m.scope(), key)? {
                return Err(Error::invalid(
                    "restore",
                    format!(
                        "key `{key}` is now held by memory {}; forget that one first",
                        ids::short(&holder.id)
                    ),
                ));
            }
        }
        let now = self.now();
        m.deleted = false;
        m.valid_to = None;
        m.superseded_by = None;
        m.updated_at = now;
        let ev = event(&m, Op::Restore, None, Some(&m.content), actor, None, now);
        self.store.update_memory(&m, &ev)?;
        Ok(m)
    }

    /// Deletes everything a user has, for good.
    pub fn forget_user(&self, user_id: &str) -> Result<mnemo_core::ForgetReport> {
        check_scope(&Scope::user(user_id))?;
        self.store.forget_user(user_id)
    }

    /// Embeds a memory just stored when this process holds its user's memory index (a
    /// chat, a server: the embedder is warm), so the next recall does not have to. Otherwise
    /// the memory waits for its vector (see `retrieval::embedding`). The memory is already
    /// durable: if embedding fails, the next search embeds whatever is missing.
    fn embed_memory(&self, m: &Memory) {
        if self.embedder().is_some() && self.indexes.has_memory_index(&m.user_id) {
            let text = crate::retrieval::memory_text(m);
            let _ = self.embed_and_store(OwnerKind::Memory, &[(&m.id, &text)]);
        }
    }

    fn find_duplicate(&self, scope: &Scope, new: &NewMemory) -> Result<Option<Memory>> {
        let mut filter = MemoryFilter::scope(scope.clone());
        filter.include_user_wide = false;
        filter.kinds = vec![new.kind.clone()];
        let found = self
            .store
            .memories_with_all_words(&new.content, &filter, 50)?;
        Ok(found
            .into_iter()
            .find(|m| m.agent_id == scope.agent_id && same_text(&m.content, &new.content)))
    }
}

/// Text equality ignoring case and runs of whitespace.
fn same_text(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    norm(a) == norm(b)
}

fn validate_new(mut new: NewMemory, now: Timestamp) -> Result<NewMemory> {
    // Masked first, so duplicates and keyed values compare as they will be stored.
    new.content = crate::secrets::masked(&check_content(&new.content)?).into_owned();
    check_salience(new.salience)?;
    if let Some(k) = &new.key {
        new.key = Some(keyvalue::valid_key(k)?);
    }
    new.topic = new
        .topic
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    if let Some(e) = new.expires_at {
        if e <= now {
            return Err(Error::invalid(
                "expires",
                format!(
                    "{} is in the past; give a future date",
                    mnemo_core::time::format(&e)
                ),
            ));
        }
    }
    Ok(new)
}

fn check_content(content: &str) -> Result<String> {
    let c = content.trim();
    if c.is_empty() {
        return Err(Error::invalid("text", "the memory text is empty"));
    }
    if c.chars().count() > MAX_CONTENT_CHARS {
        return Err(Error::invalid(
            "text",
            format!("the memory text is longer than {MAX_CONTENT_CHARS} characters; split it"),
        ));
    }
    Ok(c.to_string())
}

fn check_salience(s: f32) -> Result<()> {
    if (0.0..=1.0).contains(&s) {
        Ok(())
    } else {
        Err(Error::invalid(
            "salience",
            format!("{s} is outside 0..1; give a number such as 0.5"),
        ))
    }
}

fn build_memory(scope: &Scope, new: &NewMemory, now: Timestamp) -> Memory {
    Memory {
        id: ids::new_id(),
        user_id: scope.user_id.clone(),
        agent_id: scope.agent_id.clone(),
        session_id: new.session_id.clone(),
        kind: new.kind.clone(),
        key: new.key.clone(),
        // A memory never holds a secret, whatever the turns may.
        content: crate::secrets::masked(&new.content).into_owned(),
        topic: new.topic.clone(),
        salience: new.salience,
        pinned: new.pinned,
        expires_at: new.expires_at,
        source_turns: new.source_turns.clone(),
        valid_from: now,
        valid_to: None,
        superseded_by: None,
        deleted: false,
        created_at: now,
        updated_at: now,
        access_count: 0,
        last_accessed: None,
        meta: new.meta.clone(),
    }
}

/// Applies the edit and returns the names of the fields that changed.
fn apply_edit(m: &mut Memory, e: &MemoryEdit) -> Result<Vec<&'static str>> {
    let mut changed = Vec::new();
    if let Some(c) = &e.content {
        m.content = crate::secrets::masked(&check_content(c)?).into_owned();
        changed.push("content");
    }
    if let Some(k) = &e.kind {
        m.kind = k.clone();
        changed.push("kind");
    }
    if let Some(k) = &e.key {
        m.key = k.as_deref().map(keyvalue::valid_key).transpose()?;
        changed.push("key");
    }
    if let Some(t) = &e.topic {
        m.topic = t.clone().filter(|t| !t.trim().is_empty());
        changed.push("topic");
    }
    if let Some(s) = e.salience {
        check_salience(s)?;
        m.salience = s;
        changed.push("salience");
    }
    if let Some(p) = e.pinned {
        m.pinned = p;
        changed.push("pinned");
    }
    if let Some(x) = e.expires_at {
        m.expires_at = x;
        changed.push("expires_at");
    }
    Ok(changed)
}

pub(crate) fn event(
    m: &Memory,
    op: Op,
    old: Option<&str>,
    new: Option<&str>,
    actor: Actor,
    reason: Option<String>,
    at: Timestamp,
) -> HistoryEvent {
    HistoryEvent {
        id: ids::new_id(),
        memory_id: m.id.clone(),
        user_id: m.user_id.clone(),
        op,
        old_content: old.map(str::to_string),
        new_content: new.map(str::to_string),
        actor,
        reason,
        at,
        meta: Value::Null,
    }
}
