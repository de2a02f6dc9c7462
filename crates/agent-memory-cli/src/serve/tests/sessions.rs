//! Session endpoints: append, load, replace, list, delete, and tenancy (no tenant reaches
//! another's sessions).

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::super::config::Tenant;
use super::{ACME_KEY, GLOBEX_KEY, Harness, keys};

const ACMEX_KEY: &str = "acmex-key-0123456789";

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
    assert_eq!(listed, json!({"sessions": [], "next_after": null}));
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

/// `GET /sessions` with a query string: the ids of the page and its `next_after`.
async fn page(harness: &Harness, key: &str, query: &str) -> (Vec<String>, Value) {
    let (status, answer) = harness.call(Method::GET, &format!("/sessions{query}"), Some(key), None).await;
    assert_eq!(status, StatusCode::OK, "{query}: {answer}");
    let ids = answer["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s["session_id"].as_str().expect("id").to_owned())
        .collect();
    (ids, answer["next_after"].clone())
}

/// Every page of a listing, following `next_after`.
async fn every_page(harness: &Harness, key: &str, limit: usize, prefix: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut query = format!("?limit={limit}&prefix={prefix}");
        if let Some(after) = &after {
            query.push_str(&format!("&after={after}"));
        }
        let (ids, next) = page(harness, key, &query).await;
        pages.push(ids);
        match next {
            Value::String(next) => after = Some(next),
            Value::Null => return pages,
            other => panic!("next_after is {other}"),
        }
        assert!(pages.len() <= 20, "the listing does not end");
    }
}

#[tokio::test]
async fn listings_page_through_the_tenants_own_sessions_only() {
    // `acme` is a prefix of `acmex`: their stored ids are `acme/…` and `acmex/…`, and the
    // listing prefix `acme/` is not a prefix of `acmex/`.
    let mut keys = keys();
    keys.insert(Tenant::new("acmex").expect("tenant"), ACMEX_KEY).expect("key");
    let harness = Harness::with_keys(keys);
    let acme = ["a", "b%", "c_", "d", "e", "x"];
    for id in acme {
        append(&harness, ACME_KEY, &id.replace('%', "%25"), json!([{"role": "user", "content": "acme"}])).await;
    }
    for id in ["a", "b", "x"] {
        append(&harness, ACMEX_KEY, id, json!([{"role": "user", "content": "acmex"}])).await;
        append(&harness, GLOBEX_KEY, id, json!([{"role": "user", "content": "globex"}])).await;
    }

    let pages = every_page(&harness, ACME_KEY, 2, "").await;
    assert_eq!(pages, [vec!["a", "b%"], vec!["c_", "d"], vec!["e", "x"]]);
    assert_eq!(every_page(&harness, ACMEX_KEY, 2, "").await, [vec!["a", "b"], vec!["x"]]);
    assert_eq!(every_page(&harness, GLOBEX_KEY, 3, "").await, [vec!["a", "b", "x"]]);
    assert_eq!(every_page(&harness, ACME_KEY, 1000, "").await.concat(), acme);

    // A prefix narrows the tenant's own range; wildcards are plain bytes.
    assert_eq!(page(&harness, ACME_KEY, "?prefix=b%25").await, (vec!["b%".to_owned()], Value::Null));
    assert_eq!(page(&harness, ACME_KEY, "?prefix=c_").await, (vec!["c_".to_owned()], Value::Null));
    assert_eq!(page(&harness, ACME_KEY, "?prefix=%25").await, (vec![], Value::Null));
    assert_eq!(page(&harness, ACMEX_KEY, "?prefix=").await.0, ["a", "b", "x"]);
    // A cursor names the caller's own ids: never a way into another tenant's range.
    assert_eq!(page(&harness, ACME_KEY, "?after=x").await, (vec![], Value::Null));
    assert_eq!(page(&harness, ACME_KEY, "?after=d&limit=1").await, (vec!["e".to_owned()], json!("e")));
    assert_eq!(page(&harness, ACME_KEY, "?after=..%2F..%2Facmex%2Fa").await.0, acme);
    assert_eq!(page(&harness, ACME_KEY, "?prefix=x%2F..&after=%EF%BF%BF").await, (vec![], Value::Null));
}

#[tokio::test]
async fn a_listing_without_a_limit_returns_a_hundred() {
    let harness = Harness::keyed();
    for n in 0..101 {
        append(&harness, ACME_KEY, &format!("s{n:03}"), json!([])).await;
    }
    let (ids, next) = page(&harness, ACME_KEY, "").await;
    assert_eq!((ids.len(), ids.first().map(String::as_str), next), (100, Some("s000"), json!("s099")));
    assert_eq!(page(&harness, ACME_KEY, "?after=s099").await, (vec!["s100".to_owned()], Value::Null));
    assert_eq!(page(&harness, ACME_KEY, "?limit=1000").await.0.len(), 101);
}

#[tokio::test]
async fn invalid_listings_are_400_with_a_code() {
    let harness = Harness::keyed();
    let cases = [
        ("?limit=0", "limit must be 1 to 1000, got 0"),
        ("?limit=1001", "limit must be 1 to 1000, got 1001"),
        ("?after=", "after must not be empty"),
        ("?prefix=a%01", "prefix must not contain control characters"),
        ("?after=a%0Ab", "after must not contain control characters"),
    ];
    for (query, message) in cases {
        let (status, answer) = harness.call(Method::GET, &format!("/sessions{query}"), Some(ACME_KEY), None).await;
        assert_eq!((status, answer), (StatusCode::BAD_REQUEST, json!({"code": "invalid_request", "message": message})));
    }
    let long = "x".repeat(252);
    let (status, answer) = harness.call(Method::GET, &format!("/sessions?prefix={long}"), Some(ACME_KEY), None).await;
    assert_eq!(
        (status, answer["message"].as_str()),
        (StatusCode::BAD_REQUEST, Some("prefix has at most 251 bytes, got 252"))
    );
    for query in ["?limit=ten", "?limit=-1", "?limit=", "?page=2", "?limit=1&limit=2"] {
        let (status, answer) = harness.call(Method::GET, &format!("/sessions{query}"), Some(ACME_KEY), None).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{query}: {answer}"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_describes_the_listing_query_and_cursor() {
    let harness = Harness::keyed();
    let (status, document) = harness.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let list = &document["paths"]["/sessions"]["get"];
    let parameters: Vec<(&str, &str)> = list["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| (p["name"].as_str().expect("name"), p["in"].as_str().expect("in")))
        .collect();
    assert_eq!(parameters, [("prefix", "query"), ("after", "query"), ("limit", "query")]);
    assert!(list["responses"]["400"].is_object(), "{list}");
    let page = &document["components"]["schemas"]["SessionList"]["properties"];
    assert!(page["sessions"].is_object() && page["next_after"].is_object(), "{page}");
}
