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

fn hello_conversation() -> serde_json::Value {
    // With gpt-4o each message is 3 + 1 (role) + 4 ("Hello, world!") = 8 tokens; a request
    // adds 3 for the reply priming.
    json!([
        {"role": "user", "content": "Hello, world!"},
        {"role": "assistant", "content": "Hello, world!"},
        {"role": "user", "content": "Hello, world!"},
    ])
}

async fn post(uri: &str, body: serde_json::Value) -> (StatusCode, serde_json::Value) {
    Harness::keyed().call(Method::POST, uri, Some(ACME_KEY), Some(body)).await
}

#[tokio::test]
async fn trim_keeps_the_last_messages_and_the_system_message() {
    let body = json!({
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
        ],
        "strategy": "last",
        "max_messages": 1,
    });
    let (status, answer) = post("/context/trim", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer,
        json!({
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "c"}],
            "original_count": 4,
            "final_count": 2,
        })
    );
}

#[tokio::test]
async fn trim_by_tokens_keeps_what_fits() {
    let body = json!({"messages": hello_conversation(), "strategy": "token", "max_tokens": 19, "model": "gpt-4o"});
    let (status, answer) = post("/context/trim", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["final_count"], 2);
    assert_eq!(answer["messages"][0]["role"], "assistant");

    let (status, answer) = post("/context/trim", json!({"messages": hello_conversation(), "strategy": "last"})).await;
    assert_eq!((status, answer["code"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_request")));

    // The same budget, opening on a user turn: the answer goes too.
    let body = json!({"messages": hello_conversation(), "strategy": "token", "max_tokens": 19, "model": "gpt-4o",
                      "start_on": "user"});
    let (status, answer) = post("/context/trim", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["final_count"], 1, "{answer}");
    assert_eq!(answer["messages"][0]["role"], "user");

    let body = json!({"messages": hello_conversation(), "strategy": "last", "max_messages": 1, "start_on": "robot"});
    let (status, answer) = post("/context/trim", body).await;
    assert_eq!((status, answer["code"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_request")), "{answer}");
    assert!(answer["message"].as_str().unwrap().starts_with("start_on: "), "{answer}");
}

#[tokio::test]
async fn fit_trims_to_the_budget_and_injects_the_summary() {
    let body = json!({"messages": hello_conversation(), "max_tokens": 19, "model": "gpt-4o"});
    let (status, answer) = post("/context/fit", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["action"], "trimmed");
    assert_eq!((answer["tokens"].clone(), answer["exact"].clone()), (json!(19), json!(true)));
    assert_eq!((answer["original_count"].clone(), answer["final_count"].clone()), (json!(3), json!(2)));

    let body = json!({"messages": hello_conversation(), "max_tokens": 1000, "model": "gpt-4o", "summary": "We met."});
    let (status, answer) = post("/context/fit", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["action"], "none");
    assert_eq!(answer["messages"][0], json!({"role": "system", "content": "[Conversation summary]\nWe met."}));
    assert_eq!(answer["summary"], "We met.");

    let body =
        json!({"messages": [{"role": "system", "content": "A long system prompt that cannot fit."}], "max_tokens": 5});
    let (status, answer) = post("/context/fit", body).await;
    assert_eq!((status, answer["code"].clone()), (StatusCode::BAD_REQUEST, json!("over_budget")));
}
