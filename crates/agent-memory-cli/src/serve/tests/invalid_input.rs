//! Every bad input is a 4xx JSON error with a stable code, never a 5xx or a crash.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use super::{ACME_KEY, Harness};

/// `(method, uri, content type, body, expected status, expected code)`.
type Case = (Method, &'static str, Option<&'static str>, String, StatusCode, &'static str);

fn cases() -> Vec<Case> {
    let json_type = Some("application/json");
    let put = |body: serde_json::Value| (Method::PUT, "/store/items", json_type, body.to_string());
    let search = |body: serde_json::Value| (Method::POST, "/store/items/search", json_type, body.to_string());
    let list = |body: serde_json::Value| (Method::POST, "/store/namespaces", json_type, body.to_string());
    let with = |(method, uri, content_type, body): (Method, &'static str, Option<&'static str>, String),
                status,
                code|
     -> Case { (method, uri, content_type, body, status, code) };
    let bad = StatusCode::BAD_REQUEST;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    vec![
        with((Method::PUT, "/store/items", json_type, "{not json".into()), bad, "invalid_json"),
        with(
            (Method::PUT, "/store/items", None, r#"{"namespace":["n"],"key":"k","value":{}}"#.into()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        with(
            (Method::PUT, "/store/items", Some("text/plain"), "{}".into()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        with(put(json!({"namespace": ["n"], "key": "k"})), unprocessable, "invalid_request"),
        with(put(json!({"namespace": "n", "key": "k", "value": {}})), unprocessable, "invalid_request"),
        with(put(json!({"namespace": ["n"], "key": 5, "value": {}})), unprocessable, "invalid_request"),
        with(put(json!({"namespace": ["n"], "key": "k", "value": [1]})), bad, "invalid_value"),
        with(put(json!({"namespace": ["n"], "key": "k", "value": "text"})), bad, "invalid_value"),
        with(put(json!({"namespace": ["n"], "key": "k", "value": {"a": "nul\u{0}"}})), bad, "invalid_value"),
        with(put(json!({"namespace": [], "key": "k", "value": {}})), bad, "invalid_namespace"),
        with(put(json!({"namespace": ["a", ""], "key": "k", "value": {}})), bad, "invalid_namespace"),
        with(put(json!({"namespace": ["a\u{1f}b"], "key": "k", "value": {}})), bad, "invalid_namespace"),
        with(put(json!({"namespace": vec!["x"; 32], "key": "k", "value": {}})), bad, "invalid_namespace"),
        with(put(json!({"namespace": ["n"], "key": "", "value": {}})), bad, "invalid_key"),
        with(put(json!({"namespace": ["n"], "key": "k".repeat(2000), "value": {}})), bad, "invalid_key"),
        with(put(json!({"namespace": ["n"], "key": "k", "value": {}, "ttl": -1})), bad, "invalid_ttl"),
        with(put(json!({"namespace": ["n"], "key": "k", "value": {}, "ttl": 0})), bad, "invalid_ttl"),
        with(put(json!({"namespace": ["n"], "key": "k", "value": {}, "ttl": 1e308})), bad, "invalid_ttl"),
        with((Method::GET, "/store/items?namespace=n", None, String::new()), bad, "invalid_request"),
        with((Method::GET, "/store/items?namespace=&key=k", None, String::new()), bad, "invalid_namespace"),
        with((Method::GET, "/store/items?namespace=a..b&key=k", None, String::new()), bad, "invalid_namespace"),
        with((Method::GET, "/store/items?namespace=%5B1%5D&key=k", None, String::new()), bad, "invalid_namespace"),
        with(
            (Method::GET, "/store/items?namespace=n&key=k&refresh_ttl=maybe", None, String::new()),
            bad,
            "invalid_request",
        ),
        with(
            (Method::DELETE, "/store/items", json_type, json!({"namespace": ["n"]}).to_string()),
            unprocessable,
            "invalid_request",
        ),
        with(search(json!({"limit": 1001})), bad, "invalid_request"),
        with(search(json!({"limit": -1})), unprocessable, "invalid_request"),
        with(search(json!({"limit": 2.5})), unprocessable, "invalid_request"),
        with(search(json!({"offset": -1.0})), unprocessable, "invalid_request"),
        with(list(json!({"max_depth": 1.5})), unprocessable, "invalid_request"),
        with(search(json!({"filter": [1]})), bad, "invalid_filter"),
        with(search(json!({"filter": {"a": {"$regex": "x"}}})), bad, "invalid_filter"),
        with(search(json!({"query": "q".repeat(4097)})), bad, "invalid_request"),
        with(search(json!({"query": "x", "mode": "semantic"})), bad, "embedder_required"),
        with(search(json!({"query": "x", "mode": "psychic"})), unprocessable, "invalid_request"),
        with(search(json!({"namespace_prefix": [""]})), bad, "invalid_namespace"),
        with(list(json!({"max_depth": 0})), bad, "invalid_request"),
        with(list(json!({"limit": 5000})), bad, "invalid_request"),
        with(list(json!({"suffix": [""]})), bad, "invalid_namespace"),
        with(
            (Method::POST, "/store/batch", json_type, json!({"ops": [{"op": "explode"}]}).to_string()),
            unprocessable,
            "invalid_request",
        ),
        with(
            (
                Method::POST,
                "/store/batch",
                json_type,
                json!({"ops": [{"op": "get", "namespace": [], "key": "k"}]}).to_string(),
            ),
            bad,
            "invalid_namespace",
        ),
    ]
}

#[tokio::test]
async fn bad_requests_are_4xx_with_a_code() {
    let harness = Harness::keyed();
    for (method, uri, content_type, body, status, code) in cases() {
        let mut request = Request::builder().method(method.clone()).uri(uri).header("x-api-key", ACME_KEY);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let (actual_status, _, answer) = harness.send(request.body(Body::from(body.clone())).expect("request")).await;
        let short: String = body.chars().take(80).collect();
        assert_eq!(actual_status, status, "{method} {uri} {short}: {answer}");
        assert_eq!(answer["code"], code, "{method} {uri} {short}: {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
    }
}

/// A count written as a whole float (`2.0`: JSON Schema's `integer` admits it, and Python
/// writes floats so) is the same count in every body that takes one.
#[tokio::test]
async fn whole_floats_are_counts() {
    let harness = Harness::keyed();
    for key in ["a", "b", "c"] {
        let body = json!({"namespace": ["notes", key], "key": key, "value": {"text": "tea"}});
        let (status, answer) = harness.call(Method::PUT, "/store/items", Some(ACME_KEY), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let ask = |uri: &'static str, body: serde_json::Value| harness.call(Method::POST, uri, Some(ACME_KEY), Some(body));
    let (status, found) = ask("/store/items/search", json!({"limit": 2.0, "offset": 1.0})).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["items"].as_array().map(Vec::len), Some(2), "{found}");
    let (status, listed) = ask("/store/namespaces", json!({"max_depth": 1.0, "limit": 5.0})).await;
    assert_eq!((status, &listed["namespaces"]), (StatusCode::OK, &json!([["notes"]])), "{listed}");
    let batch = json!({"ops": [{"op": "search", "limit": 1.0}, {"op": "list_namespaces", "offset": 0.0}]});
    let (status, results) = ask("/store/batch", batch).await;
    assert_eq!(status, StatusCode::OK, "{results}");
    assert_eq!(results["results"][0]["items"].as_array().map(Vec::len), Some(1), "{results}");
    let messages = json!([{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"}]);
    let trim = json!({"messages": messages, "strategy": "last", "max_messages": 1.0});
    let (status, trimmed) = ask("/context/trim", trim).await;
    assert_eq!((status, &trimmed["final_count"]), (StatusCode::OK, &json!(1)), "{trimmed}");
    let (status, fitted) = ask("/context/fit", json!({"messages": messages, "max_tokens": 1000.0})).await;
    assert_eq!(status, StatusCode::OK, "{fitted}");
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let harness = Harness::keyed();
    // The harness limit is 64 KiB.
    let body = json!({"namespace": ["n"], "key": "k", "value": {"text": "x".repeat(70 * 1024)}});
    let (status, answer) = harness.call(Method::PUT, "/store/items", Some(ACME_KEY), Some(body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer["code"], "payload_too_large");
}
