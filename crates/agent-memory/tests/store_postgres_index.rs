//! The PostgreSQL backend's in-process keyword and vector indexes across processes: backends
//! with their own pools on one schema stand for processes. Every keyword, semantic and
//! hybrid answer from the indexes is compared, item for item and score for score, with the
//! SQL statements' answer (a backend with the indexes configured off) on the same data,
//! after each kind of write by another backend; the change numbers are checked to follow
//! commit order.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)]

mod store_postgres_support;

use std::sync::Arc;

use agent_memory::embed::{Embedder, HashEmbedder};
use agent_memory::store::{
    Clock, Filter, KeywordQuery, ManualClock, MemoryBackend, MemoryStore, Namespace, NamespacePrefix, PostgresBackend,
    PostgresConfig, PutRequest, Scope, SearchHit, SearchMode, SearchQuery, StoreBackend, StoreOptions,
    VectorIndexOptions, VectorQuery,
};
use serde_json::json;
use store_postgres_support as support;

const T0: f64 = 1_700_000_000.0;

/// A backend on `schema` with its in-process indexes on (`true`) or off (`false`: every
/// search runs SQL).
async fn open(schema: &str, indexes: bool) -> Arc<PostgresBackend> {
    let config = PostgresConfig::new(support::database_url())
        .schema(schema.to_owned())
        .max_connections(4)
        .keyword_index(indexes)
        .vector_index(indexes);
    Arc::new(PostgresBackend::connect(config).await.unwrap())
}

fn store_over(backend: Arc<PostgresBackend>, clock: &ManualClock) -> MemoryStore {
    let options = StoreOptions { clock: Arc::new(clock.clone()), refresh_ttl_on_get: true, ..StoreOptions::default() };
    MemoryStore::new(backend, options).with_embedder(Arc::new(HashEmbedder::new(32)))
}

/// `warm_up` loads both in-process indexes before any search; with the indexes off it has
/// nothing to do.
#[tokio::test]
async fn warm_up_loads_the_indexes_before_any_search() {
    let schema = support::fresh_schema();
    let clock = ManualClock::new(T0);
    let writer = store_over(open(&schema, true).await, &clock);
    writer.put_many(documents(&["docs", "a"], 50, 0)).await.unwrap();
    let reader = open(&schema, true).await;
    assert_eq!(reader.keyword_index_status(), None);
    reader.warm_up().await.unwrap();
    let (at, held) = reader.keyword_index_status().expect("loaded");
    assert_eq!(held, 50);
    assert_eq!(reader.vector_index_status(), Some((at, 50)));
    let sql_only = open(&schema, false).await;
    sql_only.warm_up().await.unwrap();
    assert_eq!(sql_only.keyword_index_status(), None);
}

/// `count` documents about numbered topics in `namespace`, with a numeric field `n`.
fn documents(namespace: &[&str], count: usize, round: usize) -> Vec<PutRequest> {
    (0..count)
        .map(|i| {
            let text = format!("note {i} about topic {} and colour {} round {round}", i % 37, i % 11);
            PutRequest::new(namespace.to_vec(), format!("k{i:05}"), json!({"text": text, "n": i})).unwrap()
        })
        .collect()
}

/// The searches compared: words frequent and rare, scopes, a value filter, pages of 1 to 50.
fn keyword_queries(now: f64) -> Vec<KeywordQuery> {
    let root = Scope::Prefix(NamespacePrefix::root());
    let docs = Scope::Prefix(NamespacePrefix::new(["docs"]).unwrap());
    let docs_b = Scope::Namespace(Namespace::new(["docs", "b"]).unwrap());
    let rare = Filter::from_json(&json!({"n": {"$gte": 390}})).unwrap();
    let even = Filter::from_json(&json!({"n": {"$in": [0, 2, 4, 6, 8, 10, 12, 14]}})).unwrap();
    let query = |terms: &[&str], scope: &Scope, filter: &Filter, limit: usize| KeywordQuery {
        scope: scope.clone(),
        filter: filter.clone(),
        terms: terms.iter().map(|t| (*t).to_owned()).collect(),
        limit,
        now,
    };
    vec![
        query(&["topic", "5"], &root, &Filter::all(), 10),
        // Sums of the same term scores added in another order tie on the reported score.
        query(&["topic", "5", "colour", "3"], &docs, &Filter::all(), 10),
        query(&["colour", "3", "note"], &docs_b, &Filter::all(), 15),
        query(&["about"], &docs, &Filter::all(), 50),
        query(&["topic", "12"], &root, &rare, 5),
        query(&["round"], &root, &even, 8),
        query(&["fresh", "words"], &root, &Filter::all(), 10),
        query(&["short", "lived"], &root, &Filter::all(), 10),
        query(&["nothing"], &root, &Filter::all(), 10),
        query(&["note"], &docs, &Filter::all(), 1),
    ]
}

/// The semantic searches compared: texts near and far, scopes, value filters, pages of 1
/// to 50, as the stores' embedder embeds them.
async fn vector_queries(now: f64) -> Vec<VectorQuery> {
    let embedder = HashEmbedder::new(32);
    let root = Scope::Prefix(NamespacePrefix::root());
    let docs = Scope::Prefix(NamespacePrefix::new(["docs"]).unwrap());
    let docs_b = Scope::Namespace(Namespace::new(["docs", "b"]).unwrap());
    let rare = Filter::from_json(&json!({"n": {"$gte": 390}})).unwrap();
    let even = Filter::from_json(&json!({"n": {"$in": [0, 2, 4, 6, 8, 10, 12, 14]}})).unwrap();
    let mut queries = Vec::new();
    for (text, scope, filter, limit) in [
        ("topic 5 and colour 3", &root, &Filter::all(), 10),
        ("fresh words", &docs, &Filter::all(), 10),
        ("note 12 about colour", &docs_b, &Filter::all(), 15),
        ("short lived", &docs, &Filter::all(), 50),
        ("round 1 topic 12", &root, &rare, 5),
        ("note about topic 3", &root, &even, 8),
        ("note", &docs, &Filter::all(), 1),
    ] {
        queries.push(VectorQuery {
            scope: scope.clone(),
            filter: filter.clone(),
            vector: embedder.embed_query(text).await.unwrap(),
            model: embedder.model_id().to_owned(),
            limit,
            now,
        });
    }
    queries
}

/// Searches `reader` (indexes) and `sql` (no index) alike and asserts equal answers:
/// keyword and semantic searches on the backends, hybrid (with and without a value filter)
/// and keyword searches through stores. 10 keyword, 7 semantic and 3 hybrid searches (one
/// with a value filter) reach the reader's backend.
async fn assert_same_answers(step: &str, reader: &MemoryStore, sql: &MemoryStore, now: f64) {
    let (reader_backend, sql_backend) = (reader.backend(), sql.backend());
    for query in keyword_queries(now) {
        let from_index = reader_backend.keyword_search(&query).await.unwrap();
        let from_sql = sql_backend.keyword_search(&query).await.unwrap();
        assert_eq!(from_index, from_sql, "{step}: {:?} in {:?}", query.terms, query.scope);
    }
    for query in vector_queries(now).await {
        let from_index = reader_backend.vector_search(&query).await.unwrap();
        // pgvector returns any of the rows tied at its LIMIT (the hash embedder ties often):
        // a deeper page, cut, holds the same rows in recency order.
        let deeper = VectorQuery { limit: query.limit * 4 + 40, ..query.clone() };
        let mut from_sql = sql_backend.vector_search(&deeper).await.unwrap();
        from_sql.truncate(query.limit);
        assert_eq!(from_index, from_sql, "{step}: semantic in {:?} ({:?})", query.scope, query.filter);
    }
    let odd = Filter::from_json(&json!({"n": {"$in": [1, 3, 5, 7, 9, 11, 13]}})).unwrap();
    for (text, mode, filter) in [
        ("topic 5 and colour 3", SearchMode::Hybrid, Filter::all()),
        ("fresh words", SearchMode::Hybrid, Filter::all()),
        ("topic 7 colour", SearchMode::Hybrid, odd),
        ("note about topic 7", SearchMode::Keyword, Filter::all()),
    ] {
        let query = SearchQuery::text(text).mode(mode).limit(12).filter(filter);
        let from_index: Vec<SearchHit> = reader.search(["docs"], query.clone()).await.unwrap();
        let from_sql: Vec<SearchHit> = sql.search(["docs"], query).await.unwrap();
        assert_eq!(from_index, from_sql, "{step}: {text:?} {mode:?}");
    }
}

/// One backend writes (puts, overwrites, deletes, a namespace delete, expiry, a TTL refresh,
/// a purge); after each step another backend's keyword and hybrid searches, from its index,
/// equal the SQL statement's, with no waiting in between (read-your-writes across processes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_writes_are_seen_by_the_next_search() {
    let schema = support::fresh_schema();
    let clock = ManualClock::new(T0);
    let writer = store_over(open(&schema, true).await, &clock);
    let reader_backend = open(&schema, true).await;
    let reader = store_over(reader_backend.clone(), &clock);
    let sql = store_over(open(&schema, false).await, &clock);

    writer.put_many(documents(&["docs", "a"], 300, 0)).await.unwrap();
    writer.put_many(documents(&["docs", "b"], 100, 0)).await.unwrap();
    assert_eq!(reader_backend.keyword_index_status(), None, "loaded on the first keyword search");
    assert_same_answers("loaded", &reader, &sql, clock.now()).await;
    let (at_load, held) = reader_backend.keyword_index_status().unwrap();
    assert_eq!(held, 400);

    writer.put(("docs", "a"), "new", json!({"text": "fresh words about topic 5"}), None).await.unwrap();
    assert_same_answers("put", &reader, &sql, clock.now()).await;
    writer.put(("docs", "a"), "k00005", json!({"text": "fresh words replace the note", "n": 5}), None).await.unwrap();
    assert_same_answers("overwrite", &reader, &sql, clock.now()).await;
    writer.put_many(documents(&["docs", "b"], 40, 1)).await.unwrap();
    assert_same_answers("batch overwrite", &reader, &sql, clock.now()).await;
    assert!(writer.delete(("docs", "a"), "k00007").await.unwrap());
    assert_same_answers("delete", &reader, &sql, clock.now()).await;
    writer.put(("docs", "a"), "k00007", json!({"text": "fresh words again after delete"}), None).await.unwrap();
    assert_same_answers("put after delete", &reader, &sql, clock.now()).await;
    writer.put(("docs", "c"), "ttl", json!({"text": "short lived fresh words"}), Some(60.0)).await.unwrap();
    writer.put(("docs", "c"), "ttl2", json!({"text": "short lived too"}), Some(60.0)).await.unwrap();
    assert_same_answers("with ttl", &reader, &sql, clock.now()).await;
    clock.advance(40.0);
    // A read refreshes the TTL of one of them (a write: the expiry moves).
    assert!(writer.get(("docs", "c"), "ttl").await.unwrap().is_some());
    clock.advance(30.0);
    assert_same_answers("one expired, one refreshed", &reader, &sql, clock.now()).await;
    assert_eq!(writer.purge_expired().await.unwrap(), 1);
    assert_same_answers("purged", &reader, &sql, clock.now()).await;
    assert_eq!(writer.delete_namespace(("docs", "b")).await.unwrap(), 100);
    assert_same_answers("namespace deleted", &reader, &sql, clock.now()).await;

    // 10 steps; the filtered hybrid search ranks both item lists (keyword and semantic).
    assert_eq!(reader_backend.keyword_search_counts(), (10 * (10 + 1 + 1), 0), "every search answered by an index");
    assert_eq!(reader_backend.vector_search_counts(), (10 * (7 + 1), 0));
    assert_eq!(reader_backend.hybrid_search_counts(), (10 * 2, 10), "fused by row id unless value-filtered");
    let (at, held) = reader_backend.keyword_index_status().unwrap();
    assert!(at > at_load);
    assert_eq!(held, 300 + 1 + 1);
    assert_eq!(reader_backend.vector_index_status(), Some((at, 300 + 1 + 1)));
}

/// Under per-tenant keyword statistics the in-process index and the SQL statement (which
/// counts the tenant's items and postings itself) rank and score alike: in one tenant, in a
/// tenant's `TENANT/USER` namespaces, across tenants, with pages short enough that the
/// statement's candidate depth matters, before and after another tenant's writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_statistics_rank_alike_in_the_index_and_in_sql() {
    use agent_memory::store::KeywordStatistics;

    let schema = support::fresh_schema();
    let clock = ManualClock::new(T0);
    let open_tenant = async |indexes: bool| {
        let config = PostgresConfig::new(support::database_url())
            .schema(schema.clone())
            .max_connections(4)
            .keyword_index(indexes)
            .vector_index(indexes)
            .keyword_statistics(KeywordStatistics::Tenant);
        Arc::new(PostgresBackend::connect(config).await.unwrap())
    };
    let reader_backend = open_tenant(true).await;
    let reader = store_over(reader_backend.clone(), &clock);
    let sql = store_over(open_tenant(false).await, &clock);
    reader.put_many(documents(&["acme", "docs"], 120, 0)).await.unwrap();
    reader.put_many(documents(&["acme/u1", "conversations"], 40, 0)).await.unwrap();
    reader.put_many(documents(&["acmex"], 30, 1)).await.unwrap();
    let scope = |labels: &[&str]| Scope::Prefix(NamespacePrefix::new(labels.iter().copied()).unwrap());
    let compare = async |step: &str| {
        let filter = Filter::from_json(&json!({"n": {"$gte": 20}})).unwrap();
        for prefix in [&[][..], &["acme"], &["acme/u1"], &["acmex"], &["globex", "docs"]] {
            for (terms, limit, filter) in [
                (&["topic", "5"][..], 1, Filter::all()),
                (&["topic", "5", "colour", "3"], 3, Filter::all()),
                (&["note", "colour", "7"], 10, filter.clone()),
                (&["round", "1", "about"], 4, Filter::all()),
            ] {
                let query = KeywordQuery {
                    scope: scope(prefix),
                    filter,
                    terms: terms.iter().map(|t| (*t).to_owned()).collect(),
                    limit,
                    now: clock.now(),
                };
                let from_index = reader_backend.keyword_search(&query).await.unwrap();
                let from_sql = sql.backend().keyword_search(&query).await.unwrap();
                assert_eq!(from_index, from_sql, "{step}: {terms:?} in {prefix:?}");
            }
        }
    };
    compare("three tenants").await;
    let acme_before = reader.search(["acme"], SearchQuery::text("topic 5").mode(SearchMode::Keyword)).await.unwrap();
    // Another tenant whose documents share every word, many times over.
    let mut globex = documents(&["globex", "docs"], 300, 1);
    globex.extend(documents(&["globex"], 50, 2));
    sql.put_many(globex).await.unwrap();
    compare("a fourth tenant").await;
    let acme_after = reader.search(["acme"], SearchQuery::text("topic 5").mode(SearchMode::Keyword)).await.unwrap();
    assert_eq!(acme_before, acme_after, "another tenant's writes moved acme's scores");
    // The tenant's own overwrites (other lengths) and deletes, and a whole namespace gone.
    sql.put(("acme", "docs"), "k00003", json!({"text": "topic 5 topic 5 and nothing else at all"}), None)
        .await
        .unwrap();
    assert!(sql.delete(("acme", "docs"), "k00010").await.unwrap());
    assert_eq!(sql.delete_namespace(["acmex"]).await.unwrap(), 30);
    compare("overwrites and deletes").await;
    assert_eq!(reader_backend.keyword_search_counts().1, 0, "every reader search answered by its index");
}

/// Four backends write and delete at once while a fifth searches (finding each writer's
/// item as soon as its put returns), and a sixth opens and searches in the middle of it;
/// afterwards both answer exactly as the SQL statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_then_an_exact_comparison() {
    let schema = support::fresh_schema();
    let clock = ManualClock::new(T0);
    let seed = store_over(open(&schema, true).await, &clock);
    seed.put_many(documents(&["docs", "a"], 200, 0)).await.unwrap();
    let reader_backend = open(&schema, true).await;
    let reader = store_over(reader_backend.clone(), &clock);
    assert_eq!(reader.search(["docs"], SearchQuery::text("topic").mode(SearchMode::Keyword)).await.unwrap().len(), 10);

    let mut tasks = Vec::new();
    for w in 0..4usize {
        let store = store_over(open(&schema, true).await, &clock);
        let reader = reader.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..15usize {
                // Read-your-writes while others write: once the put returns, the other
                // process's index search finds it.
                let word = format!("marker{w}x{round}");
                store.put(("docs", "m"), word.clone(), json!({"text": format!("{word} seen")}), None).await.unwrap();
                let query = SearchQuery::text(word.clone()).mode(SearchMode::Keyword).limit(3);
                let found = reader.search(["docs"], query).await.unwrap();
                assert_eq!(found.iter().map(|hit| hit.item.key.as_str()).collect::<Vec<_>>(), [word.as_str()]);
                let batch = (0..10).map(|i| {
                    let text = format!("writer {w} round {round} topic {} colour {}", (i + round) % 37, i % 11);
                    let value = json!({"text": text, "n": i * 40 + w});
                    PutRequest::new(vec!["docs", if i % 2 == 0 { "a" } else { "b" }], format!("w{w}-{i}"), value)
                        .unwrap()
                });
                store.put_many(batch.collect()).await.unwrap();
                store.delete(("docs", "a"), format!("k{:05}", w * 50 + round)).await.unwrap();
            }
        }));
    }
    let searcher = {
        let reader = reader.clone();
        tokio::spawn(async move {
            for i in 0..30 {
                let query = SearchQuery::text(format!("topic {}", i % 37)).mode(SearchMode::Keyword).limit(5);
                assert!(!reader.search(["docs"], query).await.unwrap().is_empty());
            }
        })
    };
    let late = store_over(open(&schema, true).await, &clock);
    let late_query = SearchQuery::text("colour 3").mode(SearchMode::Keyword).limit(7);
    assert_eq!(late.search(["docs"], late_query).await.unwrap().len(), 7);
    for task in tasks {
        task.await.unwrap();
    }
    searcher.await.unwrap();

    let sql = store_over(open(&schema, false).await, &clock);
    assert_same_answers("after concurrent writers", &reader, &sql, clock.now()).await;
    assert_same_answers("after concurrent writers (late opener)", &late, &sql, clock.now()).await;
    assert_eq!(reader_backend.keyword_index_status().unwrap().1, 200 - 60 + 40 + 60);
}

/// A reader whose index is older than the purged part of the change log reloads every row
/// and still answers exactly; a purge keeps the newest entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_behind_a_purged_log_reloads() {
    let schema = support::fresh_schema();
    let clock = ManualClock::new(T0);
    let writer_backend = open(&schema, true).await;
    let writer = store_over(writer_backend.clone(), &clock);
    let reader_backend = open(&schema, true).await;
    let reader = store_over(reader_backend.clone(), &clock);
    let sql = store_over(open(&schema, false).await, &clock);
    writer.put_many(documents(&["docs", "a"], 100, 0)).await.unwrap();
    assert_same_answers("loaded", &reader, &sql, clock.now()).await;
    let (at, _) = reader_backend.keyword_index_status().unwrap();

    for i in 0..5 {
        writer.put(("docs", "b"), format!("p{i}"), json!({"text": format!("fresh words {i}")}), None).await.unwrap();
    }
    writer.delete(("docs", "a"), "k00003").await.unwrap();
    // Keep the last two entries: the reader's position is gone from the log.
    assert_eq!(writer_backend.purge_change_log(2).await.unwrap(), 100 + 4);
    assert_eq!(writer_backend.purge_change_log(2).await.unwrap(), 0, "nothing more to purge");
    assert_same_answers("reloaded", &reader, &sql, clock.now()).await;
    let (reloaded_at, held) = reader_backend.keyword_index_status().unwrap();
    assert_eq!((reloaded_at, held), (at + 6, 104));
    assert_eq!(reader_backend.vector_index_status(), Some((at + 6, 104)));
    assert_eq!(reader_backend.keyword_search_counts().1, 0);
    assert_eq!(reader_backend.vector_search_counts().1, 0);
    assert_eq!(reader_backend.hybrid_search_counts(), (2 * 2, 2));
}

/// Change numbers follow commit order: a second writer cannot take its number while the
/// first one's transaction is open (it waits for the totals row), so it gets the next one
/// once the first commits; statements that change nothing take no number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_numbers_are_taken_in_commit_order() {
    let schema = support::fresh_schema();
    let backend = open(&schema, true).await;
    let url = support::database_url();
    let s = format!("\"{schema}\"");
    let insert = format!(
        "INSERT INTO {s}.items (ns, key, value, created_at, updated_at, doc_len, terms, tfs)
         VALUES ('ns', $1, '{{}}', 0, 0, 1, '{{word}}', '{{1}}')"
    );
    let seq = format!("SELECT change_seq FROM {s}.keyword_totals");
    let mut first = support::connect(&url).await;
    let second = support::connect(&url).await;
    let watcher = support::connect(&url).await;
    let second_pid: i32 = second.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);

    let tx = first.transaction().await.unwrap();
    tx.execute(&insert, &[&"first"]).await.unwrap();
    assert_eq!(tx.query_one(&seq, &[]).await.unwrap().get::<_, i64>(0), 1);
    let (insert_second, seq_second) = (insert.clone(), seq.clone());
    let blocked = tokio::spawn(async move {
        second.execute(&insert_second, &[&"second"]).await.unwrap();
        second.query_one(&seq_second, &[]).await.unwrap().get::<_, i64>(0)
    });
    // The second writer waits on a lock (the totals row) while the first is open.
    let mut waiting = false;
    for _ in 0..200 {
        let row = watcher
            .query_one("SELECT coalesce(wait_event_type, '') FROM pg_stat_activity WHERE pid = $1", &[&second_pid])
            .await
            .unwrap();
        if row.get::<_, String>(0) == "Lock" {
            waiting = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(waiting, "the second writer did not wait for the first");
    assert!(!blocked.is_finished());
    tx.commit().await.unwrap();
    assert_eq!(blocked.await.unwrap(), 2);

    let store = MemoryStore::new(backend.clone(), StoreOptions::default());
    assert!(!store.delete("ns", "missing").await.unwrap());
    assert!(store.get("ns", "missing").await.unwrap().is_none());
    let log: Vec<(i64, String)> = watcher
        .query(&format!("SELECT seq, key FROM {s}.item_changes ORDER BY seq"), &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(log, [(1, "first".to_owned()), (2, "second".to_owned())]);
    assert_eq!(watcher.query_one(&seq, &[]).await.unwrap().get::<_, i64>(0), 2);
}

/// A schema left at version 3 by an older build, with items in it, is upgraded to version
/// 4 when a store opens it; keyword search from the index then ranks and scores exactly as
/// the in-memory backend, before and after writes through the upgraded store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_3_schema_is_upgraded_with_a_change_sequence() {
    let url = support::database_url();
    let schema = support::fresh_schema();
    PostgresBackend::create_schema_at_version(&url, &schema, 3).await.unwrap();
    let client = support::connect(&url).await;
    let memory = Arc::new(MemoryBackend::new());
    let insert = format!(
        "INSERT INTO \"{schema}\".items (ns, key, value, created_at, updated_at, doc_len, terms, tfs)
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7)"
    );
    for i in 0..300usize {
        let namespace = Namespace::new(["docs", if i % 3 == 0 { "b" } else { "a" }]).unwrap();
        let text = format!("note {i} about topic {} and colour {} topic", i % 37, i % 11);
        let value = json!({"text": text.clone(), "n": i});
        let (terms, tfs, length) = support::postings_columns(&text);
        let key = format!("k{i:05}");
        let at = T0 + i as f64;
        client.execute(&insert, &[&namespace.encoded(), &key, &value, &at, &length, &terms, &tfs]).await.unwrap();
        let write = agent_memory::store::ItemWrite {
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
    let columns = format!(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = '{schema}' AND column_name = 'change_seq'"
    );
    assert_eq!(client.query_one(&columns, &[]).await.unwrap().get::<_, i64>(0), 0);

    let backend = open(&schema, true).await;
    let versions = client.query(&format!("SELECT version FROM \"{schema}\".schema_migrations ORDER BY 1"), &[]).await;
    assert_eq!(versions.unwrap().iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
    assert_eq!(client.query_one(&columns, &[]).await.unwrap().get::<_, i64>(0), 1);
    let now = T0 + 1000.0;
    for query in keyword_queries(now) {
        assert_eq!(backend.keyword_search(&query).await.unwrap(), memory.keyword_search(&query).await.unwrap());
    }
    assert_eq!(backend.keyword_index_status(), Some((0, 300)));

    // Writes after the upgrade take numbers from 1 and reach the index of another process.
    let clock = ManualClock::new(now);
    let options = StoreOptions { clock: Arc::new(clock.clone()), ..StoreOptions::default() };
    let writer = MemoryStore::new(open(&schema, true).await, options.clone());
    let mirror = MemoryStore::new(memory.clone(), options);
    for store in [&writer, &mirror] {
        store
            .put(("docs", "a"), "k00001", json!({"text": "fresh words after the upgrade", "n": 1}), None)
            .await
            .unwrap();
        store.delete(("docs", "b"), "k00003").await.unwrap();
    }
    for query in keyword_queries(now) {
        assert_eq!(backend.keyword_search(&query).await.unwrap(), memory.keyword_search(&query).await.unwrap());
    }
    assert_eq!(backend.keyword_index_status(), Some((2, 299)));
    assert_eq!(backend.keyword_search_counts().1, 0);
}

/// The vector index's options reach the backend: with a graph from 50 vectors on (and no
/// exact scan of small scopes), semantic searches are answered from the graph once the
/// background builder has it: each item's own text finds it first, and the answers equal
/// the SQL path's. The graph is searched with an ef above the 200 items, so its answers are
/// exact (with the default ef, an approximate graph may miss a neighbour, which failed this
/// comparison once in a full run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semantic_search_uses_the_graph_built_with_the_configured_options() {
    let schema = support::fresh_schema();
    let options = VectorIndexOptions {
        ann_min_vectors: 50,
        exact_scope_max: 0,
        expansion_search: 256,
        ..VectorIndexOptions::default()
    };
    let config = PostgresConfig::new(support::database_url())
        .schema(schema.clone())
        .max_connections(4)
        .vector_index_options(options);
    let backend = Arc::new(PostgresBackend::connect(config).await.unwrap());
    let clock = ManualClock::new(T0);
    let store = store_over(backend.clone(), &clock);
    store.put_many(documents(&["docs", "a"], 200, 0)).await.unwrap();
    assert_eq!(backend.vector_index_status(), None, "loaded by the first search");
    let first = SearchQuery::text("note 0 about topic 0 and colour 0 round 0").mode(SearchMode::Semantic).limit(3);
    assert_eq!(store.search(["docs"], first).await.unwrap()[0].item.key, "k00000");
    backend.wait_for_vector_index();
    for i in [7usize, 42, 123, 199] {
        let text = format!("note {i} about topic {} and colour {} round 0", i % 37, i % 11);
        let hits = store.search(["docs"], SearchQuery::text(text).mode(SearchMode::Semantic).limit(5)).await.unwrap();
        assert_eq!(hits.len(), 5);
        assert_eq!(hits[0].item.key, format!("k{i:05}"));
    }
    // The graph's answers equal the SQL path's (a deeper page cut: pgvector's ties at LIMIT).
    let sql = open(&schema, false).await;
    for query in vector_queries(clock.now()).await {
        let from_graph = backend.vector_search(&query).await.unwrap();
        let deeper = VectorQuery { limit: query.limit * 4 + 40, ..query.clone() };
        let mut from_sql = sql.vector_search(&deeper).await.unwrap();
        from_sql.truncate(query.limit);
        assert_eq!(from_graph, from_sql, "semantic in {:?} ({:?})", query.scope, query.filter);
    }
    assert_eq!(backend.vector_search_counts(), (5 + 7, 0));
    assert_eq!(backend.vector_index_status().unwrap().1, 200);
    assert_eq!(backend.keyword_index_status().unwrap().1, 200, "loaded with the vectors");
}
