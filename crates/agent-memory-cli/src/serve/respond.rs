//! JSON responses serialized into a buffer sized for them up front. axum's `Json` starts at
//! 128 bytes and doubles, so a page of search results was copied five or six times.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;

/// Bytes a page's buffer starts with per result, beyond [`PAGE_BASE`].
const PAGE_BYTES_PER_RESULT: usize = 512;
/// Bytes a page's buffer starts with before its results.
const PAGE_BASE: usize = 256;

/// A JSON response whose buffer starts at a size fitting a page of `results` results.
pub(crate) struct JsonPage<T> {
    value: T,
    results: usize,
}

impl<T> JsonPage<T> {
    pub(crate) fn new(value: T, results: usize) -> JsonPage<T> {
        JsonPage { value, results }
    }
}

impl<T: Serialize> IntoResponse for JsonPage<T> {
    fn into_response(self) -> Response {
        let capacity = self.results.saturating_mul(PAGE_BYTES_PER_RESULT).saturating_add(PAGE_BASE);
        let mut body = Vec::with_capacity(capacity);
        match serde_json::to_writer(&mut body, &self.value) {
            Ok(()) => ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response(),
            Err(error) => ApiError::internal(format!("cannot encode the response: {error}")).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use serde_json::{Value, json};

    use super::*;

    #[tokio::test]
    async fn a_page_is_the_json_of_its_value() {
        let value = json!({"items": [{"key": "k", "value": {"text": "é \"quoted\""}}]});
        let response = JsonPage::new(value.clone(), 1).into_response();
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = to_bytes(response.into_body(), usize::MAX).await.expect("body");
        assert_eq!(serde_json::from_slice::<Value>(&body).expect("json"), value);
    }
}
