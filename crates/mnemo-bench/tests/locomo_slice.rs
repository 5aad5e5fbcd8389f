//! Regression guard for retrieval quality: the first LoCoMo dev conversation (conv-26, 150
//! scored questions, kept in `tests/data/locomo/` with its licence) through the same harness as `mnemo bench locomo`, with the built-in
//! embedder and default settings. The floors sit 0.02 under what this run measured when
//! the defaults were chosen (R@5 0.709, R@10 0.806, all@10 0.867); the run is
//! deterministic, so falling under one means ranking got worse. No timing is asserted.

use std::path::PathBuf;

/// The slice kept in the repository (with its licence), so a clone alone passes this test.
fn slice_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/locomo/conv-26.json")
}

#[test]
fn one_conversation_keeps_its_recall() {
    let report = mnemo_bench::locomo::run_file(&slice_file(), "static", &[], None).unwrap();
    eprintln!("{}", mnemo_bench::locomo::table(&report));
    assert_eq!(report.n, 150, "conv-26 has 150 scored questions");
    assert!(report.recall_at_5 >= 0.689, "R@5 {}", report.recall_at_5);
    assert!(report.recall_at_10 >= 0.786, "R@10 {}", report.recall_at_10);
    assert!(
        report.session_all_at_10 >= 0.847,
        "all@10 {}",
        report.session_all_at_10
    );
    assert!(report.adversarial.n > 0);
    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "n",
        "skipped",
        "recall_at_5",
        "recall_at_10",
        "recall_at_25",
        "session_any_at_10",
        "session_all_at_10",
        "per_category",
        "adversarial",
        "p50_ms",
        "p95_ms",
        "ingest_turns_per_s",
        "config",
    ] {
        assert!(json.get(key).is_some(), "missing key {key}");
    }
    assert_eq!(
        json.as_object().unwrap().len(),
        13,
        "exactly the protocol's keys"
    );
}
