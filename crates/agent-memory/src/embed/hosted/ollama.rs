//! Ollama's native `POST /api/embed` (Ollama 0.3.4 and later).

use serde_json::{Value, json};

use super::{Purpose, WireFormat, vector_from_json};

/// The Ollama wire format against `base_url` (e.g. `http://localhost:11434`).
#[derive(Debug)]
pub(crate) struct Ollama {
    pub(crate) base_url: String,
    pub(crate) model: String,
    pub(crate) dimensions: Option<usize>,
}

impl WireFormat for Ollama {
    fn provider(&self) -> &'static str {
        "ollama"
    }

    fn max_batch_size(&self) -> usize {
        // No documented limit; large batches only delay the first error.
        128
    }

    fn request(&self, texts: &[String], _purpose: Purpose) -> (String, Value) {
        let mut body = json!({ "model": self.model, "input": texts, "truncate": true });
        if let Some(dimensions) = self.dimensions {
            body["dimensions"] = json!(dimensions);
        }
        (format!("{}/api/embed", self.base_url), body)
    }

    fn parse(&self, body: Value) -> Result<Vec<Vec<f32>>, String> {
        let embeddings =
            body.get("embeddings").and_then(Value::as_array).ok_or("response has no `embeddings` array")?;
        embeddings
            .iter()
            .map(|v| vector_from_json(v).ok_or_else(|| "an embedding is not an array of numbers".into()))
            .collect()
    }
}
