//! Voyage AI's `POST /v1/embeddings` (Anthropic's recommended embedding provider).

use serde_json::{Value, json};

use super::{Purpose, WireFormat, openai::OpenAi};

/// The Voyage wire format: OpenAI's response shape, plus `input_type` in the request.
#[derive(Debug)]
pub(crate) struct Voyage {
    pub(crate) base_url: String,
    pub(crate) model: String,
    pub(crate) dimensions: Option<usize>,
}

impl WireFormat for Voyage {
    fn provider(&self) -> &'static str {
        "voyage"
    }

    fn max_batch_size(&self) -> usize {
        // The API takes up to 1000 texts, but voyage-3 caps a request at 120k tokens.
        128
    }

    fn max_batch_chars(&self) -> usize {
        120_000
    }

    fn request(&self, texts: &[String], purpose: Purpose) -> (String, Value) {
        let input_type = match purpose {
            Purpose::Document => "document",
            Purpose::Query => "query",
        };
        let mut body = json!({ "model": self.model, "input": texts, "input_type": input_type });
        if let Some(dimensions) = self.dimensions {
            body["output_dimension"] = json!(dimensions);
        }
        (format!("{}/embeddings", self.base_url), body)
    }

    fn parse(&self, body: Value) -> Result<Vec<Vec<f32>>, String> {
        OpenAi { provider: "voyage", base_url: String::new(), model: String::new(), dimensions: None }.parse(body)
    }
}
