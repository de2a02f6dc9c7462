//! The conformance suite on the SQLite backend, plus what only a file can show:
//! persistence across opens and durability across a process kill.

#![cfg(feature = "sqlite")]

use std::sync::Arc;

use agent_memory::store::{
    ExportQuery, ExportedItem, HybridQuery, Item, ItemKey, ItemWrite, KeywordQuery, Namespace, NamespaceQuery,
    RestoredItem, ScanQuery, Scope, ScoredItem, SqliteBackend, StoreBackend, StoreError, VectorQuery,
};

/// A backend in a fresh file whose directory is removed when the backend is dropped.
#[derive(Debug)]
struct TempSqlite {
    backend: SqliteBackend,
    _dir: tempfile::TempDir,
}

async fn make_backend() -> Arc<dyn StoreBackend> {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = SqliteBackend::open(&dir.path().join("store.db")).await.expect("open sqlite");
    Arc::new(TempSqlite { backend, _dir: dir })
}

#[async_trait::async_trait]
impl StoreBackend for TempSqlite {
    fn kind(&self) -> &'static str {
        self.backend.kind()
    }
    async fn put_many(&self, writes: Vec<ItemWrite>, now: f64) -> Result<Vec<Item>, StoreError> {
        self.backend.put_many(writes, now).await
    }
    async fn get_many(&self, keys: &[ItemKey], now: f64, refresh: bool) -> Result<Vec<Option<Item>>, StoreError> {
        self.backend.get_many(keys, now, refresh).await
    }
    async fn delete_many(&self, keys: &[ItemKey], now: f64) -> Result<Vec<bool>, StoreError> {
        self.backend.delete_many(keys, now).await
    }
    async fn scan(&self, query: &ScanQuery) -> Result<Vec<Item>, StoreError> {
        self.backend.scan(query).await
    }
    async fn vector_search(&self, query: &VectorQuery) -> Result<Vec<ScoredItem>, StoreError> {
        self.backend.vector_search(query).await
    }
    async fn keyword_search(&self, query: &KeywordQuery) -> Result<Vec<ScoredItem>, StoreError> {
        self.backend.keyword_search(query).await
    }
    async fn hybrid_search(&self, query: &HybridQuery) -> Result<Vec<ScoredItem>, StoreError> {
        self.backend.hybrid_search(query).await
    }
    async fn list_namespaces(&self, query: &NamespaceQuery) -> Result<Vec<Namespace>, StoreError> {
        self.backend.list_namespaces(query).await
    }
    async fn count(&self, scope: &Scope, now: f64) -> Result<u64, StoreError> {
        self.backend.count(scope, now).await
    }
    async fn delete_scope(&self, scope: &Scope, now: f64) -> Result<u64, StoreError> {
        self.backend.delete_scope(scope, now).await
    }
    async fn purge_expired(&self, now: f64) -> Result<u64, StoreError> {
        self.backend.purge_expired(now).await
    }
    async fn export_items(&self, query: &ExportQuery) -> Result<Vec<ExportedItem>, StoreError> {
        self.backend.export_items(query).await
    }
    async fn restore_items(&self, items: Vec<RestoredItem>) -> Result<u64, StoreError> {
        self.backend.restore_items(items).await
    }
}

agent_memory::store_conformance!(make_backend());

mod tenant_statistics {
    use std::sync::Arc;

    use agent_memory::store::{KeywordStatistics, SqliteBackend, SqliteOptions, StoreBackend};

    use super::TempSqlite;

    async fn make_backend() -> Arc<dyn StoreBackend> {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = SqliteOptions { keyword_statistics: KeywordStatistics::Tenant, ..SqliteOptions::default() };
        let backend = SqliteBackend::open_with(&dir.path().join("store.db"), options).await.expect("open sqlite");
        Arc::new(TempSqlite { backend, _dir: dir })
    }

    agent_memory::tenant_statistics_conformance!(make_backend());
}

/// SQLite's hybrid search (both rankings as row ids in one snapshot, only the winners read)
/// returns exactly what fusing its own vector and keyword rankings returns: same items, same
/// order, same scores, in a namespace and across the store.
#[tokio::test]
async fn hybrid_search_equals_fusing_both_rankings() {
    use agent_memory::embed::{Embedder, HashEmbedder};
    use agent_memory::store::fusion::reciprocal_rank_fusion;
    use agent_memory::store::keyword::query_terms;
    use agent_memory::store::{Filter, HybridWeights, NamespacePrefix, StoredVector};

    let dir = tempfile::tempdir().expect("temp dir");
    let backend = SqliteBackend::open(&dir.path().join("store.db")).await.expect("open sqlite");
    let embedder = HashEmbedder::new(32);
    let words = ["rust", "memory", "store", "garden", "coffee", "tokio", "search", "vector", "the", "to", "of"];
    let mut writes = Vec::new();
    for i in 0..300usize {
        let text: Vec<&str> = (0..3 + i % 6).map(|j| words[(i * 7 + j * j * 3 + j) % words.len()]).collect();
        let text = text.join(" ");
        let namespace = Namespace::new(["users", if i % 3 == 0 { "a" } else { "b" }]).expect("namespace");
        writes.push(ItemWrite {
            namespace,
            key: format!("k{i:03}"),
            value: serde_json::json!({ "text": text, "i": i }).as_object().cloned().expect("object"),
            ttl_seconds: None,
            vector: Some(StoredVector { model: embedder.model_id().to_owned(), vector: embedder.embed_text(&text) }),
            text,
            index: Default::default(),
        });
    }
    backend.put_many(writes, 1000.0).await.expect("put");
    let scopes =
        [Scope::Prefix(NamespacePrefix::new(["users", "a"]).expect("prefix")), Scope::Prefix(NamespacePrefix::root())];
    for text in ["rust memory store", "coffee of the garden", "to the"] {
        for scope in &scopes {
            let vector = VectorQuery {
                scope: scope.clone(),
                filter: Filter::all(),
                vector: embedder.embed_text(text),
                model: embedder.model_id().to_owned(),
                limit: 40,
                now: 2000.0,
            };
            let keyword = KeywordQuery {
                scope: scope.clone(),
                filter: Filter::all(),
                terms: query_terms(text),
                limit: 40,
                now: 2000.0,
            };
            let weights = HybridWeights::default();
            let query = HybridQuery { vector: vector.clone(), keyword: Some(keyword.clone()), weights, limit: 10 };
            let hybrid = backend.hybrid_search(&query).await.expect("hybrid");
            let keys = |hits: Vec<ScoredItem>| -> Vec<(Namespace, String)> {
                hits.into_iter().map(|hit| (hit.item.namespace, hit.item.key)).collect()
            };
            let semantic = keys(backend.vector_search(&vector).await.expect("vector"));
            let keyword = keys(backend.keyword_search(&keyword).await.expect("keyword"));
            assert_eq!((semantic.len(), keyword.len()), (40, 40), "{text}: both rankings are full");
            let mut expected = reciprocal_rank_fusion(&[(1.0, &semantic[..]), (1.0, &keyword[..])], weights.k);
            expected.truncate(10);
            let got: Vec<((Namespace, String), f64)> =
                hybrid.into_iter().map(|hit| ((hit.item.namespace, hit.item.key), hit.score)).collect();
            assert_eq!(got, expected, "{text} in {scope:?}");
        }
    }
}

/// Keyword search from the in-process index ranks and scores exactly as FTS5's `bm25()` on the
/// same file (the durable index it replaced for ranking): same rows, same order (ties in
/// recency order), same scores, with expired-but-unpurged rows counted in the statistics,
/// and after updates, deletes and another store's writes.
#[tokio::test]
async fn keyword_search_equals_fts5_bm25() {
    use agent_memory::store::keyword::{fts5_match_expression, normalize, query_terms};
    use agent_memory::store::{Filter, NamespacePrefix};

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let backend = SqliteBackend::open(&path).await.expect("open sqlite");
    let other = SqliteBackend::open(&path).await.expect("open sqlite");
    let words = ["rust", "memory", "store", "garden", "coffee", "tokio", "search", "vector", "the", "to", "of"];
    let writes = |range: std::ops::Range<usize>, salt: usize| -> Vec<ItemWrite> {
        range
            .map(|i| {
                let text: Vec<&str> =
                    (0..1 + (i + salt) % 7).map(|j| words[(i * 7 + j * j * 3 + j + salt) % words.len()]).collect();
                let text = text.join(" ");
                ItemWrite {
                    namespace: Namespace::new(["users", ["a", "b", "c"][i % 3]]).expect("namespace"),
                    key: format!("k{i:03}"),
                    value: serde_json::json!({ "text": text }).as_object().cloned().expect("object"),
                    ttl_seconds: (i % 5 == 0).then_some(3.0),
                    vector: None,
                    text,
                    index: Default::default(),
                }
            })
            .collect()
    };
    let fts5 = rusqlite::Connection::open(&path).expect("open");
    let check = |backend: SqliteBackend, label: &'static str| {
        let fts5 = &fts5;
        async move {
            let scopes = [
                Scope::Prefix(NamespacePrefix::root()),
                Scope::Prefix(NamespacePrefix::new(["users"]).expect("prefix")),
                Scope::Namespace(Namespace::new(["users", "b"]).expect("namespace")),
            ];
            for text in ["rust memory store", "coffee of the garden", "to the", "tokio", "vector search"] {
                for (s, scope) in scopes.iter().enumerate() {
                    for limit in [1, 7, 40, 1000] {
                        let query = KeywordQuery {
                            scope: scope.clone(),
                            filter: Filter::all(),
                            terms: query_terms(text),
                            limit,
                            now: 1005.0,
                        };
                        let got: Vec<(String, String, f64)> = backend
                            .keyword_search(&query)
                            .await
                            .expect("search")
                            .into_iter()
                            .map(|hit| (hit.item.namespace.encoded(), hit.item.key, hit.score))
                            .collect();
                        let scope_sql = [
                            "?3 IS NOT NULL",
                            "?3 IS NOT NULL AND i.namespace >= 'users' AND i.namespace < 'users '",
                            "i.namespace = ?3",
                        ][s];
                        let sql = format!(
                            "SELECT i.namespace, i.key, bm25(store_fts) FROM store_fts \
                             JOIN store_items i ON i.id = store_fts.rowid \
                             WHERE store_fts MATCH ?1 AND (i.expires_at IS NULL OR i.expires_at > 1005.0) \
                             AND {scope_sql} ORDER BY bm25(store_fts), i.updated_at DESC, i.namespace, i.key LIMIT ?2"
                        );
                        let mut statement = fts5.prepare(&sql).expect("prepare");
                        let match_expression = fts5_match_expression(&query.terms);
                        let exact = Namespace::new(["users", "b"]).expect("namespace").encoded();
                        let limit = limit as i64;
                        let rows = statement.query_map(rusqlite::params![match_expression, limit, exact], |row| {
                            Ok((row.get(0)?, row.get(1)?, normalize(-row.get::<_, f64>(2)?)))
                        });
                        let expected: Vec<(String, String, f64)> =
                            rows.expect("query").collect::<Result<_, _>>().expect("rows");
                        assert!(!expected.is_empty(), "{label}: {text} matches");
                        assert_eq!(got.len(), expected.len(), "{label}: {text} in {scope:?}, limit {limit}");
                        for (g, e) in got.iter().zip(&expected) {
                            assert_eq!((&g.0, &g.1), (&e.0, &e.1), "{label}: {text} in {scope:?}, limit {limit}");
                            assert!((g.2 - e.2).abs() < 1e-12, "{label}: {text}: score {} vs FTS5 {}", g.2, e.2);
                        }
                    }
                }
            }
        }
    };
    backend.put_many(writes(0..300, 0), 1000.0).await.expect("put");
    check(backend.clone(), "loaded").await;
    // Own writes: rewritten texts, deletes, a refreshed expiry.
    backend.put_many(writes(100..160, 3), 1001.0).await.expect("put");
    let gone: Vec<ItemKey> = (0..300)
        .step_by(11)
        .map(|i| ItemKey {
            namespace: Namespace::new(["users", ["a", "b", "c"][i % 3]]).expect("ns"),
            key: format!("k{i:03}"),
        })
        .collect();
    backend.delete_many(&gone, 1001.0).await.expect("delete");
    backend.get_many(&gone[..3], 1001.0, true).await.expect("get");
    check(backend.clone(), "own writes").await;
    // Another store's writes: the index catches up from the rows.
    other.put_many(writes(200..400, 5), 1002.0).await.expect("put");
    other.delete_many(&gone[5..], 1002.0).await.expect("delete");
    check(backend.clone(), "other store's writes").await;
    let expired: i64 = fts5
        .query_row("SELECT COUNT(*) FROM store_items WHERE expires_at <= 1005.0", [], |row| row.get(0))
        .expect("count");
    assert!(expired > 10, "{expired} expired rows");
    assert_eq!(backend.purge_expired(1005.0).await.expect("purge"), expired as u64);
    check(backend, "purged").await;
}

/// Key `key` in namespace `["users", "a"]`.
fn item_key(key: &str) -> ItemKey {
    ItemKey { namespace: Namespace::new(["users", "a"]).expect("namespace"), key: key.to_owned() }
}

/// A write of `{"text": key}` (no vector) at [`item_key`]`(key)`.
fn write(key: &str, ttl_seconds: Option<f64>) -> ItemWrite {
    ItemWrite {
        namespace: item_key(key).namespace,
        key: key.to_owned(),
        value: serde_json::json!({ "text": key }).as_object().cloned().expect("object"),
        ttl_seconds,
        vector: None,
        text: key.to_owned(),
        index: Default::default(),
    }
}

/// A SQLite store on a new file (in the returned directory, removed when it drops) holding
/// `writes`, put at time 1000.
async fn store_holding(writes: Vec<ItemWrite>) -> (tempfile::TempDir, std::path::PathBuf, SqliteBackend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let backend = SqliteBackend::open(&path).await.expect("open sqlite");
    backend.put_many(writes, 1000.0).await.expect("put");
    (dir, path, backend)
}

/// A purge that finds nothing expired, a delete of nothing or a refreshing read of items
/// without a TTL commits nothing: the change counter, which tells every store on the file
/// (other processes too) that its in-process indexes are stale, stays put, so neither the
/// server's sweeper nor a LangGraph `get` sends other stores re-reading every row.
#[tokio::test]
async fn writes_that_change_nothing_leave_the_change_counter() {
    let (_dir, path, backend) = store_holding(vec![write("stays", None), write("expires", Some(5.0))]).await;
    let counter = || -> i64 {
        let connection = rusqlite::Connection::open(&path).expect("open");
        connection.query_row("SELECT counter FROM store_changes WHERE id = 1", [], |row| row.get(0)).expect("counter")
    };
    let before = counter();
    assert_eq!(backend.purge_expired(1001.0).await.expect("purge"), 0);
    assert_eq!(counter(), before, "nothing expired, nothing committed");
    assert_eq!(backend.purge_expired(1006.0).await.expect("purge"), 1);
    assert_eq!(counter(), before + 1, "a purge that removes rows is a write like any other");
    let scope = Scope::Prefix(agent_memory::store::NamespacePrefix::root());
    assert_eq!(backend.count(&scope, 1006.0).await.expect("count"), 1);
    // Deletes of nothing are not writes either.
    assert_eq!(backend.delete_many(&[item_key("missing")], 1006.0).await.expect("delete"), [false]);
    let empty = Scope::Prefix(agent_memory::store::NamespacePrefix::new(["nobody"]).expect("prefix"));
    assert_eq!(backend.delete_scope(&empty, 1006.0).await.expect("delete scope"), 0);
    assert_eq!(counter(), before + 1, "deleting nothing commits nothing");
    // A refreshing read of an item without a TTL (LangGraph's `get` refreshes by default).
    let read = backend.get_many(&[item_key("stays")], 1006.0, true).await.expect("get");
    assert_eq!(read[0].as_ref().map(|item| item.key.as_str()), Some("stays"));
    assert_eq!(counter(), before + 1, "nothing to refresh, nothing committed");
    assert_eq!(backend.delete_many(&[item_key("stays")], 1006.0).await.expect("delete"), [true]);
    assert_eq!(counter(), before + 2);
}

/// A refreshing read finds out first whether anything it read has a TTL: without one there
/// is nothing to write, so it needs neither the store's writer nor SQLite's write lock and
/// answers while another connection (another process) holds that lock.
#[tokio::test]
async fn refreshing_reads_without_ttl_do_not_wait_for_the_write_lock() {
    let (_dir, path, backend) = store_holding(vec![write("plain", None), write("expiring", Some(60.0))]).await;
    let other = rusqlite::Connection::open(&path).expect("open");
    other.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        backend.get_many(&[item_key("plain"), item_key("missing")], 1010.0, true),
    )
    .await
    .expect("answered while another connection holds the write lock")
    .expect("get");
    assert_eq!(read[0].as_ref().map(|item| item.key.as_str()), Some("plain"));
    assert!(read[1].is_none());
    other.execute_batch("COMMIT").expect("release the write lock");
    // An item with a TTL is still refreshed (through the writer), and so is its expiry.
    let read = backend.get_many(&[item_key("plain"), item_key("expiring")], 1030.0, true).await.expect("get");
    assert_eq!(read[1].as_ref().and_then(|item| item.expires_at), Some(1090.0));
    assert_eq!(read[0].as_ref().and_then(|item| item.expires_at), None);
    let scope = Scope::Prefix(agent_memory::store::NamespacePrefix::root());
    assert_eq!(backend.count(&scope, 1080.0).await.expect("count"), 2, "refreshed at 1030, expires at 1090");
}

mod file {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use agent_memory::store::{
        Filter, MemoryStore, Page, PutRequest, SearchHit, SearchMode, SearchQuery, SqliteBackend, StoreError,
    };
    use serde_json::json;

    const CHILD_ENV: &str = "AGENT_MEMORY_TEST_DURABILITY_CHILD";

    /// Reference tests 40–42: put/get, persistence across two store instances, list.
    #[tokio::test]
    async fn ref_40_to_42_persistence_across_instances() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("memories.db");
        {
            let store = MemoryStore::sqlite(&path).await.expect("open");
            store.put(("user_1", "prefs"), "a", json!({"v": 1}), None).await.expect("put");
            store.put(("user_1", "prefs"), "b", json!({"v": 2}), Some(3600.0)).await.expect("put");
            assert_eq!(store.get(("user_1", "prefs"), "a").await.expect("get").expect("found").value["v"], 1);
        }
        let reopened = MemoryStore::sqlite(&path).await.expect("reopen");
        let items = reopened.list(("user_1", "prefs"), Page::all()).await.expect("list");
        assert_eq!(items.len(), 2);
        let b = reopened.get(("user_1", "prefs"), "b").await.expect("get").expect("found");
        assert_eq!(b.expires_at, Some(b.created_at + 3600.0));
        let via_url = MemoryStore::open(&format!("sqlite:{}", path.display())).await.expect("open by url");
        assert_eq!(via_url.count("user_1").await.expect("count"), 2);
    }

    /// Writes reach the database file soon after they commit, through the store's
    /// background checkpoints: the writer's own checkpoint threshold (SQLite's, raised) is
    /// far above what these writes fill, so without them everything would stay in the WAL.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_are_checkpointed_into_the_file_in_the_background() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("checkpointed.db");
        let store = MemoryStore::sqlite(&path).await.expect("open");
        let wal = dir.path().join("checkpointed.db-wal");
        let file_len = || std::fs::metadata(&path).expect("database file").len();
        // Let the schema's own checkpoint (if any) settle, then measure.
        store.put(("user_1", "notes"), "first", json!({"text": "first note"}), None).await.expect("put");
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let before = file_len();
        for n in 0..200 {
            let value = json!({"text": format!("note number {n} about the garden and the {n}th plant")});
            store.put(("user_1", "notes"), &format!("k{n}"), value, None).await.expect("put");
        }
        assert!(std::fs::metadata(&wal).expect("WAL").len() > 0, "the writes are in the WAL");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while file_len() <= before {
            assert!(std::time::Instant::now() < deadline, "nothing checkpointed: the file stayed at {before} bytes");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // A second store on the file reads everything (the WAL and the file agree).
        let other = MemoryStore::sqlite(&path).await.expect("open again");
        assert_eq!(other.count("user_1").await.expect("count"), 201);
    }

    /// The version-1 schema, as builds before per-item index specs created it.
    const VERSION_1_SCHEMA: &str = r#"
CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE store_items (
    id INTEGER PRIMARY KEY, namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, text TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, expires_at REAL, ttl_seconds REAL,
    embedding BLOB, embedding_model TEXT, embedding_dims INTEGER, UNIQUE (namespace, key)
);
CREATE TABLE store_changes (id INTEGER PRIMARY KEY CHECK (id = 1), counter INTEGER NOT NULL);
INSERT INTO store_changes (id, counter) VALUES (1, 0);
CREATE INDEX store_items_recency ON store_items (namespace, updated_at DESC, key);
CREATE INDEX store_items_expiry ON store_items (expires_at) WHERE expires_at IS NOT NULL;
CREATE VIRTUAL TABLE store_fts USING fts5 (
    text, content = 'store_items', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER store_items_fts_insert AFTER INSERT ON store_items BEGIN
    INSERT INTO store_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER store_items_fts_delete AFTER DELETE ON store_items BEGIN
    INSERT INTO store_fts (store_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER store_items_fts_update AFTER UPDATE OF text ON store_items BEGIN
    INSERT INTO store_fts (store_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO store_fts (rowid, text) VALUES (new.id, new.text);
END;
INSERT INTO store_meta (key, value) VALUES ('schema_version', '1');
"#;

    /// A file written by the version-1 schema (no `index_spec` column) upgrades in place
    /// when a store opens it: its items stay, readable and searchable under the store's
    /// fields, and items put with their own spec afterwards keep it across reopens.
    #[tokio::test]
    async fn a_version_1_file_upgrades_in_place_and_keeps_its_items() {
        use agent_memory::store::{ExportQuery, ItemIndex, NamespacePrefix, Scope, StoreBackend};

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("v1.db");
        {
            let old = rusqlite::Connection::open(&path).expect("create");
            old.execute_batch(VERSION_1_SCHEMA).expect("version 1 schema");
            let insert = "INSERT INTO store_items (namespace, key, value, text, created_at, updated_at) \
                          VALUES (?1, ?2, ?3, ?4, 10.0, 20.0)";
            for (key, text) in [("a", "alpine lake"), ("b", "city walk")] {
                let value = json!({ "text": text }).to_string();
                old.execute(insert, rusqlite::params!["docs", key, value, format!("text: {text}")]).expect("insert");
            }
        }
        let store = MemoryStore::sqlite(&path).await.expect("open upgrades").without_embedder();
        let version: String = rusqlite::Connection::open(&path)
            .expect("open")
            .query_row("SELECT value FROM store_meta WHERE key = 'schema_version'", [], |row| row.get(0))
            .expect("version row");
        assert_eq!(version, "3");
        let a = store.get("docs", "a").await.expect("get").expect("kept");
        assert_eq!((a.value["text"].as_str(), a.created_at, a.updated_at), (Some("alpine lake"), 10.0, 20.0));
        let keyword = |text: &'static str| SearchQuery::text(text).mode(SearchMode::Keyword);
        let keys = |hits: Vec<SearchHit>| hits.into_iter().map(|h| h.item.key).collect::<Vec<_>>();
        assert_eq!(keys(store.search("docs", keyword("alpine")).await.expect("search")), ["a"]);

        let hidden =
            PutRequest::new("docs", "c", json!({"text": "alpine hut"})).expect("ns").index(ItemIndex::Disabled);
        store.put_with(hidden).await.expect("put after the upgrade");
        drop(store);
        let reopened = SqliteBackend::open(&path).await.expect("reopen");
        let everything =
            ExportQuery { scope: Scope::Prefix(NamespacePrefix::root()), after: None, limit: 10, now: 1e10 };
        let specs: Vec<(String, ItemIndex)> = reopened
            .export_items(&everything)
            .await
            .expect("export")
            .into_iter()
            .map(|exported| (exported.item.key, exported.index))
            .collect();
        let expected = [("a", ItemIndex::StoreDefault), ("b", ItemIndex::StoreDefault), ("c", ItemIndex::Disabled)];
        assert_eq!(specs, expected.map(|(key, index)| (key.to_owned(), index)));
        let store = MemoryStore::new(std::sync::Arc::new(reopened), Default::default());
        assert_eq!(keys(store.search("docs", keyword("alpine")).await.expect("search")), ["a"]);
    }

    /// Two stores (as two processes would) share one file: concurrent writers on both, no
    /// errors, nothing lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_instances_share_one_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("shared.db");
        let first = MemoryStore::sqlite(&path).await.expect("open");
        let second = MemoryStore::sqlite(&path).await.expect("open");
        let mut tasks = Vec::new();
        for writer in 0..8 {
            let store = if writer % 2 == 0 { first.clone() } else { second.clone() };
            tasks.push(tokio::spawn(async move {
                for i in 0..100 {
                    store.put(["w".to_owned(), format!("{writer}")], format!("k{i}"), json!({"i": i}), None).await?;
                }
                Ok::<(), StoreError>(())
            }));
        }
        for task in tasks {
            task.await.expect("task").expect("writes succeed");
        }
        assert_eq!(first.count("w").await.expect("count"), 800);
        assert_eq!(second.count("w").await.expect("count"), 800);
    }

    /// Stores opening one fresh file at the same time all succeed (the migration is one
    /// IMMEDIATE transaction, so none fails on the version row or the write upgrade).
    #[test]
    fn concurrent_opens_of_a_fresh_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("fresh.db");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let opened: Vec<_> = (0..6)
            .map(|_| {
                let path = path.clone();
                runtime.spawn(async move { SqliteBackend::open(&path).await.map(drop) })
            })
            .collect();
        for task in opened {
            runtime.block_on(task).expect("task").expect("every concurrent open succeeds");
        }
    }

    /// Two stores on one file running transactions that read before they write (a
    /// namespace delete counts first, a refreshing get reads then extends the TTL) while
    /// the other writes: with deferred transactions the read snapshot could not be
    /// upgraded and SQLite failed with SQLITE_BUSY; IMMEDIATE transactions wait instead.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn read_then_write_transactions_of_two_stores_never_fail_busy() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("shared.db");
        let first = MemoryStore::sqlite(&path).await.expect("open").without_embedder();
        let second = MemoryStore::sqlite(&path).await.expect("open").without_embedder();
        let mut tasks = Vec::new();
        for writer in 0..4 {
            let store = if writer % 2 == 0 { first.clone() } else { second.clone() };
            tasks.push(tokio::spawn(async move {
                for i in 0..150 {
                    let ns = ["rw".to_owned(), format!("{writer}"), format!("{}", i % 5)];
                    store.put(ns.clone(), format!("k{i}"), json!({"i": i}), Some(3600.0)).await?;
                    store.get_and_refresh(ns.clone(), format!("k{i}")).await?;
                    if i % 10 == 9 {
                        store.delete_namespace(ns).await?;
                    }
                }
                Ok::<(), StoreError>(())
            }));
        }
        for task in tasks {
            task.await.expect("task").expect("no SQLITE_BUSY");
        }
        // Each writer deleted namespace i % 5 == 4 last at i = 149 (i % 10 == 9), after
        // which nothing was written there; the other four namespaces keep the puts made
        // after their last delete.
        let mut expected = 0;
        for ns in 0..5u64 {
            let last_delete = (0..150u64).filter(|i| i % 5 == ns && i % 10 == 9).max();
            expected += (0..150u64).filter(|i| i % 5 == ns && last_delete.is_none_or(|d| *i > d)).count() as u64;
        }
        assert_eq!(first.count("rw").await.expect("count"), 4 * expected);
    }

    /// The in-process vector index follows writes made through another store on the same
    /// file (as another process would): new vectors are found, deleted and re-embedded
    /// items are not.
    #[tokio::test]
    async fn vector_index_follows_another_stores_writes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("shared.db");
        let hash = || std::sync::Arc::new(agent_memory::embed::HashEmbedder::new(64));
        let first = MemoryStore::sqlite(&path).await.expect("open").with_embedder(hash());
        let second = MemoryStore::sqlite(&path).await.expect("open").with_embedder(hash());
        let semantic = |q: &str| SearchQuery::text(q).mode(SearchMode::Semantic).limit(3);
        first.put("docs", "a", json!({"text": "alpha beta"}), None).await.expect("put");
        first.put("docs", "b", json!({"text": "gamma delta"}), None).await.expect("put");
        let keys = |hits: Vec<SearchHit>| hits.into_iter().map(|h| h.item.key).collect::<Vec<_>>();
        assert_eq!(keys(first.search("docs", semantic("alpha beta")).await.expect("search"))[0], "a");

        second.put("docs", "c", json!({"text": "alpha beta epsilon"}), None).await.expect("put");
        second.delete("docs", "a").await.expect("delete");
        assert_eq!(keys(first.search("docs", semantic("alpha beta")).await.expect("search")), ["c", "b"]);

        // Re-embedding with another model removes the item from this model's results.
        let other = MemoryStore::sqlite(&path).await.expect("open").with_embedding_provider("hash", Some("32"));
        other.expect("hash:32").put("docs", "c", json!({"text": "alpha beta epsilon"}), None).await.expect("put");
        assert_eq!(keys(first.search("docs", semantic("alpha beta")).await.expect("search")), ["b"]);

        // This store's own writes keep the index current without a reload.
        first.put("docs", "d", json!({"text": "alpha"}), Some(3600.0)).await.expect("put");
        assert_eq!(keys(first.search("docs", semantic("alpha")).await.expect("search")), ["d", "b"]);
        assert_eq!(first.delete_namespace("docs").await.expect("delete"), 3);
        assert!(first.search("docs", semantic("alpha")).await.expect("search").is_empty());
    }

    /// The keyword and vector indexes load on the first search that needs each (a keyword
    /// search does not load the vectors) and both follow this store's and another store's
    /// writes whichever loaded first.
    #[tokio::test]
    async fn indexes_load_separately_and_stay_in_step() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("shared.db");
        let hash = || std::sync::Arc::new(agent_memory::embed::HashEmbedder::new(64));
        let first = MemoryStore::sqlite(&path).await.expect("open").with_embedder(hash());
        let second = MemoryStore::sqlite(&path).await.expect("open").with_embedder(hash());
        let keys = |hits: Vec<SearchHit>| hits.into_iter().map(|h| h.item.key).collect::<Vec<_>>();
        let search = |q: &'static str, mode: SearchMode| SearchQuery::text(q).mode(mode).limit(5);
        first.put("docs", "a", json!({"text": "alpha beta"}), None).await.expect("put");
        // Keywords load; the vector index does not.
        assert_eq!(keys(first.search("docs", search("alpha", SearchMode::Keyword)).await.expect("search")), ["a"]);
        first.put("docs", "b", json!({"text": "alpha gamma"}), None).await.expect("put");
        second.put("docs", "c", json!({"text": "alpha alpha alpha"}), None).await.expect("put");
        // Vectors load at the newest snapshot; keywords catch up with the other store's write.
        let semantic = keys(first.search("docs", search("alpha alpha alpha", SearchMode::Semantic)).await.expect("s"));
        assert_eq!(semantic[0], "c");
        assert_eq!(semantic.len(), 3);
        assert_eq!(
            keys(first.search("docs", search("alpha", SearchMode::Keyword)).await.expect("search")),
            ["c", "b", "a"]
        );
        // Both loaded: own writes reach both, another store's deletes too.
        first.put("docs", "a", json!({"text": "delta"}), None).await.expect("put");
        second.delete("docs", "c").await.expect("delete");
        assert_eq!(keys(first.search("docs", search("alpha", SearchMode::Keyword)).await.expect("search")), ["b"]);
        let hybrid = keys(first.search("docs", search("delta", SearchMode::Hybrid)).await.expect("search"));
        assert_eq!(hybrid, ["a", "b"]);
    }

    /// A filtered semantic search returns `limit` results when that many match, even when
    /// every nearest item is filtered out.
    #[tokio::test]
    async fn filtered_semantic_search_fills_the_page() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = MemoryStore::sqlite(dir.path().join("f.db"))
            .await
            .expect("open")
            .with_embedder(std::sync::Arc::new(agent_memory::embed::HashEmbedder::new(64)));
        let mut requests = Vec::new();
        for i in 0..200 {
            requests.push(
                PutRequest::new("docs", format!("near{i}"), json!({"text": "red apple", "kind": "near"})).expect("ns"),
            );
        }
        for i in 0..3 {
            requests.push(
                PutRequest::new("docs", format!("far{i}"), json!({"text": "blue sky", "kind": "far"})).expect("ns"),
            );
        }
        store.put_many(requests).await.expect("put");
        let filter = Filter::from_json(&json!({"kind": "far"})).expect("filter");
        let hits = store
            .search("docs", SearchQuery::text("red apple").mode(SearchMode::Semantic).filter(filter).limit(3))
            .await
            .expect("search");
        let mut keys: Vec<_> = hits.into_iter().map(|h| h.item.key).collect();
        keys.sort();
        assert_eq!(keys, ["far0", "far1", "far2"]);
    }

    /// A database written by a newer schema is refused with a clear error.
    #[tokio::test]
    async fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("future.db");
        drop(SqliteBackend::open(&path).await.expect("create"));
        let connection = rusqlite::Connection::open(&path).expect("raw open");
        connection.execute("UPDATE store_meta SET value = '99' WHERE key = 'schema_version'", []).expect("update");
        drop(connection);
        let error = SqliteBackend::open(&path).await.expect_err("refused");
        assert!(error.to_string().contains("schema version 99"), "{error}");
        let error = MemoryStore::sqlite(dir.path()).await.expect_err("a directory is not a database");
        assert!(matches!(error, StoreError::Backend { backend: "sqlite", .. }), "{error}");
    }

    /// A write acknowledged before the process is killed (SIGKILL) is there after reopening.
    #[test]
    fn acknowledged_writes_survive_a_kill() {
        if let Ok(path) = std::env::var(CHILD_ENV) {
            write_until_killed(&path);
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("durable.db");
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "file::acknowledged_writes_survive_a_kill", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let mut acknowledged = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("read child output");
            if let Some(key) = line.strip_prefix("ack ") {
                acknowledged.push(key.to_owned());
                if acknowledged.len() == 300 {
                    break;
                }
            }
        }
        child.kill().expect("kill child");
        child.wait().expect("reap child");
        assert_eq!(acknowledged.len(), 300, "the child stopped before acknowledging 300 writes");

        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let store = MemoryStore::sqlite(&path).await.expect("reopen after kill");
            for key in &acknowledged {
                let item = store.get("durable", key.as_str()).await.expect("get");
                assert!(item.is_some(), "acknowledged write {key} was lost");
            }
            assert!(store.count("durable").await.expect("count") >= 300);
        });
    }

    fn write_until_killed(path: &str) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let store = MemoryStore::sqlite(path).await.expect("open");
            for i in 0..1_000_000u32 {
                store.put("durable", format!("k{i}"), json!({"i": i}), None).await.expect("put");
                println!("ack k{i}");
            }
        });
    }
}

/// The suite again with an HNSW graph answering every semantic search, and the graph kept in
/// step with another store's writes on the same file.
mod with_graph {
    use std::sync::Arc;

    use agent_memory::store::{
        MemoryStore, PutRequest, SearchHit, SearchMode, SearchQuery, SqliteBackend, SqliteOptions, StoreBackend,
        StoreOptions, VectorIndexOptions,
    };
    use serde_json::json;

    use super::TempSqlite;

    /// A graph from the first vector on, and no exact scan of small scopes.
    fn options() -> SqliteOptions {
        let vector_index =
            VectorIndexOptions { ann_min_vectors: 1, exact_scope_max: 0, ..VectorIndexOptions::default() };
        SqliteOptions { vector_index, ..SqliteOptions::default() }
    }

    async fn make_backend() -> Arc<dyn StoreBackend> {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = SqliteBackend::open_with(&dir.path().join("store.db"), options()).await.expect("open sqlite");
        Arc::new(TempSqlite { backend, _dir: dir })
    }

    agent_memory::store_conformance!(make_backend());

    #[tokio::test]
    async fn graph_follows_another_stores_writes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("shared.db");
        let open = async || {
            let backend = SqliteBackend::open_with(&path, options()).await.expect("open");
            MemoryStore::new(Arc::new(backend), StoreOptions::default())
                .with_embedder(Arc::new(agent_memory::embed::HashEmbedder::new(64)))
        };
        let (first, second) = (open().await, open().await);
        let batch = (0..1500)
            .map(|i| PutRequest::new("docs", format!("k{i}"), json!({"text": format!("item {i} word{}", i % 37)})))
            .collect::<Result<Vec<_>, _>>()
            .expect("valid");
        first.put_many(batch).await.expect("put_many");
        let semantic = |q: &str| SearchQuery::text(q).mode(SearchMode::Semantic).limit(1);
        let keys = |hits: Vec<SearchHit>| hits.into_iter().map(|h| h.item.key).collect::<Vec<_>>();
        assert_eq!(keys(first.search("docs", semantic("item 700 word34")).await.expect("search")), ["k700"]);

        // Another store rewrites one item, deletes one and adds one; the first catches up.
        second.put("docs", "k700", json!({"text": "zebra crossing"}), None).await.expect("put");
        second.delete("docs", "k701").await.expect("delete");
        second.put("docs", "new", json!({"text": "item 701 word35"}), None).await.expect("put");
        assert_eq!(keys(first.search("docs", semantic("zebra crossing")).await.expect("search")), ["k700"]);
        assert_eq!(keys(first.search("docs", semantic("item 701 word35")).await.expect("search")), ["new"]);
        let near_700 = keys(first.search("docs", semantic("item 700 word34").limit(1500)).await.expect("search"));
        assert_eq!(near_700.len(), 1500, "1,500 items live: 1,500 - k701 + new");
        assert!(!near_700.contains(&"k701".to_owned()));
    }
}
