//! The backend conformance suite: every [`StoreBackend`] must pass all of it.
//!
//! A backend's test file runs the whole suite with one line, given an async expression
//! that returns a fresh, empty `Arc<dyn StoreBackend>` each time it is evaluated:
//!
//! ```text
//! async fn make_backend() -> std::sync::Arc<dyn agent_memory::store::StoreBackend> {
//!     std::sync::Arc::new(agent_memory::store::MemoryBackend::new())
//! }
//! agent_memory::store_conformance!(make_backend());
//! ```
//!
//! Each check is a public async function here taking that backend; the macro expands one
//! `#[tokio::test]` per check (multi-threaded runtime). Time is driven by a
//! [`ManualClock`], so expiry checks do not sleep. The checks include the reference
//! library's MemoryStore tests (`reference-behaviour.md` §2, tests 28–42, named `ref_*`).

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use serde_json::{Value, json};

use super::{
    ExportQuery, ExportedItem, Filter, HybridWeights, Item, ItemIndex, ItemKey, ManualClock, MemoryStore, Namespace,
    NamespaceListing, NamespacePrefix, Page, PutRequest, RestoredItem, ScanQuery, Scope, SearchMode, SearchQuery,
    StoreBackend, StoreError, StoreOptions, StoredVector,
};
use crate::embed::HashEmbedder;

/// The clock's start: 2023-11-14T22:13:20Z.
pub const T0: f64 = 1_700_000_000.0;

/// Runs every check against the backend returned by `$make` (an async expression,
/// evaluated once per check).
#[macro_export]
macro_rules! store_conformance {
    ($make:expr) => {
        $crate::store_conformance!(@checks $make;
            ref_28_put_then_get,
            ref_29_get_missing_is_none,
            ref_30_delete_then_get,
            ref_31_delete_missing_is_false,
            ref_32_list_is_scoped_to_namespace,
            ref_33_list_limit,
            ref_34_same_key_in_two_namespaces,
            ref_35_string_namespace,
            ref_36_expired_item_is_gone,
            ref_37_user_and_app_memory,
            ref_38_semantic_search_requires_embedder,
            ref_39_semantic_search_scores,
            put_returns_stored_item,
            update_keeps_created_at,
            value_round_trips_exactly,
            namespaces_do_not_collide,
            list_order_is_recency_then_key,
            list_pagination,
            invalid_input_is_rejected,
            ttl_expiry_everywhere,
            ttl_refresh_on_get,
            purge_removes_expired,
            expired_then_rewritten_gets_new_created_at,
            batch_put_get_delete,
            count_and_delete_namespace,
            list_namespaces_prefix_suffix_depth,
            search_prefix_scopes,
            search_without_query_lists_by_filter,
            filters_typed_and_nested,
            filters_apply_before_limit,
            keyword_search_without_embedder,
            keyword_scores_are_bm25,
            semantic_scores_are_cosine,
            hybrid_search_fuses,
            relative_score_fusion_per_query,
            search_pagination_and_min_score,
            search_ignores_other_models,
            filtered_vector_search_fills_the_page,
            keyword_ties_fill_the_page_in_recency_order,
            index_fields_select_the_text,
            unindexed_item_is_found_only_without_a_query,
            item_index_paths_select_the_text,
            reput_with_another_index_replaces_the_text,
            invalid_item_index_writes_nothing,
            item_index_is_exported_and_restored,
            bad_hybrid_weights_are_rejected,
            sweeper_purges,
            concurrent_writers,
            model_based_random_operations,
            export_and_restore_round_trip,
            export_pages_by_keyset,
        );
    };
    (@checks $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                $crate::store::testkit::$check($make.await).await;
            }
        )*
    };
}

/// Runs the checks of [`super::KeywordStatistics::Tenant`] against the backend returned by
/// `$make`, which must be configured with it (the main suite assumes store-wide statistics).
#[macro_export]
macro_rules! tenant_statistics_conformance {
    ($make:expr) => {
        $crate::store_conformance!(@checks $make; tenant_keyword_statistics);
    };
}

/// A store over `backend` with a manual clock at [`T0`] and no embedder.
pub fn plain_store(backend: Arc<dyn StoreBackend>) -> (MemoryStore, ManualClock) {
    let clock = ManualClock::new(T0);
    let options = StoreOptions { clock: Arc::new(clock.clone()), ..StoreOptions::default() };
    (MemoryStore::new(backend, options), clock)
}

/// A store over `backend` with a manual clock and a 64-d [`HashEmbedder`].
pub fn embedded_store(backend: Arc<dyn StoreBackend>) -> (MemoryStore, ManualClock) {
    let (store, clock) = plain_store(backend);
    (store.with_embedder(Arc::new(HashEmbedder::new(64))), clock)
}

fn keys(items: &[super::Item]) -> Vec<&str> {
    items.iter().map(|i| i.key.as_str()).collect()
}

fn hit_keys(hits: &[super::SearchHit]) -> Vec<&str> {
    hits.iter().map(|h| h.item.key.as_str()).collect()
}

fn ns(labels: &[&str]) -> Namespace {
    Namespace::new(labels.iter().copied()).unwrap()
}

fn filter(value: Value) -> Filter {
    Filter::from_json(&value).unwrap()
}

// Reference tests (reference-behaviour.md §2, TestMemoryStore / Search / SQLite).

/// Test 28: put then get returns the value.
pub async fn ref_28_put_then_get(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    store.put(("user_1", "prefs"), "lang", json!({"preference": "Python"}), None).await.unwrap();
    let item = store.get(("user_1", "prefs"), "lang").await.unwrap().unwrap();
    assert_eq!(Value::Object(item.value), json!({"preference": "Python"}));
    assert_eq!(item.namespace, ns(&["user_1", "prefs"]));
    assert_eq!(item.key, "lang");
}

/// Test 29: get of a missing key is `None`.
pub async fn ref_29_get_missing_is_none(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    assert_eq!(store.get(("user_1", "prefs"), "missing").await.unwrap(), None);
}

/// Test 30: delete returns true, then get is `None`.
pub async fn ref_30_delete_then_get(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    store.put("ns", "k", json!({"v": 1}), None).await.unwrap();
    assert!(store.delete("ns", "k").await.unwrap());
    assert_eq!(store.get("ns", "k").await.unwrap(), None);
}

/// Test 31: delete of a missing key is false.
pub async fn ref_31_delete_missing_is_false(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    assert!(!store.delete("ns", "missing").await.unwrap());
}

/// Test 32: list of one namespace returns only its keys.
pub async fn ref_32_list_is_scoped_to_namespace(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    store.put(("user_1", "memories"), "a", json!({"v": 1}), None).await.unwrap();
    store.put(("user_1", "memories"), "b", json!({"v": 2}), None).await.unwrap();
    store.put(("user_2", "memories"), "c", json!({"v": 3}), None).await.unwrap();
    store.put(("user_1", "memories", "deeper"), "d", json!({"v": 4}), None).await.unwrap();
    let items = store.list(("user_1", "memories"), Page::all()).await.unwrap();
    assert_eq!(keys(&items), ["a", "b"]);
}

/// Test 33: list with limit 2 of 5 returns 2.
pub async fn ref_33_list_limit(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    for i in 0..5 {
        store.put("ns", format!("k{i}"), json!({"i": i}), None).await.unwrap();
    }
    assert_eq!(store.list("ns", Page::first(2)).await.unwrap().len(), 2);
}

/// Test 34: the same key in two user namespaces holds separate values.
pub async fn ref_34_same_key_in_two_namespaces(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    store.put(("user_1", "m"), "k", json!({"owner": 1}), None).await.unwrap();
    store.put(("user_2", "m"), "k", json!({"owner": 2}), None).await.unwrap();
    assert_eq!(store.get(("user_1", "m"), "k").await.unwrap().unwrap().value["owner"], 1);
    assert_eq!(store.get(("user_2", "m"), "k").await.unwrap().unwrap().value["owner"], 2);
}

/// Test 35: a string namespace is a one-label namespace.
pub async fn ref_35_string_namespace(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    let item = store.put("simple", "k", json!({"v": 1}), None).await.unwrap();
    assert_eq!(item.namespace.labels(), ["simple"]);
    assert_eq!(store.get(["simple"], "k").await.unwrap().unwrap().namespace, ns(&["simple"]));
}

/// Test 36: once its TTL has passed, get returns `None`.
pub async fn ref_36_expired_item_is_gone(backend: Arc<dyn StoreBackend>) {
    let (store, clock) = plain_store(backend);
    store.put(("user_1", "temp"), "k", json!({"v": 1}), Some(10.0)).await.unwrap();
    clock.advance(9.999);
    assert!(store.get(("user_1", "temp"), "k").await.unwrap().is_some());
    clock.advance(0.001);
    assert_eq!(store.get(("user_1", "temp"), "k").await.unwrap(), None);
}

/// Test 37: user and app memories round-trip, in their documented namespaces.
pub async fn ref_37_user_and_app_memory(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    store.put_user_memory("user_123", "theme", json!({"value": "dark"}), None).await.unwrap();
    let item = store.get_user_memory("user_123", "theme").await.unwrap().unwrap();
    assert_eq!(item.value["value"], "dark");
    assert_eq!(item.namespace, ns(&["user_123", "memories"]));

    store.put_app_memory("version", json!({"value": "1.0.0"}), None).await.unwrap();
    assert_eq!(store.get_app_memory("version").await.unwrap().unwrap().value["value"], "1.0.0");
    assert_eq!(store.get_global_memory("version").await.unwrap().unwrap().namespace, ns(&["app", "global"]));

    store.put_global_memory("motd", json!({"value": "hi"}), None).await.unwrap();
    assert_eq!(store.get_app_memory("motd").await.unwrap().unwrap().value["value"], "hi");

    store.put_session_memory("session_456", "context", json!({"value": "debugging"}), None).await.unwrap();
    let item = store.get_session_memory("session_456", "context").await.unwrap().unwrap();
    assert_eq!(item.namespace, ns(&["session", "session_456"]));
    assert_eq!(item.value["value"], "debugging");
}

/// Test 38: semantic search without an embedder is a clear error (keyword search works).
pub async fn ref_38_semantic_search_requires_embedder(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    store.put("ns", "k", json!({"text": "hello world"}), None).await.unwrap();
    let error = store.search("ns", SearchQuery::text("hello").mode(SearchMode::Semantic)).await.unwrap_err();
    assert!(matches!(&error, StoreError::EmbedderRequired(m) if m.contains("requires an embedder")), "{error}");
    let error = store.search("ns", SearchQuery::text("hello").mode(SearchMode::Hybrid)).await.unwrap_err();
    assert!(matches!(error, StoreError::EmbedderRequired(_)));
    let hits = store.search("ns", SearchQuery::text("hello")).await.unwrap();
    assert_eq!(hit_keys(&hits), ["k"]);
}

/// Test 39: semantic search returns at most `limit` items, each with a score.
pub async fn ref_39_semantic_search_scores(backend: Arc<dyn StoreBackend>) {
    let (store, _) = embedded_store(backend);
    for (key, text) in [("a", "the cat sat"), ("b", "the dog ran"), ("c", "quarterly revenue")] {
        store.put("ns", key, json!({ "text": text }), None).await.unwrap();
    }
    let hits = store.search("ns", SearchQuery::text("cat").limit(2).mode(SearchMode::Semantic)).await.unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].item.key, "a");
    assert!(hits.iter().all(|h| h.score.is_some()));
}

// Operations.

/// `put` returns what a `get` then returns, with both times at the clock's reading.
pub async fn put_returns_stored_item(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    let put = store.put("ns", "k", json!({"a": 1}), Some(60.0)).await.unwrap();
    assert_eq!(put.created_at, T0);
    assert_eq!(put.updated_at, T0);
    assert_eq!(put.expires_at, Some(T0 + 60.0));
    assert_eq!(put.ttl_seconds, Some(60.0));
    assert_eq!(store.get("ns", "k").await.unwrap(), Some(put));
}

/// An update keeps `created_at` and moves `updated_at`.
pub async fn update_keeps_created_at(backend: Arc<dyn StoreBackend>) {
    let (store, clock) = plain_store(backend);
    store.put("ns", "k", json!({"v": 1}), None).await.unwrap();
    clock.advance(5.0);
    let updated = store.put("ns", "k", json!({"v": 2}), None).await.unwrap();
    assert_eq!((updated.created_at, updated.updated_at), (T0, T0 + 5.0));
    let item = store.get("ns", "k").await.unwrap().unwrap();
    assert_eq!((item.created_at, item.updated_at, item.value["v"].clone()), (T0, T0 + 5.0, json!(2)));
}

/// Values come back exactly: nesting, unicode, numbers, key order.
pub async fn value_round_trips_exactly(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    let value = json!({
        "z": 1, "a": [1, 2.5, -3, "x", null, true, {"deep": {"er": "ü 日本 🎉"}}],
        "big": 9007199254740993u64, "neg": -1e-300, "quote": "\"'\\", "empty": {}
    });
    store.put(["ü", "名前", "a/b", "x.y"], "key with spaces/and/slashes", value.clone(), None).await.unwrap();
    let item = store.get(["ü", "名前", "a/b", "x.y"], "key with spaces/and/slashes").await.unwrap().unwrap();
    assert_eq!(Value::Object(item.value.clone()), value);
    let keys: Vec<&String> = item.value.keys().collect();
    assert_eq!(keys, ["z", "a", "big", "neg", "quote", "empty"]);
}

/// `("a/b",)`, `("a", "b")` and `("a.b",)` are three namespaces.
pub async fn namespaces_do_not_collide(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    store.put(["a/b"], "k", json!({"which": 1}), None).await.unwrap();
    store.put(["a", "b"], "k", json!({"which": 2}), None).await.unwrap();
    store.put(["a.b"], "k", json!({"which": 3}), None).await.unwrap();
    store.put(["a%"], "k", json!({"which": 4}), None).await.unwrap();
    assert_eq!(store.get(["a/b"], "k").await.unwrap().unwrap().value["which"], 1);
    assert_eq!(store.get(["a", "b"], "k").await.unwrap().unwrap().value["which"], 2);
    assert_eq!(store.get(["a.b"], "k").await.unwrap().unwrap().value["which"], 3);
    assert_eq!(store.count(["a"]).await.unwrap(), 1);
    assert_eq!(store.count(["a%"]).await.unwrap(), 1);
    assert_eq!(store.count(super::NamespacePrefix::root()).await.unwrap(), 4);
}

/// `list` is most recently updated first, ties broken by key.
pub async fn list_order_is_recency_then_key(backend: Arc<dyn StoreBackend>) {
    let (store, clock) = plain_store(backend);
    store.put("ns", "old", json!({}), None).await.unwrap();
    clock.advance(1.0);
    store.put("ns", "b", json!({}), None).await.unwrap();
    store.put("ns", "a", json!({}), None).await.unwrap();
    clock.advance(1.0);
    store.put("ns", "new", json!({}), None).await.unwrap();
    assert_eq!(keys(&store.list("ns", Page::all()).await.unwrap()), ["new", "a", "b", "old"]);
    clock.advance(1.0);
    store.put("ns", "old", json!({"touched": true}), None).await.unwrap();
    assert_eq!(keys(&store.list("ns", Page::all()).await.unwrap()), ["old", "new", "a", "b"]);
}

/// `list` pages are disjoint and cover everything.
pub async fn list_pagination(backend: Arc<dyn StoreBackend>) {
    let (store, clock) = plain_store(backend);
    for i in 0..7 {
        store.put("ns", format!("k{i}"), json!({"i": i}), None).await.unwrap();
        clock.advance(1.0);
    }
    assert_eq!(keys(&store.list("ns", Page::new(0, 3)).await.unwrap()), ["k6", "k5", "k4"]);
    assert_eq!(keys(&store.list("ns", Page::new(3, 3)).await.unwrap()), ["k3", "k2", "k1"]);
    assert_eq!(keys(&store.list("ns", Page::new(6, 3)).await.unwrap()), ["k0"]);
    assert!(store.list("ns", Page::new(7, 3)).await.unwrap().is_empty());
    assert!(store.list("ns", Page::first(0)).await.unwrap().is_empty());
    assert!(store.list("other", Page::all()).await.unwrap().is_empty());
}

/// Bad namespaces, keys, values, TTLs, filters and limits are clear errors, and nothing
/// is written.
pub async fn invalid_input_is_rejected(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    let ok = json!({"v": 1});
    assert!(matches!(store.put([""], "k", ok.clone(), None).await, Err(StoreError::InvalidNamespace(_))));
    assert!(matches!(store.put(["a\u{1f}b"], "k", ok.clone(), None).await, Err(StoreError::InvalidNamespace(_))));
    assert!(matches!(
        store.put(Vec::<String>::new(), "k", ok.clone(), None).await,
        Err(StoreError::InvalidNamespace(_))
    ));
    assert!(matches!(store.put("ns", "", ok.clone(), None).await, Err(StoreError::InvalidKey(_))));
    assert!(matches!(store.put("ns", "k", json!("text"), None).await, Err(StoreError::InvalidValue(_))));
    assert!(matches!(store.put("ns", "k", json!(null), None).await, Err(StoreError::InvalidValue(_))));
    assert!(matches!(store.put("ns", "k", json!({"s": "nul\u{0}"}), None).await, Err(StoreError::InvalidValue(_))));
    let huge = json!({"blob": "x".repeat(super::MAX_VALUE_BYTES)});
    assert!(matches!(store.put("ns", "k", huge, None).await, Err(StoreError::InvalidValue(_))));
    for ttl in [0.0, -5.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(store.put("ns", "k", ok.clone(), Some(ttl)).await, Err(StoreError::InvalidTtl(_))), "{ttl}");
    }
    assert!(matches!(store.get("ns", "").await, Err(StoreError::InvalidKey(_))));
    assert!(matches!(store.search("ns", SearchQuery::all().limit(10_001)).await, Err(StoreError::InvalidRequest(_))));
    assert!(matches!(
        store.search("ns", SearchQuery::text("x").min_score(f64::NAN)).await,
        Err(StoreError::InvalidRequest(_))
    ));
    assert!(matches!(
        store.list_namespaces(NamespaceListing::all().max_depth(0)).await,
        Err(StoreError::InvalidRequest(_))
    ));
    let batch =
        vec![PutRequest::new("ns", "good", ok.clone()).unwrap(), PutRequest::new("ns", "bad", json!([1])).unwrap()];
    assert!(matches!(store.put_many(batch).await, Err(StoreError::InvalidValue(_))));
    assert_eq!(store.count(super::NamespacePrefix::root()).await.unwrap(), 0);
}

/// An expired item is absent from get, list, search, count and namespaces.
pub async fn ttl_expiry_everywhere(backend: Arc<dyn StoreBackend>) {
    let (store, clock) = embedded_store(backend);
    store.put(["t", "gone"], "short", json!({"text": "ephemeral note"}), Some(1.0)).await.unwrap();
    store.put(["t", "kept"], "long", json!({"text": "ephemeral but lasting"}), Some(100.0)).await.unwrap();
    store.put(["t", "kept"], "forever", json!({"text": "permanent"}), None).await.unwrap();
    clock.advance(1.0);
    assert_eq!(store.get(["t", "gone"], "short").await.unwrap(), None);
    assert!(store.list(["t", "gone"], Page::all()).await.unwrap().is_empty());
    assert_eq!(store.count("t").await.unwrap(), 2);
    let all = store.search("t", SearchQuery::all()).await.unwrap();
    assert_eq!(hit_keys(&all), ["forever", "long"]);
    for mode in [SearchMode::Keyword, SearchMode::Semantic, SearchMode::Hybrid] {
        let hits = store.search("t", SearchQuery::text("ephemeral").mode(mode)).await.unwrap();
        assert!(!hit_keys(&hits).contains(&"short"), "{mode:?}");
    }
    let namespaces = store.list_namespaces(NamespaceListing::all()).await.unwrap();
    assert_eq!(namespaces, [ns(&["t", "kept"])]);
    assert!(!store.delete(["t", "gone"], "short").await.unwrap());
    clock.advance(1000.0);
    assert_eq!(keys(&store.list(["t", "kept"], Page::all()).await.unwrap()), ["forever"]);
}

/// `get_and_refresh` (and `refresh_ttl_on_get`) push back the expiry.
pub async fn ttl_refresh_on_get(backend: Arc<dyn StoreBackend>) {
    let (store, clock) = plain_store(backend);
    store.put("ns", "k", json!({}), Some(10.0)).await.unwrap();
    store.put("ns", "plain", json!({}), None).await.unwrap();
    clock.advance(8.0);
    let refreshed = store.get_and_refresh("ns", "k").await.unwrap().unwrap();
    assert_eq!(refreshed.expires_at, Some(T0 + 18.0));
    assert_eq!(refreshed.updated_at, T0);
    assert_eq!(store.get_and_refresh("ns", "plain").await.unwrap().unwrap().expires_at, None);
    clock.advance(8.0);
    assert!(store.get("ns", "k").await.unwrap().is_some(), "refreshed at +8, so alive at +16");
    let refreshing = store.clone().with_options(StoreOptions { refresh_ttl_on_get: true, ..store.options().clone() });
    assert_eq!(refreshing.get("ns", "k").await.unwrap().unwrap().expires_at, Some(T0 + 26.0));
    clock.advance(9.0);
    assert!(store.get("ns", "k").await.unwrap().is_some());
    clock.advance(1.0);
    assert_eq!(store.get("ns", "k").await.unwrap(), None);
}

/// `purge_expired` removes exactly the expired items.
pub async fn purge_removes_expired(backend: Arc<dyn StoreBackend>) {
    let (store, clock) = plain_store(backend);
    for i in 0..5 {
        store.put("ns", format!("t{i}"), json!({}), Some(1.0 + f64::from(i))).await.unwrap();
    }
    store.put("ns", "forever", json!({}), None).await.unwrap();
    clock.advance(3.0);
    assert_eq!(store.purge_expired().await.unwrap(), 3);
    assert_eq!(store.purge_expired().await.unwrap(), 0);
    assert_eq!(keys(&store.list("ns", Page::all()).await.unwrap()), ["forever", "t3", "t4"]);
    // Purged items are physically gone: an expired-then-purged key can be re-created.
    clock.advance(100.0);
    assert_eq!(store.purge_expired().await.unwrap(), 2);
    assert_eq!(store.count("ns").await.unwrap(), 1);
}

/// Writing a key whose item expired starts a new life: `created_at` is reset.
pub async fn expired_then_rewritten_gets_new_created_at(backend: Arc<dyn StoreBackend>) {
    let (store, clock) = plain_store(backend);
    store.put("ns", "k", json!({"v": 1}), Some(1.0)).await.unwrap();
    clock.advance(2.0);
    let item = store.put("ns", "k", json!({"v": 2}), None).await.unwrap();
    assert_eq!((item.created_at, item.expires_at), (T0 + 2.0, None));
}

/// Batches: ordered results, later writes of a key win, missing keys are `None`/false.
pub async fn batch_put_get_delete(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    let items = store
        .put_many(vec![
            PutRequest::new("ns", "a", json!({"v": 1})).unwrap(),
            PutRequest::new(("ns", "sub"), "b", json!({"v": 2})).unwrap().ttl(30.0),
            PutRequest::new("ns", "a", json!({"v": 3})).unwrap(),
        ])
        .await
        .unwrap();
    assert_eq!(keys(&items), ["a", "b", "a"]);
    assert_eq!(items[1].expires_at, Some(T0 + 30.0));
    let addresses = vec![
        ItemKey::new(ns(&["ns"]), "a").unwrap(),
        ItemKey::new(ns(&["ns"]), "missing").unwrap(),
        ItemKey::new(ns(&["ns", "sub"]), "b").unwrap(),
    ];
    let got = store.get_many(&addresses).await.unwrap();
    assert_eq!(got[0].as_ref().unwrap().value["v"], 3);
    assert_eq!(got[1], None);
    assert_eq!(got[2].as_ref().unwrap().value["v"], 2);
    assert_eq!(store.delete_many(&addresses).await.unwrap(), [true, false, true]);
    assert_eq!(store.count("ns").await.unwrap(), 0);
    assert!(store.put_many(Vec::new()).await.unwrap().is_empty());
}

/// `count` is by prefix; `delete_namespace` removes a namespace and everything below it.
pub async fn count_and_delete_namespace(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    store.put(["u1"], "a", json!({}), None).await.unwrap();
    store.put(["u1", "prefs"], "a", json!({}), None).await.unwrap();
    store.put(["u1", "prefs"], "b", json!({}), None).await.unwrap();
    store.put(["u10"], "a", json!({}), None).await.unwrap();
    store.put(["u2", "prefs"], "a", json!({}), None).await.unwrap();
    assert_eq!(store.count(["u1"]).await.unwrap(), 3);
    assert_eq!(store.count(["u1", "prefs"]).await.unwrap(), 2);
    assert_eq!(store.count(super::NamespacePrefix::root()).await.unwrap(), 5);
    assert_eq!(store.delete_namespace(["u1"]).await.unwrap(), 3);
    assert_eq!(store.count(["u1"]).await.unwrap(), 0);
    assert_eq!(store.count(["u10"]).await.unwrap(), 1);
    assert_eq!(store.count(["u2"]).await.unwrap(), 1);
    assert_eq!(store.delete_namespace(["nothing"]).await.unwrap(), 0);
}

/// `list_namespaces` with prefix, suffix, max_depth, limit and offset.
pub async fn list_namespaces_prefix_suffix_depth(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    for labels in [
        &["users", "u1", "prefs"][..],
        &["users", "u1", "facts"],
        &["users", "u2", "prefs"],
        &["users", "u10", "prefs"],
        &["apps", "global"],
        &["users"],
    ] {
        store.put(labels, "k", json!({}), None).await.unwrap();
    }
    let all = store.list_namespaces(NamespaceListing::all()).await.unwrap();
    assert_eq!(
        all,
        [
            ns(&["apps", "global"]),
            ns(&["users"]),
            ns(&["users", "u1", "facts"]),
            ns(&["users", "u1", "prefs"]),
            ns(&["users", "u10", "prefs"]),
            ns(&["users", "u2", "prefs"]),
        ]
    );
    let u1 = store.list_namespaces(NamespaceListing::all().prefix(["users", "u1"]).unwrap()).await.unwrap();
    assert_eq!(u1, [ns(&["users", "u1", "facts"]), ns(&["users", "u1", "prefs"])]);
    let prefs = store.list_namespaces(NamespaceListing::all().suffix(["prefs"])).await.unwrap();
    assert_eq!(prefs, [ns(&["users", "u1", "prefs"]), ns(&["users", "u10", "prefs"]), ns(&["users", "u2", "prefs"])]);
    let depth2 = store.list_namespaces(NamespaceListing::all().prefix("users").unwrap().max_depth(2)).await.unwrap();
    assert_eq!(depth2, [ns(&["users"]), ns(&["users", "u1"]), ns(&["users", "u10"]), ns(&["users", "u2"])]);
    let page = store.list_namespaces(NamespaceListing::all().max_depth(2).offset(1).limit(2)).await.unwrap();
    assert_eq!(page, [ns(&["users"]), ns(&["users", "u1"])]);
}

/// Search covers the prefix label by label, and nothing outside it.
pub async fn search_prefix_scopes(backend: Arc<dyn StoreBackend>) {
    let (store, _) = embedded_store(backend);
    store.put(["u1"], "top", json!({"text": "coffee"}), None).await.unwrap();
    store.put(["u1", "facts"], "deep", json!({"text": "coffee beans"}), None).await.unwrap();
    store.put(["u10"], "other", json!({"text": "coffee"}), None).await.unwrap();
    for mode in [SearchMode::Keyword, SearchMode::Semantic, SearchMode::Hybrid] {
        let mut found = hit_keys(&store.search("u1", SearchQuery::text("coffee").mode(mode)).await.unwrap())
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        found.sort();
        assert_eq!(found, ["deep", "top"], "{mode:?}");
    }
    let everywhere = store.search(super::NamespacePrefix::root(), SearchQuery::text("coffee")).await.unwrap();
    assert_eq!(everywhere.len(), 3);
}

/// Without a query, search lists the filter's matches in recency order, without scores.
pub async fn search_without_query_lists_by_filter(backend: Arc<dyn StoreBackend>) {
    let (store, clock) = plain_store(backend);
    for i in 0..6 {
        store
            .put(["docs", if i % 2 == 0 { "even" } else { "odd" }], format!("d{i}"), json!({"i": i}), None)
            .await
            .unwrap();
        clock.advance(1.0);
    }
    let hits = store.search("docs", SearchQuery::all().filter(filter(json!({"i": {"$gte": 2}})))).await.unwrap();
    assert_eq!(hit_keys(&hits), ["d5", "d4", "d3", "d2"]);
    assert!(hits.iter().all(|h| h.score.is_none()));
    let blank = store.search("docs", SearchQuery::text("   ").limit(2)).await.unwrap();
    assert_eq!(hit_keys(&blank), ["d5", "d4"]);
}

/// Every operator, typed (10 > 9), nested paths, missing fields.
pub async fn filters_typed_and_nested(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    let docs = [
        ("n9", json!({"n": 9, "tag": "a", "meta": {"lang": "en", "level": 2}})),
        ("n10", json!({"n": 10, "tag": "b", "meta": {"lang": "fr", "level": 10}})),
        ("n10f", json!({"n": 10.5, "tag": "a", "flag": true})),
        ("s10", json!({"n": "10", "tag": "c", "flag": false})),
        ("none", json!({"other": null})),
    ];
    for (key, value) in docs {
        store.put("f", key, value, None).await.unwrap();
    }
    let check = async |f: Value| -> Vec<String> {
        let hits = store.search("f", SearchQuery::all().filter(filter(f))).await.unwrap();
        let mut keys: Vec<String> = hit_keys(&hits).into_iter().map(str::to_owned).collect();
        keys.sort();
        keys
    };
    assert_eq!(check(json!({"n": {"$gt": 9}})).await, ["n10", "n10f"]);
    assert_eq!(check(json!({"n": {"$gte": 9, "$lt": 10.5}})).await, ["n10", "n9"]);
    assert_eq!(check(json!({"n": {"$lte": 10}})).await, ["n10", "n9"]);
    assert_eq!(check(json!({"n": 10})).await, ["n10"]);
    assert_eq!(check(json!({"n": {"$eq": 10.0}})).await, ["n10"]);
    assert_eq!(check(json!({"n": "10"})).await, ["s10"]);
    assert_eq!(check(json!({"n": {"$gt": "09"}})).await, ["s10"]);
    assert_eq!(check(json!({"tag": {"$ne": "a"}})).await, ["n10", "none", "s10"]);
    assert_eq!(check(json!({"tag": {"$in": ["a", "c"]}})).await, ["n10f", "n9", "s10"]);
    assert_eq!(check(json!({"tag": {"$nin": ["a", "c"]}})).await, ["n10", "none"]);
    assert_eq!(check(json!({"flag": {"$exists": true}})).await, ["n10f", "s10"]);
    assert_eq!(check(json!({"other": {"$exists": true}})).await, ["none"]);
    assert_eq!(check(json!({"flag": {"$exists": false}})).await, ["n10", "n9", "none"]);
    assert_eq!(check(json!({"flag": false})).await, ["s10"]);
    assert_eq!(check(json!({"flag": {"$lt": true}})).await, ["s10"]);
    assert_eq!(check(json!({"meta.lang": "fr"})).await, ["n10"]);
    assert_eq!(check(json!({"meta.level": {"$gt": 9}})).await, ["n10"]);
    assert_eq!(check(json!({"meta": {"lang": "en", "level": 2.0}})).await, ["n9"]);
    assert_eq!(check(json!({"meta.lang": "en", "tag": "b"})).await, Vec::<String>::new());
    assert_eq!(check(json!({"other": null})).await, ["none"]);
}

/// Filters apply before the limit: a filtered search returns `limit` matches when they exist.
pub async fn filters_apply_before_limit(backend: Arc<dyn StoreBackend>) {
    let (store, clock) = embedded_store(backend);
    for i in 0..60 {
        let kind = if i % 10 == 0 { "rare" } else { "common" };
        store
            .put("ns", format!("k{i:02}"), json!({"text": "shared words here", "kind": kind, "i": i}), None)
            .await
            .unwrap();
        clock.advance(0.5);
    }
    let rare = filter(json!({"kind": "rare"}));
    let listed = store.search("ns", SearchQuery::all().filter(rare.clone()).limit(3)).await.unwrap();
    assert_eq!(hit_keys(&listed), ["k50", "k40", "k30"]);
    for mode in [SearchMode::Keyword, SearchMode::Semantic, SearchMode::Hybrid] {
        let hits = store
            .search("ns", SearchQuery::text("shared words").filter(rare.clone()).limit(5).mode(mode))
            .await
            .unwrap();
        assert_eq!(hits.len(), 5, "{mode:?}");
        assert!(hits.iter().all(|h| h.item.value["kind"] == "rare"), "{mode:?}");
        let offset =
            store.search("ns", SearchQuery::text("shared words").filter(rare.clone()).offset(4).limit(5).mode(mode));
        assert_eq!(offset.await.unwrap().len(), 2, "{mode:?}");
    }
}

/// Keyword search works with no embedder and ranks by BM25.
pub async fn keyword_search_without_embedder(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    store.put("kb", "rust", json!({"text": "Rust is a systems programming language"}), None).await.unwrap();
    store
        .put("kb", "python", json!({"text": "Python is a programming language for data science"}), None)
        .await
        .unwrap();
    store.put("kb", "coffee", json!({"text": "Coffee beans are roasted"}), None).await.unwrap();
    let hits = store.search("kb", SearchQuery::text("systems programming")).await.unwrap();
    assert_eq!(hit_keys(&hits), ["rust", "python"]);
    assert!(hits[0].score.unwrap() > hits[1].score.unwrap());
    assert!(hits.iter().all(|h| h.score.unwrap() > 0.0 && h.score.unwrap() < 1.0));
    assert!(store.search("kb", SearchQuery::text("quantum")).await.unwrap().is_empty());
    // Query syntax is never interpreted: quotes, operators and punctuation are just separators.
    let odd = store.search("kb", SearchQuery::text("\"coffee\" OR NOT (beans* AND :)")).await.unwrap();
    assert_eq!(hit_keys(&odd), ["coffee"]);
    // Keys are part of the indexed text by default.
    assert_eq!(store.search("kb", SearchQuery::text("TEXT")).await.unwrap().len(), 3);
}

/// Keyword scores are `s/(1+s)` of FTS5-style BM25 over all stored items.
pub async fn keyword_scores_are_bm25(backend: Arc<dyn StoreBackend>) {
    use super::keyword::{idf, normalize, term_score};
    let (store, _) = plain_store(backend);
    // Index texts (keys included): "t: apple banana" (3 tokens), "t: apple" (2), "t: cherry" (2).
    store.put("kb", "ab", json!({"t": "apple banana"}), None).await.unwrap();
    store.put("kb", "a", json!({"t": "apple"}), None).await.unwrap();
    store.put(["elsewhere"], "c", json!({"t": "cherry"}), None).await.unwrap();
    let hits = store.search("kb", SearchQuery::text("banana apple").mode(SearchMode::Keyword)).await.unwrap();
    assert_eq!(hit_keys(&hits), ["ab", "a"]);
    let average = 7.0 / 3.0;
    let expected_ab = normalize(term_score(idf(3, 1), 1, 3, average) + term_score(idf(3, 2), 1, 3, average));
    let expected_a = normalize(term_score(idf(3, 2), 1, 2, average));
    assert!((hits[0].score.unwrap() - expected_ab).abs() < 1e-9, "{:?} vs {expected_ab}", hits[0].score);
    assert!((hits[1].score.unwrap() - expected_a).abs() < 1e-9, "{:?} vs {expected_a}", hits[1].score);
}

/// Under [`super::KeywordStatistics::Tenant`] (the backend's configuration), a keyword score
/// counts only the items of its namespace's tenant (the first label up to `/`): other
/// tenants' writes and deletes leave it unmoved, a tenant's own change it, and a search
/// across tenants scores each item within its own tenant.
pub async fn tenant_keyword_statistics(backend: Arc<dyn StoreBackend>) {
    use super::keyword::{idf, normalize, term_score};
    let (store, _) = plain_store(backend);
    let scores = |hits: Vec<super::SearchHit>| -> Vec<(String, f64)> {
        hits.into_iter().map(|hit| (hit.item.key, hit.score.unwrap())).collect()
    };
    let search = |prefix: Vec<&'static str>| {
        let store = store.clone();
        async move {
            let query = SearchQuery::text("banana apple").mode(SearchMode::Keyword).limit(50);
            scores(store.search(NamespacePrefix::new(prefix).unwrap(), query).await.unwrap())
        }
    };
    let close = |got: &[(String, f64)], want: &[(&str, f64)]| {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for ((key, score), (want_key, want_score)) in got.iter().zip(want) {
            assert_eq!(key, want_key, "{got:?} vs {want:?}");
            assert!((score - want_score).abs() < 1e-9, "{got:?} vs {want:?}");
        }
    };
    // Tenant acme (texts with their field name): "t: apple banana" (3 tokens) in its own
    // namespace, "t: apple" (2) under `acme/u1`, as the service stores a user's conversations.
    store.put(["acme", "notes"], "ab", json!({"t": "apple banana"}), None).await.unwrap();
    store.put(["acme/u1", "chats"], "a", json!({"t": "apple"}), None).await.unwrap();
    let acme_ab = normalize(term_score(idf(2, 1), 1, 3, 2.5) + term_score(idf(2, 2), 1, 3, 2.5));
    let acme_a = normalize(term_score(idf(2, 2), 1, 2, 2.5));
    close(&search(vec!["acme"]).await, &[("ab", acme_ab)]);
    close(&search(vec!["acme/u1"]).await, &[("a", acme_a)]);

    // Other tenants, one whose name starts with acme's: none of it counts for acme.
    for i in 0..12 {
        store.put(["globex", "notes"], format!("g{i:02}"), json!({"t": "apple"}), None).await.unwrap();
    }
    store.put(["acmex"], "x", json!({"t": "banana banana"}), None).await.unwrap();
    store.put(["acme!"], "y", json!({"t": "banana"}), None).await.unwrap();
    close(&search(vec!["acme"]).await, &[("ab", acme_ab)]);
    close(&search(vec!["acme/u1"]).await, &[("a", acme_a)]);
    close(&search(vec!["acme", "notes"]).await, &[("ab", acme_ab)]);
    store.delete(["globex", "notes"], "g00").await.unwrap();
    close(&search(vec!["acme"]).await, &[("ab", acme_ab)]);

    // Across tenants, each item is scored within its own.
    let globex = normalize(term_score(idf(11, 11), 1, 2, 2.0));
    let acmex = normalize(term_score(idf(1, 1), 2, 3, 3.0));
    let bang = normalize(term_score(idf(1, 1), 1, 2, 2.0));
    let mut want: Vec<(&str, f64)> = vec![("ab", acme_ab), ("a", acme_a), ("x", acmex), ("y", bang)];
    let globex_keys: Vec<String> = (1..12).map(|i| format!("g{i:02}")).collect();
    want.extend(globex_keys.iter().map(|key| (key.as_str(), globex)));
    let got = search(vec![]).await;
    let mut got_sorted = got.clone();
    got_sorted.sort_by(|a, b| a.0.cmp(&b.0));
    want.sort_by(|a, b| a.0.cmp(b.0));
    close(&got_sorted, &want);
    assert!(got.windows(2).all(|pair| pair[0].1 >= pair[1].1), "best first: {got:?}");

    // A tenant's own writes move its statistics.
    store.put(["acme", "more"], "b", json!({"t": "cherry"}), None).await.unwrap();
    let acme_ab = normalize(term_score(idf(3, 1), 1, 3, 7.0 / 3.0) + term_score(idf(3, 2), 1, 3, 7.0 / 3.0));
    close(&search(vec!["acme"]).await, &[("ab", acme_ab)]);
}

/// Semantic scores are the cosine similarity of the embeddings.
pub async fn semantic_scores_are_cosine(backend: Arc<dyn StoreBackend>) {
    let embedder = HashEmbedder::new(64);
    let (store, _) = embedded_store(backend);
    let value = json!({"text": "the quick brown fox"});
    store.put("ns", "fox", value.clone(), None).await.unwrap();
    let hits = store.search("ns", SearchQuery::text("quick fox").mode(SearchMode::Semantic)).await.unwrap();
    let text = super::value_text(value.as_object().unwrap(), &super::IndexFields::All);
    let expected = crate::embed::cosine_similarity(&embedder.embed_text(&text), &embedder.embed_text("quick fox"));
    assert_eq!(hits.len(), 1);
    assert!((hits[0].score.unwrap() - f64::from(expected)).abs() < 1e-6);
}

/// Hybrid search fuses both rankings with normalized RRF.
pub async fn hybrid_search_fuses(backend: Arc<dyn StoreBackend>) {
    let (store, _) = embedded_store(backend);
    store.put("ns", "both", json!({"text": "rust memory store"}), None).await.unwrap();
    store.put("ns", "some", json!({"text": "rust"}), None).await.unwrap();
    store.put("ns", "none", json!({"text": "gardening tips"}), None).await.unwrap();
    let hits = store.search("ns", SearchQuery::text("rust memory store")).await.unwrap();
    assert_eq!(hits[0].item.key, "both");
    assert!((hits[0].score.unwrap() - 1.0).abs() < 1e-12, "first in both rankings scores 1");
    assert!(hits.iter().all(|h| h.score.unwrap() > 0.0 && h.score.unwrap() <= 1.0));
    let keyword_only = store.clone().with_options(StoreOptions {
        hybrid: HybridWeights { semantic: 0.0, keyword: 1.0, k: 60.0, ..Default::default() },
        ..store.options().clone()
    });
    let hits = keyword_only.search("ns", SearchQuery::text("rust memory store")).await.unwrap();
    assert_eq!(hit_keys(&hits), ["both", "some"]);
}

/// Relative-score fusion asked for by one query (weights, depth, a keyword text of its own)
/// equals fusing the two rankings by hand, with and without a value filter.
pub async fn relative_score_fusion_per_query(backend: Arc<dyn StoreBackend>) {
    use super::fusion::{FusionMethod, relative_score_fusion};
    use super::keyword::bm25_sum;

    let (store, _) = embedded_store(backend);
    let texts = [
        "rust memory store for agents",
        "rust rust rust",
        "a memory of gardening",
        "store the garden tools",
        "agents remember conversations",
        "tips for rust on garden tools",
        "nothing in common here",
    ];
    for (i, text) in texts.iter().enumerate() {
        let value = json!({"text": text, "even": i % 2 == 0});
        store.put(ns(&["u", &format!("s{}", i % 3)]), format!("k{i}"), value, None).await.unwrap();
    }
    let weights =
        HybridWeights { keyword: 1.0, semantic: 0.5, method: FusionMethod::RelativeScore, ..Default::default() };
    for filter_value in [None, Some(json!({"even": true}))] {
        let with_filter = |query: SearchQuery| match &filter_value {
            Some(value) => query.filter(filter(value.clone())),
            None => query,
        };
        let hybrid = with_filter(
            SearchQuery::text("rusty garden memories")
                .keyword_query("rust garden memory")
                .hybrid_weights(weights)
                .hybrid_candidates(4)
                .mode(SearchMode::Hybrid)
                .limit(5),
        );
        let found = store.search(["u"], hybrid).await.unwrap();
        let keyword = store
            .search(["u"], with_filter(SearchQuery::text("rust garden memory").mode(SearchMode::Keyword).limit(5)))
            .await
            .unwrap();
        let semantic = store
            .search(["u"], with_filter(SearchQuery::text("rusty garden memories").mode(SearchMode::Semantic).limit(5)))
            .await
            .unwrap();
        assert!(!keyword.is_empty() && !semantic.is_empty());
        let keyword: Vec<(String, f64)> =
            keyword.iter().map(|h| (h.item.key.clone(), bm25_sum(h.score.unwrap()))).collect();
        let semantic: Vec<(String, f64)> = semantic.iter().map(|h| (h.item.key.clone(), h.score.unwrap())).collect();
        let expected = relative_score_fusion(&[(1.0, &keyword[..]), (0.5, &semantic[..])]);
        let found: Vec<(String, f64)> = found.iter().map(|h| (h.item.key.clone(), h.score.unwrap())).collect();
        assert_eq!(found.len(), expected.len().min(5), "{filter_value:?}");
        for ((key, score), (want_key, want_score)) in found.iter().zip(&expected) {
            assert_eq!(key, want_key, "{filter_value:?}: {found:?} vs {expected:?}");
            assert!((score - want_score).abs() < 1e-12, "{filter_value:?}: {found:?} vs {expected:?}");
        }
        assert!(found.iter().all(|(_, score)| (0.0..=1.0).contains(score)));
    }
    // Both weights 0 is allowed for relative scores (every score is 0), not for ranks.
    let zero = HybridWeights { keyword: 0.0, semantic: 0.0, ..weights };
    let hits = store.search(["u"], SearchQuery::text("rust").hybrid_weights(zero)).await.unwrap();
    assert!(!hits.is_empty() && hits.iter().all(|h| h.score == Some(0.0)));
    let zero_ranks = HybridWeights { method: FusionMethod::ReciprocalRank, ..zero };
    let result = store.search(["u"], SearchQuery::text("rust").hybrid_weights(zero_ranks)).await;
    assert!(matches!(result, Err(StoreError::InvalidRequest(_))));
}

/// Offset and min_score on scored results.
pub async fn search_pagination_and_min_score(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    for i in 1..=6 {
        let text = vec!["alpha"; i].join(" ") + &" filler".repeat(6 - i);
        store.put("ns", format!("k{i}"), json!({ "text": text }), None).await.unwrap();
    }
    let all = store.search("ns", SearchQuery::text("alpha").limit(6)).await.unwrap();
    assert_eq!(hit_keys(&all), ["k6", "k5", "k4", "k3", "k2", "k1"]);
    let page = store.search("ns", SearchQuery::text("alpha").offset(2).limit(2)).await.unwrap();
    assert_eq!(hit_keys(&page), ["k4", "k3"]);
    let threshold = all[2].score.unwrap();
    let above = store.search("ns", SearchQuery::text("alpha").min_score(threshold)).await.unwrap();
    assert_eq!(hit_keys(&above), ["k6", "k5", "k4"]);
    let above_page = store.search("ns", SearchQuery::text("alpha").min_score(threshold).offset(1)).await.unwrap();
    assert_eq!(hit_keys(&above_page), ["k5", "k4"]);
    assert!(store.search("ns", SearchQuery::text("alpha").limit(0)).await.unwrap().is_empty());
}

/// Vectors of another model are never compared; they come back after a rewrite.
pub async fn search_ignores_other_models(backend: Arc<dyn StoreBackend>) {
    let (small, _) = embedded_store(backend.clone());
    small.put("ns", "k", json!({"text": "hello world"}), None).await.unwrap();
    let (plain, _) = plain_store(backend);
    let other = plain.with_embedder(Arc::new(HashEmbedder::new(32)));
    let semantic = SearchQuery::text("hello world").mode(SearchMode::Semantic);
    assert!(other.search("ns", semantic.clone()).await.unwrap().is_empty());
    other.put("ns", "k", json!({"text": "hello world"}), None).await.unwrap();
    assert_eq!(hit_keys(&other.search("ns", semantic.clone()).await.unwrap()), ["k"]);
    assert!(small.search("ns", semantic).await.unwrap().is_empty());
}

/// A selective value filter on a nearest-neighbour search still fills the page (the backend
/// widens its candidates or scans, whatever index it has), in exact cosine order; deleted
/// and expired items never appear.
pub async fn filtered_vector_search_fills_the_page(backend: Arc<dyn StoreBackend>) {
    use super::{ItemWrite, NamespacePrefix, Scope, StoredVector, VectorQuery};
    let dims = 16;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 2001) as f32 / 1000.0 - 1.0
    };
    let vectors: Vec<Vec<f32>> = (0..2000).map(|_| (0..dims).map(|_| next()).collect()).collect();
    // Every 200th item (i = 7, 207, …, 1807: ten, all in "odd") is rare; i = 1807 expires.
    let rare = |i: usize| i % 200 == 7;
    let writes = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| ItemWrite {
            namespace: ns(&["docs", if i % 2 == 0 { "even" } else { "odd" }]),
            key: format!("k{i}"),
            value: json!({"kind": if rare(i) { "rare" } else { "common" }, "i": i}).as_object().unwrap().clone(),
            ttl_seconds: (i == 1807).then_some(10.0),
            text: String::new(),
            vector: Some(StoredVector { model: "test/16".into(), vector: v.clone() }),
            index: ItemIndex::StoreDefault,
        })
        .collect();
    backend.put_many(writes, T0).await.unwrap();
    let query = vectors[0].clone();
    let search = async |scope: Scope, filter_json: Value, limit: usize, now: f64| {
        let query = VectorQuery {
            scope,
            filter: filter(filter_json),
            vector: query.clone(),
            model: "test/16".into(),
            limit,
            now,
        };
        backend.vector_search(&query).await.unwrap()
    };
    let cosine = |i: usize| {
        let v = &vectors[i];
        f64::from(super::vector::cosine(v, super::vector::norm(v), &vectors[0], super::vector::norm(&vectors[0])))
    };
    let best_first = |mut expected: Vec<usize>| {
        expected.sort_by(|&a, &b| cosine(b).total_cmp(&cosine(a)));
        expected.into_iter().map(|i| format!("k{i}")).collect::<Vec<_>>()
    };
    let docs = Scope::Prefix(NamespacePrefix::new(["docs"]).unwrap());
    let hits = search(docs.clone(), json!({"kind": "rare"}), 10, T0 + 1.0).await;
    let expected = best_first((0..2000).filter(|&i| rare(i)).collect());
    assert_eq!(hits.iter().map(|h| h.item.key.clone()).collect::<Vec<_>>(), expected);
    for (hit, key) in hits.iter().zip(&expected) {
        let i: usize = key[1..].parse().unwrap();
        assert!((hit.score - cosine(i)).abs() < 1e-5, "{key}: {} vs {}", hit.score, cosine(i));
    }
    // Fewer matches than the limit: all of them; expired and deleted ones never.
    backend.delete_many(&[ItemKey::new(ns(&["docs", "odd"]), "k407").unwrap()], T0 + 2.0).await.unwrap();
    let odd = Scope::Namespace(ns(&["docs", "odd"]));
    let hits = search(odd, json!({"kind": "rare", "i": {"$gte": 400}}), 10, T0 + 20.0).await;
    let expected = best_first(vec![607, 807, 1007, 1207, 1407, 1607]);
    assert_eq!(hits.iter().map(|h| h.item.key.clone()).collect::<Vec<_>>(), expected);
    // The even namespace has no rare item.
    assert!(search(Scope::Namespace(ns(&["docs", "even"])), json!({"kind": "rare"}), 10, T0).await.is_empty());
}

/// Keyword search ranks by BM25, then by recency among equal scores, and applies scope,
/// expiry and value filters before the limit: a page cut inside a group of equal scores
/// holds that group's most recent matches, and a selective filter still fills the page.
pub async fn keyword_ties_fill_the_page_in_recency_order(backend: Arc<dyn StoreBackend>) {
    use super::{ItemWrite, KeywordQuery, NamespacePrefix};
    // Sixty items with the same text (equal scores), written one second apart: even ones
    // "keep", odd ones "drop"; in "kb/a" and "kb/b", and ten more outside the scope. Items
    // 50..60 expire after 5 s. One older item has the term twice and outranks them all.
    let write = |namespace: &[&str], key: String, text: &str, kind: &str, ttl: Option<f64>| ItemWrite {
        namespace: ns(namespace),
        key,
        value: json!({"kind": kind}).as_object().unwrap().clone(),
        ttl_seconds: ttl,
        text: text.into(),
        vector: None,
        index: ItemIndex::StoreDefault,
    };
    backend.put_many(vec![write(&["kb", "a"], "best".into(), "apple apple tart", "keep", None)], T0).await.unwrap();
    // Items without the term, so that its idf is well above the floor.
    let fillers = (0..100).map(|i| write(&["filler"], format!("f{i}"), "banana", "keep", None)).collect();
    backend.put_many(fillers, T0).await.unwrap();
    for i in 0..60usize {
        let namespace: &[&str] = if i % 3 == 0 { &["kb", "b"] } else { &["kb", "a"] };
        let kind = if i % 2 == 0 { "keep" } else { "drop" };
        let ttl = (i >= 50).then_some(5.0);
        let t = T0 + 1.0 + i as f64;
        backend.put_many(vec![write(namespace, format!("k{i:02}"), "apple pie", kind, ttl)], t).await.unwrap();
    }
    for i in 0..10usize {
        let t = T0 + 100.0 + i as f64;
        backend.put_many(vec![write(&["other"], format!("o{i}"), "apple pie", "keep", None)], t).await.unwrap();
    }
    let now = T0 + 200.0;
    let search = async |scope: Scope, filter_json: Value, limit: usize| {
        let query = KeywordQuery { scope, filter: filter(filter_json), terms: vec!["apple".into()], limit, now };
        backend.keyword_search(&query).await.unwrap()
    };
    let kb = Scope::Prefix(NamespacePrefix::new(["kb"]).unwrap());
    let key_list = |hits: &[super::ScoredItem]| hits.iter().map(|h| h.item.key.clone()).collect::<Vec<_>>();
    // Live items 0..50, newest first: k49, k48, …
    let hits = search(kb.clone(), json!({}), 6).await;
    assert_eq!(key_list(&hits), ["best", "k49", "k48", "k47", "k46", "k45"]);
    assert!(hits[0].score > hits[1].score);
    assert!(hits[1..].iter().all(|h| h.score == hits[1].score), "equal texts score the same");
    let hits = search(kb.clone(), json!({"kind": "keep"}), 5).await;
    assert_eq!(key_list(&hits), ["best", "k48", "k46", "k44", "k42"]);
    let hits = search(Scope::Namespace(ns(&["kb", "b"])), json!({"kind": "drop"}), 4).await;
    assert_eq!(key_list(&hits), ["k45", "k39", "k33", "k27"]);
    // Fewer matches than the limit: all of them (k03, k09, …, k45 in "kb/b" are odd).
    let hits = search(Scope::Namespace(ns(&["kb", "b"])), json!({"kind": "drop"}), 100).await;
    assert_eq!(key_list(&hits), ["k45", "k39", "k33", "k27", "k21", "k15", "k09", "k03"]);
    let everywhere = search(Scope::Prefix(NamespacePrefix::root()), json!({}), 3).await;
    assert_eq!(key_list(&everywhere), ["best", "o9", "o8"]);
    // Eighty better-scored items (shorter texts) that the filter rejects, ahead of the three
    // it accepts: the page is still filled, best first.
    let wordy = |words: usize| format!("apple{}", " filler".repeat(words));
    let common = (0..80).map(|i| write(&["deep"], format!("c{i:02}"), &wordy(i), "common", None)).collect();
    backend.put_many(common, now).await.unwrap();
    let rare = (0..3).map(|i| write(&["deep"], format!("r{i}"), &wordy(90 + i), "rare", None)).collect();
    backend.put_many(rare, now).await.unwrap();
    let hits = search(Scope::Namespace(ns(&["deep"])), json!({"kind": "rare"}), 2).await;
    assert_eq!(key_list(&hits), ["r0", "r1"]);
}

/// With [`super::IndexFields::Paths`], only those fields are embedded and keyword-indexed.
pub async fn index_fields_select_the_text(backend: Arc<dyn StoreBackend>) {
    let (store, _) = embedded_store(backend);
    let store = store.clone().with_options(StoreOptions {
        index_fields: super::IndexFields::paths(["content", "meta.title"]),
        ..store.options().clone()
    });
    store
        .put("ns", "k", json!({"content": "alpha", "meta": {"title": "beta", "owner": "gamma"}, "x": "delta"}), None)
        .await
        .unwrap();
    store.put("ns", "empty", json!({"unrelated": "alpha"}), None).await.unwrap();
    let find = async |word: &str, mode: SearchMode| {
        let hits = store.search("ns", SearchQuery::text(word).mode(mode)).await.unwrap();
        hit_keys(&hits).into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(find("alpha", SearchMode::Keyword).await, ["k"]);
    assert_eq!(find("beta", SearchMode::Keyword).await, ["k"]);
    assert_eq!(find("title", SearchMode::Keyword).await, ["k"], "field paths are part of the text");
    assert!(find("gamma", SearchMode::Keyword).await.is_empty());
    assert!(find("delta", SearchMode::Keyword).await.is_empty());
    // An item with nothing to index has no vector, so semantic search cannot find it.
    assert_eq!(find("alpha", SearchMode::Semantic).await, ["k"]);
}

/// The keys a search of `namespace` for `query` returns, in order.
async fn search_keys(store: &MemoryStore, namespace: &str, query: SearchQuery) -> Vec<String> {
    let hits = store.search(namespace, query).await.unwrap();
    hit_keys(&hits).into_iter().map(str::to_owned).collect()
}

fn by(mode: SearchMode, text: &str) -> SearchQuery {
    SearchQuery::text(text).mode(mode)
}

/// An item put with [`ItemIndex::Disabled`] has no search text, like an item whose text is
/// empty: no vector, no keyword postings. `get`, `list` and searches without a query return
/// it; a keyword, semantic, hybrid or auto query never does.
pub async fn unindexed_item_is_found_only_without_a_query(backend: Arc<dyn StoreBackend>) {
    let (store, clock) = embedded_store(backend.clone());
    let hidden = json!({"text": "alpine ski trip", "kind": "note"});
    let request = PutRequest::new("docs", "hidden", hidden.clone()).unwrap().index(ItemIndex::Disabled);
    let item = store.put_with(request).await.unwrap();
    assert_eq!(Value::Object(item.value), hidden);
    clock.advance(1.0);
    store.put("docs", "shown", json!({"text": "alpine lake", "kind": "note"}), None).await.unwrap();

    assert_eq!(Value::Object(store.get("docs", "hidden").await.unwrap().unwrap().value), hidden);
    assert_eq!(keys(&store.list("docs", Page::all()).await.unwrap()), ["shown", "hidden"]);
    let filtered = SearchQuery::all().filter(filter(json!({"kind": "note"})));
    assert_eq!(search_keys(&store, "docs", filtered).await, ["shown", "hidden"]);
    for mode in [SearchMode::Keyword, SearchMode::Semantic, SearchMode::Hybrid, SearchMode::Auto] {
        assert_eq!(search_keys(&store, "docs", by(mode, "alpine ski trip")).await, ["shown"], "{mode:?}");
        assert!(search_keys(&store, "docs", by(mode, "ski")).await.iter().all(|key| key != "hidden"), "{mode:?}");
    }
    // The semantic query that is exactly the hidden item's text still finds only the other.
    let text = super::value_text(hidden.as_object().unwrap(), &super::IndexFields::All);
    assert_eq!(search_keys(&store, "docs", by(SearchMode::Semantic, &text)).await, ["shown"]);
    let exported = export_all(backend.as_ref(), T0 + 2.0).await;
    assert_eq!((exported[0].item.key.as_str(), &exported[0].vector), ("hidden", &None));
    assert_eq!(exported[0].index, ItemIndex::Disabled);
}

/// An item's own paths replace the store's fields: only they are embedded and
/// keyword-indexed (the store's fields still hold for items put without a spec).
pub async fn item_index_paths_select_the_text(backend: Arc<dyn StoreBackend>) {
    let (store, _) = embedded_store(backend);
    let options = StoreOptions { index_fields: super::IndexFields::paths(["body"]), ..store.options().clone() };
    let store = store.with_options(options);
    let value = json!({"title": "alpha", "body": "beta", "meta": {"tag": "gamma", "other": "delta"}});
    let request = PutRequest::new("docs", "own", value.clone()).unwrap().index(ItemIndex::paths(["title", "meta.tag"]));
    store.put_with(request).await.unwrap();
    store.put("docs", "default", value.clone(), None).await.unwrap();

    let keyword = |text: &'static str| by(SearchMode::Keyword, text);
    assert_eq!(search_keys(&store, "docs", keyword("alpha")).await, ["own"]);
    assert_eq!(search_keys(&store, "docs", keyword("gamma")).await, ["own"]);
    assert_eq!(search_keys(&store, "docs", keyword("tag")).await, ["own"], "field paths are part of the text");
    assert_eq!(search_keys(&store, "docs", keyword("beta")).await, ["default"]);
    assert!(search_keys(&store, "docs", keyword("delta")).await.is_empty());
    // The vector is the embedding of exactly the spec's text.
    let own_text = "title: alpha\nmeta.tag: gamma";
    assert_eq!(
        ItemIndex::paths(["title", "meta.tag"]).text(value.as_object().unwrap(), &super::IndexFields::All),
        own_text
    );
    let hits = store.search("docs", by(SearchMode::Semantic, own_text).limit(1)).await.unwrap();
    assert_eq!(hit_keys(&hits), ["own"]);
    assert!((hits[0].score.unwrap() - 1.0).abs() < 1e-5, "{:?}", hits[0].score);
    let hits = store.search("docs", by(SearchMode::Semantic, "body: beta").limit(1)).await.unwrap();
    assert_eq!(hit_keys(&hits), ["default"]);
    assert!((hits[0].score.unwrap() - 1.0).abs() < 1e-5, "{:?}", hits[0].score);
}

/// Re-putting a key with another spec replaces its search text (and vector) and its stored
/// spec; so does each write of a batch.
pub async fn reput_with_another_index_replaces_the_text(backend: Arc<dyn StoreBackend>) {
    let (store, _) = embedded_store(backend.clone());
    let value = json!({"title": "alpha", "body": "beta"});
    let put = async |index: ItemIndex| {
        store.put_with(PutRequest::new("docs", "k", value.clone()).unwrap().index(index)).await.unwrap();
    };
    let find = async |mode: SearchMode, text: &str| search_keys(&store, "docs", by(mode, text)).await;
    put(ItemIndex::StoreDefault).await;
    assert_eq!(find(SearchMode::Keyword, "beta").await, ["k"]);
    put(ItemIndex::paths(["title"])).await;
    assert!(find(SearchMode::Keyword, "beta").await.is_empty());
    assert_eq!(find(SearchMode::Keyword, "alpha").await, ["k"]);
    put(ItemIndex::Disabled).await;
    assert!(find(SearchMode::Keyword, "alpha").await.is_empty());
    assert!(find(SearchMode::Semantic, "alpha").await.is_empty());
    assert_eq!(export_all(backend.as_ref(), T0).await[0].index, ItemIndex::Disabled);
    put(ItemIndex::StoreDefault).await;
    assert_eq!(find(SearchMode::Keyword, "beta").await, ["k"]);
    assert_eq!(find(SearchMode::Semantic, "title: alpha\nbody: beta").await, ["k"]);
    assert_eq!(export_all(backend.as_ref(), T0).await[0].index, ItemIndex::StoreDefault);

    // In one batch, the last write of a key wins, spec included.
    let batch = vec![
        PutRequest::new("docs", "b", value.clone()).unwrap(),
        PutRequest::new("docs", "b", value.clone()).unwrap().index(ItemIndex::paths(["body"])),
        PutRequest::new("docs", "c", value.clone()).unwrap().index(ItemIndex::Disabled),
    ];
    store.put_many(batch).await.unwrap();
    assert_eq!(find(SearchMode::Keyword, "alpha").await, ["k"]);
    assert_eq!(find(SearchMode::Keyword, "beta").await.len(), 2);
    let exported = export_all(backend.as_ref(), T0).await;
    let specs: Vec<(&str, &ItemIndex)> = exported.iter().map(|e| (e.item.key.as_str(), &e.index)).collect();
    assert_eq!(
        specs,
        [("b", &ItemIndex::paths(["body"])), ("c", &ItemIndex::Disabled), ("k", &ItemIndex::StoreDefault)]
    );
}

/// Invalid index paths are rejected as filter paths are, and nothing of the request (or of
/// its batch) is written.
pub async fn invalid_item_index_writes_nothing(backend: Arc<dyn StoreBackend>) {
    let (store, _) = embedded_store(backend);
    let too_many = ItemIndex::Paths((0..=super::MAX_INDEX_PATHS).map(|i| format!("f{i}")).collect());
    let too_long = ItemIndex::paths(["x".repeat(super::MAX_INDEX_PATH_BYTES + 1)]);
    let value = json!({"text": "hello"});
    for bad in [
        ItemIndex::paths([""]),
        ItemIndex::paths(["a..b"]),
        ItemIndex::paths([".a"]),
        ItemIndex::paths(["text", "a."]),
        ItemIndex::paths(["a\tb"]),
        too_many,
        too_long,
    ] {
        let request = PutRequest::new("ns", "k", value.clone()).unwrap().index(bad.clone());
        let error = store.put_with(request).await.unwrap_err();
        assert!(matches!(&error, StoreError::InvalidIndex(_)), "{bad:?}: {error}");
        let good = PutRequest::new("ns", "good", value.clone()).unwrap();
        let request = PutRequest::new("ns", "k", value.clone()).unwrap().index(bad.clone());
        assert!(matches!(store.put_many(vec![good, request]).await, Err(StoreError::InvalidIndex(_))), "{bad:?}");
        assert_eq!(store.count("ns").await.unwrap(), 0, "{bad:?}");
    }
    let error = store.put_with(PutRequest::new("ns", "k", value).unwrap().index(ItemIndex::paths(["a..b"]))).await;
    assert_eq!(
        error.unwrap_err().to_string(),
        "invalid index: index path \"a..b\" is not a valid path (dot-separated, non-empty names)"
    );
    for json in [json!(true), json!(1), json!("text"), json!({"fields": ["text"]}), json!(["text", 1])] {
        assert!(matches!(ItemIndex::from_json(&json), Err(StoreError::InvalidIndex(_))), "{json}");
    }
    assert_eq!(ItemIndex::from_json(&json!(null)).unwrap(), ItemIndex::StoreDefault);
    assert_eq!(ItemIndex::from_json(&json!([])).unwrap(), ItemIndex::Paths(Vec::new()));
}

/// A backend keeps each item's spec: `export_items` returns what `put_many` and
/// `restore_items` were given, and a restored item keeps it through a later export.
pub async fn item_index_is_exported_and_restored(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend.clone());
    let specs =
        [ItemIndex::StoreDefault, ItemIndex::Disabled, ItemIndex::paths(["a", "b.c"]), ItemIndex::paths([""; 0])];
    for (i, spec) in specs.iter().enumerate() {
        let request = PutRequest::new("ns", format!("k{i}"), json!({"a": "x", "b": {"c": "y"}})).unwrap();
        store.put_with(request.index(spec.clone())).await.unwrap();
    }
    let exported = export_all(backend.as_ref(), T0).await;
    assert_eq!(exported.iter().map(|e| e.index.clone()).collect::<Vec<_>>(), specs);
    let copy: Vec<RestoredItem> = exported
        .iter()
        .map(|e| RestoredItem {
            item: Item { namespace: ns(&["copy"]), ..e.item.clone() },
            text: e.index.text(&e.item.value, &super::IndexFields::All),
            vector: None,
            index: e.index.clone(),
        })
        .collect();
    backend.restore_items(copy).await.unwrap();
    let restored = export_all(backend.as_ref(), T0).await;
    let copied: Vec<ItemIndex> =
        restored.iter().filter(|e| e.item.namespace == ns(&["copy"])).map(|e| e.index.clone()).collect();
    assert_eq!(copied, specs);
    let hits = store.search("copy", by(SearchMode::Keyword, "y")).await.unwrap();
    assert_eq!(hit_keys(&hits), ["k0", "k2"], "the store's fields and the spec that lists b.c");
}

/// Hybrid weights that cannot rank are an error, not a silent zero.
pub async fn bad_hybrid_weights_are_rejected(backend: Arc<dyn StoreBackend>) {
    let (store, _) = embedded_store(backend);
    store.put("ns", "k", json!({"text": "x"}), None).await.unwrap();
    for hybrid in [
        HybridWeights { semantic: 0.0, keyword: 0.0, k: 60.0, ..Default::default() },
        HybridWeights { semantic: -1.0, keyword: 1.0, k: 60.0, ..Default::default() },
        HybridWeights { semantic: 1.0, keyword: f64::NAN, k: 60.0, ..Default::default() },
        HybridWeights { semantic: 1.0, keyword: 1.0, k: 0.0, ..Default::default() },
    ] {
        let bad = store.clone().with_options(StoreOptions { hybrid, ..store.options().clone() });
        let result = bad.search("ns", SearchQuery::text("x")).await;
        assert!(matches!(result, Err(StoreError::InvalidRequest(_))), "{hybrid:?}");
    }
}

/// The background sweeper purges expired items.
pub async fn sweeper_purges(backend: Arc<dyn StoreBackend>) {
    let (store, clock) = plain_store(backend.clone());
    store.put("ns", "gone", json!({}), Some(1.0)).await.unwrap();
    store.put("ns", "kept", json!({}), None).await.unwrap();
    clock.advance(2.0);
    let sweeper = store.start_sweeper(std::time::Duration::from_millis(10)).unwrap();
    let mut purged = false;
    for _ in 0..500 {
        // A fresh store over the same backend at a time before the expiry sees what is
        // physically left.
        let (past, past_clock) = plain_store(backend.clone());
        past_clock.set(T0);
        if past.get("ns", "gone").await.unwrap().is_none() {
            purged = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    sweeper.stop();
    assert!(purged, "the sweeper did not purge within 5 s");
    assert!(store.get("ns", "kept").await.unwrap().is_some());
    assert!(matches!(store.start_sweeper(std::time::Duration::ZERO), Err(StoreError::Config(_))));
}

/// 8 concurrent writers × 300 puts: all 2,400 items present, no errors.
pub async fn concurrent_writers(backend: Arc<dyn StoreBackend>) {
    let (store, _) = plain_store(backend);
    let mut tasks = Vec::new();
    for writer in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..300 {
                let namespace = ["writers".to_owned(), format!("w{writer}")];
                store.put(namespace, format!("k{i}"), json!({"writer": writer, "i": i}), None).await?;
            }
            Ok::<(), StoreError>(())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(store.count("writers").await.unwrap(), 2400);
    for writer in 0..8 {
        let items = store.list(["writers".to_owned(), format!("w{writer}")], Page::all()).await.unwrap();
        assert_eq!(items.len(), 300);
    }
    let item = store.get(["writers", "w7"], "k299").await.unwrap().unwrap();
    assert_eq!(Value::Object(item.value), json!({"writer": 7, "i": 299}));
}

/// 600 pseudo-random operations (fixed seed) checked one by one against a `BTreeMap`
/// model: put (with and without TTL), get, delete, list pages, filtered search, count,
/// namespaces, purge, and the clock moving.
pub async fn model_based_random_operations(backend: Arc<dyn StoreBackend>) {
    use std::collections::{BTreeMap, BTreeSet};

    #[derive(Debug, Clone)]
    struct Model {
        n: i64,
        created: f64,
        updated: f64,
        expires: Option<f64>,
    }
    let (store, clock) = plain_store(backend);
    let namespaces = [ns(&["a"]), ns(&["a", "b"]), ns(&["a", "b", "c"]), ns(&["ab"]), ns(&["b"])];
    let mut model: BTreeMap<(Namespace, String), Model> = BTreeMap::new();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    };
    let live = |m: &Model, now: f64| m.expires.is_none_or(|at| now < at);
    let order = |a: &(&(Namespace, String), &Model), b: &(&(Namespace, String), &Model)| {
        b.1.updated.total_cmp(&a.1.updated).then_with(|| a.0.cmp(b.0))
    };
    for step in 0..600 {
        let now = clock_now(&clock);
        let namespace = namespaces[next(namespaces.len() as u64) as usize].clone();
        let key = format!("k{}", next(6));
        match next(10) {
            0..=2 => {
                let n = next(20) as i64;
                let ttl = (next(3) == 0).then(|| 1.0 + next(4) as f64);
                let item = store.put(&namespace, key.as_str(), json!({ "n": n }), ttl).await.unwrap();
                let address = (namespace.clone(), key.clone());
                let created = match model.get(&address) {
                    Some(old) if live(old, now) => old.created,
                    _ => now,
                };
                model.insert(address, Model { n, created, updated: now, expires: ttl.map(|t| now + t) });
                assert_eq!((item.created_at, item.updated_at), (created, now), "step {step}: put");
            }
            3 => {
                let removed = store.delete(&namespace, key.as_str()).await.unwrap();
                let expected = model.remove(&(namespace.clone(), key.clone())).is_some_and(|m| live(&m, now));
                assert_eq!(removed, expected, "step {step}: delete");
            }
            4 => {
                let got = store.get(&namespace, key.as_str()).await.unwrap();
                let expected = model.get(&(namespace.clone(), key.clone())).filter(|m| live(m, now));
                assert_eq!(got.map(|i| i.value["n"].as_i64().unwrap()), expected.map(|m| m.n), "step {step}: get");
            }
            5 => clock.advance(next(3) as f64 * 0.75),
            6 => {
                let (offset, limit) = (next(3) as usize, 1 + next(4) as usize);
                let listed = store.list(&namespace, Page::new(offset, limit)).await.unwrap();
                let mut expected: Vec<_> =
                    model.iter().filter(|(a, m)| a.0 == namespace && live(m, now)).collect::<Vec<_>>();
                expected.sort_by(order);
                let expected: Vec<&str> = expected.iter().skip(offset).take(limit).map(|(a, _)| a.1.as_str()).collect();
                assert_eq!(keys(&listed), expected, "step {step}: list");
            }
            7 => {
                let threshold = next(20) as i64;
                let prefix = super::NamespacePrefix::from(namespace.truncated(1));
                let hits = store
                    .search(
                        prefix.clone(),
                        SearchQuery::all().filter(filter(json!({"n": {"$gte": threshold}}))).limit(5),
                    )
                    .await
                    .unwrap();
                let mut expected: Vec<_> = model
                    .iter()
                    .filter(|(a, m)| a.0.starts_with(&prefix) && live(m, now) && m.n >= threshold)
                    .collect::<Vec<_>>();
                expected.sort_by(order);
                let expected: Vec<(Namespace, String)> = expected.iter().take(5).map(|(a, _)| (*a).clone()).collect();
                let found: Vec<(Namespace, String)> =
                    hits.iter().map(|h| (h.item.namespace.clone(), h.item.key.clone())).collect();
                assert_eq!(found, expected, "step {step}: search");
            }
            8 => {
                let prefix = super::NamespacePrefix::from(namespace.truncated(1));
                let expected = model.iter().filter(|(a, m)| a.0.starts_with(&prefix) && live(m, now)).count();
                assert_eq!(store.count(prefix).await.unwrap(), expected as u64, "step {step}: count");
                let listed = store.list_namespaces(NamespaceListing::all()).await.unwrap();
                let expected: BTreeSet<Namespace> =
                    model.iter().filter(|(_, m)| live(m, now)).map(|(a, _)| a.0.clone()).collect();
                assert_eq!(listed, expected.into_iter().collect::<Vec<_>>(), "step {step}: namespaces");
            }
            _ => {
                let purged = store.purge_expired().await.unwrap();
                let before = model.len();
                model.retain(|_, m| live(m, now));
                assert_eq!(purged, (before - model.len()) as u64, "step {step}: purge");
            }
        }
    }
}

fn clock_now(clock: &ManualClock) -> f64 {
    use super::Clock;
    clock.now()
}

/// Every live item at `now`, in one page.
async fn export_all(backend: &dyn StoreBackend, now: f64) -> Vec<ExportedItem> {
    let query = ExportQuery { scope: Scope::Prefix(NamespacePrefix::root()), after: None, limit: usize::MAX, now };
    backend.export_items(&query).await.unwrap()
}

/// `export_items` returns every live item with its vector in address order;
/// `restore_items` writes items exactly as given (times, expiry, TTL, text, vector),
/// replacing what is at their address.
pub async fn export_and_restore_round_trip(backend: Arc<dyn StoreBackend>) {
    let (store, clock) = embedded_store(backend.clone());
    store.put(("b", "x"), "k2", json!({"text": "second"}), None).await.unwrap();
    store.put(("a",), "k1", json!({"text": "first", "n": 1.5}), Some(100.0)).await.unwrap();
    store.put(("b",), "gone", json!({"text": "expires"}), Some(10.0)).await.unwrap();
    let plain = MemoryStore::new(backend.clone(), store.options().clone()).without_embedder();
    plain.put(("b", "x"), "k0", json!({"text": "no vector"}), None).await.unwrap();
    clock.advance(20.0);
    store.get_and_refresh(("a",), "k1").await.unwrap().unwrap();

    let now = T0 + 20.0;
    let exported = export_all(backend.as_ref(), now).await;
    let addresses: Vec<(Vec<String>, &str)> =
        exported.iter().map(|e| (e.item.namespace.labels().to_vec(), e.item.key.as_str())).collect();
    let labels = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(addresses, [(labels(&["a"]), "k1"), (labels(&["b", "x"]), "k0"), (labels(&["b", "x"]), "k2")]);
    let first = &exported[0];
    assert_eq!(first.item.value, json!({"text": "first", "n": 1.5}).as_object().unwrap().clone());
    assert_eq!((first.item.created_at, first.item.updated_at), (T0, T0));
    assert_eq!((first.item.expires_at, first.item.ttl_seconds), (Some(T0 + 120.0), Some(100.0)));
    let embedder = HashEmbedder::new(64);
    let expected = crate::embed::Embedder::embed(&embedder, &["text: first\nn: 1.5".to_owned()]).await.unwrap();
    let vector = first.vector.as_ref().expect("embedded");
    assert_eq!((vector.model.as_str(), &vector.vector), (crate::embed::Embedder::model_id(&embedder), &expected[0]));
    assert_eq!(exported[1].vector, None);
    // The indexed text in its canonical form: tokens in byte order, each as often as it occurs.
    let texts: Vec<&str> = exported.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts, ["1 5 first n text", "no text vector", "second text"]);

    // Restore: exact times, replacing an existing address, text indexed, vector searchable.
    let restored_item = Item {
        namespace: ns(&["b", "x"]),
        key: "k2".into(),
        value: json!({"text": "restored"}).as_object().unwrap().clone(),
        created_at: 1.25,
        updated_at: 2.5,
        expires_at: Some(T0 + 1000.0),
        ttl_seconds: Some(7.0),
    };
    let restored_vector = StoredVector { model: vector.model.clone(), vector: vector.vector.clone() };
    let written = backend
        .restore_items(vec![
            RestoredItem {
                item: restored_item.clone(),
                text: "stale".into(),
                vector: None,
                index: ItemIndex::paths(["stale"]),
            },
            RestoredItem {
                item: restored_item.clone(),
                text: "zebra crossing, Zebra \u{130}zmir".into(),
                vector: Some(restored_vector.clone()),
                index: ItemIndex::paths(["text", "meta.title"]),
            },
            RestoredItem {
                item: Item { namespace: ns(&["c"]), key: "old".into(), expires_at: Some(T0), ..restored_item.clone() },
                text: "zebra".into(),
                vector: None,
                index: ItemIndex::Disabled,
            },
        ])
        .await
        .unwrap();
    assert_eq!(written, 3);
    let after = export_all(backend.as_ref(), now).await;
    assert_eq!(after.len(), 3, "the expired restored item is not exported");
    let spec = ItemIndex::paths(["text", "meta.title"]);
    // U+0130 lower-cases to `i` + U+0307, written back as U+0130 (which tokenizes to it).
    let text = "crossing \u{130}zmir zebra zebra".to_owned();
    assert_eq!(
        after[2],
        ExportedItem { item: restored_item.clone(), vector: Some(restored_vector), index: spec, text }
    );
    let scan =
        ScanQuery { scope: Scope::Namespace(ns(&["b", "x"])), filter: Filter::all(), offset: 0, limit: None, now };
    assert_eq!(backend.scan(&scan).await.unwrap().len(), 2);
    let hits = store.search(("b",), SearchQuery::text("zebra").mode(SearchMode::Keyword)).await.unwrap();
    assert_eq!(hit_keys(&hits), ["k2"]);
    assert!(store.search(("b",), SearchQuery::text("stale").mode(SearchMode::Keyword)).await.unwrap().is_empty());
    let query = SearchQuery::text("text: first\nn: 1.5").mode(SearchMode::Semantic);
    let hits = store.search(("b",), query).await.unwrap();
    assert_eq!(hit_keys(&hits)[0], "k2", "the restored vector is searched");
    assert!((hits[0].score.unwrap() - 1.0).abs() < 1e-5);
}

/// `export_items` pages by keyset: from the start or after any address (present or not),
/// in scope, `limit` live items at most, in address order (tuple order: `["a"]` before
/// `["a", "b"]` before `["a!"]`), expired items skipped and never counted in a page.
pub async fn export_pages_by_keyset(backend: Arc<dyn StoreBackend>) {
    let (store, clock) = plain_store(backend.clone());
    let addresses = [
        (vec!["a"], "k1"),
        (vec!["a"], "k2"),
        (vec!["a", "b"], "k0"),
        (vec!["a", "b"], "k9"),
        (vec!["a!"], "k0"),
        (vec!["b"], "dead"),
        (vec!["b"], "k3"),
        (vec!["c", "d", "e"], "k4"),
    ];
    for (labels, key) in addresses.iter().rev() {
        let ttl = (*key == "dead").then_some(5.0);
        store.put(ns(labels), *key, json!({"k": key}), ttl).await.unwrap();
    }
    clock.advance(10.0);
    let now = T0 + 10.0;
    let root = Scope::Prefix(NamespacePrefix::root());
    let address = |e: &ExportedItem| (e.item.namespace.labels().join("/"), e.item.key.clone());
    let live: Vec<(String, String)> = addresses
        .iter()
        .filter(|(_, key)| *key != "dead")
        .map(|(labels, key)| (labels.join("/"), (*key).to_owned()))
        .collect();
    let page = |scope: &Scope, after: Option<(&[&str], &str)>, limit: usize| {
        let query = ExportQuery {
            scope: scope.clone(),
            after: after.map(|(labels, key)| ItemKey { namespace: ns(labels), key: key.to_owned() }),
            limit,
            now,
        };
        let backend = backend.clone();
        async move { backend.export_items(&query).await.unwrap().iter().map(address).collect::<Vec<_>>() }
    };
    assert_eq!(page(&root, None, 100).await, live);
    for limit in 1..=live.len() {
        let mut paged: Vec<(String, String)> = Vec::new();
        for _ in 0..=live.len() {
            let after = paged.last().map(|(labels, key)| (labels.split('/').collect::<Vec<_>>(), key.clone()));
            let next = page(&root, after.as_ref().map(|(labels, key)| (labels.as_slice(), key.as_str())), limit).await;
            assert!(next.len() <= limit, "limit {limit}");
            let last = next.len() < limit;
            paged.extend(next);
            if last {
                break;
            }
        }
        assert_eq!(paged, live, "pages of {limit}");
    }
    // After an address that is not stored: from the next one.
    assert_eq!(page(&root, Some((&["a", "b"], "k5")), 2).await, live[3..5]);
    assert_eq!(page(&root, Some((&["b"], "dead")), 100).await, live[5..], "the expired item is skipped");
    assert_eq!(page(&root, Some((&["c", "d", "e"], "k4")), 100).await, vec![]);
    // In a scope: its items only, whether `after` is before, inside or beyond it.
    let a = Scope::Prefix(NamespacePrefix::new(["a"]).unwrap());
    assert_eq!(page(&a, None, 100).await, live[..4]);
    assert_eq!(page(&a, Some((&["a"], "k1")), 2).await, live[1..3]);
    assert_eq!(page(&a, Some((&["0"], "z")), 1).await, live[..1]);
    assert_eq!(page(&a, Some((&["a!"], "k0")), 100).await, vec![]);
    let exact = Scope::Namespace(ns(&["a", "b"]));
    assert_eq!(page(&exact, None, 100).await, live[2..4]);
    assert_eq!(page(&exact, Some((&["a"], "k2")), 1).await, live[2..3]);
    assert_eq!(page(&exact, Some((&["a", "b"], "k0")), 5).await, live[3..4]);
    assert_eq!(page(&exact, Some((&["a!"], "k0")), 5).await, vec![]);

    // Writes between pages: what existed throughout comes once (as its page read it), a
    // write behind the cursor is not seen, one ahead of it is, a deletion ahead removes.
    let first = page(&root, None, 3).await;
    assert_eq!(first, live[..3]);
    store.put(ns(&["0"]), "behind", json!({"k": "behind"}), None).await.unwrap();
    store.put(ns(&["z"]), "ahead", json!({"k": "ahead"}), None).await.unwrap();
    store.delete(ns(&["b"]), "k3").await.unwrap();
    store.put(ns(&["a!"]), "k0", json!({"k": "changed"}), None).await.unwrap();
    let next = ExportQuery {
        scope: root.clone(),
        after: Some(ItemKey { namespace: ns(&["a", "b"]), key: "k0".into() }),
        limit: 100,
        now,
    };
    let rest = backend.export_items(&next).await.unwrap();
    let rest_addresses: Vec<(String, String)> = rest.iter().map(address).collect();
    let expected = [&live[3..5], &live[6..], &[("z".to_owned(), "ahead".to_owned())]].concat();
    assert_eq!(rest_addresses, expected);
    assert_eq!(rest[1].item.value, json!({"k": "changed"}).as_object().unwrap().clone());
}
