//! The vector index settings reach the backend that `serve` (and the `--db` commands) open.

use agent_memory::store::{GraphPrecision, KeywordStatistics, VectorIndexOptions};
use serde_json::json;

use crate::serve::config::{DatabaseUrl, PostgresIndexSettings, VectorIndexSettings};
use crate::serve::{open_database, open_store_url};

fn tuned() -> VectorIndexSettings {
    let options = VectorIndexOptions {
        ann_min_vectors: 1,
        exact_scope_max: 0,
        connectivity: 8,
        expansion_add: 40,
        expansion_search: 16,
        graph_precision: GraphPrecision::F16,
        leading_half_graph: false,
        partition_by_first_label: false,
    };
    VectorIndexSettings { options, explicit: vec!["ann_min_vectors", "ef_search"] }
}

#[tokio::test]
async fn in_process_backends_run_with_the_configured_options() {
    let dir = tempfile::tempdir().expect("temp dir");
    for database in [DatabaseUrl::Memory, DatabaseUrl::Sqlite(dir.path().join("tuned.db"))] {
        let opened = open_database(&database, &tuned(), &PostgresIndexSettings::defaults(), KeywordStatistics::Store)
            .await
            .expect("opens");
        assert_eq!(opened.vector_index, Some(tuned().options), "{database}");
    }
    let opened = open_database(
        &DatabaseUrl::Memory,
        &VectorIndexSettings::defaults(),
        &PostgresIndexSettings::defaults(),
        KeywordStatistics::Store,
    )
    .await
    .expect("opens");
    assert_eq!(opened.vector_index, Some(VectorIndexOptions::default()));
}

#[tokio::test]
async fn store_urls_open_in_process_backends_with_the_options_and_the_built_in_embedder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bare = dir.path().join("bare.db");
    let urls = [
        "memory:".to_owned(),
        format!("sqlite:{}", dir.path().join("prefixed.db").display()),
        bare.display().to_string(),
    ];
    for url in urls {
        let store = open_store_url(&url, &tuned(), KeywordStatistics::Store).await.expect("opens");
        assert_eq!(store.embedder().map(|e| e.model_id()), Some("builtin/minilm-static-256-v1"), "{url}");
        // A graph from the first vector, searched with ef 16 in every scope: still the
        // nearest item first on a store this small.
        store.put("notes", "tea", json!({"text": "green tea at five"}), None).await.expect("put");
        store.put("notes", "bike", json!({"text": "the bicycle needs new brakes"}), None).await.expect("put");
        let hits =
            store.search("notes", agent_memory::store::SearchQuery::text("tea time").limit(1)).await.expect("search");
        assert_eq!(hits.iter().map(|hit| hit.item.key.as_str()).collect::<Vec<_>>(), ["tea"], "{url}");
    }
    assert!(bare.exists(), "a bare path is a SQLite file");
    let error = open_store_url("mysql://h/db", &tuned(), KeywordStatistics::Store).await.expect_err("unsupported");
    assert!(error.to_string().contains("unsupported store url \"mysql://h/db\""), "{error}");
}

#[test]
fn the_served_store_keeps_each_tenant_apart_in_the_vector_index() {
    let config = crate::serve::config::ServeConfig::resolve(Default::default()).expect("the defaults are valid");
    assert!(!config.vector_index.options.partition_by_first_label, "the other commands keep one set");
    let served = crate::serve::served_vector_index(&config);
    assert!(served.options.partition_by_first_label, "one set per tenant label");
    assert_eq!(
        VectorIndexOptions { partition_by_first_label: false, ..served.options },
        config.vector_index.options,
        "every other setting as configured"
    );
}

#[tokio::test]
async fn the_served_store_fuses_the_configured_number_of_candidates() {
    let args = crate::serve::config::ServeArgs {
        database_url: Some("memory".into()),
        hybrid_candidates: Some(7),
        ..Default::default()
    };
    let config = crate::serve::config::ServeConfig::resolve(args).expect("valid");
    let metrics = std::sync::Arc::new(crate::serve::metrics::Metrics::new());
    let store = crate::serve::open_store(&config, &metrics).await.expect("opens");
    assert_eq!(store.options().hybrid_candidates, 7);
    assert!(store.embedder().is_some(), "the embedder is set after the options");
}
