//! The conversation log and the job queue: sequence numbers, sessions, range jobs
//! committed with their turns, deduplication, leases, retries, failure and usage.

use chrono::Duration;
use mnemo_core::{
    Dedup, Error, JobFilter, JobKind, JobStatus, NewJob, RangeJob, Role, Scope, TurnFilter,
    UsageFilter, UsageGroup, UsageRecord,
};
use serde_json::json;

use crate::fixtures::{new_turn, now, say, scope, ts};
use crate::Backend;

const ALL: [JobKind; 4] = JobKind::ALL;

fn extract(min: i64, max: i64) -> RangeJob {
    RangeJob {
        kind: JobKind::Extract,
        min_turns: min,
        max_turns: max,
        max_attempts: 3,
    }
}

pub fn turns_sessions_and_sequence_numbers(b: &dyn Backend) {
    let store = b.open();
    let s = scope("alice", None);
    let t1 = say(store.as_ref(), &s, "s1", "first", "2026-01-01T00:00:00Z");
    let t2 = say(store.as_ref(), &s, "s1", "second", "2026-01-01T00:01:00Z");
    say(
        store.as_ref(),
        &s,
        "s2",
        "other session",
        "2026-01-02T00:00:00Z",
    );
    assert_eq!((t1.seq, t2.seq), (1, 2));
    let listed = store
        .list_turns(&TurnFilter {
            scope: Some(s.clone()),
            session_id: Some("s1".into()),
            newest_first: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(listed, vec![t2.clone(), t1.clone()]);
    let all: Vec<String> = store
        .list_turns(&TurnFilter {
            scope: Some(s.clone()),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|t| t.content)
        .collect();
    assert_eq!(all, vec!["first", "second", "other session"]);
    assert_eq!(
        store
            .get_turns("alice", &[t2.id.clone(), "nope".into(), t1.id.clone()])
            .unwrap(),
        vec![t2.clone(), t1]
    );
    // Another user's turn is not found by its id.
    assert!(store
        .get_turns("bob", std::slice::from_ref(&t2.id))
        .unwrap()
        .is_empty());
    let sessions = store.list_sessions(&s, None).unwrap();
    assert_eq!(
        sessions.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
        vec!["s2", "s1"]
    );
    store
        .end_session("alice", "s1", ts("2026-01-03T00:00:00Z"))
        .unwrap();
    assert_eq!(
        store.get_session("alice", "s1").unwrap().ended_at,
        Some(ts("2026-01-03T00:00:00Z"))
    );
    assert!(matches!(
        store.get_session("bob", "s1"),
        Err(Error::NotFound { .. })
    ));
    // One of the user's agents cannot write into a user-wide session of theirs.
    let other_agent = store.add_turn(
        &new_turn(&scope("alice", Some("bot")), "s1", "agent's", None),
        1,
        now(),
    );
    assert!(
        matches!(other_agent, Err(Error::Invalid { .. })),
        "{other_agent:?}"
    );
    assert!(store.end_session("alice", "nope", now()).is_err());
    // Another user cannot end it, nor queue its session-end work.
    assert!(matches!(
        store.end_session("bob", "s2", now()),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(store.get_session("alice", "s2").unwrap().ended_at, None);
    assert!(matches!(
        store.enqueue_ranges("bob", "s2", &[extract(1, 0)], now()),
        Err(Error::NotFound { .. })
    ));
    let stats = store.stats().unwrap();
    assert_eq!((stats.users, stats.sessions, stats.turns), (1, 2, 3));
}

/// Session ids belong to their user: two users may use the same id, each gets a session
/// of their own (own sequence numbers, summaries, jobs, end, export, forget), and nothing
/// one of them does with the id reveals or touches the other's.
pub fn two_users_share_a_session_id(b: &dyn Backend) {
    let store = b.open();
    let (alice, bob) = (scope("alice", None), scope("bob", None));
    let a1 = say(
        store.as_ref(),
        &alice,
        "team-sync",
        "alice one",
        "2026-01-01T00:00:00Z",
    );
    let b1 = say(
        store.as_ref(),
        &bob,
        "team-sync",
        "bob one",
        "2026-01-01T00:00:30Z",
    );
    let a2 = say(
        store.as_ref(),
        &alice,
        "team-sync",
        "alice two",
        "2026-01-01T00:01:00Z",
    );
    assert_eq!((a1.seq, b1.seq, a2.seq), (1, 1, 2));
    let contents = |sc: &mnemo_core::Scope| -> Vec<String> {
        store
            .list_turns(&TurnFilter {
                scope: Some(sc.clone()),
                session_id: Some("team-sync".into()),
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|t| t.content)
            .collect()
    };
    assert_eq!(contents(&alice), vec!["alice one", "alice two"]);
    assert_eq!(contents(&bob), vec!["bob one"]);
    assert_eq!(
        store.get_session("bob", "team-sync").unwrap().user_id,
        "bob"
    );
    assert_eq!(store.list_sessions(&bob, None).unwrap().len(), 1);

    // Ending bob's session leaves alice's open.
    store
        .end_session("bob", "team-sync", ts("2026-01-02T00:00:00Z"))
        .unwrap();
    assert_eq!(
        store.get_session("alice", "team-sync").unwrap().ended_at,
        None
    );
    assert!(store
        .get_session("bob", "team-sync")
        .unwrap()
        .ended_at
        .is_some());

    // Range jobs count each user's turns only.
    let jobs = store
        .enqueue_ranges("alice", "team-sync", &[extract(1, 0)], now())
        .unwrap();
    assert_eq!((jobs[0].first_seq, jobs[0].last_seq), (Some(1), Some(2)));
    let jobs = store
        .enqueue_ranges("bob", "team-sync", &[extract(1, 0)], now())
        .unwrap();
    assert_eq!((jobs[0].first_seq, jobs[0].last_seq), (Some(1), Some(1)));

    // A summary of each user's session, listed per user.
    let summary = |user: &str, text: &str| mnemo_core::SessionSummary {
        id: mnemo_core::ids::new_id(),
        user_id: user.into(),
        agent_id: None,
        session_id: "team-sync".into(),
        first_seq: 1,
        last_seq: 1,
        summary: text.into(),
        created_at: ts("2026-01-02T00:00:00Z"),
        meta: serde_json::Value::Null,
    };
    store
        .add_summary(&summary("alice", "alice's summary"))
        .unwrap();
    store.add_summary(&summary("bob", "bob's summary")).unwrap();
    let listed = store.list_summaries(&bob, Some("team-sync")).unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|s| s.summary.as_str())
            .collect::<Vec<_>>(),
        vec!["bob's summary"]
    );

    // Idle sessions name both, each with its user.
    let mut idle = store.idle_sessions(ts("2026-02-01T00:00:00Z"), 10).unwrap();
    idle.sort();
    assert_eq!(
        idle,
        vec![("alice".to_owned(), "team-sync".to_owned())],
        "bob's ended session is not idle, alice's is"
    );

    // A user's export holds their session alone.
    let exported = store.export(Some("bob")).unwrap();
    let sessions = exported
        .iter()
        .filter(|r| matches!(r, mnemo_core::Record::Session(_)))
        .count();
    assert_eq!(sessions, 1);

    // Forgetting bob leaves alice's session of the same id whole.
    store.forget_user("bob").unwrap();
    assert_eq!(contents(&alice), vec!["alice one", "alice two"]);
    assert_eq!(
        store
            .list_summaries(&alice, Some("team-sync"))
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        store.get_session("bob", "team-sync"),
        Err(Error::NotFound { .. })
    ));

    // Bob's export comes back beside alice's session of the same id, and replacing it
    // touches his alone.
    let report = store
        .import(&exported[1..], mnemo_core::ImportMode::SkipExisting)
        .unwrap();
    assert_eq!(report.skipped, 0, "{report:?}");
    store
        .import(&exported[1..], mnemo_core::ImportMode::Replace)
        .unwrap();
    assert_eq!(contents(&bob), vec!["bob one"]);
    assert_eq!(contents(&alice), vec!["alice one", "alice two"]);
    assert_eq!(
        store.get_session("alice", "team-sync").unwrap().ended_at,
        None
    );
}

pub fn range_jobs_commit_with_their_turns(b: &dyn Backend) {
    let store = b.open();
    let s = scope("ann", None);
    let turns: Vec<_> = (0..7)
        .map(|i| (new_turn(&s, "s", &format!("turn {i}"), None), 2))
        .collect();
    let (recorded, jobs) = store
        .add_turns_with_jobs(&turns[..2], &[extract(3, 0)], now())
        .unwrap();
    assert_eq!(recorded.len(), 2);
    assert!(jobs.is_empty(), "two turns are fewer than three");
    let (_, jobs) = store
        .add_turns_with_jobs(&turns[2..], &[extract(3, 3)], now())
        .unwrap();
    let ranges: Vec<_> = jobs.iter().map(|j| (j.first_seq, j.last_seq)).collect();
    assert_eq!(ranges, vec![(Some(1), Some(3)), (Some(4), Some(6))]);
    let ended = store
        .enqueue_ranges("ann", "s", &[extract(1, 0)], now())
        .unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!((ended[0].first_seq, ended[0].last_seq), (Some(7), Some(7)));
    assert!(
        store
            .enqueue_ranges("ann", "s", &[extract(1, 0)], now())
            .unwrap()
            .is_empty(),
        "nothing left"
    );
    let mixed = [
        (new_turn(&s, "a", "x", None), 1),
        (new_turn(&s, "b", "y", None), 1),
    ];
    assert!(store.add_turns_with_jobs(&mixed, &[], now()).is_err());
    assert!(store
        .list_turns(&TurnFilter {
            session_id: Some("a".into()),
            ..Default::default()
        })
        .unwrap()
        .is_empty());
}

pub fn jobs_deduplicate_lease_and_fail(b: &dyn Backend) {
    let store = b.open();
    let sc = scope("ann", None);
    let once = NewJob::new(JobKind::Reconcile, sc.clone(), "x/0", json!({"cell": 1}));
    let a = store
        .enqueue_jobs(std::slice::from_ref(&once), now())
        .unwrap()
        .remove(0);
    assert_eq!(
        store
            .enqueue_jobs(std::slice::from_ref(&once), now())
            .unwrap()[0]
            .id,
        a.id
    );
    assert_eq!(a.payload, json!({"cell": 1}));
    let topic = NewJob {
        dedup: Dedup::Coalesce,
        ..NewJob::new(JobKind::Topic, sc.clone(), ":work", json!({}))
    };
    let t1 = store
        .enqueue_jobs(std::slice::from_ref(&topic), now())
        .unwrap()
        .remove(0);
    assert_eq!(
        store
            .enqueue_jobs(std::slice::from_ref(&topic), now())
            .unwrap()[0]
            .id,
        t1.id
    );
    let leased = store
        .lease_job("w", &[JobKind::Topic], now(), now() + Duration::minutes(5))
        .unwrap()
        .unwrap();
    assert_eq!((leased.id.as_str(), leased.attempts), (t1.id.as_str(), 1));
    let t2 = store
        .enqueue_jobs(std::slice::from_ref(&topic), now())
        .unwrap()
        .remove(0);
    assert_ne!(t2.id, t1.id, "a running job does not absorb a new touch");
    let folded = store
        .fail_job(
            &t1.id,
            leased.lease_owner.as_deref().unwrap(),
            "429",
            Some(now()),
            now(),
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        (folded.status, folded.result.clone()),
        (JobStatus::Done, json!({"folded_into": t2.id}))
    );

    // Expired leases are taken over; the old worker can no longer complete.
    let first = store
        .lease_job(
            "w1",
            &[JobKind::Reconcile],
            now(),
            now() + Duration::minutes(10),
        )
        .unwrap()
        .unwrap();
    assert!(store
        .lease_job("w2", &[JobKind::Reconcile], now(), now())
        .unwrap()
        .is_none());
    let later = now() + Duration::minutes(11);
    let second = store
        .lease_job("w2", &ALL, later, later + Duration::minutes(10))
        .unwrap()
        .unwrap();
    assert_eq!(
        (second.id.as_str(), second.attempts),
        (first.id.as_str(), 2)
    );
    assert!(second
        .last_error
        .clone()
        .unwrap()
        .contains("lease of attempt 1 expired"));
    assert!(!store
        .complete_job(
            &first.id,
            first.lease_owner.as_deref().unwrap(),
            &json!({}),
            &[],
            later
        )
        .unwrap());
    let follow = NewJob::new(JobKind::Extract, sc.clone(), "follow", json!({}));
    assert!(store
        .complete_job(
            &second.id,
            second.lease_owner.as_deref().unwrap(),
            &json!({"n": 1}),
            &[follow],
            later
        )
        .unwrap());
    let done = store.get_job(Some("ann"), &second.id[..8]).unwrap();
    assert_eq!(
        (done.status, done.result),
        (JobStatus::Done, json!({"n": 1}))
    );

    // Failures back off, then fail for good; a release does not count an attempt.
    let j = store
        .lease_job(
            "w",
            &[JobKind::Extract],
            later,
            later + Duration::minutes(1),
        )
        .unwrap()
        .unwrap();
    assert!(store
        .release_job(
            &j.id,
            j.lease_owner.as_deref().unwrap(),
            "no model",
            later,
            later
        )
        .unwrap());
    assert_eq!(store.get_job(None, &j.id).unwrap().attempts, 0);
    let mut current = j.id.clone();
    for attempt in 1..=5 {
        let got = store
            .lease_job(
                "w",
                &[JobKind::Extract],
                later,
                later + Duration::minutes(1),
            )
            .unwrap()
            .unwrap();
        assert_eq!((got.id.as_str(), got.attempts), (current.as_str(), attempt));
        let after = store
            .fail_job(
                &got.id,
                got.lease_owner.as_deref().unwrap(),
                "bad json",
                Some(later),
                later,
            )
            .unwrap()
            .unwrap();
        let expected = if attempt < 5 {
            JobStatus::Queued
        } else {
            JobStatus::Failed
        };
        assert_eq!(after.status, expected, "attempt {attempt}");
        current = after.id;
    }
    let counts = store.job_counts(Some("ann"), later).unwrap();
    assert_eq!(
        (counts.failed, counts.done, counts.queued, counts.ready),
        (1, 2, 1, 1)
    );
    let rerun = store.retry_job(&current, later).unwrap();
    assert_eq!((rerun.status, rerun.attempts), (JobStatus::Queued, 0));
    // Retrying a job that is queued already only makes it due now.
    let again = store.retry_job(&current, later).unwrap();
    assert_eq!((again.status, again.attempts), (JobStatus::Queued, 0));
    let failed = store
        .list_jobs(&JobFilter {
            statuses: vec![JobStatus::Failed],
            ..Default::default()
        })
        .unwrap();
    assert!(failed.is_empty());
}

pub fn a_crash_on_the_last_attempt_fails_the_job(b: &dyn Backend) {
    let store = b.open();
    let job = NewJob {
        max_attempts: 1,
        ..NewJob::new(JobKind::Topic, scope("ann", None), "t", json!({}))
    };
    store.enqueue_jobs(&[job], now()).unwrap();
    store
        .lease_job("w", &ALL, now(), now() + Duration::minutes(1))
        .unwrap()
        .unwrap();
    let later = now() + Duration::minutes(2);
    assert!(store.lease_job("w2", &ALL, later, later).unwrap().is_none());
    let failed = store
        .list_jobs(&JobFilter {
            statuses: vec![JobStatus::Failed],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].last_error.as_deref().unwrap().contains("crashed"));
}

pub fn usage_totals(b: &dyn Backend) {
    let store = b.open();
    let rec = |user: &str, model: &str, i: u64| UsageRecord {
        job_id: None,
        user_id: user.into(),
        agent_id: None,
        task: "extract".into(),
        provider: "ollama".into(),
        model: model.into(),
        input_tokens: i,
        output_tokens: 1,
        at: now(),
    };
    store.record_usage(&rec("ann", "a", 10)).unwrap();
    store.record_usage(&rec("ann", "b", 100)).unwrap();
    store.record_usage(&rec("bob", "a", 5)).unwrap();
    let by_model = store.usage(&UsageFilter::default()).unwrap();
    let rows: Vec<_> = by_model
        .iter()
        .map(|r| (r.key.as_str(), r.calls, r.input_tokens))
        .collect();
    assert_eq!(rows, vec![("ollama/b", 1, 100), ("ollama/a", 2, 15)]);
    let by_user = store
        .usage(&UsageFilter {
            user_id: Some("ann".into()),
            group: UsageGroup::User,
            since: Some(ts("2026-01-01T00:00:00Z")),
        })
        .unwrap();
    assert_eq!(by_user.len(), 2);
    assert!(store
        .usage(&UsageFilter {
            since: Some(now() + Duration::days(1)),
            ..Default::default()
        })
        .unwrap()
        .is_empty());
    // By UTC day: one row per day and model, keyed `YYYY-MM-DD`.
    let mut late = rec("ann", "a", 7);
    late.at = ts("2026-03-04T23:59:59Z");
    store.record_usage(&late).unwrap();
    let by_day = store
        .usage(&UsageFilter {
            user_id: Some("ann".into()),
            group: UsageGroup::Day,
            since: None,
        })
        .unwrap();
    let today = now().format("%Y-%m-%d").to_string();
    let mut days: Vec<_> = by_day
        .iter()
        .map(|r| (r.key.clone(), r.model.clone(), r.input_tokens))
        .collect();
    days.sort();
    let mut want = vec![
        ("2026-03-04".to_owned(), "ollama/a".to_owned(), 7),
        (today.clone(), "ollama/a".to_owned(), 10),
        (today, "ollama/b".to_owned(), 100),
    ];
    want.sort();
    assert_eq!(days, want);
    let _ = (Role::User, Scope::user("x"));
}
