//! Builders for records with fixed times, shared by the suite's tests.

use mnemo_core::{
    ids, time, Actor, HistoryEvent, Kind, Memory, NewTurn, Op, Role, Scope, Store, Timestamp, Turn,
};
use serde_json::Value;

pub fn ts(s: &str) -> Timestamp {
    time::parse(s).expect("test timestamp")
}

/// "Now" for every store of the suite.
pub fn now() -> Timestamp {
    ts("2026-06-01T12:00:00Z")
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
pub fn put(store: &dyn Store, m: &Memory) {
    store
        .insert_memory(m, &event(m, Op::Add, m.created_at))
        .expect("insert memory");
}

pub fn new_turn(scope: &Scope, session: &str, text: &str, at: Option<&str>) -> NewTurn {
    NewTurn {
        id: None,
        scope: scope.clone(),
        session_id: session.to_owned(),
        role: Role::User,
        content: text.to_owned(),
        created_at: at.map(ts),
        meta: Value::Null,
    }
}

pub fn say(store: &dyn Store, scope: &Scope, session: &str, text: &str, at: &str) -> Turn {
    store
        .add_turn(&new_turn(scope, session, text, Some(at)), 3, now())
        .expect("add turn")
}

/// The export as JSON Lines, exactly as `mnemo export` writes it.
pub fn export_lines(store: &dyn Store, user: Option<&str>) -> String {
    let mut out = String::new();
    for record in store.export(user).expect("export") {
        out.push_str(&serde_json::to_string(&record).expect("serialize"));
        out.push('\n');
    }
    out
}

/// A kind other than the default, to see it round-trip.
pub fn kind(name: &str) -> Kind {
    name.parse().expect("kind")
}
