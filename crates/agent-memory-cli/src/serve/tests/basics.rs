//! Health, readiness, OpenAPI, fallbacks and authentication.

use std::sync::Arc;

use agent_memory::store::{
    Item, ItemKey, ItemWrite, KeywordQuery, MemoryStore, Namespace, NamespaceQuery, ScanQuery, Scope, ScoredItem,
    StoreBackend, StoreError, StoreOptions, VectorQuery,
};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;

use super::{ACME_KEY, GLOBEX_KEY, Harness, get, keys, limits};
use tower::ServiceExt;

use crate::serve::metrics::Metrics;
use crate::serve::{AppState, router};

/// A database that is down: every call fails.
#[derive(Debug)]
struct DownBackend;

fn down() -> StoreError {
    StoreError::backend("sqlite", "unable to open database file")
}

#[async_trait::async_trait]
impl StoreBackend for DownBackend {
    fn kind(&self) -> &'static str {
        "down"
    }
    async fn put_many(&self, _: Vec<ItemWrite>, _: f64) -> Result<Vec<Item>, StoreError> {
        Err(down())
    }
    async fn get_many(&self, _: &[ItemKey], _: f64, _: bool) -> Result<Vec<Option<Item>>, StoreError> {
        Err(down())
    }
    async fn delete_many(&self, _: &[ItemKey], _: f64) -> Result<Vec<bool>, StoreError> {
        Err(down())
    }
    async fn scan(&self, _: &ScanQuery) -> Result<Vec<Item>, StoreError> {
        Err(down())
    }
    async fn vector_search(&self, _: &VectorQuery) -> Result<Vec<ScoredItem>, StoreError> {
        Err(down())
    }
    async fn keyword_search(&self, _: &KeywordQuery) -> Result<Vec<ScoredItem>, StoreError> {
        Err(down())
    }
    async fn list_namespaces(&self, _: &NamespaceQuery) -> Result<Vec<Namespace>, StoreError> {
        Err(down())
    }
    async fn count(&self, _: &Scope, _: f64) -> Result<u64, StoreError> {
        Err(down())
    }
    async fn delete_scope(&self, _: &Scope, _: f64) -> Result<u64, StoreError> {
        Err(down())
    }
    async fn purge_expired(&self, _: f64) -> Result<u64, StoreError> {
        Err(down())
    }
}

fn down_harness() -> Harness {
    let mut harness = Harness::keyed();
    let store = MemoryStore::new(Arc::new(DownBackend), StoreOptions::default());
    harness.state = AppState::new(keys(), limits(), store, Arc::new(Metrics::new()));
    harness
}

#[tokio::test]
async fn healthz_answers_without_a_key() {
    let (status, _, body) = Harness::keyed().send(get("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_follows_the_backend() {
    let (status, _, body) = Harness::keyed().send(get("/readyz")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ready"})));

    let (status, _, body) = down_harness().send(get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, json!({"code": "unavailable", "message": "the database does not answer"}));
}

#[tokio::test]
async fn openapi_document_lists_the_routes_and_security() {
    let (status, _, body) = Harness::keyed().send(get("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["openapi"].as_str().expect("version").starts_with("3.1"));
    for path in
        ["/healthz", "/readyz", "/whoami", "/store/items", "/store/items/search", "/store/namespaces", "/store/batch"]
    {
        assert!(body["paths"][path].is_object(), "missing {path}");
    }
    assert_eq!(body["components"]["securitySchemes"]["api_key"]["name"], "x-api-key");
    assert_eq!(body["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    // Client generators name their methods by operationId: each must be unique.
    let mut operations: Vec<&str> = body["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|methods| methods.as_object().expect("methods").values())
        .map(|operation| operation["operationId"].as_str().expect("every operation has an operationId"))
        .collect();
    let count = operations.len();
    operations.sort_unstable();
    operations.dedup();
    assert_eq!(operations.len(), count, "duplicate operationIds among {operations:?}");
    // Identifiers carry the checks the server makes, so generated clients send what passes.
    let schemas = &body["components"]["schemas"];
    for (schema, max) in [("Label", 255), ("Key", 1024)] {
        assert_eq!(schemas[schema]["pattern"], r"^[^\u0000-\u001F\u007F-\u009F]+$", "{schema}");
        assert_eq!((&schemas[schema]["minLength"], &schemas[schema]["maxLength"]), (&json!(1), &json!(max)));
    }
    // A client's namespace has one label less than the store's: the tenant's takes one
    // (`invalid_input.rs` refuses 32 labels).
    assert_eq!(schemas["PutItemRequest"]["properties"]["namespace"]["$ref"], "#/components/schemas/ClientNamespace");
    for (schema, min) in [("ClientNamespace", 1), ("ClientPrefix", 0)] {
        let labels = &schemas[schema];
        assert_eq!((&labels["minItems"], &labels["maxItems"]), (&json!(min), &json!(31)), "{schema}");
        assert_eq!(labels["items"]["$ref"], "#/components/schemas/Label");
    }
    // Every status the server sends is documented: 401 behind the key check (the open
    // routes need no key), 413/415/422 wherever a JSON body is read.
    for (path, methods) in body["paths"].as_object().expect("paths") {
        for (method, operation) in methods.as_object().expect("methods") {
            let responses = operation["responses"].as_object().expect("responses");
            if ["/healthz", "/readyz", "/metrics"].contains(&path.as_str()) {
                assert_eq!(operation["security"], json!([]), "{method} {path} needs no key");
                assert!(!responses.contains_key("401"), "{method} {path}");
                continue;
            }
            assert!(operation.get("security").is_none(), "{method} {path} takes the document's security");
            assert!(responses.contains_key("401"), "{method} {path} documents 401");
            if operation.get("requestBody").is_some() {
                for status in ["413", "415", "422"] {
                    assert!(responses.contains_key(status), "{method} {path} documents {status}");
                }
            }
        }
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_are_json_errors() {
    let (status, _, body) = Harness::keyed().send(get("/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"code": "not_found", "message": "no such endpoint; see /openapi.json"}));

    let request = Request::post("/healthz").body(Body::empty()).expect("request");
    let (status, _, body) = Harness::keyed().send(request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["code"], "method_not_allowed");
}

#[tokio::test]
async fn without_keys_every_caller_is_the_local_tenant() {
    let (status, _, body) = Harness::open().send(get("/whoami")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"tenant": "local"})));
}

#[tokio::test]
async fn keys_name_their_tenant_by_bearer_or_header() {
    let request = Request::get("/whoami").header(header::AUTHORIZATION, format!("Bearer {ACME_KEY}"));
    let (status, _, body) = Harness::keyed().send(request.body(Body::empty()).expect("request")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"tenant": "acme"})));

    let request = Request::get("/whoami").header(header::AUTHORIZATION, format!("bearer {GLOBEX_KEY}"));
    let (status, _, body) = Harness::keyed().send(request.body(Body::empty()).expect("request")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"tenant": "globex"})));

    let request = Request::get("/whoami").header("x-api-key", GLOBEX_KEY);
    let (status, _, body) = Harness::keyed().send(request.body(Body::empty()).expect("request")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"tenant": "globex"})));
}

#[tokio::test]
async fn bad_credentials_are_401_with_a_reason() {
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[], "missing API key: send `Authorization: Bearer KEY` or `x-api-key: KEY`"),
        (&[("x-api-key", "acme-key-012345678X")], "unknown API key"),
        (&[("authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")], "the authorization header must be `Bearer KEY`"),
        (
            &[("authorization", "Bearer acme-key-0123456789"), ("x-api-key", GLOBEX_KEY)],
            "the bearer token and x-api-key differ: send one key",
        ),
        (&[("authorization", "Bearer")], "the authorization header must be `Bearer KEY`"),
    ];
    for (headers, message) in cases {
        let mut request = Request::get("/whoami");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let (status, response_headers, body) =
            Harness::keyed().send(request.body(Body::empty()).expect("request")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}");
        assert_eq!(response_headers[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(body, json!({"code": "unauthorized", "message": message}), "{headers:?}");
    }
}

#[tokio::test]
async fn a_database_failure_is_a_generic_500_that_leaks_nothing() {
    let request = Request::post("/store/items/search")
        .header("x-api-key", ACME_KEY)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"namespace_prefix": ["x"]}"#))
        .expect("request");
    let (status, _, body) = down_harness().send(request).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, json!({"code": "internal", "message": "internal server error"}));
}

#[tokio::test]
async fn metrics_count_requests_searches_and_items_without_client_strings() {
    use axum::http::Method;
    let harness = Harness::keyed();
    let put = json!({"namespace": ["secret-namespace"], "key": "secret-key", "value": {"text": "hello world"}});
    harness.call(Method::PUT, "/store/items", Some(ACME_KEY), Some(put)).await;
    let search = json!({"query": "hello", "mode": "keyword"});
    harness.call(Method::POST, "/store/items/search", Some(ACME_KEY), Some(search)).await;
    harness.call(Method::GET, "/store/items?namespace=x&key=y", Some(ACME_KEY), None).await;
    harness.call(Method::GET, "/store/items?namespace=x..y&key=y", Some(ACME_KEY), None).await;

    let response = router(harness.state.clone()).oneshot(get("/metrics")).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/openmetrics-text; version=1.0.0; charset=utf-8");
    let request = Request::get("/metrics").body(Body::empty()).expect("request");
    let text = super::body_text(&harness, request).await;
    for line in [
        r#"agent_memory_http_requests_total{method="PUT",route="/store/items",status="200"} 1"#,
        r#"agent_memory_http_requests_total{method="GET",route="/store/items",status="200"} 1"#,
        r#"agent_memory_http_requests_total{method="GET",route="/store/items",status="400"} 1"#,
        r#"agent_memory_store_search_duration_seconds_count{mode="keyword"} 1"#,
        "agent_memory_store_items 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("secret") && !text.contains("acme"), "client strings leaked:\n{text}");
}

#[tokio::test]
async fn embedder_calls_are_timed_and_counted_per_model() {
    use agent_memory::embed::HashEmbedder;
    use axum::http::Method;

    use crate::serve::metrics::TimedEmbedder;

    let metrics = Arc::new(Metrics::new());
    let embedder = Arc::new(TimedEmbedder::new(Arc::new(HashEmbedder::new(16)), Arc::clone(&metrics)));
    let store = MemoryStore::in_memory().with_embedder(embedder);
    let mut harness = Harness::keyed();
    harness.state = AppState::new(keys(), limits(), store, metrics);
    let put = json!({"namespace": ["n"], "key": "k", "value": {"text": "hello world"}});
    harness.call(Method::PUT, "/store/items", Some(ACME_KEY), Some(put)).await;
    let search = json!({"query": "hello", "mode": "semantic"});
    let (status, answer) = harness.call(Method::POST, "/store/items/search", Some(ACME_KEY), Some(search)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["items"][0]["key"], "k");

    let text = super::body_text(&harness, get("/metrics")).await;
    for line in [
        r#"agent_memory_embedded_texts_total{model="hash-v1/16"} 2"#,
        r#"agent_memory_embedding_duration_seconds_count{model="hash-v1/16"} 2"#,
        r#"agent_memory_store_search_duration_seconds_count{mode="semantic"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
}
