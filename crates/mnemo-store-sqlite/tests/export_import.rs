//! Export → import → export is the identity; imports are all-or-nothing with line numbers.

mod common;

use chrono::{TimeZone, Utc};
use common::{event, memory, now, put, say, scope, store};
use mnemo_core::{
    ids, Actor, Error, HistoryEvent, ImportMode, ImportReport, Kind, Memory, Op, Record,
    SessionSummary, Store, Timestamp, Topic,
};
use proptest::prelude::*;
use serde_json::Value;

/// A store with one of everything, for two users.
fn populated() -> (tempfile::TempDir, mnemo_store_sqlite::SqliteStore) {
    let (dir, store) = store();
    for user in ["alice", "bob"] {
        let s = scope(user, None);
        let t = say(
            &store,
            &s,
            &format!("{user}-s1"),
            "hello there",
            "2026-01-01T00:00:00Z",
        );
        say(
            &store,
            &s,
            &format!("{user}-s1"),
            "second",
            "2026-01-01T00:01:00Z",
        );
        let mut m = memory(&scope(user, Some("bot")), "a fact", "2026-01-01T00:02:00Z");
        m.source_turns = vec![t.id.clone()];
        m.session_id = Some(t.session_id.clone());
        put(&store, &m);
        store
            .upsert_topic(&Topic {
                id: ids::new_id(),
                user_id: user.into(),
                agent_id: None,
                name: "greetings".into(),
                summary: "they say hello".into(),
                updated_at: now(),
                meta: serde_json::json!({"v": 1}),
            })
            .unwrap();
        store
            .add_summary(&SessionSummary {
                id: ids::new_id(),
                user_id: user.into(),
                agent_id: None,
                session_id: t.session_id.clone(),
                first_seq: 1,
                last_seq: 2,
                summary: "greetings".into(),
                created_at: now(),
                meta: Value::Null,
            })
            .unwrap();
        store.end_session(&t.user_id, &t.session_id, now()).unwrap();
    }
    (dir, store)
}

#[test]
fn a_full_export_round_trips_and_reimports_idempotently() {
    let (_d1, a) = populated();
    let exported = a.export(None).unwrap();
    assert!(matches!(&exported[0], Record::Header(h) if h.user_id.is_none()));
    assert_eq!(exported.len(), 1 + 2 * (1 + 2 + 1 + 1 + 1 + 1));

    let (_d2, b) = store();
    let report = b.import(&exported, ImportMode::SkipExisting).unwrap();
    assert_eq!(
        report,
        ImportReport {
            inserted: 14,
            replaced: 0,
            skipped: 0
        }
    );
    assert_eq!(b.export(None).unwrap(), exported);

    let again = b.import(&exported, ImportMode::SkipExisting).unwrap();
    assert_eq!(
        again,
        ImportReport {
            inserted: 0,
            replaced: 0,
            skipped: 14
        }
    );
    let replaced = b.import(&exported, ImportMode::Replace).unwrap();
    assert_eq!(
        replaced,
        ImportReport {
            inserted: 0,
            replaced: 14,
            skipped: 0
        }
    );
    assert_eq!(b.export(None).unwrap(), exported);

    // One user's export holds only that user.
    let alice = a.export(Some("alice")).unwrap();
    assert_eq!(alice.len(), 8);
    assert!(alice.iter().all(|r| match r {
        Record::Header(h) => h.user_id.as_deref() == Some("alice"),
        Record::Session(s) => s.user_id == "alice",
        Record::Turn(t) => t.user_id == "alice",
        Record::Memory(m) => m.user_id == "alice",
        Record::History(h) => h.user_id == "alice",
        Record::Topic(t) => t.user_id == "alice",
        Record::Summary(s) => s.user_id == "alice",
    }));
}

#[test]
fn a_bad_record_rolls_back_everything_and_names_its_line() {
    let (_d, a) = populated();
    let mut records = a.export(Some("alice")).unwrap();
    let mut bad = memory(&scope("alice", None), "bad", "2026-01-01T00:00:00Z");
    bad.salience = 2.0;
    records.insert(4, Record::Memory(bad));
    let (_d2, b) = store();
    match b.import(&records, ImportMode::SkipExisting) {
        Err(Error::ImportLine { line, reason }) => {
            assert_eq!(line, 5);
            assert!(reason.contains("salience"), "{reason}");
        }
        other => panic!("expected ImportLine, got {other:?}"),
    }
    assert_eq!(b.export(None).unwrap().len(), 1, "nothing was imported");
    assert!(b.users().unwrap().is_empty());
}

#[test]
fn references_must_exist_and_users_must_agree() {
    let (_d, a) = populated();
    let records = a.export(Some("alice")).unwrap();
    let (_d2, b) = store();
    // A turn without its session.
    let turn = records
        .iter()
        .find(|r| matches!(r, Record::Turn(_)))
        .unwrap()
        .clone();
    let err = b.import(&[turn], ImportMode::SkipExisting).unwrap_err();
    assert!(
        matches!(err, Error::ImportLine { line: 1, ref reason } if reason.contains("session")),
        "{err:?}"
    );
    // A history event claiming another user than its memory.
    let m = memory(&scope("carol", None), "x", "2026-01-01T00:00:00Z");
    let mut e = event(&m, Op::Add, now());
    e.user_id = "dave".into();
    let err = b
        .import(
            &[Record::Memory(m.clone()), Record::History(e)],
            ImportMode::SkipExisting,
        )
        .unwrap_err();
    assert!(matches!(err, Error::ImportLine { line: 2, .. }), "{err:?}");
    // A memory id that belongs to another user is never replaced.
    let mut stolen = m.clone();
    b.import(&[Record::Memory(m)], ImportMode::SkipExisting)
        .unwrap();
    stolen.user_id = "mallory".into();
    let err = b
        .import(&[Record::Memory(stolen)], ImportMode::Replace)
        .unwrap_err();
    assert!(matches!(err, Error::ImportLine { line: 1, .. }), "{err:?}");
    // Malformed ids are refused.
    let mut odd = memory(&scope("carol", None), "x", "2026-01-01T00:00:00Z");
    odd.id = "XYZ".into();
    assert!(b
        .import(&[Record::Memory(odd)], ImportMode::SkipExisting)
        .is_err());
}

// --- property: arbitrary memories and history round-trip exactly --------------------------

fn arb_ts() -> impl Strategy<Value = Timestamp> {
    // 2000-01-01 .. 2100-01-01, microsecond precision.
    (946_684_800_000_000i64..4_102_444_800_000_000i64)
        .prop_map(|us| Utc.timestamp_micros(us).single().expect("in range"))
}

fn arb_meta() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        proptest::collection::btree_map(
            "[a-z_]{1,6}",
            prop_oneof![
                any::<String>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<bool>().prop_map(Value::from),
            ],
            0..4
        )
        .prop_map(|m| Value::Object(m.into_iter().collect())),
    ]
}

fn arb_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        proptest::sample::select(Kind::BUILTIN.to_vec()),
        "[a-z][a-z0-9_-]{0,12}".prop_map(|s| s.parse().expect("valid custom kind")),
    ]
}

fn arb_memory() -> impl Strategy<Value = Memory> {
    (
        (
            proptest::sample::select(vec!["alice", "bob", "ünïcode user"]),
            proptest::option::of(proptest::sample::select(vec!["bot", "助手"])),
            proptest::option::of("[a-z0-9]{1,8}"),
            arb_kind(),
            proptest::option::of(any::<String>()),
            any::<String>(),
            proptest::option::of(any::<String>()),
        ),
        (
            0.0f32..=1.0,
            any::<bool>(),
            proptest::option::of(arb_ts()),
            proptest::collection::vec("[0-9a-f]{32}|\\PC{1,10}", 0..4),
            arb_ts(),
            proptest::option::of(arb_ts()),
            proptest::option::of("[0-9a-f]{32}"),
        ),
        (
            any::<bool>(),
            arb_ts(),
            arb_ts(),
            0..=(i64::MAX as u64),
            proptest::option::of(arb_ts()),
            arb_meta(),
        ),
    )
        .prop_map(|(a, b, c)| Memory {
            id: String::new(),
            user_id: a.0.to_owned(),
            agent_id: a.1.map(str::to_owned),
            session_id: a.2,
            kind: a.3,
            key: a.4,
            content: a.5,
            topic: a.6,
            salience: b.0,
            pinned: b.1,
            expires_at: b.2,
            source_turns: b.3.into_iter().filter(|t| !t.trim().is_empty()).collect(),
            valid_from: b.4,
            valid_to: b.5,
            superseded_by: b.6,
            deleted: c.0,
            created_at: c.1,
            updated_at: c.2,
            access_count: c.3,
            last_accessed: c.4,
            meta: c.5,
        })
}

type EventParts = (
    Op,
    Option<String>,
    Option<String>,
    Actor,
    Option<String>,
    Timestamp,
    Value,
);

fn arb_event_parts() -> impl Strategy<Value = EventParts> {
    (
        proptest::sample::select(Op::ALL.to_vec()),
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<String>()),
        proptest::sample::select(Actor::ALL.to_vec()),
        proptest::option::of(any::<String>()),
        arb_ts(),
        arb_meta(),
    )
}

/// Gives every generated record a distinct, deterministic id (shrinking cannot collide).
fn build(memories: Vec<(Memory, Vec<EventParts>)>) -> (Vec<Memory>, Vec<HistoryEvent>) {
    let mut ms = Vec::new();
    let mut hs = Vec::new();
    for (i, (mut m, events)) in memories.into_iter().enumerate() {
        m.id = format!("{:032x}", i + 1);
        for (j, (op, old, new, actor, reason, at, meta)) in events.into_iter().enumerate() {
            hs.push(HistoryEvent {
                id: format!("{:032x}", 0x1000 * (i + 1) + j),
                memory_id: m.id.clone(),
                user_id: m.user_id.clone(),
                op,
                old_content: old,
                new_content: new,
                actor,
                reason,
                at,
                meta,
            });
        }
        ms.push(m);
    }
    (ms, hs)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn memories_and_history_round_trip_exactly(
        generated in proptest::collection::vec(
            (arb_memory(), proptest::collection::vec(arb_event_parts(), 0..3)),
            0..6,
        )
    ) {
        let (memories, events) = build(generated);
        let mut records: Vec<Record> = memories.iter().cloned().map(Record::Memory).collect();
        records.extend(events.iter().cloned().map(Record::History));

        let (_d1, a) = store();
        let report = a.import(&records, ImportMode::SkipExisting).unwrap();
        prop_assert_eq!(report.inserted as usize, records.len());

        // Every field is preserved: the export holds exactly what was imported.
        let exported = a.export(None).unwrap();
        let mut expected_m = memories.clone();
        expected_m.sort_by(|x, y| (x.created_at, &x.id).cmp(&(y.created_at, &y.id)));
        let mut expected_h = events.clone();
        expected_h.sort_by(|x, y| (x.at, &x.id).cmp(&(y.at, &y.id)));
        let got_m: Vec<Memory> = exported.iter().filter_map(|r| match r {
            Record::Memory(m) => Some(m.clone()),
            _ => None,
        }).collect();
        let got_h: Vec<HistoryEvent> = exported.iter().filter_map(|r| match r {
            Record::History(h) => Some(h.clone()),
            _ => None,
        }).collect();
        prop_assert_eq!(got_m, expected_m);
        prop_assert_eq!(got_h, expected_h);

        // Through JSON Lines and into an empty database: the same export again.
        let lines: Vec<String> = exported.iter().map(|r| serde_json::to_string(r).unwrap()).collect();
        let parsed: Vec<Record> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        prop_assert_eq!(&parsed, &exported);
        let (_d2, b) = store();
        b.import(&parsed, ImportMode::SkipExisting).unwrap();
        prop_assert_eq!(b.export(None).unwrap(), exported);
    }
}
