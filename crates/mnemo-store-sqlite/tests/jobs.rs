//! The job queue: idempotent enqueue, turn ranges committed with their turns, leases that
//! expire (a crashed worker's job is taken again), retries, permanent failure after the
//! last attempt, re-running, usage totals, and forgetting a user.

mod common;

use chrono::Duration;
use common::{now, scope, store};
use mnemo_core::{
    Dedup, JobFilter, JobKind, JobStatus, JobStore, NewJob, NewTurn, RangeJob, Role, Scope, Store,
    UsageFilter, UsageGroup, UsageRecord,
};
use serde_json::{json, Value};

fn turn(scope: &Scope, session: &str, role: Role, text: &str) -> (NewTurn, u32) {
    let t = NewTurn {
        id: None,
        scope: scope.clone(),
        session_id: session.into(),
        role,
        content: text.into(),
        created_at: None,
        meta: Value::Null,
    };
    (t, 3)
}

fn extract(min: i64) -> RangeJob {
    RangeJob {
        kind: JobKind::Extract,
        min_turns: min,
        max_turns: 0,
        max_attempts: 3,
    }
}

const ALL: [JobKind; 4] = JobKind::ALL;

#[test]
fn turns_and_their_range_jobs_commit_together_and_ranges_never_overlap() {
    let (_d, s) = store();
    let sc = scope("ann", None);
    let summary = RangeJob {
        kind: JobKind::Summarize,
        min_turns: 4,
        max_turns: 0,
        max_attempts: 3,
    };
    let pair = [
        turn(&sc, "s1", Role::User, "I moved to Oslo"),
        turn(&sc, "s1", Role::Assistant, "Nice!"),
    ];
    let (turns, jobs) = s
        .add_turns_with_jobs(&pair, &[extract(1), summary], now())
        .unwrap();
    assert_eq!(turns.len(), 2);
    assert_eq!(jobs.len(), 1, "two turns are too few for a summary");
    let j = &jobs[0];
    assert_eq!(
        (j.kind, j.first_seq, j.last_seq),
        (JobKind::Extract, Some(1), Some(2))
    );
    assert_eq!(j.status, JobStatus::Queued);
    assert_eq!(j.session_id.as_deref(), Some("s1"));

    let (_, jobs) = s
        .add_turns_with_jobs(&pair, &[extract(1), summary], now())
        .unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!((jobs[0].first_seq, jobs[0].last_seq), (Some(3), Some(4)));
    assert_eq!(
        (jobs[1].kind, jobs[1].first_seq, jobs[1].last_seq),
        (JobKind::Summarize, Some(1), Some(4))
    );
    // Nothing new to cover: nothing enqueued.
    assert!(s
        .enqueue_ranges("ann", "s1", &[extract(1), summary], now())
        .unwrap()
        .is_empty());
    let err = s.add_turns_with_jobs(
        &[
            turn(&sc, "s1", Role::User, "a"),
            turn(&sc, "s2", Role::User, "b"),
        ],
        &[],
        now(),
    );
    assert!(
        err.is_err(),
        "turns of two sessions in one call are refused"
    );
    assert_eq!(
        s.list_turns(&Default::default()).unwrap().len(),
        4,
        "and nothing was written"
    );
}

#[test]
fn a_long_backlog_is_split_into_ranges_of_at_most_max_turns() {
    let (_d, s) = store();
    let sc = scope("ann", None);
    let backlog: Vec<(NewTurn, u32)> = (0..7)
        .map(|i| turn(&sc, "s", Role::User, &format!("note {i}")))
        .collect();
    s.add_turns_with_jobs(&backlog, &[], now()).unwrap();
    let chunked = RangeJob {
        max_turns: 3,
        ..extract(1)
    };
    let jobs = s.enqueue_ranges("ann", "s", &[chunked], now()).unwrap();
    let ranges: Vec<(Option<i64>, Option<i64>)> =
        jobs.iter().map(|j| (j.first_seq, j.last_seq)).collect();
    assert_eq!(
        ranges,
        [(Some(1), Some(3)), (Some(4), Some(6)), (Some(7), Some(7))]
    );
    let summary = RangeJob {
        kind: JobKind::Summarize,
        min_turns: 3,
        max_turns: 3,
        max_attempts: 3,
    };
    let jobs = s.enqueue_ranges("ann", "s", &[summary], now()).unwrap();
    assert_eq!(jobs.len(), 2, "the 7th turn waits for two more");
}

#[test]
fn once_jobs_are_never_duplicated_and_coalescing_jobs_fold_while_queued() {
    let (_d, s) = store();
    let sc = scope("ann", None);
    let once = NewJob::new(JobKind::Reconcile, sc.clone(), "x/0", json!({"cell": 1}));
    let a = s
        .enqueue_jobs(std::slice::from_ref(&once), now())
        .unwrap()
        .remove(0);
    let b = s
        .enqueue_jobs(std::slice::from_ref(&once), now())
        .unwrap()
        .remove(0);
    assert_eq!(a.id, b.id);
    let other_user = NewJob::new(JobKind::Reconcile, scope("bob", None), "x/0", json!({}));
    assert_ne!(s.enqueue_jobs(&[other_user], now()).unwrap()[0].id, a.id);

    let topic = NewJob {
        dedup: Dedup::Coalesce,
        ..NewJob::new(
            JobKind::Topic,
            sc.clone(),
            ":work",
            json!({"topic": "work"}),
        )
    };
    let t1 = s
        .enqueue_jobs(std::slice::from_ref(&topic), now())
        .unwrap()
        .remove(0);
    assert_eq!(
        s.enqueue_jobs(std::slice::from_ref(&topic), now()).unwrap()[0].id,
        t1.id
    );
    // Once it runs, a new touch needs a new job.
    let leased = s
        .lease_job("w", &[JobKind::Topic], now(), now() + Duration::minutes(5))
        .unwrap()
        .unwrap();
    assert_eq!(leased.id, t1.id);
    let t2 = s
        .enqueue_jobs(std::slice::from_ref(&topic), now())
        .unwrap()
        .remove(0);
    assert_ne!(t2.id, t1.id);
    // The running one fails and would be queued again: it folds into the waiting twin.
    let lease = leased.lease_owner.unwrap();
    let after = s
        .fail_job(&t1.id, &lease, "429", Some(now()), now())
        .unwrap()
        .unwrap();
    assert_eq!(after.status, JobStatus::Done);
    assert_eq!(after.result["folded_into"], json!(t2.id));
}

#[test]
fn an_expired_lease_is_taken_over_and_the_old_worker_cannot_complete() {
    let (_d, s) = store();
    let sc = scope("ann", None);
    s.add_turns_with_jobs(
        &[turn(&sc, "s", Role::Assistant, "hi")],
        &[extract(1)],
        now(),
    )
    .unwrap();
    let lease_for = Duration::minutes(10);
    let first = s
        .lease_job("w1", &ALL, now(), now() + lease_for)
        .unwrap()
        .unwrap();
    assert_eq!((first.status, first.attempts), (JobStatus::Running, 1));
    assert!(s
        .lease_job("w2", &ALL, now(), now() + lease_for)
        .unwrap()
        .is_none());
    // w1 dies. After the lease, w2 takes the job.
    let later = now() + Duration::minutes(11);
    let second = s
        .lease_job("w2", &ALL, later, later + lease_for)
        .unwrap()
        .unwrap();
    assert_eq!(second.id, first.id);
    assert_eq!(second.attempts, 2);
    assert!(second
        .last_error
        .unwrap()
        .contains("lease of attempt 1 expired"));
    let stale = first.lease_owner.unwrap();
    assert!(!s
        .complete_job(&first.id, &stale, &json!({}), &[], later)
        .unwrap());
    let lease = second.lease_owner.unwrap();
    let follow = NewJob::new(
        JobKind::Reconcile,
        sc.clone(),
        format!("{}/0", first.id),
        json!({}),
    );
    assert!(s
        .complete_job(&first.id, &lease, &json!({"cells": 1}), &[follow], later)
        .unwrap());
    let done = s.get_job(None, &first.id[..8]).unwrap();
    assert_eq!(
        (done.status, done.result.clone()),
        (JobStatus::Done, json!({"cells": 1}))
    );
    assert!(done.finished_at.is_some());
    let queued = s
        .list_jobs(&JobFilter {
            statuses: vec![JobStatus::Queued],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        queued.len(),
        1,
        "the follow-up was enqueued with the completion"
    );
    assert_eq!(queued[0].kind, JobKind::Reconcile);
}

#[test]
fn failures_back_off_then_fail_for_good_and_can_be_rerun() {
    let (_d, s) = store();
    let sc = scope("ann", None);
    s.add_turns_with_jobs(
        &[turn(&sc, "s", Role::Assistant, "hi")],
        &[extract(1)],
        now(),
    )
    .unwrap();
    let mut t = now();
    for attempt in 1..=3u32 {
        let job = s
            .lease_job("w", &ALL, t, t + Duration::minutes(1))
            .unwrap()
            .expect("due");
        assert_eq!(job.attempts, attempt);
        let retry_at = t + Duration::seconds(30);
        let after = s
            .fail_job(
                &job.id,
                job.lease_owner.as_deref().unwrap(),
                "bad JSON",
                Some(retry_at),
                t,
            )
            .unwrap()
            .unwrap();
        if attempt < 3 {
            assert_eq!(
                (after.status, after.next_run_at),
                (JobStatus::Queued, retry_at)
            );
            assert!(
                s.lease_job("w", &ALL, t, t).unwrap().is_none(),
                "not due yet"
            );
        } else {
            assert_eq!(after.status, JobStatus::Failed);
            assert_eq!(after.last_error.as_deref(), Some("bad JSON"));
        }
        t = retry_at;
    }
    let counts = s.job_counts(Some("ann"), t).unwrap();
    assert_eq!((counts.failed, counts.queued), (1, 0));
    let failed = s.list_jobs(&JobFilter::default()).unwrap().remove(0);
    let again = s.retry_job(&failed.id, t).unwrap();
    assert_eq!((again.status, again.attempts), (JobStatus::Queued, 0));
    assert_eq!(s.job_counts(None, t).unwrap().ready, 1);
    // A model that is down does not use up attempts.
    let job = s
        .lease_job("w", &ALL, t, t + Duration::minutes(1))
        .unwrap()
        .unwrap();
    assert!(s
        .release_job(
            &job.id,
            job.lease_owner.as_deref().unwrap(),
            "unreachable",
            t,
            t
        )
        .unwrap());
    let job = s.get_job(None, &job.id).unwrap();
    assert_eq!((job.status, job.attempts), (JobStatus::Queued, 0));
}

#[test]
fn a_crash_on_the_last_attempt_marks_the_job_failed_not_lost() {
    let (_d, s) = store();
    let sc = scope("ann", None);
    let job = NewJob {
        max_attempts: 1,
        ..NewJob::new(JobKind::Topic, sc, ":x", json!({"topic": "x"}))
    };
    s.enqueue_jobs(&[job], now()).unwrap();
    s.lease_job("w", &ALL, now(), now() + Duration::seconds(1))
        .unwrap()
        .unwrap();
    let later = now() + Duration::seconds(5);
    assert!(s.lease_job("w", &ALL, later, later).unwrap().is_none());
    let j = s.list_jobs(&JobFilter::default()).unwrap().remove(0);
    assert_eq!(j.status, JobStatus::Failed);
    assert!(j.last_error.unwrap().contains("crashed"));
}

#[test]
fn usage_totals_group_by_model_user_and_job_and_die_with_the_user() {
    let (_d, s) = store();
    let ann = scope("ann", None);
    s.add_turns_with_jobs(&[turn(&ann, "s", Role::User, "hi")], &[], now())
        .unwrap();
    let rec = |user: &str, model: &str, job: Option<&str>, i: u64, o: u64| UsageRecord {
        job_id: job.map(str::to_owned),
        user_id: user.into(),
        agent_id: None,
        task: "extract".into(),
        provider: "ollama".into(),
        model: model.into(),
        input_tokens: i,
        output_tokens: o,
        at: now(),
    };
    s.record_usage(&rec("ann", "qwen", Some("j1"), 100, 10))
        .unwrap();
    s.record_usage(&rec("ann", "qwen", Some("j2"), 50, 5))
        .unwrap();
    s.record_usage(&rec("bob", "llama", None, 10, 1)).unwrap();
    let by_model = s.usage(&UsageFilter::default()).unwrap();
    assert_eq!(by_model[0].key, "ollama/qwen");
    assert_eq!(
        (
            by_model[0].calls,
            by_model[0].input_tokens,
            by_model[0].output_tokens
        ),
        (2, 150, 15)
    );
    let by_user = s
        .usage(&UsageFilter {
            group: UsageGroup::User,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        by_user.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
        ["ann", "bob"]
    );
    let ann_jobs = s
        .usage(&UsageFilter {
            user_id: Some("ann".into()),
            group: UsageGroup::Job,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ann_jobs.len(), 2);

    s.add_turns_with_jobs(
        &[turn(&ann, "s", Role::Assistant, "yo")],
        &[extract(1)],
        now(),
    )
    .unwrap();
    s.forget_user("ann").unwrap();
    assert!(s.list_jobs(&JobFilter::default()).unwrap().is_empty());
    let left = s.usage(&UsageFilter::default()).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].key, "ollama/llama");
}

#[test]
fn a_released_lease_makes_the_job_due_at_once_without_counting_the_attempt() {
    let (_d, s) = store();
    let sc = scope("ann", None);
    let pair = [
        turn(&sc, "s1", Role::User, "I moved to Oslo"),
        turn(&sc, "s1", Role::Assistant, "Nice!"),
    ];
    s.add_turns_with_jobs(&pair, &[extract(1)], now()).unwrap();
    let t = now();
    let job = s
        .lease_job("w", &ALL, t, t + Duration::minutes(10))
        .unwrap()
        .unwrap();
    let lease = job.lease_owner.clone().unwrap();
    assert!(!s.release_lease(&job.id, "someone-else", "stop", t).unwrap());
    assert!(s
        .release_lease(&job.id, &lease, "the worker was stopped", t)
        .unwrap());
    let back = s.get_job(None, &job.id).unwrap();
    assert_eq!((back.status, back.attempts), (JobStatus::Queued, 0));
    assert_eq!(back.last_error.as_deref(), Some("the worker was stopped"));
    // Due now: another worker takes it without waiting for the ten-minute lease.
    let again = s
        .lease_job("w2", &ALL, t, t + Duration::minutes(10))
        .unwrap();
    assert_eq!(again.map(|j| j.id), Some(job.id.clone()));
    // Released twice: the second time the lease is no longer the job's.
    assert!(!s.release_lease(&job.id, &lease, "again", t).unwrap());
}

#[test]
fn a_queued_job_waiting_for_a_later_attempt_can_be_forced_but_a_running_one_cannot() {
    let (_d, s) = store();
    let sc = scope("ann", None);
    let pair = [
        turn(&sc, "s1", Role::User, "I moved to Oslo"),
        turn(&sc, "s1", Role::Assistant, "Nice!"),
    ];
    s.add_turns_with_jobs(&pair, &[extract(1)], now()).unwrap();
    let t = now();
    let job = s
        .lease_job("w", &ALL, t, t + Duration::minutes(10))
        .unwrap()
        .unwrap();
    let e = s.retry_job(&job.id, t).unwrap_err().to_string();
    assert!(e.contains("running now"), "{e}");
    let later = t + Duration::minutes(5);
    s.release_job(
        &job.id,
        job.lease_owner.as_deref().unwrap(),
        "down",
        later,
        t,
    )
    .unwrap();
    assert_eq!(s.job_counts(None, t).unwrap().ready, 0);
    let forced = s.retry_job(&job.id, t).unwrap();
    assert_eq!((forced.status, forced.next_run_at), (JobStatus::Queued, t));
    assert_eq!(s.job_counts(None, t).unwrap().ready, 1);
}

#[test]
fn idle_sessions_are_the_open_ones_whose_last_turn_is_old() {
    let (_d, s) = store();
    let sc = scope("ann", None);
    common::say(&s, &sc, "old", "hello", "2026-01-01T10:00:00Z");
    common::say(&s, &sc, "old", "still there?", "2026-01-01T11:00:00Z");
    common::say(&s, &sc, "recent", "hi", "2026-01-01T11:50:00Z");
    common::say(&s, &sc, "ended", "bye", "2026-01-01T09:00:00Z");
    s.end_session("ann", "ended", common::ts("2026-01-01T09:01:00Z"))
        .unwrap();
    let cutoff = common::ts("2026-01-01T11:30:00Z");
    assert_eq!(
        s.idle_sessions(cutoff, 10).unwrap(),
        [("ann".to_string(), "old".to_string())]
    );
    // The last turn counts, not the first.
    assert!(s
        .idle_sessions(common::ts("2026-01-01T10:30:00Z"), 10)
        .unwrap()
        .is_empty());
    assert!(s.idle_sessions(cutoff, 0).unwrap().is_empty());
}
