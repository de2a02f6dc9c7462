//! Conversation endpoints: index, search (with the library's filters), list, delete, and
//! tenancy (no tenant reaches another's conversations).

use agent_memory::recall::chunk_id;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{ACME_KEY, GLOBEX_KEY, Harness};

fn auth_conversation() -> Value {
    json!([
        {"role": "user", "content": "I'm getting an auth error"},
        {"role": "assistant", "content": "Let's check your JWT token"},
        {"role": "user", "content": "It was expired!"},
        {"role": "assistant", "content": "Refresh it with the refresh endpoint."},
    ])
}

fn deploy_conversation() -> Value {
    json!([
        {"role": "user", "content": "The deploy pipeline is failing on the docker build"},
        {"role": "assistant", "content": "Pin the base image version."},
    ])
}

async fn index(harness: &Harness, key: &str, user: &str, session: &str, messages: Value, date: &str) -> Value {
    let body = json!({"user_id": user, "session_id": session, "messages": messages,
        "metadata": {"topic": format!("topic of {session}"), "date": date}});
    let (status, answer) = harness.call(Method::POST, "/conversations", Some(key), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

/// acme's user u1 has two sessions: s1 (auth, January) and s2 (deploy, March).
async fn acme_conversations() -> Harness {
    let harness = Harness::keyed();
    index(&harness, ACME_KEY, "u1", "s1", auth_conversation(), "2025-01-15").await;
    index(&harness, ACME_KEY, "u1", "s2", deploy_conversation(), "2025-03-02").await;
    harness
}

async fn search(harness: &Harness, key: &str, body: Value) -> (StatusCode, Value) {
    harness.call(Method::POST, "/conversations/search", Some(key), Some(body)).await
}

fn sessions_of(answer: &Value) -> Vec<&str> {
    answer["results"].as_array().expect("results").iter().map(|r| r["session_id"].as_str().expect("id")).collect()
}

#[tokio::test]
async fn indexing_returns_the_chunk_ids_and_search_finds_the_conversation() {
    let harness = Harness::keyed();
    let answer = index(&harness, ACME_KEY, "u1", "s1", auth_conversation(), "2025-01-15").await;
    assert_eq!(answer, json!({"user_id": "u1", "session_id": "s1", "chunk_ids": [chunk_id("acme/u1", "s1", 0)]}));

    let (status, found) = search(&harness, ACME_KEY, json!({"user_id": "u1", "query": "JWT token expired"})).await;
    assert_eq!(status, StatusCode::OK);
    let results = found["results"].as_array().expect("results");
    assert_eq!(results.len(), 1);
    let hit = &results[0];
    assert_eq!(hit["user_id"], "u1");
    assert_eq!(hit["session_id"], "s1");
    assert_eq!(hit["chunk_id"], chunk_id("acme/u1", "s1", 0));
    assert_eq!(hit["offset"], 0);
    assert_eq!(hit["date"], "2025-01-15");
    assert_eq!(hit["metadata"], json!({"topic": "topic of s1", "date": "2025-01-15"}));
    assert_eq!(hit["messages"], auth_conversation());
    let transcript = "Human: I'm getting an auth error\nAssistant: Let's check your JWT token\nHuman: It was expired!\n\
                      Assistant: Refresh it with the refresh endpoint.";
    assert_eq!(hit["text"], transcript);
    assert_eq!(hit["context"], format!("[Topic: topic of s1, Date: 2025-01-15]\n\n{transcript}"));
    assert_eq!(hit["created_at"], "2023-11-14T22:13:20.000000+00:00");
    let score = hit["score"].as_f64().expect("score");
    assert!(score > 0.0 && score < 1.0, "keyword scores are normalized BM25: {score}");
}

#[tokio::test]
async fn search_filters_by_session_dates_score_and_limit() {
    let harness = acme_conversations().await;
    // "pipeline" is only in s2, "error" only in s1: a query with both finds both.
    let both = json!({"user_id": "u1", "query": "auth error deploy pipeline"});
    let (_, found) = search(&harness, ACME_KEY, both.clone()).await;
    let mut sessions = sessions_of(&found);
    sessions.sort_unstable();
    assert_eq!(sessions, ["s1", "s2"]);

    let cases = [
        (json!({"session_id": "s2"}), vec!["s2"]),
        (json!({"date_from": "2025-02-01"}), vec!["s2"]),
        (json!({"date_to": "2025-01-31"}), vec!["s1"]),
        (json!({"date_from": "2025-01-15", "date_to": "2025-01-15"}), vec!["s1"]),
        (json!({"date_from": "2025-04-01"}), vec![]),
        (json!({"min_score": 1.0}), vec![]),
        (json!({"session_id": "nope"}), vec![]),
    ];
    for (extra, expected) in cases {
        let mut body = both.clone();
        body.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        let (status, found) = search(&harness, ACME_KEY, body).await;
        assert_eq!(status, StatusCode::OK, "{extra}: {found}");
        assert_eq!(sessions_of(&found), expected, "{extra}");
    }
    let mut limited = both;
    limited["limit"] = json!(1);
    let (_, found) = search(&harness, ACME_KEY, limited).await;
    assert_eq!(found["results"].as_array().expect("results").len(), 1);
}

#[tokio::test]
async fn sessions_are_listed_and_deleted_one_by_one_or_all_at_once() {
    let harness = acme_conversations().await;
    index(&harness, ACME_KEY, "u2", "s9", deploy_conversation(), "2025-03-03").await;
    let (status, listed) = harness.call(Method::GET, "/conversations/u1", Some(ACME_KEY), None).await;
    assert_eq!(
        (status, listed),
        (StatusCode::OK, json!({"user_id": "u1", "sessions": ["s1", "s2"], "next_offset": null}))
    );

    let (status, deleted) = harness.call(Method::DELETE, "/conversations/u1/s1", Some(ACME_KEY), None).await;
    assert_eq!((status, deleted), (StatusCode::OK, json!({"deleted": 1})));
    let (_, again) = harness.call(Method::DELETE, "/conversations/u1/s1", Some(ACME_KEY), None).await;
    assert_eq!(again, json!({"deleted": 0}));
    let (_, found) = search(&harness, ACME_KEY, json!({"user_id": "u1", "query": "auth error pipeline"})).await;
    assert_eq!(sessions_of(&found), ["s2"]);

    let (_, deleted) = harness.call(Method::DELETE, "/conversations/u1", Some(ACME_KEY), None).await;
    assert_eq!(deleted, json!({"deleted": 1}));
    let (_, listed) = harness.call(Method::GET, "/conversations/u1", Some(ACME_KEY), None).await;
    assert_eq!(listed, json!({"user_id": "u1", "sessions": [], "next_offset": null}));
    // Another user of the same tenant is untouched.
    let (_, listed) = harness.call(Method::GET, "/conversations/u2", Some(ACME_KEY), None).await;
    assert_eq!(listed, json!({"user_id": "u2", "sessions": ["s9"], "next_offset": null}));
}

#[tokio::test]
async fn a_users_sessions_are_listed_page_by_page() {
    let harness = Harness::keyed();
    for session in ["s1", "s2", "s3", "s4", "s5"] {
        index(&harness, ACME_KEY, "u1", session, auth_conversation(), "2025-01-15").await;
    }
    index(&harness, ACME_KEY, "u10", "other", auth_conversation(), "2025-01-15").await;
    let mut pages = Vec::new();
    let mut path = "/conversations/u1?limit=2".to_owned();
    loop {
        let (status, page) = harness.call(Method::GET, &path, Some(ACME_KEY), None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages.push(page["sessions"].clone());
        match page["next_offset"].as_u64() {
            Some(next) => path = format!("/conversations/u1?limit=2&offset={next}"),
            None => break,
        }
    }
    assert_eq!(pages, [json!(["s1", "s2"]), json!(["s3", "s4"]), json!(["s5"])]);
    // A page that ends exactly at the last session says so.
    let (_, last) = harness.call(Method::GET, "/conversations/u1?limit=1&offset=4", Some(ACME_KEY), None).await;
    assert_eq!(last, json!({"user_id": "u1", "sessions": ["s5"], "next_offset": null}));
    let (_, past) = harness.call(Method::GET, "/conversations/u1?offset=9", Some(ACME_KEY), None).await;
    assert_eq!(past, json!({"user_id": "u1", "sessions": [], "next_offset": null}));
    for bad in ["limit=0", "limit=10001", "limit=x", "offset=-1", "page=2"] {
        let (status, body) = harness.call(Method::GET, &format!("/conversations/u1?{bad}"), Some(ACME_KEY), None).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{bad}");
    }
}

#[tokio::test]
async fn user_ids_with_slashes_and_spaces_work_in_paths() {
    let harness = Harness::keyed();
    index(&harness, ACME_KEY, "team/a b", "s 1", auth_conversation(), "2025-01-15").await;
    let (_, listed) = harness.call(Method::GET, "/conversations/team%2Fa%20b", Some(ACME_KEY), None).await;
    assert_eq!(listed, json!({"user_id": "team/a b", "sessions": ["s 1"], "next_offset": null}));
    let (_, deleted) = harness.call(Method::DELETE, "/conversations/team%2Fa%20b/s%201", Some(ACME_KEY), None).await;
    assert_eq!(deleted, json!({"deleted": 1}));
}

#[tokio::test]
async fn another_tenant_cannot_search_list_or_delete_conversations() {
    let harness = acme_conversations().await;
    for user in ["u1", "acme/u1", "acme"] {
        let body = json!({"user_id": user, "query": "auth error deploy pipeline"});
        let (status, found) = search(&harness, GLOBEX_KEY, body).await;
        assert_eq!((status, found), (StatusCode::OK, json!({"results": []})), "{user}");
    }
    let (_, listed) = harness.call(Method::GET, "/conversations/u1", Some(GLOBEX_KEY), None).await;
    assert_eq!(listed, json!({"user_id": "u1", "sessions": [], "next_offset": null}));
    let (_, deleted) = harness.call(Method::DELETE, "/conversations/u1/s1", Some(GLOBEX_KEY), None).await;
    assert_eq!(deleted, json!({"deleted": 0}));
    let (_, deleted) = harness.call(Method::DELETE, "/conversations/u1", Some(GLOBEX_KEY), None).await;
    assert_eq!(deleted, json!({"deleted": 0}));
    // globex indexing the same ids makes its own conversation, which acme never sees.
    index(&harness, GLOBEX_KEY, "u1", "s1", deploy_conversation(), "2025-05-05").await;
    let (_, found) =
        search(&harness, ACME_KEY, json!({"user_id": "u1", "query": "auth error", "session_id": "s1"})).await;
    assert_eq!(found["results"][0]["messages"], auth_conversation());
    let (_, listed) = harness.call(Method::GET, "/conversations/u1", Some(ACME_KEY), None).await;
    assert_eq!(listed, json!({"user_id": "u1", "sessions": ["s1", "s2"], "next_offset": null}));
    // Conversations are not store items of the tenant either.
    let (_, items) = harness.call(Method::POST, "/store/items/search", Some(ACME_KEY), Some(json!({}))).await;
    assert_eq!(items, json!({"items": []}));
}

#[tokio::test]
async fn invalid_conversation_requests_are_4xx_with_a_code() {
    let harness = acme_conversations().await;
    let too_many: Vec<Value> = (0..1001).map(|i| json!({"role": "user", "content": format!("m{i}")})).collect();
    let cases = [
        ("/conversations", json!({"user_id": "", "session_id": "s", "messages": []}), "invalid_request"),
        ("/conversations", json!({"user_id": "u", "session_id": "", "messages": []}), "invalid_request"),
        (
            "/conversations",
            json!({"user_id": "u", "session_id": "s", "messages": [{"role": "wizard"}]}),
            "invalid_messages",
        ),
        ("/conversations", json!({"user_id": "u", "session_id": "s", "messages": too_many}), "invalid_request"),
        ("/conversations/search", json!({"user_id": "u1", "query": "  "}), "invalid_request"),
        ("/conversations/search", json!({"user_id": "u1", "query": "x", "limit": 0}), "invalid_request"),
        ("/conversations/search", json!({"user_id": "u1", "query": "x", "limit": 1001}), "invalid_request"),
        ("/conversations/search", json!({"user_id": "u1", "query": "x", "date_from": "last week"}), "invalid_request"),
        ("/conversations/search", json!({"user_id": "u1", "query": "x".repeat(4097)}), "invalid_request"),
        ("/conversations/search", json!({"user_id": "u1", "query": "x", "mode": "semantic"}), "embedder_required"),
    ];
    for (path, body, code) in cases {
        let (status, answer) = harness.call(Method::POST, path, Some(ACME_KEY), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
        assert_eq!(answer["code"], code, "{path}: {answer}");
    }
    let (status, answer) = harness
        .call(
            Method::POST,
            "/conversations/search",
            Some(ACME_KEY),
            Some(json!({"user_id": "u1", "query": "x", "colour": 1})),
        )
        .await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_request")));
    let (status, _) = harness.call(Method::GET, "/conversations/u1", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
