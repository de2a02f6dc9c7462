//! Cohere's `POST /v2/embed`.

use serde_json::{Value, json};

use super::{Purpose, WireFormat, vector_from_json};

/// The Cohere v2 wire format against `base_url` (e.g. `https://api.cohere.com/v2`).
#[derive(Debug)]
pub(crate) struct Cohere {
    pub(crate) base_url: String,
    pub(crate) model: String,
    pub(crate) dimensions: Option<usize>,
}

impl WireFormat for Cohere {
    fn provider(&self) -> &'static str {
        "cohere"
    }

    fn max_batch_size(&self) -> usize {
        96
    }

    fn request(&self, texts: &[String], purpose: Purpose) -> (String, Value) {
        let input_type = match purpose {
            Purpose::Document => "search_document",
            Purpose::Query => "search_query",
        };
        let mut body = json!({
            "model": self.model,
            "texts": texts,
            "input_type": input_type,
            "embedding_types": ["float"],
        });
        if let Some(dimensions) = self.dimensions {
            body["output_dimension"] = json!(dimensions);
        }
        (format!("{}/embed", self.base_url), body)
    }

    fn parse(&self, body: Value) -> Result<Vec<Vec<f32>>, String> {
        let floats = body
            .pointer("/embeddings/float")
            .and_then(Value::as_array)
            .ok_or("response has no `embeddings.float` array")?;
        floats
            .iter()
            .map(|v| vector_from_json(v).ok_or_else(|| "an embedding is not an array of numbers".into()))
            .collect()
    }
}
