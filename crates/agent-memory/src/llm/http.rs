//! The HTTP transport shared by the provider clients: JSON POST with timeouts, retries
//! with exponential backoff and jitter, `Retry-After`, and error bodies turned into
//! [`LlmError`]s that name the provider.

use std::time::Duration;

use rand::Rng;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::LlmError;

/// How often and how patiently a client retries 408, 409, 429 and 5xx answers, timeouts
/// and connection failures.
///
/// The delay before retry `n` (0-based) is `initial_backoff · 2ⁿ`, capped at
/// `max_backoff`, then scaled by a random factor in `[0.5, 1.0]` (jitter), unless the
/// server sent `Retry-After` (seconds) or `retry-after-ms`, which is honoured up to
/// `max_backoff`.
///
/// ```
/// use std::time::Duration;
/// use agent_memory::llm::RetryPolicy;
///
/// let policy = RetryPolicy::standard();
/// assert_eq!(policy.max_retries, 3);
/// assert!(policy.backoff(1) <= Duration::from_secs(1));
/// assert!(policy.backoff(1) >= Duration::from_millis(500));
/// assert_eq!(RetryPolicy::none().max_retries, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: never retry).
    pub max_retries: u32,
    /// The base delay before the first retry.
    pub initial_backoff: Duration,
    /// The longest delay between two attempts, `Retry-After` included.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// 3 retries, starting at 500 ms, at most 30 s apart.
    pub fn standard() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }

    /// No retries.
    pub fn none() -> RetryPolicy {
        RetryPolicy { max_retries: 0, initial_backoff: Duration::ZERO, max_backoff: Duration::ZERO }
    }

    /// The jittered delay before retry `attempt` (0-based) when the server gave no
    /// `Retry-After`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponential = self.initial_backoff.saturating_mul(2u32.saturating_pow(attempt.min(31)));
        let capped = exponential.min(self.max_backoff);
        capped.mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(wait) => wait.min(self.max_backoff),
            None => self.backoff(attempt),
        }
    }
}

/// A JSON-over-HTTP client for one provider.
#[derive(Debug, Clone)]
pub(crate) struct HttpTransport {
    client: reqwest::Client,
    provider: String,
    timeout: Duration,
    retry: RetryPolicy,
}

impl HttpTransport {
    pub(crate) fn new(provider: &str, timeout: Duration, retry: RetryPolicy) -> Result<HttpTransport, LlmError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("agent-memory/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| LlmError::NotConfigured(format!("cannot build the HTTP client for {provider}: {err}")))?;
        Ok(HttpTransport { client, provider: provider.to_owned(), timeout, retry })
    }

    pub(crate) fn provider(&self) -> &str {
        &self.provider
    }

    /// POSTs `body` to `url` with `headers`, retrying per the policy, and returns the
    /// parsed JSON of the first 2xx answer.
    pub(crate) async fn post_json(&self, url: &str, headers: HeaderMap, body: &Value) -> Result<Value, LlmError> {
        let mut attempt = 0;
        loop {
            let (error, retry_after) = match self.post_once(url, headers.clone(), body).await {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            if attempt >= self.retry.max_retries || !error.is_retryable() {
                return Err(error);
            }
            let delay = self.retry.delay(attempt, retry_after);
            tracing::warn!(provider = %self.provider, attempt = attempt + 1, ?delay, %error, "retrying LLM request");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn post_once(
        &self,
        url: &str,
        headers: HeaderMap,
        body: &Value,
    ) -> Result<Value, (LlmError, Option<Duration>)> {
        let response = self
            .client
            .post(url)
            .headers(headers)
            .json(body)
            .send()
            .await
            .map_err(|err| (self.transport(url, &err), None))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let text = response.text().await.map_err(|err| (self.transport(url, &err), None))?;
        if !status.is_success() {
            let error = LlmError::Status {
                provider: self.provider.clone(),
                status: status.as_u16(),
                message: error_message(&text, status.canonical_reason()),
            };
            return Err((error, retry_after));
        }
        serde_json::from_str(&text).map_err(|err| {
            let error = LlmError::InvalidResponse {
                provider: self.provider.clone(),
                message: format!("the body is not JSON ({err}): {}", truncate(&text, 200)),
            };
            (error, None)
        })
    }

    fn transport(&self, url: &str, err: &reqwest::Error) -> LlmError {
        if err.is_timeout() {
            return LlmError::Timeout { provider: self.provider.clone(), timeout: self.timeout };
        }
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        LlmError::Connection { provider: self.provider.clone(), url: url.to_owned(), message }
    }
}

/// `retry-after-ms` (OpenAI) or `Retry-After` in seconds; HTTP dates are ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim);
    if let Some(millis) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Duration::try_from_secs_f64(millis / 1000.0).ok();
    }
    header("retry-after").and_then(|v| v.parse::<f64>().ok()).and_then(|secs| Duration::try_from_secs_f64(secs).ok())
}

/// The provider's own message from an error body: `error.message` (OpenAI, Anthropic,
/// most compatible servers) with the error's type or code, `error` as a string, `message`,
/// or FastAPI's `detail`; otherwise the start of the body.
pub(crate) fn error_message(body: &str, reason: Option<&str>) -> String {
    let fallback = || {
        let body = body.trim();
        if body.is_empty() { reason.unwrap_or("empty body").to_owned() } else { truncate(body, 500) }
    };
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return fallback();
    };
    let error = &value["error"];
    if let Some(message) = error["message"].as_str() {
        let kind = error["type"].as_str().or_else(|| error["code"].as_str());
        return match kind {
            Some(kind) if !kind.is_empty() => format!("{message} ({kind})"),
            _ => message.to_owned(),
        };
    }
    if let Some(message) = error.as_str().or_else(|| value["message"].as_str()) {
        return message.to_owned();
    }
    match &value["detail"] {
        Value::String(detail) => detail.clone(),
        Value::Null => fallback(),
        detail => truncate(&detail.to_string(), 500),
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn error_messages_come_from_the_usual_places() {
        assert_eq!(
            error_message(
                r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
                None
            ),
            "Rate limit reached (requests)"
        );
        assert_eq!(
            error_message(r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#, None),
            "Overloaded (overloaded_error)"
        );
        assert_eq!(error_message(r#"{"error":"model not found"}"#, None), "model not found");
        assert_eq!(
            error_message(
                r#"{"detail":[{"loc":["body","messages",1,"content"],"msg":"none is not an allowed value"}]}"#,
                None
            ),
            r#"[{"loc":["body","messages",1,"content"],"msg":"none is not an allowed value"}]"#
        );
        assert_eq!(error_message("upstream connect error", Some("Bad Gateway")), "upstream connect error");
        assert_eq!(error_message("", Some("Bad Gateway")), "Bad Gateway");
    }

    #[test]
    fn retry_after_reads_seconds_and_milliseconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(150)));
        let mut date = HeaderMap::new();
        date.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2026 07:28:00 GMT"));
        assert_eq!(retry_after(&date), None);
    }

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let policy = RetryPolicy {
            max_retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
        };
        for (attempt, full) in [(0, 100), (1, 200), (2, 400), (3, 800), (4, 1000), (10, 1000)] {
            let delay = policy.backoff(attempt);
            assert!(
                delay >= Duration::from_millis(full / 2) && delay <= Duration::from_millis(full),
                "{attempt}: {delay:?}"
            );
        }
        assert_eq!(policy.delay(0, Some(Duration::from_secs(5))), Duration::from_millis(1000));
        assert_eq!(policy.delay(0, Some(Duration::from_millis(20))), Duration::from_millis(20));
    }
}
