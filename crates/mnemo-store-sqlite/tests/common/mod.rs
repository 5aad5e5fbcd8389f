//! Shared fixtures for the integration tests: a store on a real temp file, and builders for
//! memories, events and turns with fixed times.
#![allow(dead_code)]

use std::sync::Arc;

use mnemo_core::{
    ids, time, Actor, FixedClock, HistoryEvent, Kind, Memory, NewTurn, Op, Role, Scope, Store,
    Timestamp, Turn,
};
use mnemo_store_sqlite::SqliteStore;
use serde_json::Value;
use tempfile::TempDir;

pub fn ts(s: &str) -> Timestamp {
    time::parse(s).expect("test timestamp")
}

/// "Now" for every test store.
pub fn now() -> Timestamp {
    ts("2026-06-01T12:00:00Z")
}

/// A fresh store in a temp directory (kept alive by the returned guard).
pub fn store() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("mnemo.db"))
        .expect("open")
        .with_clock(Arc::new(FixedClock(now())));
    (dir, store)
}

pub fn scope(user: &str, agent: Option<&str>) -> Scope {
    Scope::user(user).with_agent(agent.map(str::to_owned))
}

pub fn memory(scope: &Scope, content: &str, created: &str) -> Memory {
    let t = ts(created);
    Memory {
        id: ids::new_id(),
        user_id: scope.user_id.clone(),
        agent_id: scope.agent_id.clone(),
        session_id: None,
        kind: Kind::Fact,
        key: None,
        content: content.to_owned(),
        topic: None,
        salience: 0.5,
        pinned: false,
        expires_at: None,
        source_turns: vec![],
        valid_from: t,
        valid_to: None,
        superseded_by: None,
        deleted: false,
        created_at: t,
        updated_at: t,
        access_count: 0,
        last_accessed: None,
        meta: Value::Null,
    }
}

pub fn event(m: &Memory, op: Op, at: Timestamp) -> HistoryEvent {
    HistoryEvent {
        id: ids::new_id(),
        memory_id: m.id.clone(),
        user_id: m.user_id.clone(),
        op,
        old_content: None,
        new_content: Some(m.content.clone()),
        actor: Actor::Cli,
        reason: None,
        at,
        meta: Value::Null,
    }
}

/// Inserts `m` with its `add` event.
pub fn put(store: &SqliteStore, m: &Memory) {
    store
        .insert_memory(m, &event(m, Op::Add, m.created_at))
        .expect("insert memory");
}

pub fn say(store: &SqliteStore, scope: &Scope, session: &str, text: &str, at: &str) -> Turn {
    let turn = NewTurn {
        id: None,
        scope: scope.clone(),
        session_id: session.to_owned(),
        role: Role::User,
        content: text.to_owned(),
        created_at: Some(ts(at)),
        meta: Value::Null,
    };
    store.add_turn(&turn, 3, now()).expect("add turn")
}
