//! `POST /context/count`.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::{ACME_KEY, Harness};

async fn count(body: serde_json::Value) -> (StatusCode, serde_json::Value) {
    Harness::keyed().call(Method::POST, "/context/count", Some(ACME_KEY), Some(body)).await
}

#[tokio::test]
async fn counts_messages_exactly_for_openai_models() {
    // "Hello, world!" is 4 tokens; 3 + 1 ("user") per message; 3 for the reply priming.
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello, world!"}]});
    let (status, answer) = count(body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({"tokens": 11, "exact": true, "model": "gpt-4o", "context_limit": 128000}));
}

#[tokio::test]
async fn counts_text_and_says_when_it_is_approximate() {
    let (status, answer) = count(json!({"model": "gpt-4o", "text": "Hello, world!"})).await;
    assert_eq!((status, answer["tokens"].clone(), answer["exact"].clone()), (StatusCode::OK, json!(4), json!(true)));
    // ceil(13 / 4) without a model.
    let (status, answer) = count(json!({"text": "Hello, world!"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({"tokens": 4, "exact": false, "model": null, "context_limit": null}));
    let (_, answer) = count(json!({"model": "some-unknown-model", "text": "Hello, world!"})).await;
    assert_eq!(answer, json!({"tokens": 4, "exact": false, "model": "some-unknown-model", "context_limit": null}));
}

#[tokio::test]
async fn bad_count_requests_are_400() {
    let cases = [
        (json!({"model": "gpt-4o"}), "invalid_request"),
        (json!({"text": "a", "messages": []}), "invalid_request"),
        (json!({"messages": [{"role": "wizard", "content": "x"}]}), "invalid_messages"),
        (json!({"messages": {"role": "user"}}), "invalid_messages"),
        (json!({"model": "", "text": "a"}), "invalid_request"),
    ];
    for (body, code) in cases {
        let (status, answer) = count(body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["code"], code, "{body}: {answer}");
    }
    let (status, answer) = count(json!({"text": "a", "colour": "blue"})).await;
    assert_eq!((status, answer["code"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("invalid_request")));
}
