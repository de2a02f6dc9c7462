//! Embedders that call a hosted HTTP API: one [`HostedEmbedder`] drives batching, retries,
//! timeouts and response checks; each provider module only knows its wire format.

mod cohere;
mod gemini;
mod ollama;
mod openai;
mod voyage;

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use serde_json::Value;

use super::{EmbedError, Embedder};

pub(crate) use cohere::Cohere;
pub(crate) use gemini::Gemini;
pub(crate) use ollama::Ollama;
pub(crate) use openai::OpenAi;
pub(crate) use voyage::Voyage;

/// Whether a text is embedded to be stored or to search with; providers that distinguish
/// the two (Cohere, Voyage, Gemini) are told which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Document,
    Query,
}

/// One provider's request and response shapes.
pub(crate) trait WireFormat: Send + Sync + fmt::Debug {
    /// The provider's name, used in errors and model ids.
    fn provider(&self) -> &'static str;

    /// The most texts one request may carry.
    fn max_batch_size(&self) -> usize;

    /// The most characters one request may carry (a stand-in for the provider's token
    /// limit per request).
    fn max_batch_chars(&self) -> usize {
        usize::MAX
    }

    /// The URL and JSON body that embed `texts`.
    fn request(&self, texts: &[String], purpose: Purpose) -> (String, Value);

    /// The vectors in a successful response, in the order of the request's texts.
    fn parse(&self, body: Value) -> Result<Vec<Vec<f32>>, String>;
}

/// How a [`HostedEmbedder`] talks HTTP.
#[derive(Debug, Clone)]
pub(crate) struct HttpSettings {
    pub(crate) timeout: Duration,
    pub(crate) max_retries: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
}

/// An [`Embedder`] over a hosted API.
pub(crate) struct HostedEmbedder {
    wire: Box<dyn WireFormat>,
    client: reqwest::Client,
    settings: HttpSettings,
    model_id: String,
    /// 0 while unknown; set by the first response otherwise.
    dimensions: AtomicUsize,
    batch_size: usize,
}

impl fmt::Debug for HostedEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The client holds the key in its default headers: never print it.
        f.debug_struct("HostedEmbedder")
            .field("wire", &self.wire)
            .field("model_id", &self.model_id)
            .field("dimensions", &self.dimensions)
            .field("batch_size", &self.batch_size)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl HostedEmbedder {
    /// `headers` are sent with every request (authentication); values are marked sensitive.
    pub(crate) fn new(
        wire: Box<dyn WireFormat>,
        model_id: String,
        dimensions: Option<usize>,
        batch_size: Option<usize>,
        headers: Vec<(&'static str, String)>,
        settings: HttpSettings,
    ) -> Result<HostedEmbedder, EmbedError> {
        let provider = wire.provider();
        let mut header_map = HeaderMap::new();
        for (name, value) in headers {
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                EmbedError::Config(format!("{provider}: the {name} header value has characters HTTP cannot carry"))
            })?;
            value.set_sensitive(true);
            header_map.insert(HeaderName::from_static(name), value);
        }
        let client = reqwest::Client::builder()
            .default_headers(header_map)
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(concat!("agent-memory/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EmbedError::Config(format!("{provider}: cannot build the HTTP client: {e}")))?;
        let batch_size = batch_size.unwrap_or(usize::MAX).clamp(1, wire.max_batch_size());
        Ok(HostedEmbedder {
            wire,
            client,
            settings,
            model_id,
            dimensions: AtomicUsize::new(dimensions.unwrap_or(0)),
            batch_size,
        })
    }

    fn provider_error(&self, message: impl Into<String>) -> EmbedError {
        EmbedError::Provider { provider: self.wire.provider().to_owned(), message: message.into() }
    }

    async fn embed_with(&self, texts: &[String], purpose: Purpose) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in batches(texts, self.batch_size, self.wire.max_batch_chars()) {
            let (url, body) = self.wire.request(batch, purpose);
            let response = self.post_with_retries(&url, &body).await?;
            let batch_vectors = self.wire.parse(response).map_err(|e| self.provider_error(e))?;
            if batch_vectors.len() != batch.len() {
                return Err(self.provider_error(format!(
                    "asked for {} embeddings, got {}",
                    batch.len(),
                    batch_vectors.len()
                )));
            }
            for vector in &batch_vectors {
                self.check_dimensions(vector.len())?;
            }
            vectors.extend(batch_vectors);
        }
        Ok(vectors)
    }

    fn check_dimensions(&self, len: usize) -> Result<(), EmbedError> {
        if len == 0 {
            return Err(self.provider_error("returned an empty vector"));
        }
        match self.dimensions.compare_exchange(0, len, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Ok(()),
            Err(known) if known == len => Ok(()),
            Err(known) => Err(self.provider_error(format!(
                "returned a vector of {len} dimensions, expected {known} for {}",
                self.model_id
            ))),
        }
    }

    /// POSTs `body` to `url`, retrying 429, 5xx, timeouts and connection failures.
    async fn post_with_retries(&self, url: &str, body: &Value) -> Result<Value, EmbedError> {
        let mut attempt = 0u32;
        loop {
            let failure = match self.client.post(url).json(body).send().await {
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        return response.json::<Value>().await.map_err(|e| {
                            self.provider_error(format!("unreadable response from {}: {e}", redact(url)))
                        });
                    }
                    let retry_after = retry_after(response.headers());
                    let text = response.text().await.unwrap_or_default();
                    let message = format!("http {status}: {}", error_detail(&text));
                    if !is_retryable(status) {
                        return Err(self.provider_error(message));
                    }
                    (message, retry_after)
                }
                Err(e) if e.is_timeout() => {
                    (format!("timed out after {} ms calling {}", self.settings.timeout.as_millis(), redact(url)), None)
                }
                Err(e) if e.is_connect() => (format!("cannot connect to {}: {}", redact(url), root_cause(&e)), None),
                Err(e) => {
                    return Err(self.provider_error(format!("request to {} failed: {}", redact(url), root_cause(&e))));
                }
            };
            let (message, retry_after) = failure;
            if attempt >= self.settings.max_retries {
                let tries = attempt + 1;
                let suffix = if tries == 1 { String::new() } else { format!(" (gave up after {tries} attempts)") };
                return Err(self.provider_error(format!("{message}{suffix}")));
            }
            let delay = retry_after.unwrap_or_else(|| backoff(&self.settings, attempt)).min(self.settings.max_backoff);
            tracing::debug!(provider = self.wire.provider(), attempt, ?delay, %message, "retrying embedding request");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

#[async_trait::async_trait]
impl Embedder for HostedEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimensions(&self) -> usize {
        self.dimensions.load(Ordering::Acquire)
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_with(texts, Purpose::Document).await
    }

    async fn embed_query(&self, query: &str) -> Result<Vec<f32>, EmbedError> {
        let mut vectors = self.embed_with(&[query.to_owned()], Purpose::Query).await?;
        vectors.pop().ok_or_else(|| self.provider_error("returned no vector"))
    }
}

/// Splits `texts` into consecutive batches of at most `max_items` texts and, unless a
/// single text is larger, at most `max_chars` characters.
fn batches(texts: &[String], max_items: usize, max_chars: usize) -> Vec<&[String]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < texts.len() {
        let mut end = start;
        let mut chars = 0usize;
        while end < texts.len() && end - start < max_items {
            let len = texts[end].len();
            if end > start && chars.saturating_add(len) > max_chars {
                break;
            }
            chars = chars.saturating_add(len);
            end += 1;
        }
        out.push(&texts[start..end]);
        start = end;
    }
    out
}

fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT || status.is_server_error()
}

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs and ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let seconds: f64 = value.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// Exponential backoff with up to 25% jitter.
fn backoff(settings: &HttpSettings, attempt: u32) -> Duration {
    let base = settings.initial_backoff.saturating_mul(1u32 << attempt.min(16));
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let jitter = base.mul_f64(f64::from(nanos % 1000) / 4000.0);
    base.saturating_add(jitter)
}

/// The most useful part of an error body: the provider's own message when the body is
/// JSON in one of the usual shapes, else the body itself (truncated).
fn error_detail(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|json| {
        let candidates = [json.pointer("/error/message"), json.get("error"), json.get("message"), json.get("detail")];
        candidates.into_iter().flatten().find_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        })
    });
    let detail = from_json.unwrap_or_else(|| body.trim().to_owned());
    if detail.is_empty() {
        return "empty response body".to_owned();
    }
    let mut detail: String = detail.chars().take(300).collect();
    if detail.len() < body.len() && body.chars().count() > 300 {
        detail.push('…');
    }
    detail
}

/// The URL without its query string (Gemini-style keys could sit there).
fn redact(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// Reads an array of numbers as `f32`s.
pub(crate) fn vector_from_json(value: &Value) -> Option<Vec<f32>> {
    value.as_array()?.iter().map(|x| x.as_f64().map(|x| x as f32)).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn texts(lens: &[usize]) -> Vec<String> {
        lens.iter().map(|&n| "x".repeat(n)).collect()
    }

    fn batch_lens(batches: &[&[String]]) -> Vec<usize> {
        batches.iter().map(|b| b.len()).collect()
    }

    #[test]
    fn batches_respect_item_and_char_limits() {
        let input = texts(&[1; 7]);
        assert_eq!(batch_lens(&batches(&input, 3, usize::MAX)), vec![3, 3, 1]);
        let input = texts(&[4, 4, 4, 10, 1]);
        assert_eq!(batch_lens(&batches(&input, 10, 8)), vec![2, 1, 1, 1]);
        assert!(batches(&[], 3, 10).is_empty());
    }

    #[test]
    fn error_detail_reads_the_usual_shapes() {
        assert_eq!(error_detail(r#"{"error":{"message":"bad key","type":"x"}}"#), "bad key");
        assert_eq!(error_detail(r#"{"error":"model \"x\" not found"}"#), "model \"x\" not found");
        assert_eq!(error_detail(r#"{"message":"invalid request"}"#), "invalid request");
        assert_eq!(error_detail(r#"{"detail":"Provided API key is invalid."}"#), "Provided API key is invalid.");
        assert_eq!(error_detail("upstream connect error"), "upstream connect error");
        assert_eq!(error_detail(""), "empty response body");
        assert_eq!(error_detail(&"e".repeat(400)).chars().count(), 301);
    }

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        let settings = HttpSettings {
            timeout: Duration::from_secs(1),
            max_retries: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        };
        for (attempt, base) in [(0, 100), (1, 200), (2, 400)] {
            let delay = backoff(&settings, attempt);
            assert!(delay >= Duration::from_millis(base) && delay <= Duration::from_millis(base * 5 / 4), "{delay:?}");
        }
    }

    #[test]
    fn retry_after_takes_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("0.25"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn redact_drops_the_query_string() {
        assert_eq!(redact("https://h/v1/x:batchEmbedContents?key=secret"), "https://h/v1/x:batchEmbedContents");
    }
}
