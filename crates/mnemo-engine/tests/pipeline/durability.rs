//! Failures lose nothing: malformed JSON, rate limits, timeouts, a worker that dies
//! mid-job, no model at all, a model that is down; and the in-process worker thread.

use std::time::{Duration, Instant};

use chrono::Duration as Span;
use mnemo_core::{JobFilter, JobKind, JobStatus};
use mnemo_engine::pipeline::JobOutcome;
use mnemo_engine::{Exchange, WorkerOptions};
use mnemo_llm::testkit::server::{closed_port_url, Reply};
use serde_json::json;

use crate::harness::{bare, cells, llm_for, ollama, settings, Harness, Step};

fn extract_job(h: &Harness) -> mnemo_core::Job {
    h.engine
        .jobs(&JobFilter {
            kinds: vec![JobKind::Extract],
            ..Default::default()
        })
        .unwrap()
        .remove(0)
}

#[test]
fn malformed_json_rate_limits_and_timeouts_are_retried_until_the_memory_lands() {
    let h = Harness::new();
    h.model.on(
        Step::Extract,
        "Berlin",
        &cells(&[("fact", "home", "Lives in Berlin")]),
    );
    h.model.fail_next(
        Step::Extract,
        ollama("Sure! I noted that the user lives in Berlin."),
    );
    h.model.fail_next(
        Step::Extract,
        Reply::json(429, &json!({"error": "slow down"})).with_header("retry-after", "120"),
    );
    h.model.fail_next(
        Step::Extract,
        ollama(r#"{"memories": []}"#).stalled(Duration::from_millis(1500)),
    );
    h.say("I live in Berlin", "Cool city");

    // 1: prose instead of JSON: recorded, retried later.
    let r = h.engine.run_jobs("w", None).unwrap();
    assert_eq!(r.retried, 1);
    let job = extract_job(&h);
    assert_eq!((job.status, job.attempts), (JobStatus::Queued, 1));
    let err = job.last_error.unwrap();
    assert!(
        err.contains("unusable reply") && err.contains("lives in Berlin"),
        "{err}"
    );
    assert_eq!(
        job.next_run_at,
        h.engine.now() + Span::seconds(10) + jitter(&job.id, 10)
    );
    assert_eq!(
        h.engine.run_jobs("w", None).unwrap().outcomes.len(),
        0,
        "not due yet"
    );

    // 2: 429 with Retry-After: the wait asked for is honoured.
    h.clock.advance(Span::minutes(1));
    let r = h.engine.run_jobs("w", None).unwrap();
    assert_eq!(r.retried, 1);
    let job = extract_job(&h);
    assert!(job.last_error.as_deref().unwrap().contains("rate limiting"));
    assert_eq!(job.next_run_at, h.engine.now() + Span::seconds(120));

    // 3: the model does not answer within the timeout.
    h.clock.advance(Span::minutes(3));
    let r = h.engine.run_jobs("w", None).unwrap();
    assert_eq!(r.retried, 1, "{r:#?}");
    assert!(extract_job(&h)
        .last_error
        .unwrap()
        .contains("did not answer"));

    // 4: finally a good reply.
    h.clock.advance(Span::hours(1));
    let r = h.drain();
    assert_eq!(r.failed, 0);
    assert_eq!(h.contents(), ["Lives in Berlin"]);
    let job = extract_job(&h);
    assert_eq!((job.status, job.attempts), (JobStatus::Done, 4));
}

/// The per-job jitter of the backoff (0..=15/64 of the base).
fn jitter(id: &str, base: i64) -> Span {
    let j = i64::from(id.bytes().fold(0u8, |a, b| a.wrapping_add(b))) % 16;
    Span::seconds(base * j / 64)
}

#[test]
fn json_that_small_models_get_wrong_is_repaired_not_retried() {
    let h = Harness::new();
    h.model.on(
        Step::Extract,
        "Oslo",
        "```json\n{'memories': [{'kind': 'fact', 'topic': 'home', 'salience': 0.9, 'content': 'Lives in Oslo'},]}\n```\nHope this helps!",
    );
    h.say("I live in Oslo", "Nice");
    let r = h.drain();
    assert_eq!(r.retried, 0);
    assert_eq!(h.contents(), ["Lives in Oslo"]);
}

#[test]
fn a_job_that_keeps_failing_is_marked_failed_visible_and_rerunnable() {
    let mut s = settings();
    s.max_attempts = 2;
    let h = Harness::with_settings(s);
    for _ in 0..2 {
        h.model.fail_next(Step::Extract, ollama("no JSON here"));
    }
    h.model.on(
        Step::Extract,
        "Paris",
        &cells(&[("fact", "home", "Lives in Paris")]),
    );
    h.say("I live in Paris", "Bonjour");
    h.drain();
    h.clock.advance(Span::hours(1));
    let r = h.drain();
    assert_eq!(r.failed, 1);
    let job = extract_job(&h);
    assert_eq!(job.status, JobStatus::Failed);
    assert!(job.last_error.unwrap().contains("no JSON here"));
    assert!(h.contents().is_empty());
    h.engine.retry_job(&job.id[..8]).unwrap();
    h.drain();
    assert_eq!(h.contents(), ["Lives in Paris"]);
}

#[test]
fn a_worker_that_dies_mid_job_loses_nothing() {
    let h = Harness::new();
    h.model.on(
        Step::Extract,
        "cello",
        &cells(&[("fact", "music", "Plays the cello")]),
    );
    h.say("I play the cello", "Lovely");
    // A worker leases the job and dies without completing it.
    let now = h.engine.now();
    let taken = h
        .engine
        .store()
        .lease_job("doomed", &JobKind::ALL, now, now + Span::seconds(60))
        .unwrap()
        .unwrap();
    assert_eq!(taken.kind, JobKind::Extract);
    assert_eq!(
        h.engine.run_jobs("w", None).unwrap().outcomes.len(),
        0,
        "leased"
    );
    h.clock.advance(Span::seconds(61));
    let r = h.drain();
    assert_eq!((r.done, r.failed), (3, 0), "extract, reconcile, topic");
    assert_eq!(h.contents(), ["Plays the cello"]);
    let job = extract_job(&h);
    assert_eq!((job.status, job.attempts), (JobStatus::Done, 2));
    // The dead worker comes back and tries to complete: refused.
    let lease = taken.lease_owner.unwrap();
    assert!(!h
        .engine
        .store()
        .complete_job(&job.id, &lease, &json!({}), &[], h.engine.now())
        .unwrap());
}

#[test]
fn a_crash_after_writing_but_before_completing_does_not_duplicate() {
    let h = Harness::new();
    h.model.on(
        Step::Extract,
        "chess",
        &cells(&[("fact", "games", "Plays chess")]),
    );
    h.say("I play chess", "Check");
    h.engine.run_next_job("w").unwrap(); // extraction: queues the reconcile job
                                         // The reconcile job runs (writes the memory), but its worker dies before completing:
                                         // simulate by leasing it as a doomed worker after letting a real run write the memory.
    let now = h.engine.now();
    h.engine
        .remember(
            &h.scope,
            mnemo_engine::NewMemory {
                kind: mnemo_core::Kind::Fact,
                topic: Some("games".into()),
                ..mnemo_engine::NewMemory::text("Plays chess")
            },
            mnemo_core::Actor::Llm,
        )
        .unwrap();
    h.engine
        .store()
        .lease_job(
            "doomed",
            &[JobKind::Reconcile],
            now,
            now + Span::seconds(60),
        )
        .unwrap()
        .unwrap();
    h.clock.advance(Span::seconds(61));
    h.drain();
    assert_eq!(h.contents(), ["Plays chess"], "the re-run is a NOOP");
    assert!(h.engine.store().list_topics(&h.scope).unwrap()[0]
        .summary
        .contains("games"));
}

#[test]
fn with_no_model_jobs_wait_and_everything_else_works() {
    let (_d, engine, _clock) = bare(settings());
    let scope = mnemo_core::Scope::user("alex");
    let rec = engine
        .record_exchange(Exchange::from_reply(
            scope.clone(),
            "s",
            "I live in Rome",
            "Ciao",
        ))
        .unwrap();
    assert_eq!(rec.jobs.len(), 1);
    assert!(!engine.has_llm());
    let r = engine.run_jobs("w", None).unwrap();
    assert!(r.model_down.unwrap().contains("no model"));
    assert_eq!(engine.job_counts(None).unwrap().queued, 1);
    engine.end_session("alex", "s").unwrap();
    assert_eq!(engine.job_counts(None).unwrap().queued, 2, "a summary too");

    // Configure a model later: the waiting jobs run.
    let h = Harness::new();
    h.model.on(
        Step::Extract,
        "Rome",
        &cells(&[("fact", "home", "Lives in Rome")]),
    );
    let engine = engine.with_llm(llm_for(&h.server.url));
    let r = engine.run_jobs("w", None).unwrap();
    assert_eq!((r.failed, r.model_down), (0, None));
    assert_eq!(engine.job_counts(None).unwrap().done, 4);
}

#[test]
fn an_unreachable_model_puts_jobs_back_without_using_attempts() {
    let (_d, engine, _clock) = bare(settings());
    let engine = engine.with_llm(llm_for(&closed_port_url()));
    let scope = mnemo_core::Scope::user("alex");
    engine
        .record_exchange(Exchange::from_reply(scope, "s", "hello", "hi"))
        .unwrap();
    let r = engine.run_jobs("w", None).unwrap();
    assert!(r.model_down.unwrap().contains("cannot reach ollama"));
    assert!(matches!(r.outcomes[0], JobOutcome::ModelDown { .. }));
    let job = engine.jobs(&JobFilter::default()).unwrap().remove(0);
    assert_eq!((job.status, job.attempts), (JobStatus::Queued, 0));
    assert!(job.next_run_at > engine.now());
}

#[test]
fn the_in_process_worker_runs_jobs_as_they_come_and_stops_cleanly() {
    let h = Harness::new();
    h.model.on(
        Step::Extract,
        "violin",
        &cells(&[("fact", "music", "Plays the violin")]),
    );
    let worker = h
        .engine
        .spawn_worker(WorkerOptions {
            name: "chat".into(),
            idle_poll: Duration::from_millis(20),
            ..Default::default()
        })
        .unwrap();
    let started = Instant::now();
    let rec = h.say("I play the violin", "Bravo");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "recording does not wait"
    );
    assert_eq!(rec.jobs[0].status, JobStatus::Queued);
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.engine.job_counts(None).unwrap().done < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = worker.stop();
    assert_eq!((stats.done, stats.failed), (3, 0), "{stats:?}");
    assert_eq!(h.contents(), ["Plays the violin"]);
}

#[test]
fn turns_recorded_one_at_a_time_as_the_chat_does_are_extracted_and_idle_sessions_closed() {
    let h = Harness::with_settings(mnemo_engine::PipelineSettings {
        session_idle_secs: 600,
        ..settings()
    });
    h.model.on(
        Step::Extract,
        "violin",
        &cells(&[("fact", "music", "Plays the violin")]),
    );
    let turn = |role, text: &str| mnemo_core::NewTurn {
        id: None,
        scope: h.scope.clone(),
        session_id: "chat".into(),
        role,
        content: text.into(),
        created_at: None,
        meta: serde_json::Value::Null,
    };
    // The user's turn first (before the model is called), then the reply.
    let user = h
        .engine
        .record_turn(turn(mnemo_core::Role::User, "I play the violin"))
        .unwrap();
    assert!(user.jobs.is_empty(), "{:?}", user.jobs);
    let reply = h
        .engine
        .record_turn(turn(mnemo_core::Role::Assistant, "Bravo"))
        .unwrap();
    let job = &reply.jobs[0];
    assert_eq!(
        (job.kind, job.first_seq, job.last_seq),
        (JobKind::Extract, Some(1), Some(2))
    );
    h.drain();
    assert_eq!(h.contents(), ["Plays the violin"]);

    // Nobody ends the session; once idle long enough, a worker does.
    assert!(h.engine.close_idle_sessions().unwrap().is_empty());
    h.clock.advance(Span::minutes(11));
    assert_eq!(h.engine.close_idle_sessions().unwrap(), ["chat"]);
    assert!(h.engine.session("alex", "chat").unwrap().ended_at.is_some());
    let summaries = h
        .engine
        .jobs(&JobFilter {
            kinds: vec![JobKind::Summarize],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(summaries.len(), 1, "the session-end summary is queued");
    assert!(h.engine.close_idle_sessions().unwrap().is_empty());
}
