//! Session endpoints: append, load, replace, list, delete, and tenancy (no tenant reaches
//! another's sessions).

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{ACME_KEY, GLOBEX_KEY, Harness};

async fn append(harness: &Harness, key: &str, session: &str, messages: Value) -> (StatusCode, Value) {
    let uri = format!("/sessions/{session}/messages");
    harness.call(Method::POST, &uri, Some(key), Some(json!({ "messages": messages }))).await
}

async fn load(harness: &Harness, key: &str, session: &str) -> Value {
    let (status, answer) = harness.call(Method::GET, &format!("/sessions/{session}"), Some(key), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

#[tokio::test]
async fn messages_are_appended_loaded_replaced_listed_and_deleted() {
    let harness = Harness::keyed();
    let first = json!([
        {"role": "user", "content": "Hi, I'm Bob", "id": "m1", "metadata": {"lang": "en"}},
        {"role": "assistant", "content": "Hi Bob!"},
    ]);
    let (status, answer) = append(&harness, ACME_KEY, "t1", first.clone()).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"session_id": "t1", "appended": 2})));
    let second = json!([
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]);
    append(&harness, ACME_KEY, "t1", second.clone()).await;
    let mut all = first.as_array().expect("array").clone();
    all.extend(second.as_array().expect("array").iter().cloned());
    assert_eq!(load(&harness, ACME_KEY, "t1").await, json!({"session_id": "t1", "messages": all}));
    assert_eq!(load(&harness, ACME_KEY, "unknown").await, json!({"session_id": "unknown", "messages": []}));

    append(&harness, ACME_KEY, "t0", json!([{"role": "user", "content": "earlier"}])).await;
    let (status, listed) = harness.call(Method::GET, "/sessions", Some(ACME_KEY), None).await;
    assert_eq!(status, StatusCode::OK);
    let summary: Vec<(String, u64)> = listed["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| (s["session_id"].as_str().expect("id").to_owned(), s["message_count"].as_u64().expect("count")))
        .collect();
    assert_eq!(summary, [("t0".to_owned(), 1), ("t1".to_owned(), 4)]);
    assert!(listed["sessions"][0]["created_at"].as_str().expect("time").ends_with("+00:00"));

    let replacement = json!([{"role": "system", "content": "[Previous conversation summary]\nBob said hi."}]);
    let (status, answer) =
        harness.call(Method::PUT, "/sessions/t1", Some(ACME_KEY), Some(json!({"messages": replacement.clone()}))).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"session_id": "t1", "message_count": 1})));
    assert_eq!(load(&harness, ACME_KEY, "t1").await["messages"], replacement);

    let (status, answer) = harness.call(Method::DELETE, "/sessions/t1", Some(ACME_KEY), None).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"deleted": true})));
    let (_, answer) = harness.call(Method::DELETE, "/sessions/t1", Some(ACME_KEY), None).await;
    assert_eq!(answer, json!({"deleted": false}));
    assert_eq!(load(&harness, ACME_KEY, "t1").await["messages"], json!([]));
}

#[tokio::test]
async fn another_tenant_cannot_load_list_change_or_delete_a_session() {
    let harness = Harness::keyed();
    let secret = json!([{"role": "user", "content": "acme confidential plans"}]);
    append(&harness, ACME_KEY, "t1", secret.clone()).await;

    for session in ["t1", "acme%2Ft1", "acme"] {
        let answer = load(&harness, GLOBEX_KEY, session).await;
        assert_eq!(answer["messages"], json!([]), "{session}");
    }
    let (_, listed) = harness.call(Method::GET, "/sessions", Some(GLOBEX_KEY), None).await;
    assert_eq!(listed, json!({"sessions": []}));
    let (_, answer) = harness.call(Method::DELETE, "/sessions/t1", Some(GLOBEX_KEY), None).await;
    assert_eq!(answer, json!({"deleted": false}));
    let (_, answer) = harness.call(Method::PUT, "/sessions/t1", Some(GLOBEX_KEY), Some(json!({"messages": []}))).await;
    assert_eq!(answer, json!({"session_id": "t1", "message_count": 0}));
    append(&harness, GLOBEX_KEY, "t1", json!([{"role": "user", "content": "globex"}])).await;

    assert_eq!(load(&harness, ACME_KEY, "t1").await["messages"], secret);
    let (_, listed) = harness.call(Method::GET, "/sessions", Some(ACME_KEY), None).await;
    assert_eq!(listed["sessions"].as_array().expect("sessions").len(), 1);
    assert_eq!(load(&harness, GLOBEX_KEY, "t1").await["messages"], json!([{"role": "user", "content": "globex"}]));
}

#[tokio::test]
async fn invalid_session_requests_are_4xx_with_a_code() {
    let harness = Harness::keyed();
    // The stored id is "acme/" + the client's: 251 bytes leave 256 for the store.
    let (status, answer) = append(&harness, ACME_KEY, &"x".repeat(252), json!([])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer, json!({"code": "invalid_request", "message": "session_id has at most 251 bytes, got 252"}));
    let (status, _) = append(&harness, ACME_KEY, &"x".repeat(251), json!([])).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = append(&harness, ACME_KEY, "t1", json!([{"role": "wizard", "content": "x"}])).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_messages")));
    let (status, answer) = append(&harness, ACME_KEY, "t1", json!({"role": "user", "content": "not a list"})).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_messages")));
    let (status, answer) = harness.call(Method::GET, "/sessions/a%01b", Some(ACME_KEY), None).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    let (status, _) = harness.call(Method::GET, "/sessions", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
