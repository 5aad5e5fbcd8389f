//! `mnemo bench locomo` on a tiny file in the LoCoMo format, and `mnemo reindex` /
//! hybrid recall through the environment-configured embedder.

mod common;

use common::Mnemo;

const TINY: &str = r#"[{"sample_id": "tiny",
  "conversation": {"speaker_a": "Ann", "speaker_b": "Bob",
    "session_1_date_time": "1:56 pm on 8 May, 2023",
    "session_1": [
      {"speaker": "Ann", "dia_id": "D1:1", "text": "I adopted a puppy last week"},
      {"speaker": "Bob", "dia_id": "D1:2", "text": "What breed is it?"},
      {"speaker": "Ann", "dia_id": "D1:3", "text": "A golden retriever called Max"}],
    "session_2_date_time": "10:00 am on 9 June, 2023",
    "session_2": [
      {"speaker": "Bob", "dia_id": "D2:1", "text": "I started pottery classes"},
      {"speaker": "Ann", "dia_id": "D2:2", "text": "Show me your first bowl!"}]},
  "session_summary": {"session_1": "Ann adopted a dog"},
  "qa": [{"question": "What breed is Ann's dog?", "answer": "golden retriever", "evidence": ["D1:3"], "category": 4},
         {"question": "What class did Bob start?", "answer": "pottery", "evidence": ["D2:1; D9:9"], "category": 1},
         {"question": "What is Bob's cat called?", "adversarial_answer": "Max", "evidence": ["D1:3"], "category": 5},
         {"question": "Unanswerable", "answer": "x", "evidence": [], "category": 3}]}]"#;

#[test]
fn bench_locomo_prints_the_protocol_json() {
    let m = Mnemo::new();
    let file = m.dir.path().join("tiny.json");
    std::fs::write(&file, TINY).unwrap();
    let out = m.ok(&["--json", "bench", "locomo", file.to_str().unwrap()]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["n"], 2);
    assert_eq!(r["skipped"], 1);
    assert_eq!(r["recall_at_25"], 1.0);
    assert_eq!(r["adversarial"]["n"], 1);
    assert_eq!(r["per_category"]["4"]["n"], 1);
    assert_eq!(r["config"]["embedder"], "static");
    let table = m.ok(&[
        "bench",
        "locomo",
        file.to_str().unwrap(),
        "--embedder",
        "none",
    ]);
    assert!(table.contains("overall 1-4") && table.contains("skipped (no valid evidence): 1"));
    let bad = m.run(&[
        "bench",
        "locomo",
        file.to_str().unwrap(),
        "--embedder",
        "nope",
    ]);
    assert!(!bad.status.success());
}

#[test]
fn reindex_and_hybrid_recall_with_the_builtin_embedder() {
    let m = Mnemo::new();
    m.ok(&["remember", "I adopted a golden retriever puppy"]);
    m.ok(&["remember", "My favourite food is sushi"]);
    let out = m
        .cmd(&["reindex"])
        .env("MNEMO_EMBEDDER", "static")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("reindex: 2/2 (100%)"));
    let out = m
        .cmd(&["recall", "--explain", "dog"])
        .env("MNEMO_EMBEDDER", "static")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("golden retriever") && text.contains("cosine"),
        "{text}"
    );
    assert!(!text.contains("sushi"), "{text}");
}
