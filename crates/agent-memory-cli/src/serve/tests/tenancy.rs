//! Tenancy: no request of one tenant can read, search, list or delete another tenant's
//! items through any endpoint, and the tenant label never shows.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{ACME_KEY, GLOBEX_KEY, Harness};

/// acme stores a secret under `["shared", "ns"]` and under `["globex", "ns"]` (a namespace
/// that looks like globex's tenant prefix).
async fn acme_secrets() -> Harness {
    let harness = Harness::keyed();
    for namespace in [json!(["shared", "ns"]), json!(["globex", "ns"])] {
        let body = json!({"namespace": namespace, "key": "secret", "value": {"text": "acme confidential plans"}});
        let (status, _) = harness.call(Method::PUT, "/store/items", Some(ACME_KEY), Some(body)).await;
        assert_eq!(status, StatusCode::OK);
    }
    harness
}

async fn acme_still_has_its_secret(harness: &Harness) {
    let (status, item) =
        harness.call(Method::GET, "/store/items?namespace=shared.ns&key=secret", Some(ACME_KEY), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(item["value"], json!({"text": "acme confidential plans"}));
}

#[tokio::test]
async fn another_tenant_cannot_get_an_item() {
    let harness = acme_secrets().await;
    for namespace in ["shared.ns", "globex.ns", "acme.shared.ns", "ns"] {
        let uri = format!("/store/items?namespace={namespace}&key=secret");
        let (status, body) = harness.call(Method::GET, &uri, Some(GLOBEX_KEY), None).await;
        assert_eq!((status, &body), (StatusCode::OK, &Value::Null), "{namespace}: {body}");
    }
}

#[tokio::test]
async fn another_tenant_cannot_search_or_list() {
    let harness = acme_secrets().await;
    for body in [
        json!({}),
        json!({"namespace_prefix": ["shared"]}),
        json!({"namespace_prefix": ["acme"]}),
        json!({"query": "confidential plans", "mode": "keyword"}),
        json!({"filter": {"text": "acme confidential plans"}}),
    ] {
        let (status, answer) =
            harness.call(Method::POST, "/store/items/search", Some(GLOBEX_KEY), Some(body.clone())).await;
        assert_eq!((status, answer), (StatusCode::OK, json!({"items": []})), "{body}");
    }
    for body in [json!({}), json!({"prefix": ["shared"]}), json!({"prefix": ["acme"]}), json!({"suffix": ["ns"]})] {
        let (status, answer) =
            harness.call(Method::POST, "/store/namespaces", Some(GLOBEX_KEY), Some(body.clone())).await;
        assert_eq!((status, answer), (StatusCode::OK, json!({"namespaces": []})), "{body}");
    }
}

#[tokio::test]
async fn another_tenant_cannot_delete_or_overwrite() {
    let harness = acme_secrets().await;
    let body = json!({"namespace": ["shared", "ns"], "key": "secret"});
    let (status, answer) = harness.call(Method::DELETE, "/store/items", Some(GLOBEX_KEY), Some(body)).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"deleted": false})));

    // globex writing the same namespace and key creates its own item.
    let body = json!({"namespace": ["shared", "ns"], "key": "secret", "value": {"text": "globex"}});
    let (status, _) = harness.call(Method::PUT, "/store/items", Some(GLOBEX_KEY), Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, theirs) =
        harness.call(Method::GET, "/store/items?namespace=shared.ns&key=secret", Some(GLOBEX_KEY), None).await;
    assert_eq!(theirs["value"], json!({"text": "globex"}));
    acme_still_has_its_secret(&harness).await;
}

#[tokio::test]
async fn another_tenant_cannot_reach_anything_through_a_batch() {
    let harness = acme_secrets().await;
    let body = json!({"ops": [
        {"op": "get", "namespace": ["shared", "ns"], "key": "secret"},
        {"op": "get", "namespace": ["acme", "shared", "ns"], "key": "secret"},
        {"op": "search", "namespace_prefix": []},
        {"op": "search", "query": "confidential", "mode": "keyword"},
        {"op": "list_namespaces"},
        {"op": "delete", "namespace": ["shared", "ns"], "key": "secret"},
    ]});
    let (status, answer) = harness.call(Method::POST, "/store/batch", Some(GLOBEX_KEY), Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({"results": [null, null, {"items": []}, {"items": []}, {"namespaces": []}, {"deleted": false}]})
    );
    acme_still_has_its_secret(&harness).await;
}

#[tokio::test]
async fn the_tenant_label_never_shows() {
    let harness = acme_secrets().await;
    let (_, listed) = harness.call(Method::POST, "/store/namespaces", Some(ACME_KEY), Some(json!({}))).await;
    assert_eq!(listed, json!({"namespaces": [["globex", "ns"], ["shared", "ns"]]}));
    let (_, found) = harness.call(Method::POST, "/store/items/search", Some(ACME_KEY), Some(json!({}))).await;
    let mut namespaces: Vec<String> =
        found["items"].as_array().expect("items").iter().map(|i| i["namespace"].to_string()).collect();
    namespaces.sort();
    assert_eq!(namespaces, [r#"["globex","ns"]"#, r#"["shared","ns"]"#]);
}

#[tokio::test]
async fn every_store_route_requires_a_key_when_keys_are_configured() {
    let harness = acme_secrets().await;
    let routes = [
        (Method::GET, "/store/items?namespace=shared.ns&key=secret", None),
        (Method::PUT, "/store/items", Some(json!({"namespace": ["n"], "key": "k", "value": {}}))),
        (Method::DELETE, "/store/items", Some(json!({"namespace": ["shared", "ns"], "key": "secret"}))),
        (Method::POST, "/store/items/search", Some(json!({}))),
        (Method::POST, "/store/namespaces", Some(json!({}))),
        (Method::POST, "/store/batch", Some(json!({"ops": []}))),
    ];
    for (method, uri, body) in routes {
        for key in [None, Some("not-a-configured-key-at-all")] {
            let (status, answer) = harness.call(method.clone(), uri, key, body.clone()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri} {key:?}");
            assert_eq!(answer["code"], "unauthorized");
        }
    }
    acme_still_has_its_secret(&harness).await;
}

#[tokio::test]
async fn a_server_without_keys_serves_the_local_tenant() {
    let harness = Harness::open();
    let body = json!({"namespace": ["n"], "key": "k", "value": {"v": 1}});
    let (status, _) = harness.call(Method::PUT, "/store/items", None, Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    let stored = harness.state.store().get(("local", "n"), "k").await.expect("store").expect("item");
    assert_eq!(stored.value["v"], 1);
}
