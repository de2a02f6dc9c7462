//! The built-in static embedding model: compiled into the binary, no download, no model
//! files, no network, about 200 000 short texts per second on one core.
//!
//! `minilm-static-256.bin` was distilled from sentence-transformers/all-MiniLM-L6-v2
//! (Apache-2.0) by `scripts/distill_builtin.py` with the Model2Vec method: every
//! WordPiece token through the full teacher, PCA to 256 dimensions, Zipf/SIF frequency
//! weighting, int8 per-row quantization. See `PROVENANCE.md` beside it.
//!
//! A text's vector is the mean of its tokens' rows, L2-normalized. Texts with no known
//! token (empty, or only unknown characters) get the zero vector.

mod wordpiece;

use std::sync::OnceLock;

use super::{EmbedError, Embedder};
use wordpiece::WordPiece;

const MODEL: &[u8] = include_bytes!("minilm-static-256.bin");
const VOCAB: &str = include_str!("vocab.txt");
const MAGIC: &[u8; 8] = b"AMSTATIC";
const HEADER: usize = 8 + 3 * 4;

/// The built-in static embedder (model id `builtin/minilm-static-256-v1`, 256 dimensions).
///
/// ```
/// use agent_memory::embed::{cosine_similarity, BuiltinEmbedder};
///
/// let embedder = BuiltinEmbedder::new();
/// let [cat, kitten, revenue] = ["The cat sits on the mat.", "A kitten is resting on a rug.", "Quarterly revenue grew by 12%."]
///     .map(|text| embedder.embed_text(text));
/// assert_eq!(cat.len(), 256);
/// assert!(cosine_similarity(&cat, &kitten) > cosine_similarity(&cat, &revenue) + 0.2);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinEmbedder {
    _private: (),
}

struct Model {
    tokenizer: WordPiece,
    scales: Vec<f32>,
    rows: &'static [u8],
    dimensions: usize,
}

fn model() -> &'static Model {
    static MODEL_CELL: OnceLock<Model> = OnceLock::new();
    MODEL_CELL.get_or_init(|| {
        // The file is ours and checked by tests; a malformed one is a build defect.
        let word = |i: usize| u32::from_le_bytes([MODEL[i], MODEL[i + 1], MODEL[i + 2], MODEL[i + 3]]) as usize;
        assert_eq!(&MODEL[..8], MAGIC, "builtin model: bad magic");
        let (vocab_size, dimensions) = (word(12), word(16));
        let scales_end = HEADER + 4 * vocab_size;
        assert_eq!(MODEL.len(), scales_end + vocab_size * dimensions, "builtin model: bad size");
        let scales =
            MODEL[HEADER..scales_end].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        Model { tokenizer: WordPiece::new(VOCAB), scales, rows: &MODEL[scales_end..], dimensions }
    })
}

impl BuiltinEmbedder {
    /// The model id stored with every vector.
    pub const MODEL_ID: &'static str = "builtin/minilm-static-256-v1";

    /// The embedder (the model is parsed once per process, on first use).
    pub fn new() -> BuiltinEmbedder {
        BuiltinEmbedder { _private: () }
    }

    /// Embeds one text synchronously.
    pub fn embed_text(&self, text: &str) -> Vec<f32> {
        let mut ids = Vec::with_capacity(text.len() / 3 + 4);
        self.embed_with(text, &mut ids)
    }

    fn embed_with(&self, text: &str, ids: &mut Vec<u32>) -> Vec<f32> {
        let model = model();
        ids.clear();
        model.tokenizer.tokenize(text, ids);
        let unk = model.tokenizer.unk();
        let mut sum = vec![0.0f32; model.dimensions];
        for &id in ids.iter().filter(|&&id| id != unk) {
            let id = id as usize;
            let Some(&scale) = model.scales.get(id) else { continue };
            let row = &model.rows[id * model.dimensions..(id + 1) * model.dimensions];
            for (acc, &q) in sum.iter_mut().zip(row) {
                *acc += scale * f32::from(q as i8);
            }
        }
        let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            sum.iter_mut().for_each(|x| *x /= norm);
        }
        sum
    }

    /// Embeds many texts synchronously.
    pub fn embed_texts<S: AsRef<str>>(&self, texts: &[S]) -> Vec<Vec<f32>> {
        let mut ids = Vec::new();
        texts.iter().map(|text| self.embed_with(text.as_ref(), &mut ids)).collect()
    }
}

#[async_trait::async_trait]
impl Embedder for BuiltinEmbedder {
    fn model_id(&self) -> &str {
        Self::MODEL_ID
    }

    fn dimensions(&self) -> usize {
        model().dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(self.embed_texts(texts))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        model().tokenizer.tokenize(text, &mut ids);
        ids
    }

    #[test]
    fn tokenizes_like_the_teacher() {
        // Token ids from the teacher's tokenizer (tests/fixtures/minilm_reference.json,
        // without [CLS]=101 and [SEP]=102).
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/minilm_reference.json")).unwrap();
        for case in fixture["cases"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let expected: Vec<u32> =
                case["token_ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
            let mut got = tokens(text);
            got.truncate(expected.len() - 2);
            assert_eq!(got, expected[1..expected.len() - 1], "{text:?}");
        }
        assert_eq!(tokens("unaffable"), tokens("UNAFFABLE"));
        assert_eq!(tokens("ok\u{0}\u{200b}"), tokens("ok"));
    }

    #[test]
    fn the_compiled_model_is_the_one_in_provenance_md() {
        use sha2::{Digest, Sha256};
        let provenance = include_str!("PROVENANCE.md");
        let model_sha = format!("{:x}", Sha256::digest(MODEL));
        let vocab_sha = format!("{:x}", Sha256::digest(VOCAB.as_bytes()));
        assert!(provenance.contains(&format!("sha256 `{model_sha}`")), "{model_sha}");
        assert!(provenance.contains(&format!("sha256\n  `{vocab_sha}`")), "{vocab_sha}");
        assert!(provenance.contains(&format!(
                "{} bytes",
                MODEL
                    .len()
                    .to_string()
                    .as_bytes()
                    .rchunks(3)
                    .rev()
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect::<Vec<_>>()
                    .join(",")
            )));
        assert!(MODEL.len() <= 10 * 1024 * 1024);
        assert_eq!((model().scales.len(), model().dimensions), (30522, 256));
    }

    #[test]
    fn vectors_are_normalized_and_empty_text_is_zero() {
        let embedder = BuiltinEmbedder::new();
        let v = embedder.embed_text("hello world");
        assert_eq!(v.len(), 256);
        assert!((v.iter().map(|x| x * x).sum::<f32>().sqrt() - 1.0).abs() < 1e-5);
        assert_eq!(embedder.embed_text(""), vec![0.0; 256]);
        assert_eq!(embedder.embed_text("  \n\t"), vec![0.0; 256]);
        assert_eq!(embedder.embed_texts(&["hello world"]), vec![v]);
    }
}
