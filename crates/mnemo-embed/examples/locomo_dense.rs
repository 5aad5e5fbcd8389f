//! Dense-only turn retrieval on the LoCoMo dev set (protocol: shared/bench/README.md), used to
//! choose the built-in table's dimensions and quantisation.
//!
//! ```text
//! cargo run -p mnemo-embed --example locomo_dense --release -- [--table FILE]... [--data FILE]
//! ```
//!
//! Each `--table` is a static table file; with none, the built-in table is scored. With the
//! `candle` feature, `--transformer DIR` scores the full transformer in DIR instead. Prints
//! turn-level recall@5/10/25 (categories 1-4, and category 5 apart), session all@10, and
//! single-thread encode throughput.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use mnemo_embed::{dot, Embedder, StaticEmbedder};
use serde_json::Value;

struct Conversation {
    turn_ids: Vec<String>,
    turn_texts: Vec<String>,
    /// (question, evidence dia_ids, category)
    questions: Vec<(String, Vec<String>, u64)>,
}

fn load(path: &PathBuf) -> (Vec<Conversation>, usize) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let data: Value = serde_json::from_str(&text).expect("LoCoMo JSON");
    let mut skipped = 0;
    let convs = data
        .as_array()
        .expect("a list of conversations")
        .iter()
        .map(|c| {
            let conv = &c["conversation"];
            let mut sessions: Vec<(u64, &Vec<Value>)> = conv
                .as_object()
                .expect("conversation object")
                .iter()
                .filter_map(|(k, v)| {
                    let n = k.strip_prefix("session_")?.parse().ok()?;
                    Some((n, v.as_array()?))
                })
                .collect();
            sessions.sort_by_key(|(n, _)| *n);
            let (mut turn_ids, mut turn_texts) = (Vec::new(), Vec::new());
            for (_, turns) in sessions {
                for t in turns {
                    let mut text = format!(
                        "{}: {}",
                        t["speaker"].as_str().unwrap_or(""),
                        t["text"].as_str().unwrap_or("")
                    );
                    if let Some(cap) = t.get("blip_caption").and_then(Value::as_str) {
                        text.push_str(&format!(" [shared image: {cap}]"));
                    }
                    turn_ids.push(t["dia_id"].as_str().unwrap_or("").to_string());
                    turn_texts.push(text);
                }
            }
            let known: HashSet<&str> = turn_ids.iter().map(String::as_str).collect();
            let mut questions = Vec::new();
            for q in c["qa"].as_array().expect("qa list") {
                let evidence: Vec<String> = q["evidence"]
                    .as_array()
                    .map(|ev| {
                        ev.iter()
                            .filter_map(Value::as_str)
                            .flat_map(|e| {
                                e.split(|c: char| c == ';' || c == ',' || c.is_whitespace())
                            })
                            .filter(|id| known.contains(id))
                            .map(str::to_string)
                            .collect::<HashSet<_>>()
                            .into_iter()
                            .collect()
                    })
                    .unwrap_or_default();
                if evidence.is_empty() {
                    skipped += 1;
                    continue;
                }
                let question = q["question"].as_str().unwrap_or("").to_string();
                questions.push((question, evidence, q["category"].as_u64().unwrap_or(0)));
            }
            Conversation {
                turn_ids,
                turn_texts,
                questions,
            }
        })
        .collect();
    (convs, skipped)
}

#[derive(Default, Clone, Copy)]
struct Acc {
    n: usize,
    r5: f64,
    r10: f64,
    r25: f64,
    all10: f64,
}

impl Acc {
    fn add(&mut self, ranked: &[&str], evidence: &[String]) {
        let recall = |k: usize| {
            let top: HashSet<&str> = ranked.iter().take(k).copied().collect();
            evidence.iter().filter(|e| top.contains(e.as_str())).count() as f64
                / evidence.len() as f64
        };
        let session = |id: &str| id.split(':').next().unwrap_or("").to_string();
        let top_sessions: HashSet<String> = ranked.iter().take(10).map(|d| session(d)).collect();
        let all = evidence.iter().all(|e| top_sessions.contains(&session(e)));
        self.n += 1;
        self.r5 += recall(5);
        self.r10 += recall(10);
        self.r25 += recall(25);
        self.all10 += f64::from(u8::from(all));
    }

    fn row(&self, label: &str) -> String {
        let n = self.n.max(1) as f64;
        format!(
            "{label:<28} n={:<4} R@5 {:.3}  R@10 {:.3}  R@25 {:.3}  all@10 {:.3}",
            self.n,
            self.r5 / n,
            self.r10 / n,
            self.r25 / n,
            self.all10 / n
        )
    }
}

fn evaluate(emb: &dyn Embedder, convs: &[Conversation]) {
    let mut overall = Acc::default();
    let mut adversarial = Acc::default();
    let mut per_cat: HashMap<u64, Acc> = HashMap::new();
    let (mut n_texts, mut encode_s) = (0usize, 0.0f64);
    let mut latencies_ms = Vec::new();
    for conv in convs {
        let texts: Vec<&str> = conv.turn_texts.iter().map(String::as_str).collect();
        let t0 = Instant::now();
        let turns = emb.embed(&texts).expect("embed turns");
        encode_s += t0.elapsed().as_secs_f64();
        n_texts += texts.len();
        for (question, evidence, cat) in &conv.questions {
            let t_query = Instant::now();
            let q = emb.embed(&[question]).expect("embed question").remove(0);
            let mut scored: Vec<(f32, usize)> = turns
                .iter()
                .enumerate()
                .map(|(i, t)| (dot(&q, t), i))
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let ranked: Vec<&str> = scored
                .iter()
                .take(25)
                .map(|(_, i)| conv.turn_ids[*i].as_str())
                .collect();
            latencies_ms.push(t_query.elapsed().as_secs_f64() * 1e3);
            if *cat == 5 {
                adversarial.add(&ranked, evidence);
            } else {
                overall.add(&ranked, evidence);
                per_cat.entry(*cat).or_default().add(&ranked, evidence);
            }
        }
    }
    println!("{}", overall.row("overall (categories 1-4)"));
    let names = ["", "multi-hop", "temporal", "open-domain", "single-hop"];
    for cat in 1..=4u64 {
        if let Some(a) = per_cat.get(&cat) {
            println!("{}", a.row(&format!("  {cat} {}", names[cat as usize])));
        }
    }
    println!("{}", adversarial.row("adversarial (category 5)"));
    latencies_ms.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies_ms[((latencies_ms.len() - 1) as f64 * p) as usize];
    println!(
        "one retrieval (embed question + brute-force cosine + sort): p50 {:.3} ms, p95 {:.3} ms",
        pct(0.5),
        pct(0.95)
    );
    if encode_s > 2.0 {
        println!(
            "encode throughput: {:.0} sentences/s over {n_texts} turns",
            n_texts as f64 / encode_s
        );
        return;
    }
    // Throughput on a longer run so the timer is meaningful.
    let all: Vec<&str> = convs
        .iter()
        .flat_map(|c| c.turn_texts.iter().map(String::as_str))
        .collect();
    let t0 = Instant::now();
    let mut reps = 0;
    while t0.elapsed().as_secs_f64() < 1.0 {
        std::hint::black_box(emb.embed(&all).expect("embed"));
        reps += 1;
    }
    let per_s = (reps * all.len()) as f64 / t0.elapsed().as_secs_f64();
    println!(
        "encode throughput (1 thread): {per_s:.0} sentences/s  (first pass: {:.0}/s over {n_texts} turns)",
        n_texts as f64 / encode_s
    );
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let mut data = root.join("shared/bench/locomo/locomo-dev.json");
    let mut tables = Vec::new();
    let mut transformer: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data = PathBuf::from(args.next().expect("--data FILE")),
            "--table" => tables.push(PathBuf::from(args.next().expect("--table FILE"))),
            "--transformer" => {
                transformer = Some(PathBuf::from(args.next().expect("--transformer DIR")))
            }
            other => panic!("unknown argument {other}; use --table FILE and/or --data FILE"),
        }
    }
    let (convs, skipped) = load(&data);
    let n_turns: usize = convs.iter().map(|c| c.turn_ids.len()).sum();
    println!(
        "LoCoMo: {} conversations, {n_turns} turns, {skipped} questions skipped for lack of valid evidence",
        convs.len()
    );
    if let Some(dir) = transformer {
        run_transformer(&dir, &convs);
    } else if tables.is_empty() {
        let t0 = Instant::now();
        let emb = StaticEmbedder::builtin();
        println!(
            "\n== built-in {} ({} dims), loaded in {:.1} ms",
            emb.model_id(),
            emb.dims(),
            t0.elapsed().as_secs_f64() * 1e3
        );
        evaluate(&emb, &convs);
    }
    for path in tables {
        let emb = StaticEmbedder::from_file(&path).expect("table");
        println!(
            "\n== {} ({}, {} dims)",
            path.display(),
            emb.model_id(),
            emb.dims()
        );
        evaluate(&emb, &convs);
    }
}

#[cfg(feature = "candle")]
fn run_transformer(dir: &std::path::Path, convs: &[Conversation]) {
    let t0 = Instant::now();
    let emb = mnemo_embed::TransformerEmbedder::from_dir(dir).expect("transformer model");
    println!(
        "\n== {} ({} dims), loaded in {:.0} ms",
        emb.model_id(),
        emb.dims(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    evaluate(&emb, convs);
}

#[cfg(not(feature = "candle"))]
fn run_transformer(_dir: &std::path::Path, _convs: &[Conversation]) {
    panic!("--transformer needs `--features candle`");
}
