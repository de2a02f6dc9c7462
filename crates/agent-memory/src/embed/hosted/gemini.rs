//! Google Gemini's `POST /v1beta/models/{model}:batchEmbedContents`.

use serde_json::{Value, json};

use super::{Purpose, WireFormat, vector_from_json};

/// The Gemini wire format against `base_url` (e.g.
/// `https://generativelanguage.googleapis.com/v1beta`). The key travels in the
/// `x-goog-api-key` header, never in the URL.
#[derive(Debug)]
pub(crate) struct Gemini {
    pub(crate) base_url: String,
    /// Without the `models/` prefix.
    pub(crate) model: String,
    pub(crate) dimensions: Option<usize>,
}

impl WireFormat for Gemini {
    fn provider(&self) -> &'static str {
        "gemini"
    }

    fn max_batch_size(&self) -> usize {
        100
    }

    fn request(&self, texts: &[String], purpose: Purpose) -> (String, Value) {
        let task_type = match purpose {
            Purpose::Document => "RETRIEVAL_DOCUMENT",
            Purpose::Query => "RETRIEVAL_QUERY",
        };
        let model = format!("models/{}", self.model);
        let requests: Vec<Value> = texts
            .iter()
            .map(|text| {
                let mut request =
                    json!({ "model": model, "content": { "parts": [{ "text": text }] }, "taskType": task_type });
                if let Some(dimensions) = self.dimensions {
                    request["outputDimensionality"] = json!(dimensions);
                }
                request
            })
            .collect();
        (format!("{}/{model}:batchEmbedContents", self.base_url), json!({ "requests": requests }))
    }

    fn parse(&self, body: Value) -> Result<Vec<Vec<f32>>, String> {
        let embeddings =
            body.get("embeddings").and_then(Value::as_array).ok_or("response has no `embeddings` array")?;
        embeddings
            .iter()
            .map(|e| {
                e.get("values").and_then(vector_from_json).ok_or_else(|| "an embedding has no numeric `values`".into())
            })
            .collect()
    }
}
