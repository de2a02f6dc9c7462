//! Router tests: the whole application driven with `oneshot`, no socket.

mod basics;
mod context;
mod conversations;
mod invalid_input;
mod mcp;
mod never_5xx;
mod sessions;
mod store;
mod summarize;
mod tenancy;
mod timeouts;
mod vector_index;

use std::sync::Arc;
use std::time::Duration;

use agent_memory::store::{ManualClock, MemoryStore};
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::config::{ApiKeys, Limits, Tenant};
use super::metrics::Metrics;
use super::{AppState, router};

pub(super) const ACME_KEY: &str = "acme-key-0123456789";
pub(super) const GLOBEX_KEY: &str = "globex-key-0123456789";
/// 2023-11-14T22:13:20Z.
pub(super) const T0: f64 = 1_700_000_000.0;

/// A JSON-RPC POST to the MCP endpoint as tenant acme, in `session` when given.
pub(super) fn mcp_post(session: Option<&str>, body: &Value) -> Request<Body> {
    let mut request = Request::post("/mcp")
        .header(header::HOST, "127.0.0.1")
        .header("x-api-key", ACME_KEY)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream");
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request.body(Body::from(body.to_string())).expect("request")
}

pub(super) fn limits() -> Limits {
    Limits { max_body_bytes: 64 * 1024, request_timeout: Duration::from_secs(5) }
}

pub(super) fn keys() -> ApiKeys {
    let mut keys = ApiKeys::default();
    keys.insert(Tenant::new("acme").expect("tenant"), ACME_KEY).expect("key");
    keys.insert(Tenant::new("globex").expect("tenant"), GLOBEX_KEY).expect("key");
    keys
}

/// A server with two tenants over one in-memory store whose clock the test controls.
pub(super) struct Harness {
    pub(super) state: AppState,
    pub(super) clock: ManualClock,
}

impl Harness {
    pub(super) fn keyed() -> Self {
        Self::with_keys(keys())
    }

    pub(super) fn open() -> Self {
        Self::with_keys(ApiKeys::default())
    }

    fn with_keys(keys: ApiKeys) -> Self {
        let clock = ManualClock::new(T0);
        let store = MemoryStore::in_memory().without_embedder().with_clock(Arc::new(clock.clone()));
        Self { state: AppState::new(keys, limits(), store, Arc::new(Metrics::new())), clock }
    }

    /// Sends a request with an optional API key and JSON body; returns status, headers and
    /// the JSON answer (`Value::Null` for an empty body).
    pub(super) async fn send(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
        let response = router(self.state.clone()).oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        (status, headers, body)
    }

    pub(super) async fn call(
        &self,
        method: Method,
        uri: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .expect("request"),
            None => request.body(Body::empty()).expect("request"),
        };
        let (status, _, body) = self.send(request).await;
        (status, body)
    }
}

/// The raw text of an answer (for non-JSON endpoints such as `/metrics`).
pub(super) async fn body_text(harness: &Harness, request: Request<Body>) -> String {
    let response = router(harness.state.clone()).oneshot(request).await.expect("infallible");
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

pub(super) fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}
