//! The store endpoints: exact answers for the LangGraph-shaped routes and the batch route.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{ACME_KEY, Harness};

const T0_TEXT: &str = "2023-11-14T22:13:20.000000+00:00";

async fn put(harness: &Harness, namespace: &[&str], key: &str, value: serde_json::Value) -> serde_json::Value {
    let body = json!({"namespace": namespace, "key": key, "value": value});
    let (status, answer) = harness.call(Method::PUT, "/store/items", Some(ACME_KEY), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

#[tokio::test]
async fn put_then_get_round_trips_with_rfc3339_times() {
    let harness = Harness::keyed();
    let stored = put(&harness, &["user_123", "prefs"], "language", json!({"preference": "Python"})).await;
    let expected = json!({
        "namespace": ["user_123", "prefs"],
        "key": "language",
        "value": {"preference": "Python"},
        "created_at": T0_TEXT,
        "updated_at": T0_TEXT,
    });
    assert_eq!(stored, expected);

    let (status, got) =
        harness.call(Method::GET, "/store/items?namespace=user_123.prefs&key=language", Some(ACME_KEY), None).await;
    assert_eq!((status, got), (StatusCode::OK, expected));

    // The JSON-array form reaches labels that contain dots.
    put(&harness, &["v1.2", "x"], "k", json!({"a": 1})).await;
    let uri = "/store/items?namespace=%5B%22v1.2%22%2C%22x%22%5D&key=k";
    let (status, got) = harness.call(Method::GET, uri, Some(ACME_KEY), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["namespace"], json!(["v1.2", "x"]));
}

#[tokio::test]
async fn an_update_keeps_created_at_and_moves_updated_at() {
    let harness = Harness::keyed();
    put(&harness, &["n"], "k", json!({"v": 1})).await;
    harness.clock.advance(90.0);
    let updated = put(&harness, &["n"], "k", json!({"v": 2})).await;
    assert_eq!(updated["created_at"], T0_TEXT);
    assert_eq!(updated["updated_at"], "2023-11-14T22:14:50.000000+00:00");
    assert_eq!(updated["value"], json!({"v": 2}));
}

#[tokio::test]
async fn ttl_is_in_minutes_and_expired_items_are_gone() {
    let harness = Harness::keyed();
    let body = json!({"namespace": ["n"], "key": "k", "value": {"v": 1}, "ttl": 2});
    let (status, stored) = harness.call(Method::PUT, "/store/items", Some(ACME_KEY), Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored["expires_at"], "2023-11-14T22:15:20.000000+00:00");

    harness.clock.advance(119.0);
    let (status, _) = harness.call(Method::GET, "/store/items?namespace=n&key=k", Some(ACME_KEY), None).await;
    assert_eq!(status, StatusCode::OK);
    harness.clock.advance(1.0);
    let (status, body) = harness.call(Method::GET, "/store/items?namespace=n&key=k", Some(ACME_KEY), None).await;
    assert_eq!((status, body), (StatusCode::OK, Value::Null), "an expired item reads as null, as in LangGraph");
}

#[tokio::test]
async fn refresh_ttl_on_get_pushes_expiry_back() {
    let harness = Harness::keyed();
    let body = json!({"namespace": ["n"], "key": "k", "value": {"v": 1}, "ttl": 1});
    harness.call(Method::PUT, "/store/items", Some(ACME_KEY), Some(body)).await;
    harness.clock.advance(50.0);
    let (status, item) =
        harness.call(Method::GET, "/store/items?namespace=n&key=k&refresh_ttl=true", Some(ACME_KEY), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(item["expires_at"], "2023-11-14T22:15:10.000000+00:00");
}

#[tokio::test]
async fn delete_reports_whether_it_removed_something() {
    let harness = Harness::keyed();
    put(&harness, &["n"], "k", json!({"v": 1})).await;
    let body = json!({"namespace": ["n"], "key": "k"});
    let (status, answer) = harness.call(Method::DELETE, "/store/items", Some(ACME_KEY), Some(body.clone())).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"deleted": true})));
    let (status, answer) = harness.call(Method::DELETE, "/store/items", Some(ACME_KEY), Some(body)).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"deleted": false})));
    let (status, body) = harness.call(Method::GET, "/store/items?namespace=n&key=k", Some(ACME_KEY), None).await;
    assert_eq!((status, body), (StatusCode::OK, Value::Null));
}

#[tokio::test]
async fn search_by_prefix_filter_and_query() {
    let harness = Harness::keyed();
    put(&harness, &["docs", "a"], "d1", json!({"text": "rust borrow checker", "lang": "en"})).await;
    harness.clock.advance(1.0);
    put(&harness, &["docs", "b"], "d2", json!({"text": "python data science", "lang": "en"})).await;
    harness.clock.advance(1.0);
    put(&harness, &["docs", "b"], "d3", json!({"text": "rust et python", "lang": "fr"})).await;
    put(&harness, &["other"], "o1", json!({"text": "rust everywhere", "lang": "en"})).await;

    let keys = |answer: &serde_json::Value| -> Vec<String> {
        answer["items"].as_array().expect("items").iter().map(|i| i["key"].as_str().expect("key").to_owned()).collect()
    };

    // No query: recency order, no score.
    let body = json!({"namespace_prefix": ["docs"]});
    let (status, answer) = harness.call(Method::POST, "/store/items/search", Some(ACME_KEY), Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&answer), ["d3", "d2", "d1"]);
    assert!(answer["items"][0].get("score").is_none());

    // Filter and pagination.
    let body = json!({"namespace_prefix": ["docs"], "filter": {"lang": "en"}, "limit": 1, "offset": 1});
    let (_, answer) = harness.call(Method::POST, "/store/items/search", Some(ACME_KEY), Some(body)).await;
    assert_eq!(keys(&answer), ["d1"]);

    // A keyword query ranks and scores.
    let body = json!({"namespace_prefix": ["docs"], "query": "borrow checker", "mode": "keyword"});
    let (status, answer) = harness.call(Method::POST, "/store/items/search", Some(ACME_KEY), Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&answer), ["d1"]);
    let score = answer["items"][0]["score"].as_f64().expect("score");
    assert!(score > 0.0 && score < 1.0, "{score}");

    // The empty prefix is the whole tenant.
    let (_, answer) = harness.call(Method::POST, "/store/items/search", Some(ACME_KEY), Some(json!({}))).await;
    assert_eq!(keys(&answer).len(), 4);
}

#[tokio::test]
async fn list_namespaces_with_prefix_suffix_and_depth() {
    let harness = Harness::keyed();
    for namespace in [&["users", "u1", "prefs"][..], &["users", "u2", "prefs"], &["users", "u2", "facts"], &["app"]] {
        put(&harness, namespace, "k", json!({"v": 1})).await;
    }
    let list = |body: serde_json::Value| {
        let harness = &harness;
        async move {
            let (status, answer) = harness.call(Method::POST, "/store/namespaces", Some(ACME_KEY), Some(body)).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            answer
        }
    };
    assert_eq!(
        list(json!({})).await,
        json!({"namespaces": [["app"], ["users", "u1", "prefs"], ["users", "u2", "facts"], ["users", "u2", "prefs"]]})
    );
    assert_eq!(
        list(json!({"prefix": ["users"], "max_depth": 2})).await,
        json!({"namespaces": [["users", "u1"], ["users", "u2"]]})
    );
    assert_eq!(
        list(json!({"suffix": ["prefs"]})).await,
        json!({"namespaces": [["users", "u1", "prefs"], ["users", "u2", "prefs"]]})
    );
    assert_eq!(list(json!({"limit": 1, "offset": 1})).await, json!({"namespaces": [["users", "u1", "prefs"]]}));
    assert_eq!(list(json!({"max_depth": 1})).await, json!({"namespaces": [["app"], ["users"]]}));
}

#[tokio::test]
async fn batch_runs_every_kind_of_operation_in_order() {
    let harness = Harness::keyed();
    let body = json!({"ops": [
        {"op": "put", "namespace": ["n"], "key": "a", "value": {"text": "alpha"}},
        {"op": "put", "namespace": ["n"], "key": "b", "value": {"text": "beta"}, "ttl": 1},
        {"op": "get", "namespace": ["n"], "key": "a"},
        {"op": "get", "namespace": ["n"], "key": "missing"},
        {"op": "delete", "namespace": ["n"], "key": "a"},
        {"op": "search", "namespace_prefix": ["n"]},
        {"op": "list_namespaces"},
    ]});
    let (status, answer) = harness.call(Method::POST, "/store/batch", Some(ACME_KEY), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let item_a = json!({"namespace": ["n"], "key": "a", "value": {"text": "alpha"}, "created_at": T0_TEXT, "updated_at": T0_TEXT});
    let item_b = json!({"namespace": ["n"], "key": "b", "value": {"text": "beta"}, "created_at": T0_TEXT,
        "updated_at": T0_TEXT, "expires_at": "2023-11-14T22:14:20.000000+00:00"});
    assert_eq!(
        answer,
        json!({"results": [
            item_a, item_b, item_a, null, {"deleted": true}, {"items": [item_b]}, {"namespaces": [["n"]]}
        ]})
    );
}

#[tokio::test]
async fn a_batch_puts_a_key_twice_and_reads_the_last_value() {
    let harness = Harness::keyed();
    let body = json!({"ops": [
        {"op": "put", "namespace": ["n"], "key": "a", "value": {"v": 1}},
        {"op": "put", "namespace": ["n"], "key": "a", "value": {"v": 2}},
        {"op": "get", "namespace": ["n"], "key": "a"},
        {"op": "put", "namespace": ["n"], "key": "a", "value": {"v": 3}},
    ]});
    let (status, answer) = harness.call(Method::POST, "/store/batch", Some(ACME_KEY), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let values: Vec<&serde_json::Value> =
        answer["results"].as_array().expect("results").iter().map(|r| &r["value"]).collect();
    assert_eq!(values, [&json!({"v": 1}), &json!({"v": 2}), &json!({"v": 2}), &json!({"v": 3})]);
    let (_, item) = harness.call(Method::GET, "/store/items?namespace=n&key=a", Some(ACME_KEY), None).await;
    assert_eq!(item["value"], json!({"v": 3}));
}

#[tokio::test]
async fn an_invalid_batch_operation_runs_nothing() {
    let harness = Harness::keyed();
    let body = json!({"ops": [
        {"op": "put", "namespace": ["n"], "key": "a", "value": {"v": 1}},
        {"op": "put", "namespace": ["n"], "key": "b", "value": [1, 2]},
    ]});
    let (status, answer) = harness.call(Method::POST, "/store/batch", Some(ACME_KEY), Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["code"], "invalid_value");
    assert!(answer["message"].as_str().expect("message").starts_with("ops[1]: invalid value"), "{answer}");
    let (status, body) = harness.call(Method::GET, "/store/items?namespace=n&key=a", Some(ACME_KEY), None).await;
    assert_eq!((status, body), (StatusCode::OK, Value::Null), "the valid first op must not have run");

    let ops: Vec<_> = (0..101).map(|i| json!({"op": "get", "namespace": ["n"], "key": format!("k{i}")})).collect();
    let (status, answer) = harness.call(Method::POST, "/store/batch", Some(ACME_KEY), Some(json!({"ops": ops}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer, json!({"code": "invalid_request", "message": "a batch has at most 100 operations, got 101"}));
}

/// The keys of a search answer, in order.
fn found_keys(answer: &serde_json::Value) -> Vec<String> {
    answer["items"].as_array().expect("items").iter().map(|i| i["key"].as_str().expect("key").to_owned()).collect()
}

async fn search(harness: &Harness, body: serde_json::Value) -> Vec<String> {
    let (status, answer) = harness.call(Method::POST, "/store/items/search", Some(ACME_KEY), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    found_keys(&answer)
}

#[tokio::test]
async fn put_honours_the_index_spec() {
    let harness = Harness::keyed();
    let value = json!({"title": "alpine trip", "body": "lake swim"});
    for (key, index) in [("hidden", json!(false)), ("titled", json!(["title"])), ("whole", json!(null))] {
        let body = json!({"namespace": ["docs"], "key": key, "value": value, "index": index});
        let (status, answer) = harness.call(Method::PUT, "/store/items", Some(ACME_KEY), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["value"], value, "the answer is the stored item, without the spec");
        harness.clock.advance(1.0);
    }
    let by_words = |query: &str| json!({"namespace_prefix": ["docs"], "query": query, "mode": "keyword"});
    assert_eq!(search(&harness, by_words("alpine")).await, ["titled", "whole"]);
    assert_eq!(search(&harness, by_words("swim")).await, ["whole"]);
    assert_eq!(search(&harness, json!({"namespace_prefix": ["docs"], "query": "alpine"})).await, ["titled", "whole"]);
    // Without a query every item is there, newest first; get finds the unindexed one.
    assert_eq!(search(&harness, json!({"namespace_prefix": ["docs"]})).await, ["whole", "titled", "hidden"]);
    let (status, item) =
        harness.call(Method::GET, "/store/items?namespace=docs&key=hidden", Some(ACME_KEY), None).await;
    assert_eq!((status, &item["value"]), (StatusCode::OK, &value));

    // Re-putting without a spec indexes the whole value again.
    let body = json!({"namespace": ["docs"], "key": "hidden", "value": value});
    let (status, _) = harness.call(Method::PUT, "/store/items", Some(ACME_KEY), Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(search(&harness, by_words("swim")).await, ["hidden", "whole"]);
}

#[tokio::test]
async fn an_invalid_index_is_a_400_and_writes_nothing() {
    let harness = Harness::keyed();
    let cases = [
        (json!(true), "invalid index: index must be false, a list of field paths or null, got true"),
        (json!("title"), "invalid index: index must be false, a list of field paths or null, got \"title\""),
        (
            json!({"fields": ["a"]}),
            "invalid index: index must be false, a list of field paths or null, got {\"fields\":[\"a\"]}",
        ),
        (json!(["title", 1]), "invalid index: index paths must be strings, got [\"title\",1]"),
        (
            json!(["meta..title"]),
            "invalid index: index path \"meta..title\" is not a valid path (dot-separated, non-empty names)",
        ),
    ];
    for (index, message) in cases {
        let body = json!({"namespace": ["docs"], "key": "k", "value": {"title": "x"}, "index": index});
        let (status, answer) = harness.call(Method::PUT, "/store/items", Some(ACME_KEY), Some(body)).await;
        assert_eq!((status, answer), (StatusCode::BAD_REQUEST, json!({"code": "invalid_index", "message": message})));
    }
    let (status, body) = harness.call(Method::GET, "/store/items?namespace=docs&key=k", Some(ACME_KEY), None).await;
    assert_eq!((status, body), (StatusCode::OK, Value::Null), "nothing was stored");
}

#[tokio::test]
async fn batch_puts_honour_the_index_spec_and_an_invalid_one_runs_nothing() {
    let harness = Harness::keyed();
    let body = json!({"ops": [
        {"op": "put", "namespace": ["n"], "key": "a", "value": {"text": "alpha"}, "index": false},
        {"op": "put", "namespace": ["n"], "key": "b", "value": {"text": "alpha", "tag": "beta"}, "index": ["tag"]},
        {"op": "search", "namespace_prefix": ["n"], "query": "alpha", "mode": "keyword"},
        {"op": "search", "namespace_prefix": ["n"], "query": "beta", "mode": "keyword"},
        {"op": "put", "namespace": ["n"], "key": "a", "value": {"text": "alpha"}},
        {"op": "search", "namespace_prefix": ["n"], "query": "alpha", "mode": "keyword"},
    ]});
    let (status, answer) = harness.call(Method::POST, "/store/batch", Some(ACME_KEY), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let results = answer["results"].as_array().expect("results");
    assert!(found_keys(&results[2]).is_empty(), "{answer}");
    assert_eq!(found_keys(&results[3]), ["b"]);
    assert_eq!(found_keys(&results[5]), ["a"]);

    let body = json!({"ops": [
        {"op": "put", "namespace": ["n"], "key": "c", "value": {"v": 1}},
        {"op": "put", "namespace": ["n"], "key": "d", "value": {"v": 2}, "index": true},
    ]});
    let (status, answer) = harness.call(Method::POST, "/store/batch", Some(ACME_KEY), Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["code"], "invalid_index");
    assert!(answer["message"].as_str().expect("message").starts_with("ops[1]: invalid index"), "{answer}");
    let (status, body) = harness.call(Method::GET, "/store/items?namespace=n&key=c", Some(ACME_KEY), None).await;
    assert_eq!((status, body), (StatusCode::OK, Value::Null), "the valid first op must not have run");
}
