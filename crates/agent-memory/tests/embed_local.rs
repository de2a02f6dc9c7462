//! The local sentence-transformers embedder on the real all-MiniLM-L6-v2 weights, against
//! reference vectors computed independently by `scripts/minilm_reference.py` (numpy, a
//! hand-written WordPiece tokenizer and BERT; no candle, no HuggingFace tokenizers).
//!
//! The model folder comes from `scripts/deps/minilm.sh` (`AGENT_MEMORY_TEST_MINILM`); the
//! test fails, rather than skips, when it is missing.

#![cfg(feature = "local-embeddings")]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use agent_memory::embed::local::{Pooling, SentenceTransformer, resolve_model_dir};
use agent_memory::embed::{EmbedError, Embedder, EmbedderOptions, cosine_similarity, from_provider};
use serde_json::Value;

const TOLERANCE: f32 = 1e-4;

fn model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AGENT_MEMORY_TEST_MINILM") {
        return PathBuf::from(dir);
    }
    resolve_model_dir("all-MiniLM-L6-v2").unwrap_or_else(|e| {
        panic!("the MiniLM test model is missing ({e}); run `eval \"$(scripts/deps/minilm.sh)\"` first")
    })
}

struct Case {
    text: String,
    embedding: Vec<f32>,
}

fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(value: &Value) -> Vec<f32> {
    value.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn cases() -> Vec<Case> {
    fixture()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| Case { text: case["text"].as_str().unwrap().to_owned(), embedding: floats(&case["embedding"]) })
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[tokio::test]
async fn minilm_matches_the_numpy_reference() {
    let embedder =
        from_provider("huggingface", Some(model_dir().to_str().unwrap()), &EmbedderOptions::new().with_batch_size(3))
            .unwrap();
    assert_eq!(embedder.model_id(), "local/all-MiniLM-L6-v2");
    assert_eq!(embedder.dimensions(), 384);

    let cases = cases();
    assert_eq!(cases.len(), 8);
    let texts: Vec<String> = cases.iter().map(|c| c.text.clone()).collect();
    // One call with mixed lengths: batches of 3 (packed without padding), the longest text truncated.
    let vectors = embedder.embed(&texts).await.unwrap();
    for (case, vector) in cases.iter().zip(&vectors) {
        let diff = max_abs_diff(vector, &case.embedding);
        assert!(diff <= TOLERANCE, "{:?}: max abs difference {diff}", case.text);
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "normalized, got norm {norm}");
    }
    let similar = cosine_similarity(&vectors[0], &vectors[1]);
    let unrelated = cosine_similarity(&vectors[0], &vectors[2]);
    assert!((similar - 0.6411).abs() < 1e-3 && unrelated.abs() < 0.05, "{similar} {unrelated}");
}

#[tokio::test]
async fn batching_does_not_change_the_vectors() {
    let model = SentenceTransformer::load(&model_dir()).unwrap().with_batch_size(4);
    let texts: Vec<String> = cases().into_iter().map(|c| c.text).collect();
    let batched = model.embed(&texts).await.unwrap();
    for (text, expected) in texts.iter().zip(&batched) {
        let alone = model.embed_one(text).await.unwrap();
        assert!(max_abs_diff(&alone, expected) <= 1e-5, "{text:?}");
    }
    assert_eq!(model.embed_blocking::<&str>(&[]).unwrap(), Vec::<Vec<f32>>::new());
}

#[test]
fn worker_threads_do_not_change_the_vectors() {
    let texts: Vec<String> = cases().into_iter().map(|c| c.text).collect();
    let one = SentenceTransformer::load(&model_dir()).unwrap().with_threads(1);
    assert_eq!(one.threads(), 1);
    let expected = one.embed_blocking(&texts).unwrap();
    // Three workers on 8 texts: batches of 3, 3 and 2 run at the same time.
    let three = one.clone().with_threads(3);
    assert_eq!(three.threads(), 3);
    let vectors = three.embed_blocking(&texts).unwrap();
    for ((text, a), b) in texts.iter().zip(&expected).zip(&vectors) {
        assert!(max_abs_diff(a, b) <= 1e-6, "{text:?}");
    }
    assert_eq!(three.embed_blocking(&texts[..1]).unwrap().len(), 1);
}

#[test]
fn the_model_folder_decides_pooling_normalization_and_length() {
    let model = SentenceTransformer::load(&model_dir()).unwrap();
    assert_eq!(model.pooling(), [Pooling::Mean]);
    assert!(model.normalizes());
    assert_eq!(model.max_seq_length(), 256, "from sentence_bert_config.json, not tokenizer.json's 128");
}

/// A copy of the model folder (weights linked, not copied) with other pooling settings.
fn variant(pooling: &str, normalize: bool) -> tempfile::TempDir {
    let source = model_dir();
    let dir = tempfile::tempdir().unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer.json", "sentence_bert_config.json"] {
        std::os::unix::fs::symlink(source.join(file), dir.path().join(file)).unwrap();
    }
    std::fs::create_dir(dir.path().join("1_Pooling")).unwrap();
    std::fs::write(
        dir.path().join("1_Pooling/config.json"),
        format!(r#"{{"word_embedding_dimension": 384, {pooling}}}"#),
    )
    .unwrap();
    let mut modules = vec![
        r#"{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}"#,
        r#"{"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}"#,
    ];
    if normalize {
        modules.push(
            r#"{"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}"#,
        );
    }
    std::fs::write(dir.path().join("modules.json"), format!("[{}]", modules.join(","))).unwrap();
    dir
}

#[test]
fn cls_max_and_unnormalized_mean_pooling_match_the_reference() {
    let reference = fixture()["unnormalized_pooling_of_first_case"].clone();
    let text = cases()[0].text.clone();
    for (config, key, dims) in [
        (r#""pooling_mode_cls_token": true"#, "cls", 384),
        (r#""pooling_mode_max_tokens": true"#, "max", 384),
        (r#""pooling_mode_mean_tokens": true"#, "mean", 384),
    ] {
        let dir = variant(config, false);
        let model = SentenceTransformer::load(dir.path()).unwrap();
        assert!(!model.normalizes());
        assert_eq!(model.dimensions(), dims);
        let vector = model.embed_blocking(&[text.as_str()]).unwrap().remove(0);
        let diff = max_abs_diff(&vector, &floats(&reference[key]));
        assert!(diff <= TOLERANCE, "{key}: max abs difference {diff}");
    }

    // Several modes are concatenated in sentence-transformers' order.
    let dir = variant(r#""pooling_mode_mean_tokens": true, "pooling_mode_cls_token": true"#, false);
    let model = SentenceTransformer::load(dir.path()).unwrap();
    assert_eq!((model.pooling(), model.dimensions()), ([Pooling::Cls, Pooling::Mean].as_slice(), 768));
    let vector = model.embed_blocking(&[text.as_str()]).unwrap().remove(0);
    assert!(max_abs_diff(&vector[..384], &floats(&reference["cls"])) <= TOLERANCE);
    assert!(max_abs_diff(&vector[384..], &floats(&reference["mean"])) <= TOLERANCE);

    let dir = variant(r#""pooling_mode_weightedmean_tokens": true"#, false);
    let err = SentenceTransformer::load(dir.path()).unwrap_err();
    assert!(
        matches!(&err, EmbedError::Model(m) if m.ends_with("pooling: weighted-mean and last-token pooling are not supported")),
        "{err}"
    );
}

#[test]
fn loads_from_the_huggingface_hub_cache_layout() {
    let source = model_dir();
    let hub = tempfile::tempdir().unwrap();
    let repo = hub.path().join("models--sentence-transformers--all-MiniLM-L6-v2");
    let snapshot = repo.join("snapshots/8b3219a92973c328a8e22fadcfa821b5dc75636a");
    std::fs::create_dir_all(snapshot.join("1_Pooling")).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "8b3219a92973c328a8e22fadcfa821b5dc75636a").unwrap();
    for file in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "sentence_bert_config.json",
        "modules.json",
        "1_Pooling/config.json",
    ] {
        std::os::unix::fs::symlink(source.join(file), snapshot.join(file)).unwrap();
    }
    let model = SentenceTransformer::load(&snapshot).unwrap();
    assert_eq!(model.model_id(), "local/all-MiniLM-L6-v2", "the same id as the plain folder");
    let vector = model.embed_blocking(&[cases()[0].text.as_str()]).unwrap().remove(0);
    assert!(max_abs_diff(&vector, &cases()[0].embedding) <= TOLERANCE);
}

#[test]
fn missing_models_fail_with_the_places_searched() {
    let err = from_provider("local", Some("/nonexistent/no-such-model"), &EmbedderOptions::new()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("embedder configuration: huggingface: model `/nonexistent/no-such-model` not found: not a folder, and not in "),
        "{message}"
    );
    let empty = tempfile::tempdir().unwrap();
    let err = SentenceTransformer::load(empty.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("local model: {}: not a model folder: config.json is missing", empty.path().display())
    );
}
