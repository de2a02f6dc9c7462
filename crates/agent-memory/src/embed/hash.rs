use std::hash::{Hash, Hasher};

use super::{EmbedError, Embedder};

/// A deterministic bag-of-words embedder: each lower-cased word is hashed into one of
/// `dimensions` buckets (with a hashed sign), and the vector is L2-normalized.
///
/// It needs no model and no network, so tests and examples use it. Texts that share
/// words get a positive cosine similarity; it captures no meaning beyond that.
///
/// ```
/// use agent_memory::embed::{cosine_similarity, HashEmbedder};
///
/// let embedder = HashEmbedder::new(64);
/// let [a, b, c] = ["the cat sat", "the cat ran", "quarterly revenue"].map(|t| embedder.embed_text(t));
/// assert!(cosine_similarity(&a, &b) > cosine_similarity(&a, &c));
/// ```
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    dimensions: usize,
    model_id: String,
}

impl HashEmbedder {
    /// A hash embedder with `dimensions` buckets (at least 1).
    pub fn new(dimensions: usize) -> HashEmbedder {
        let dimensions = dimensions.max(1);
        HashEmbedder { dimensions, model_id: format!("hash-v1/{dimensions}") }
    }

    /// Embeds one text synchronously.
    pub fn embed_text(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0.0f32; self.dimensions];
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let mut hasher = Fnv1a::default();
            word.to_lowercase().hash(&mut hasher);
            let hash = hasher.finish();
            let bucket = (hash % self.dimensions as u64) as usize;
            let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
            vector[bucket] += sign;
        }
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            vector.iter_mut().for_each(|x| *x /= norm);
        }
        vector
    }
}

#[async_trait::async_trait]
impl Embedder for HashEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|text| self.embed_text(text)).collect())
    }
}

/// FNV-1a: stable across platforms and Rust versions, unlike `DefaultHasher`.
#[derive(Default)]
struct Fnv1a(Option<u64>);

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0.unwrap_or(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = self.finish();
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = Some(hash);
    }
}
