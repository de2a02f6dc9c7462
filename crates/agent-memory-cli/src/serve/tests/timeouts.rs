//! The request timeout: a request that takes longer gets a JSON 408, while the `/mcp` GET
//! stream (server-sent events), which is long-lived by design, is never cut by it (the
//! timeout bounds the time to the response's head, not the streaming of its body).

use std::sync::Arc;
use std::time::Duration;

use agent_memory::store::MemoryStore;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

use super::super::config::Limits;
use super::super::metrics::Metrics;
use super::super::{AppState, router};

use super::{ACME_KEY, keys, mcp_post};

/// A server whose requests time out after one second.
fn one_second_server() -> AppState {
    let limits = Limits { max_body_bytes: 64 * 1024, request_timeout: Duration::from_secs(1) };
    AppState::new(keys(), limits, MemoryStore::in_memory().without_embedder(), Arc::new(Metrics::new()))
}

#[tokio::test]
async fn the_mcp_event_stream_outlives_the_request_timeout() {
    // One router for the whole test: it holds the MCP sessions.
    let app = router(one_second_server());
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}});
    let response = app.clone().oneshot(mcp_post(None, &initialize)).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    assert_eq!(parts.status, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
    let session = parts.headers["mcp-session-id"].to_str().expect("text").to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = app.clone().oneshot(mcp_post(Some(&session), &initialized)).await.expect("infallible");
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&bytes));

    let stream = Request::get("/mcp")
        .header(header::HOST, "127.0.0.1")
        .header("x-api-key", ACME_KEY)
        .header(header::ACCEPT, "text/event-stream")
        .header("mcp-session-id", &session)
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(stream).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = response.into_body();
    // Read whatever the server sends for 2.5 s (2.5 times the timeout): the stream must
    // neither end nor fail.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(2500);
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_elapsed) => break,
            Ok(Some(Ok(_frame))) => continue,
            Ok(Some(Err(error))) => panic!("the event stream failed: {error}"),
            Ok(None) => panic!("the event stream ended before the deadline"),
        }
    }
}

#[tokio::test]
async fn a_request_slower_than_the_timeout_is_answered_408() {
    let app = router(one_second_server());
    // A body that never arrives keeps the handler waiting.
    let never = futures::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
    let request = Request::put("/store/items")
        .header("x-api-key", ACME_KEY)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(never))
        .expect("request");
    let started = std::time::Instant::now();
    let response = app.oneshot(request).await.expect("infallible");
    let elapsed = started.elapsed();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(3), "{elapsed:?}");
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(body, json!({"code": "timeout", "message": "the request took longer than 1 s"}));
}

/// The hash embedder, 400 ms slower per call.
#[derive(Debug)]
struct SlowEmbedder(agent_memory::embed::HashEmbedder);

#[async_trait::async_trait]
impl agent_memory::embed::Embedder for SlowEmbedder {
    fn model_id(&self) -> &str {
        self.0.model_id()
    }

    fn dimensions(&self) -> usize {
        self.0.dimensions()
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, agent_memory::embed::EmbedError> {
        tokio::time::sleep(Duration::from_millis(400)).await;
        self.0.embed(texts).await
    }
}

#[tokio::test]
async fn a_batch_cut_by_the_timeout_leaves_all_or_none_of_its_puts() {
    let embedder = Arc::new(SlowEmbedder(agent_memory::embed::HashEmbedder::new(16)));
    let store = MemoryStore::in_memory().with_embedder(embedder);
    let limits = Limits { max_body_bytes: 64 * 1024, request_timeout: Duration::from_secs(1) };
    let app = router(AppState::new(keys(), limits, store.clone(), Arc::new(Metrics::new())));
    let ops: Vec<_> = (0..4)
        .map(|i| json!({"op": "put", "namespace": ["notes"], "key": format!("k{i}"), "value": {"text": format!("note {i}")}}))
        .collect();
    let request = Request::post("/store/batch")
        .header("x-api-key", ACME_KEY)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"ops": ops}).to_string()))
        .expect("request");
    let response = app.oneshot(request).await.expect("infallible");
    let status = response.status();
    let body: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await.expect("body").to_bytes()).expect("JSON");
    // One at a time, the puts would take 1.6 s and the timeout would leave two of them.
    let stored = store.count(["acme", "notes"]).await.expect("count");
    assert!(stored == 0 || stored == 4, "{stored} of the batch's 4 puts were stored ({status}: {body})");
    if status == StatusCode::OK {
        assert_eq!(stored, 4);
        let keys: Vec<&str> =
            body["results"].as_array().expect("results").iter().filter_map(|r| r["key"].as_str()).collect();
        assert_eq!(keys, ["k0", "k1", "k2", "k3"]);
    } else {
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{body}");
    }
}
