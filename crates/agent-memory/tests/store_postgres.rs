//! The conformance suite and PostgreSQL-specific checks on the PostgreSQL + pgvector
//! backend. Each backend gets its own schema, so the tests run in parallel. See
//! `store_postgres_support` for where the server comes from (never a silent skip).

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)]

mod store_postgres_support;

use std::sync::Arc;

use agent_memory::embed::HashEmbedder;
use agent_memory::store::{
    ExportQuery, Filter, ManualClock, MemoryBackend, MemoryStore, NamespacePrefix, PostgresBackend, PostgresConfig,
    PutRequest, RestoredItem, Scope, SearchMode, SearchQuery, StoreBackend, StoreError, StoreOptions, VectorQuery,
};
use serde_json::json;
use store_postgres_support as support;

async fn make_backend() -> Arc<dyn StoreBackend> {
    Arc::new(support::backend().await)
}

agent_memory::store_conformance!(make_backend());

mod tenant_statistics {
    use std::sync::Arc;

    use agent_memory::store::{KeywordStatistics, StoreBackend};

    use super::support;

    async fn make_backend() -> Arc<dyn StoreBackend> {
        Arc::new(support::backend_with(|config| config.keyword_statistics(KeywordStatistics::Tenant)).await)
    }

    agent_memory::tenant_statistics_conformance!(make_backend());
}

const T0: f64 = 1_700_000_000.0;

fn store_over(backend: Arc<dyn StoreBackend>, dimensions: usize) -> MemoryStore {
    let options = StoreOptions { clock: Arc::new(ManualClock::new(T0)), ..StoreOptions::default() };
    MemoryStore::new(backend, options).with_embedder(Arc::new(HashEmbedder::new(dimensions)))
}

/// `count` documents about numbered topics in `namespace`, with a numeric field `n`.
fn documents(namespace: &[&str], count: usize) -> Vec<PutRequest> {
    (0..count)
        .map(|i| {
            let value = json!({"text": format!("note {i} about topic {} and colour {}", i % 37, i % 11), "n": i});
            PutRequest::new(namespace.to_vec(), format!("k{i:05}"), value).unwrap()
        })
        .collect()
}

async fn analyze(backend: &PostgresBackend) {
    let client = support::connect(&support::database_url()).await;
    client.batch_execute(&format!("ANALYZE \"{}\".items", backend.schema_name())).await.unwrap();
}

/// Semantic search goes through the model's HNSW index, unfiltered and filtered by
/// namespace and value, and finds an item by its own text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semantic_search_uses_the_hnsw_index() {
    let backend = Arc::new(support::backend().await);
    let store = store_over(backend.clone(), 64);
    store.put_many(documents(&["docs", "a"], 1500)).await.unwrap();
    store.put_many(documents(&["docs", "b"], 500)).await.unwrap();
    analyze(&backend).await;

    let embedder = HashEmbedder::new(64);
    for (scope, filter) in [
        (Scope::Prefix(NamespacePrefix::root()), Filter::all()),
        (Scope::Prefix(NamespacePrefix::new(["docs"]).unwrap()), Filter::from_json(&json!({"n": {"$gt": 9}})).unwrap()),
    ] {
        let query = VectorQuery {
            scope,
            filter,
            vector: embedder.embed_text("topic 5 and colour 3"),
            model: "hash-v1/64".into(),
            limit: 10,
            now: T0,
        };
        let plan = backend.explain_vector_search(&query).await.unwrap().expect("the model is registered");
        assert!(plan.contains("Index Scan using items_hnsw_"), "{plan}");
    }

    let text = "note 777 about topic 0 and colour 7";
    let hits = store.search(["docs"], SearchQuery::text(text).mode(SearchMode::Semantic).limit(3)).await.unwrap();
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0].item.key, "k00777");
    assert!(hits[0].score.unwrap() > hits[1].score.unwrap());
}

/// A bulk load refreshes the planner's statistics by itself (a background `ANALYZE`), so
/// semantic search uses the HNSW index without waiting for autovacuum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_load_analyzes_the_items_table() {
    let backend = Arc::new(support::backend().await);
    let store = store_over(backend.clone(), 64);
    store.put_many(documents(&["bulk"], 1200)).await.unwrap();

    let client = support::connect(&support::database_url()).await;
    let sql = format!(
        "SELECT analyze_count FROM pg_stat_user_tables WHERE schemaname = '{}' AND relname = 'items'",
        backend.schema_name()
    );
    let mut analyzed = 0;
    for _ in 0..100 {
        // The statistics collector reports with a delay of its own: poll for up to 10 s.
        client.batch_execute("SELECT pg_stat_clear_snapshot()").await.unwrap();
        analyzed = client.query_one(&sql, &[]).await.unwrap().get::<_, i64>(0);
        if analyzed > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(analyzed, 1, "no ANALYZE ran after 1,200 rows");
    let reltuples: f32 = client
        .query_one(
            &format!("SELECT reltuples FROM pg_class WHERE oid = '\"{}\".items'::regclass", backend.schema_name()),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(reltuples, 1200.0);
}

/// A filtered search returns `limit` results whenever that many items match, even when
/// the matches are a small minority that an index scan alone would miss, and then it
/// returns exactly what exact search (the in-memory backend) returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_semantic_search_returns_limit_results() {
    let backend = Arc::new(support::backend().await);
    let postgres = store_over(backend.clone(), 64);
    let memory = store_over(Arc::new(MemoryBackend::new()), 64);
    for store in [&postgres, &memory] {
        store.put_many(documents(&["big"], 3000)).await.unwrap();
        store.put_many(documents(&["small", "x"], 12)).await.unwrap();
    }
    analyze(&backend).await;

    let semantic = SearchQuery::text("topic 3 and colour 1").mode(SearchMode::Semantic);
    let small = postgres.search(["small"], semantic.clone().limit(10)).await.unwrap();
    assert_eq!(small.len(), 10);
    assert!(small.iter().all(|h| h.item.namespace.labels()[0] == "small"));

    // A value filter that 4 of the 3,012 items pass.
    let rare = Filter::from_json(&json!({"n": {"$gte": 2996}})).unwrap();
    let query = semantic.clone().filter(rare).limit(10);
    let found = postgres.search(NamespacePrefix::root(), query.clone()).await.unwrap();
    let exact = memory.search(NamespacePrefix::root(), query).await.unwrap();
    let keys = |hits: &[agent_memory::store::SearchHit]| hits.iter().map(|h| h.item.key.clone()).collect::<Vec<_>>();
    let mut sorted = keys(&found);
    sorted.sort();
    assert_eq!(sorted, ["k02996", "k02997", "k02998", "k02999"]);
    assert_eq!(keys(&found), keys(&exact));
    for (a, b) in found.iter().zip(&exact) {
        assert!((a.score.unwrap() - b.score.unwrap()).abs() < 1e-6);
    }
}

/// A statement that fails (here: a lock timeout, inside and outside a transaction) does not
/// poison the pooled connection: the next calls on the same single connection succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_statement_does_not_poison_the_pool() {
    let url = support::database_url();
    let separator = if url.contains('?') { '&' } else { '?' };
    let url_with_timeout = format!("{url}{separator}options=-c%20lock_timeout%3D200");
    let schema = support::fresh_schema();
    let backend =
        PostgresBackend::connect(PostgresConfig::new(url_with_timeout).schema(schema.clone()).max_connections(1))
            .await
            .unwrap();
    let store = store_over(Arc::new(backend), 16);
    store.put("ns", "before", json!({"text": "kept"}), None).await.unwrap();

    let mut locker = support::connect(&url).await;
    let tx = locker.transaction().await.unwrap();
    tx.batch_execute(&format!("LOCK TABLE \"{schema}\".items IN ACCESS EXCLUSIVE MODE")).await.unwrap();
    let error = store.put("ns", "blocked", json!({"text": "x"}), None).await.unwrap_err();
    assert!(
        matches!(&error, StoreError::Backend { backend: "postgres", message } if message.contains("55P03")),
        "{error}"
    );
    tx.rollback().await.unwrap();

    // The model registry is written in a transaction: make that transaction fail too.
    let other_model = store.clone().with_embedder(Arc::new(HashEmbedder::new(8)));
    let tx = locker.transaction().await.unwrap();
    tx.batch_execute(&format!("LOCK TABLE \"{schema}\".models IN ACCESS EXCLUSIVE MODE")).await.unwrap();
    assert!(other_model.put("ns", "new-model", json!({"text": "y"}), None).await.is_err());
    tx.rollback().await.unwrap();

    store.put("ns", "after", json!({"text": "z"}), None).await.unwrap();
    other_model.put("ns", "new-model", json!({"text": "y"}), None).await.unwrap();
    assert_eq!(store.get("ns", "before").await.unwrap().unwrap().value["text"], "kept");
    assert_eq!(store.count("ns").await.unwrap(), 3);
    assert!(store.get("ns", "blocked").await.unwrap().is_none());
}

/// Two stores with their own pools on one database (as two processes would be) see each
/// other's writes, also while writing concurrently.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_share_one_database() {
    let schema = support::fresh_schema();
    let open = || async {
        let config = PostgresConfig::new(support::database_url()).schema(schema.clone()).max_connections(4);
        store_over(Arc::new(PostgresBackend::connect(config).await.unwrap()), 32)
    };
    let (first, second) = (open().await, open().await);
    first.put(("shared", "a"), "k", json!({"by": "first"}), None).await.unwrap();
    assert_eq!(second.get(("shared", "a"), "k").await.unwrap().unwrap().value["by"], "first");
    second.put(("shared", "a"), "k", json!({"by": "second"}), None).await.unwrap();
    assert_eq!(first.get(("shared", "a"), "k").await.unwrap().unwrap().value["by"], "second");

    let mut tasks = Vec::new();
    for (s, store) in [first.clone(), second.clone()].into_iter().enumerate() {
        for w in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..50 {
                    store.put(("shared", "w"), format!("{s}-{w}-{i}"), json!({"i": i}), None).await.unwrap();
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(first.count(("shared", "w")).await.unwrap(), 400);
    assert_eq!(second.count(("shared", "w")).await.unwrap(), 400);
    let hits = second.search(["shared"], SearchQuery::text("i").mode(SearchMode::Keyword).limit(5)).await.unwrap();
    assert_eq!(hits.len(), 5);
}

/// Backends opening a new schema at the same moment migrate it exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_opens_migrate_once() {
    let schema = support::fresh_schema();
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let config = PostgresConfig::new(support::database_url()).schema(schema.clone()).max_connections(1);
            tokio::spawn(PostgresBackend::connect(config))
        })
        .collect();
    for open in opens {
        open.await.unwrap().unwrap();
    }
    let client = support::connect(&support::database_url()).await;
    let rows = client.query(&format!("SELECT version FROM \"{schema}\".schema_migrations"), &[]).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
}

/// Each embedding model gets its own HNSW index over `vector(N)` with its dimension; a
/// model id that comes back with another dimension is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_model_gets_its_own_index() {
    let backend = Arc::new(support::backend().await);
    store_over(backend.clone(), 64).put("ns", "a", json!({"t": "x"}), None).await.unwrap();
    store_over(backend.clone(), 32).put("ns", "b", json!({"t": "y"}), None).await.unwrap();
    let client = support::connect(&support::database_url()).await;
    let rows = client
        .query(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname LIKE 'items_hnsw_%' ORDER BY indexname",
            &[&backend.schema_name()],
        )
        .await
        .unwrap();
    let definitions: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(definitions.len(), 2, "{definitions:?}");
    assert!(definitions[0].contains("vector(64)") && definitions[0].contains("hnsw"), "{definitions:?}");
    assert!(definitions[1].contains("vector(32)") && definitions[1].contains("hnsw"), "{definitions:?}");

    #[derive(Debug)]
    struct Impostor;
    #[async_trait::async_trait]
    impl agent_memory::embed::Embedder for Impostor {
        fn model_id(&self) -> &str {
            "hash-v1/64"
        }
        fn dimensions(&self) -> usize {
            3
        }
        async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, agent_memory::embed::EmbedError> {
            Ok(texts.iter().map(|_| vec![1.0, 0.0, 0.0]).collect())
        }
    }
    let impostor = store_over(backend, 64).with_embedder(Arc::new(Impostor));
    let error = impostor.put("ns", "c", json!({"t": "z"}), None).await.unwrap_err();
    assert!(matches!(&error, StoreError::Config(m) if m.contains("64 dimensions")), "{error}");
}

/// Bad configuration is a clear error before anything is sent.
#[tokio::test]
async fn bad_configuration_is_rejected() {
    let bad_schema = PostgresBackend::connect(PostgresConfig::new("postgres://u@127.0.0.1/db").schema("Robert'); --"));
    assert!(matches!(bad_schema.await, Err(StoreError::Config(m)) if m.contains("invalid schema name")));
    let bad_url = PostgresBackend::connect(PostgresConfig::new("postgres://u@127.0.0.1:notaport/db"));
    assert!(matches!(bad_url.await, Err(StoreError::Config(m)) if m.contains("invalid postgres url")));
}

/// The keyword statistics the triggers keep (document count, token count, per-term document
/// frequency) equal a recount over `items` after inserts, updates (same and changed text),
/// deletes, a namespace delete and a purge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyword_statistics_follow_every_write() {
    let backend = Arc::new(support::backend().await);
    let clock = ManualClock::new(T0);
    let options = StoreOptions { clock: Arc::new(clock.clone()), ..StoreOptions::default() };
    let store = MemoryStore::new(backend.clone(), options);
    store.put_many(documents(&["docs", "a"], 300)).await.unwrap();
    store.put_many(documents(&["docs", "b"], 200)).await.unwrap();
    store.put(("docs", "a"), "k00001", json!({"text": "entirely new words here"}), None).await.unwrap();
    store
        .put(("docs", "a"), "k00002", json!({"text": "note 2 about topic 2 and colour 2", "n": 2}), None)
        .await
        .unwrap();
    store.put(("docs", "c"), "short", json!({"text": "brief"}), Some(60.0)).await.unwrap();
    store.delete(("docs", "a"), "k00003").await.unwrap();
    store.delete_namespace(("docs", "b")).await.unwrap();
    clock.advance(120.0);
    assert_eq!(store.purge_expired().await.unwrap(), 1);

    let client = support::connect(&support::database_url()).await;
    let s = backend.schema_name();
    let totals = client.query_one(&format!("SELECT docs, tokens FROM \"{s}\".keyword_totals"), &[]).await.unwrap();
    let recount = client
        .query_one(&format!("SELECT count(*), coalesce(sum(doc_len), 0)::bigint FROM \"{s}\".items"), &[])
        .await
        .unwrap();
    assert_eq!((totals.get::<_, i64>(0), totals.get::<_, i64>(1)), (recount.get(0), recount.get(1)));
    assert_eq!(totals.get::<_, i64>(0), 299);
    let differing: i64 = client
        .query_one(
            &format!(
                "SELECT count(*) FROM (
                     SELECT term, docs FROM \"{s}\".keyword_terms WHERE docs <> 0
                     EXCEPT
                     SELECT t, count(*) FROM \"{s}\".items, unnest(terms) AS t GROUP BY t
                 ) AS stale"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let missing: i64 = client
        .query_one(
            &format!(
                "SELECT count(*) FROM (
                     SELECT t, count(*) FROM \"{s}\".items, unnest(terms) AS t GROUP BY t
                     EXCEPT
                     SELECT term, docs FROM \"{s}\".keyword_terms
                 ) AS missing"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!((differing, missing), (0, 0));
}

/// Rows of `keyword_postings` that a recount from `items` does not have, and the other way
/// round: `(0, 0)` when the triggers kept the postings exact.
async fn postings_differences(client: &tokio_postgres::Client, schema: &str) -> (i64, i64) {
    let recount = format!(
        "SELECT t.term, i.ns, i.key, t.tf, i.doc_len FROM \"{schema}\".items AS i, unnest(i.terms, i.tfs) AS t(term, tf)"
    );
    let kept = format!("SELECT term, ns, key, tf, doc_len FROM \"{schema}\".keyword_postings");
    let mut counts = [0i64; 2];
    for (i, (a, b)) in [(&kept, &recount), (&recount, &kept)].into_iter().enumerate() {
        let sql = format!("SELECT count(*) FROM ({a} EXCEPT ALL {b}) AS d");
        counts[i] = client.query_one(&sql, &[]).await.unwrap().get(0);
    }
    (counts[0], counts[1])
}

/// The postings the triggers keep equal a recount over `items` after inserts, updates (same
/// and changed text), TTL refreshes, deletes, a namespace delete, a purge and a restore,
/// with several stores (processes) writing to the schema at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keyword_postings_follow_every_write() {
    let first = Arc::new(support::backend().await);
    let schema = first.schema_name().to_owned();
    let clock = ManualClock::new(T0);
    let options = StoreOptions { clock: Arc::new(clock.clone()), ..StoreOptions::default() };
    let mut writers = Vec::new();
    for w in 0..4usize {
        let config = PostgresConfig::new(support::database_url()).schema(schema.clone()).max_connections(2);
        let backend: Arc<dyn StoreBackend> = Arc::new(PostgresBackend::connect(config).await.unwrap());
        let store = MemoryStore::new(backend, options.clone());
        writers.push(tokio::spawn(async move {
            for round in 0..10usize {
                let texts = (0..20).map(|i| {
                    let value = json!({"text": format!("writer {w} round {round} item {} words {}", i % 7, i % 3)});
                    PutRequest::new(vec!["docs", "shared"], format!("k{i:02}"), value).unwrap()
                });
                store.put_many(texts.collect()).await.unwrap();
                store.delete(("docs", "shared"), format!("k{:02}", round % 20)).await.unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let store = MemoryStore::new(first.clone(), options);
    store.put_many(documents(&["docs", "a"], 50)).await.unwrap();
    store.put(("docs", "a"), "k00001", json!({"text": "entirely new words here"}), None).await.unwrap();
    store
        .put(("docs", "a"), "k00002", json!({"text": "note 2 about topic 2 and colour 2", "n": 2}), None)
        .await
        .unwrap();
    store.put(("docs", "ttl"), "t", json!({"text": "refreshed on read"}), Some(60.0)).await.unwrap();
    clock.advance(30.0);
    assert!(store.get(("docs", "ttl"), "t").await.unwrap().is_some());
    store.put(("docs", "gone"), "g", json!({"text": "short lived"}), Some(10.0)).await.unwrap();
    store.delete_namespace(("docs", "shared")).await.unwrap();
    clock.advance(20.0);
    assert_eq!(store.purge_expired().await.unwrap(), 1);
    let everything =
        ExportQuery { scope: Scope::Prefix(NamespacePrefix::root()), after: None, limit: usize::MAX, now: T0 + 50.0 };
    let dump = first.export_items(&everything).await.unwrap();
    store.delete_namespace(("docs", "a")).await.unwrap();
    let restored = dump
        .into_iter()
        .map(|exported| {
            let text = exported.item.value["text"].as_str().unwrap_or_default().to_owned();
            RestoredItem { item: exported.item, text, vector: exported.vector, index: exported.index }
        })
        .collect();
    first.restore_items(restored).await.unwrap();

    let client = support::connect(&support::database_url()).await;
    assert_eq!(postings_differences(&client, &schema).await, (0, 0));
    // Left: the 50 items of "docs/a" (restored) and the refreshed "docs/ttl" one.
    let items: i64 = client.query_one(&format!("SELECT count(*) FROM \"{schema}\".items"), &[]).await.unwrap().get(0);
    assert_eq!(items, 51);
}

/// A schema left at version 2 by an older build (GIN-indexed terms, no postings), with
/// items in it, is upgraded when a store opens it: the postings are backfilled, keyword
/// search ranks and scores exactly as the in-memory backend over the same items, and
/// writes after the upgrade keep the postings exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_2_schema_is_upgraded_with_its_postings() {
    use agent_memory::store::{ItemWrite, KeywordQuery, Namespace};

    let url = support::database_url();
    let schema = support::fresh_schema();
    PostgresBackend::create_schema_at_version(&url, &schema, 2).await.unwrap();
    let client = support::connect(&url).await;
    let memory = MemoryBackend::new();
    let insert = format!(
        "INSERT INTO \"{schema}\".items (ns, key, value, created_at, updated_at, doc_len, terms, tfs)
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7)"
    );
    for i in 0..300usize {
        let namespace = Namespace::new(["docs", if i % 3 == 0 { "b" } else { "a" }]).unwrap();
        let text = format!("note {i} about topic {} and colour {} topic", i % 37, i % 11);
        let value = json!({"text": text.clone()});
        // The row as the version-2 build wrote it.
        let (terms, tfs, length) = support::postings_columns(&text);
        let key = format!("k{i:03}");
        let at = T0 + i as f64;
        client.execute(&insert, &[&namespace.encoded(), &key, &value, &at, &length, &terms, &tfs]).await.unwrap();
        let write = ItemWrite {
            namespace,
            key,
            value: value.as_object().unwrap().clone(),
            ttl_seconds: None,
            text,
            vector: None,
            index: Default::default(),
        };
        memory.put_many(vec![write], at).await.unwrap();
    }
    let version_2 = client
        .query_one(
            &format!("SELECT count(*) FROM pg_indexes WHERE schemaname = '{schema}' AND indexname = 'items_terms'"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(version_2.get::<_, i64>(0), 1, "the version 2 schema has the GIN index");

    let backend = PostgresBackend::connect(PostgresConfig::new(url.clone()).schema(schema.clone())).await.unwrap();
    let versions = client.query(&format!("SELECT version FROM \"{schema}\".schema_migrations ORDER BY 1"), &[]).await;
    assert_eq!(versions.unwrap().iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
    assert_eq!(postings_differences(&client, &schema).await, (0, 0));
    // Migration 6 counted every tenant's items and tokens.
    let tenant_totals_off = client
        .query_one(
            &format!(
                "SELECT count(*) FROM (
                     (SELECT tenant, docs, tokens FROM \"{schema}\".keyword_tenant_totals
                      EXCEPT SELECT \"{schema}\".item_tenant(ns), count(*), sum(doc_len) FROM \"{schema}\".items GROUP BY 1)
                     UNION ALL
                     (SELECT \"{schema}\".item_tenant(ns), count(*), sum(doc_len) FROM \"{schema}\".items GROUP BY 1
                      EXCEPT SELECT tenant, docs, tokens FROM \"{schema}\".keyword_tenant_totals)) AS d"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(tenant_totals_off.get::<_, i64>(0), 0);
    let compare = async |terms: &[&str], scope: Scope, limit: usize| {
        let query = KeywordQuery {
            scope,
            filter: Filter::all(),
            terms: terms.iter().map(|t| (*t).to_owned()).collect(),
            limit,
            now: T0 + 1000.0,
        };
        let expected = memory.keyword_search(&query).await.unwrap();
        let found = backend.keyword_search(&query).await.unwrap();
        let keys =
            |hits: &[agent_memory::store::ScoredItem]| hits.iter().map(|h| h.item.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&found), keys(&expected), "{terms:?}");
        for (found, expected) in found.iter().zip(&expected) {
            assert!((found.score - expected.score).abs() < 1e-12, "{terms:?}: {} vs {}", found.score, expected.score);
        }
        found.len()
    };
    let root = Scope::Prefix(NamespacePrefix::root());
    assert_eq!(compare(&["topic", "5"], root.clone(), 10).await, 10);
    assert_eq!(
        compare(&["colour", "3", "note"], Scope::Namespace(Namespace::new(["docs", "b"]).unwrap()), 15).await,
        15
    );
    assert_eq!(compare(&["about"], root.clone(), 7).await, 7);
    assert_eq!(compare(&["nothing"], root, 10).await, 0);

    let store = MemoryStore::new(Arc::new(backend), StoreOptions::default());
    store.put(("docs", "a"), "k001", json!({"text": "rewritten after the upgrade"}), None).await.unwrap();
    store.delete(("docs", "a"), "k002").await.unwrap();
    assert_eq!(postings_differences(&client, &schema).await, (0, 0));
}

/// A schema left at version 4 by a build before per-item index specs, with items in it, is
/// upgraded when a store opens it: `index_spec` is added (NULL: the store's fields), the
/// items stay readable and searchable, and a spec put afterwards is stored and exported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_4_schema_gains_index_specs_and_keeps_its_items() {
    use agent_memory::store::ItemIndex;

    let url = support::database_url();
    let schema = support::fresh_schema();
    PostgresBackend::create_schema_at_version(&url, &schema, 4).await.unwrap();
    let client = support::connect(&url).await;
    let insert = format!(
        "INSERT INTO \"{schema}\".items (ns, key, value, created_at, updated_at, doc_len, terms, tfs)
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7)"
    );
    for (key, text) in [("a", "alpine lake"), ("b", "city walk")] {
        let (terms, tfs, length) = support::postings_columns(&format!("text: {text}"));
        let value = json!({ "text": text });
        client.execute(&insert, &[&"docs", &key, &value, &T0, &length, &terms, &tfs]).await.unwrap();
    }
    let column = format!(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = '{schema}' AND column_name = 'index_spec'"
    );
    assert_eq!(client.query_one(&column, &[]).await.unwrap().get::<_, i64>(0), 0);

    let backend = Arc::new(PostgresBackend::connect(PostgresConfig::new(url).schema(schema.clone())).await.unwrap());
    assert_eq!(client.query_one(&column, &[]).await.unwrap().get::<_, i64>(0), 1);
    let store = MemoryStore::new(
        backend.clone(),
        StoreOptions { clock: Arc::new(ManualClock::new(T0)), ..StoreOptions::default() },
    );
    let a = store.get("docs", "a").await.unwrap().unwrap();
    assert_eq!((a.value["text"].as_str(), a.created_at), (Some("alpine lake"), T0));
    let keyword = |text: &'static str| SearchQuery::text(text).mode(SearchMode::Keyword);
    let keys = |hits: Vec<agent_memory::store::SearchHit>| hits.into_iter().map(|h| h.item.key).collect::<Vec<_>>();
    assert_eq!(keys(store.search("docs", keyword("alpine")).await.unwrap()), ["a"]);
    let hidden = PutRequest::new("docs", "c", json!({"text": "alpine hut"})).unwrap().index(ItemIndex::Disabled);
    store.put_with(hidden).await.unwrap();
    assert_eq!(keys(store.search("docs", keyword("alpine")).await.unwrap()), ["a"]);
    let everything = ExportQuery { scope: Scope::Prefix(NamespacePrefix::root()), after: None, limit: 10, now: T0 };
    let specs: Vec<(String, ItemIndex)> =
        backend.export_items(&everything).await.unwrap().into_iter().map(|e| (e.item.key, e.index)).collect();
    let expected = [("a", ItemIndex::StoreDefault), ("b", ItemIndex::StoreDefault), ("c", ItemIndex::Disabled)];
    assert_eq!(specs, expected.map(|(key, index)| (key.to_owned(), index)));
    let stored: Option<String> = client
        .query_one(&format!("SELECT index_spec FROM \"{schema}\".items WHERE key = 'c'"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored.as_deref(), Some("false"));
}

/// Keyword search reads the query terms' postings through the postings index, scoped by
/// its namespace range, and reads items by primary key (never a scan of either table).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyword_search_reads_postings_from_the_index() {
    use agent_memory::store::KeywordQuery;
    let backend = Arc::new(support::backend().await);
    let store = MemoryStore::new(backend.clone(), StoreOptions::default());
    store.put_many(documents(&["docs", "a"], 1500)).await.unwrap();
    store.put_many(documents(&["docs", "b"], 500)).await.unwrap();
    analyze(&backend).await;
    let client = support::connect(&support::database_url()).await;
    client.batch_execute(&format!("VACUUM ANALYZE \"{}\".keyword_postings", backend.schema_name())).await.unwrap();
    let query = KeywordQuery {
        scope: Scope::Prefix(NamespacePrefix::new(["docs", "b"]).unwrap()),
        filter: Filter::from_json(&json!({"n": {"$gt": 9}})).unwrap(),
        terms: vec!["topic".into(), "5".into()],
        limit: 10,
        now: T0,
    };
    let plan = backend.explain_keyword_search(&query).await.unwrap();
    assert!(plan.contains("keyword_postings_pkey") && !plan.contains("Seq Scan on keyword_postings"), "{plan}");
    assert!(plan.contains("Index Scan using items_pkey") && !plan.contains("Seq Scan on items"), "{plan}");
    let hits = backend.keyword_search(&query).await.unwrap();
    assert_eq!(hits.len(), 10);
    assert!(hits.iter().all(|h| h.item.namespace.labels() == ["docs", "b"] && h.item.value["n"].as_u64().unwrap() > 9));
}

/// Creates `schema` on the test server with a backend, writes one item, and closes it.
async fn create_schema_with_a_backend(schema: &str) {
    let backend =
        PostgresBackend::connect(PostgresConfig::new(support::database_url()).schema(schema.to_owned())).await.unwrap();
    let store = MemoryStore::new(Arc::new(backend), StoreOptions::default());
    store.put("ns", "k", json!({"text": "kept until the guard goes"}), None).await.unwrap();
}

/// Whether the test server lists `schema`, asked from a runtime of its own.
fn schema_exists_now(schema: &str) -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async { support::schema_exists(&support::connect(&support::database_url()).await, schema).await })
}

#[tokio::test]
async fn a_dropped_schema_guard_drops_its_schema() {
    let url = support::database_url();
    let guard = support::SchemaGuard::new(&url);
    let schema = guard.name().to_owned();
    assert!(schema.starts_with("amtest_"), "{schema}");
    create_schema_with_a_backend(&schema).await;
    let client = support::connect(&url).await;
    assert!(support::schema_exists(&client, &schema).await);

    drop(guard); // inside this test's runtime: the drop runs on a thread of its own
    assert!(!support::schema_exists(&client, &schema).await, "{schema} is still there");
}

#[test]
fn a_test_that_panics_still_drops_its_schema() {
    let created = std::sync::Mutex::new(String::new());
    let outcome = std::panic::catch_unwind(|| {
        let guard = support::SchemaGuard::new(&support::database_url());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(create_schema_with_a_backend(guard.name()));
        *created.lock().unwrap() = guard.name().to_owned();
        assert!(schema_exists_now(guard.name()));
        panic!("the test fails while its schema is in use");
    });
    assert!(outcome.is_err());
    let schema = created.into_inner().unwrap();
    assert!(schema.starts_with("amtest_"), "{schema:?}");
    assert!(!schema_exists_now(&schema), "{schema} is still there");
}

#[test]
fn a_schema_from_fresh_schema_is_dropped_when_its_test_thread_ends_even_on_a_panic() {
    for panics in [false, true] {
        let test = std::thread::spawn(move || {
            let schema = support::fresh_schema();
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(create_schema_with_a_backend(&schema));
            assert!(schema_exists_now(&schema));
            if panics {
                std::panic::panic_any(schema);
            }
            schema
        });
        let schema = match test.join() {
            Ok(schema) => schema,
            Err(payload) => *payload.downcast::<String>().unwrap(),
        };
        assert!(!schema_exists_now(&schema), "{schema} is still there (panicked: {panics})");
    }
}

#[test]
fn test_schema_names_carry_their_creation_time() {
    let name = support::schema_guard::fresh_schema_name();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let created = support::schema_guard::created_at(&name).unwrap();
    assert!(created <= now && now - created < 5, "{name} at {now}");
    assert_eq!(support::schema_guard::created_at("amtest_1764222109_4021_7"), Some(1_764_222_109));
    assert_eq!(support::schema_guard::created_at("amtest_serve_1764222109_4021"), Some(1_764_222_109));
    assert_eq!(support::schema_guard::created_at("amtest_4021_7"), None, "a process id is not a time");
    assert_eq!(support::schema_guard::created_at("bench_1764222109_4021"), None);
    assert!(support::schema_guard::is_stale("amtest_1764222109_1_1", 1_764_222_109 + 3601));
    assert!(!support::schema_guard::is_stale("amtest_1764222109_1_1", 1_764_222_109 + 3600));
    assert!(!support::schema_guard::is_stale("load_bench_1", u64::MAX));
}

#[tokio::test]
async fn the_sweep_drops_only_test_schemas_older_than_an_hour() {
    let url = support::database_url();
    let client = support::connect(&url).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let pid = std::process::id();
    let two_hours_ago = now - 7200;
    let stale = [format!("amtest_{two_hours_ago}_{pid}_sweep"), format!("amtest_serve_{two_hours_ago}_{pid}")];
    let young = format!("amtest_{}_{pid}_sweep", now - 60);
    let not_ours = format!("sweep_{two_hours_ago}_{pid}");
    for schema in stale.iter().chain([&young, &not_ours]) {
        client.batch_execute(&format!("CREATE SCHEMA \"{schema}\"")).await.unwrap();
    }

    let swept = support::schema_guard::sweep_stale_schemas(&url);
    assert!(swept.is_ok(), "{swept:?}");
    for schema in &stale {
        assert!(!support::schema_exists(&client, schema).await, "{schema} was not swept");
    }
    assert!(support::schema_exists(&client, &young).await, "a young test schema may be in use: {young}");
    assert!(support::schema_exists(&client, &not_ours).await, "{not_ours} is not a test schema");
    client.batch_execute(&format!("DROP SCHEMA \"{young}\"; DROP SCHEMA \"{not_ours}\"")).await.unwrap();
}
