//! The candle transformer embedder against the similarities published for all-MiniLM-L6-v2.
//! Needs the weights (`scripts/fetch-minilm.sh`); skipped with a message when they are absent.
#![cfg(feature = "candle")]

use std::path::PathBuf;

use mnemo_embed::{dot, Embedder, StaticEmbedder, TransformerEmbedder};

fn model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("MNEMO_MINILM_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-minilm-l6-v2"),
        PathBuf::from,
    );
    if dir.join("model.safetensors").exists() {
        Some(dir)
    } else if std::env::var_os("MNEMO_REQUIRE_MINILM").is_some() {
        panic!(
            "no weights at {} and MNEMO_REQUIRE_MINILM is set (scripts/test.sh fetches them \
             with scripts/fetch-minilm.sh)",
            dir.display()
        );
    } else {
        eprintln!(
            "skipped: no weights at {} (run scripts/fetch-minilm.sh)",
            dir.display()
        );
        None
    }
}

#[test]
fn reproduces_published_sentence_transformers_similarities() {
    let Some(dir) = model_dir() else { return };
    let emb = TransformerEmbedder::from_dir(&dir).unwrap();
    assert_eq!(emb.model_id(), "candle:all-minilm-l6-v2");
    assert_eq!(emb.dims(), 384);
    assert_eq!(emb.unrelated_below(), Some(0.2));
    let v = emb
        .embed(&[
            "The weather is lovely today.",
            "It's so sunny outside!",
            "He drove to the stadium.",
        ])
        .unwrap();
    for ((i, j), want) in [((0, 1), 0.6660), ((0, 2), 0.1046), ((1, 2), 0.1411)] {
        let got = dot(&v[i], &v[j]);
        assert!(
            (got - want).abs() < 1e-3,
            "sim({i},{j}) = {got}, want {want}"
        );
    }
}

#[test]
fn batching_and_padding_do_not_change_vectors() {
    let Some(dir) = model_dir() else { return };
    let emb = TransformerEmbedder::from_dir(&dir)
        .unwrap()
        .with_batch_size(2);
    let texts = [
        "short",
        "a much longer sentence that needs padding in a shared batch",
        "mid length text here",
    ];
    let batched = emb.embed(&texts).unwrap();
    for (t, v) in texts.iter().zip(&batched) {
        let single = emb.embed(&[t]).unwrap().remove(0);
        assert!(dot(v, &single) > 0.99999, "{t}");
    }
}

#[test]
fn static_table_agrees_with_its_teacher_on_ranking() {
    let Some(dir) = model_dir() else { return };
    let teacher = TransformerEmbedder::from_dir(&dir).unwrap();
    let student = StaticEmbedder::builtin();
    let texts = [
        "I adopted a puppy from the shelter.",
        "We got a new dog from the rescue centre.",
        "The tax report is due on Friday.",
    ];
    for emb in [&teacher as &dyn Embedder, &student] {
        let v = emb.embed(&texts).unwrap();
        assert!(dot(&v[0], &v[1]) > dot(&v[0], &v[2]), "{}", emb.model_id());
    }
}
