//! `POST /context/summarize`: with the server's chat model, and without one (503).

use std::sync::Arc;

use agent_memory::llm::ScriptedChat;
use agent_memory::message::Message;
use axum::http::{Method, StatusCode};
use serde_json::json;

use super::{ACME_KEY, Harness};

fn conversation() -> serde_json::Value {
    json!([
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "I'm Bob and I like tea."},
        {"role": "assistant", "content": "Noted, Bob."},
        {"role": "user", "content": "What do I like?"},
    ])
}

#[tokio::test]
async fn summarizes_all_but_the_last_messages_with_the_chat_model() {
    let harness = Harness::keyed();
    let model = Arc::new(ScriptedChat::new([Message::assistant("Bob likes tea.")]));
    let harness = Harness { state: harness.state.with_chat_model(model.clone()), clock: harness.clock };
    let body = json!({"messages": conversation(), "keep_last": 1});
    let (status, answer) = harness.call(Method::POST, "/context/summarize", Some(ACME_KEY), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer,
        json!({
            "messages": [
                {"role": "system", "content": "You are helpful."},
                {"role": "system", "content": "[Previous conversation summary]\nBob likes tea."},
                {"role": "user", "content": "What do I like?"},
            ],
            "summary": "Bob likes tea.",
            "original_count": 4,
            "summarized_count": 2,
            "kept_count": 1,
        })
    );
    let prompt = model.requests()[0].messages[0].text().into_owned();
    assert!(prompt.contains("User: I'm Bob and I like tea.\nAssistant: Noted, Bob."), "{prompt}");
}

#[tokio::test]
async fn without_a_chat_model_the_answer_is_503_saying_how_to_configure_one() {
    let harness = Harness::keyed();
    let body = json!({"messages": conversation()});
    let (status, answer) = harness.call(Method::POST, "/context/summarize", Some(ACME_KEY), Some(body)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer["code"], "chat_model_required");
    assert!(answer["message"].as_str().expect("message").contains("--chat-model PROVIDER:MODEL"), "{answer}");
    // Bad input is still the client's error.
    let body = json!({"messages": [{"role": "wizard", "content": "x"}]});
    let (status, answer) = harness.call(Method::POST, "/context/summarize", Some(ACME_KEY), Some(body)).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_messages")));
}
