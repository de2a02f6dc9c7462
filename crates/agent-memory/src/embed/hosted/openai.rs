//! OpenAI's `POST /v1/embeddings`, also spoken by vLLM, LM Studio, llama.cpp's server,
//! Ollama's compatible endpoint and many gateways.

use serde_json::{Value, json};

use super::{Purpose, WireFormat, vector_from_json};

/// The OpenAI wire format against `base_url` (which ends in `/v1` or the equivalent).
#[derive(Debug)]
pub(crate) struct OpenAi {
    /// `openai` or `openai-compatible`.
    pub(crate) provider: &'static str,
    pub(crate) base_url: String,
    pub(crate) model: String,
    pub(crate) dimensions: Option<usize>,
}

impl WireFormat for OpenAi {
    fn provider(&self) -> &'static str {
        self.provider
    }

    fn max_batch_size(&self) -> usize {
        // OpenAI accepts 2048 inputs; self-hosted servers often choke far earlier.
        if self.provider == "openai" { 2048 } else { 256 }
    }

    fn max_batch_chars(&self) -> usize {
        // OpenAI caps a request at 300k tokens; a token is rarely shorter than a character.
        300_000
    }

    fn request(&self, texts: &[String], _purpose: Purpose) -> (String, Value) {
        let mut body = json!({ "model": self.model, "input": texts, "encoding_format": "float" });
        if let Some(dimensions) = self.dimensions {
            body["dimensions"] = json!(dimensions);
        }
        (format!("{}/embeddings", self.base_url), body)
    }

    fn parse(&self, body: Value) -> Result<Vec<Vec<f32>>, String> {
        let data = body.get("data").and_then(Value::as_array).ok_or("response has no `data` array")?;
        let mut indexed = Vec::with_capacity(data.len());
        for (position, item) in data.iter().enumerate() {
            let index = item.get("index").and_then(Value::as_u64).map_or(position, |i| i as usize);
            let vector = item
                .get("embedding")
                .and_then(vector_from_json)
                .ok_or("response item has no numeric `embedding` (was `encoding_format` ignored?)")?;
            indexed.push((index, vector));
        }
        indexed.sort_by_key(|(index, _)| *index);
        if indexed.iter().enumerate().any(|(expected, (index, _))| *index != expected) {
            return Err("response `index` values are not 0..n".to_owned());
        }
        Ok(indexed.into_iter().map(|(_, vector)| vector).collect())
    }
}
