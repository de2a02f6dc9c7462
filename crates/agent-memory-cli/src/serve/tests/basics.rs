//! Router tests: the whole application driven with `oneshot`, no socket.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::config::{ApiKeys, Limits, Tenant};
use super::{AppState, Backend, router};

struct FixedBackend(Result<(), String>);

#[async_trait::async_trait]
impl Backend for FixedBackend {
    async fn ping(&self) -> Result<(), String> {
        self.0.clone()
    }
}

const ACME_KEY: &str = "acme-key-0123456789";
const GLOBEX_KEY: &str = "globex-key-0123456789";

fn limits() -> Limits {
    Limits { max_body_bytes: 1024, request_timeout: Duration::from_secs(5) }
}

fn keyed_state() -> AppState {
    let mut keys = ApiKeys::default();
    keys.insert(Tenant::new("acme").expect("tenant"), ACME_KEY).expect("key");
    keys.insert(Tenant::new("globex").expect("tenant"), GLOBEX_KEY).expect("key");
    AppState::new(keys, limits(), Arc::new(FixedBackend(Ok(()))))
}

fn open_state() -> AppState {
    AppState::new(ApiKeys::default(), limits(), Arc::new(FixedBackend(Ok(()))))
}

async fn send(state: AppState, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = router(state).oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("JSON body") };
    (status, headers, body)
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

#[tokio::test]
async fn healthz_answers_without_a_key() {
    let (status, _, body) = send(keyed_state(), get("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_follows_the_backend() {
    let (status, _, body) = send(keyed_state(), get("/readyz")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ready"})));

    let down = AppState::new(ApiKeys::default(), limits(), Arc::new(FixedBackend(Err("connection refused".into()))));
    let (status, _, body) = send(down, get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, json!({"code": "unavailable", "message": "the database does not answer: connection refused"}));
}

#[tokio::test]
async fn openapi_document_lists_the_routes_and_security() {
    let (status, _, body) = send(keyed_state(), get("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["openapi"].as_str().expect("version").starts_with("3.1"));
    for path in ["/healthz", "/readyz", "/whoami"] {
        assert!(body["paths"][path].is_object(), "missing {path}");
    }
    assert_eq!(body["components"]["securitySchemes"]["api_key"]["name"], "x-api-key");
    assert_eq!(body["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}

#[tokio::test]
async fn unknown_paths_and_methods_are_json_errors() {
    let (status, _, body) = send(keyed_state(), get("/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"code": "not_found", "message": "no such endpoint; see /openapi.json"}));

    let request = Request::post("/healthz").body(Body::empty()).expect("request");
    let (status, _, body) = send(keyed_state(), request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["code"], "method_not_allowed");
}

#[tokio::test]
async fn without_keys_every_caller_is_the_local_tenant() {
    let (status, _, body) = send(open_state(), get("/whoami")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"tenant": "local"})));
}

#[tokio::test]
async fn keys_name_their_tenant_by_bearer_or_header() {
    let request = Request::get("/whoami").header(header::AUTHORIZATION, format!("Bearer {ACME_KEY}"));
    let (status, _, body) = send(keyed_state(), request.body(Body::empty()).expect("request")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"tenant": "acme"})));

    let request = Request::get("/whoami").header(header::AUTHORIZATION, format!("bearer {GLOBEX_KEY}"));
    let (status, _, body) = send(keyed_state(), request.body(Body::empty()).expect("request")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"tenant": "globex"})));

    let request = Request::get("/whoami").header("x-api-key", GLOBEX_KEY);
    let (status, _, body) = send(keyed_state(), request.body(Body::empty()).expect("request")).await;
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
        let (status, response_headers, body) = send(keyed_state(), request.body(Body::empty()).expect("request")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}");
        assert_eq!(response_headers[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(body, json!({"code": "unauthorized", "message": message}), "{headers:?}");
    }
}
