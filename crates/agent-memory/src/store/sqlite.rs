//! The SQLite backend: one file, WAL, an FTS5 keyword index, vectors as f32 BLOBs, and
//! in-process keyword and vector indexes that rank every search.
//!
//! # Schema (version 3)
//!
//! * `store_items(id, namespace, key, value, text, created_at, updated_at, expires_at,
//!   ttl_seconds, embedding, embedding_model, embedding_dims, index_spec)`, unique on
//!   `(namespace, key)`. `namespace` is [`Namespace::encoded`] (labels joined by U+001F),
//!   so a namespace prefix is one index range. `value` is compact JSON text; `embedding` is
//!   the vector as little-endian f32 bytes, with the model id and dimension beside it.
//!   `index_spec` is the item's own [`ItemIndex`] as JSON (`false` or an array of paths),
//!   NULL for the store's fields; version 2 added it (`ALTER TABLE … ADD COLUMN`: a
//!   version-1 file upgrades in place when opened, its items keeping NULL). `changed_at`
//!   (version 3) is the change counter of the transaction that last inserted or updated
//!   the row, set by triggers (so by every writer); rows from before the upgrade keep NULL.
//! * `store_fts`: an FTS5 external-content index of `store_items.text`
//!   (`unicode61 remove_diacritics 0`), kept in sync by triggers. Searches rank from the
//!   in-process keyword index (below) and use FTS5's `bm25()`, which scores the same, only
//!   when that index cannot settle on a snapshot.
//! * `store_meta(key, value)`: `schema_version`.
//! * `store_changes(id = 1, counter, removed_floor)`: `counter` is bumped by every write
//!   transaction, so a store sees whether anyone else (another store on the file, another
//!   process) has written. A write transaction that changes no row (a purge of nothing, a
//!   delete of missing keys) is rolled back instead, so it sends no other store catching
//!   up. A refreshing read (LangGraph's `get` refreshes by default) reads first and writes
//!   only when an item it found has a TTL, so reads of items without one never wait for
//!   the writer.
//! * `store_removed(changed_at, id)` (version 3): the ids of deleted rows with the counter
//!   of the transaction that deleted them, written by a trigger and kept for
//!   [`REMOVED_WINDOW`] counter values; `removed_floor` is the counter up to which they may
//!   be gone.
//!
//! # Semantic search
//!
//! An in-process vector index (per model and dimension, one contiguous `f32` matrix with
//! the metadata that scoping, expiry and ordering need, and an HNSW graph from
//! [`VectorIndexOptions::ann_min_vectors`] vectors on) is loaded on the first semantic
//! search and updated by this backend's own writes under the same lock as their commit (an
//! O(1) update: the index's background worker extends the HNSW graph outside that lock). A
//! search reads `store_changes.counter` in the same snapshot as the rows it returns: when
//! another connection has written since, the index first catches up, reading only the rows
//! written (`changed_at`) and deleted (`store_removed`) since its own counter, or every
//! row when the deletions since are no longer on record; only rows that differ are
//! applied. Value
//! filters are checked on the candidates in score order, widening to every row in scope
//! when the nearest do not fill the page, so a filtered search returns `limit` results
//! whenever that many match. Scores are always exact; results equal a full scan's below the
//! graph's threshold and are approximate (HNSW) above it.
//!
//! # Keyword search
//!
//! An in-process inverted index ([`KeywordIndex`]: postings, document lengths, the same
//! metadata as the vector index) is loaded on the first keyword or hybrid search by
//! tokenizing `store_items.text`, and kept in step exactly like the vector index (each
//! index has its own counter value, so a keyword search never loads the vectors). A keyword
//! search ranks row ids there (BM25 as FTS5 defines it, top-k with MaxScore) and reads only
//! the page's rows; a hybrid search ranks both from the indexes and fuses the ids, with no
//! ranking SQL at all. Under [`KeywordStatistics::Tenant`] the index holds each tenant's
//! items apart ([`KeywordCorpora`]), and a search the index cannot answer ranks from a
//! private index of the tenant's rows rather than FTS5 (whose `bm25()` counts every tenant).
//!
//! # Concurrency and durability
//!
//! One writer connection behind a mutex and a small pool of reader connections; WAL lets
//! readers run while a write commits. Writers wait for the writer connection as tasks, in
//! arrival order (Tokio's mutex). The WAL is checkpointed by a thread of the store's own
//! ([`super::checkpoint`]), passively and beside the writes that follow, so no commit
//! copies and syncs the pages of its predecessors while others wait. All database work runs
//! on Tokio's blocking pool.
//! Every write call is one `BEGIN IMMEDIATE` transaction (a deferred
//! transaction that reads before it writes fails with `SQLITE_BUSY` when another
//! connection committed in between). `synchronous = NORMAL` in WAL mode: a committed
//! write survives the process being killed (it is in the WAL file before `commit`
//! returns); only an operating-system crash or power loss can lose the latest commits.
//!
//! Filters are evaluated in Rust while rows stream in order from SQLite, and pagination
//! stops as soon as the page is full, so a filter never shortens a page that has matches.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params, params_from_iter};
use serde_json::{Map, Value};

use super::backend::{
    ExportQuery, ExportRange, ExportedItem, HybridQuery, KeywordQuery, NamespaceQuery, RestoredItem, ScanQuery, Scope,
    ScoredItem, StoreBackend, VectorQuery, canonical_text_of, fused_row_ids, has_value_filter, hybrid_from_rankings,
};
use super::checkpoint::{BACKSTOP_CHECKPOINT_PAGES, Checkpointer};
use super::group_commit::WaitingWrites;
use super::keyword::KeywordStatistics;
use super::keyword::{self, fts5_match_expression};
use super::keyword_corpora::{KeywordCorpora, scope_tenant, tenant_of_namespace, tenant_range};
use super::keyword_index::text_hash;
use super::vector;
use super::vector_index::{RowMeta, VectorIndex, VectorIndexOptions, first_want, widen};
use super::{Filter, Item, ItemIndex, ItemKey, ItemWrite, Namespace, StoreError, StoredVector};

const SCHEMA_VERSION: i64 = 3;

/// The steps from each schema version to the next: entry `i` takes version `i + 1` to
/// `i + 2`. [`SCHEMA`] is version 1.
const MIGRATIONS: [&str; (SCHEMA_VERSION - 1) as usize] =
    ["ALTER TABLE store_items ADD COLUMN index_spec TEXT", CHANGE_LOG];

/// Version 3: what each write changed, so that another store on the file catches up by
/// reading only that (see [`reload_index`]). Triggers keep it, so every writer does,
/// whatever its code: each inserted or updated row gets the change counter of its
/// transaction in `changed_at`, each deleted row's id goes to `store_removed` with that
/// counter. Rows from before the upgrade keep `changed_at` NULL: no store has an index from
/// before it to catch up (`removed_floor` starts at the counter).
const CHANGE_LOG: &str = r#"
ALTER TABLE store_items ADD COLUMN changed_at INTEGER;
CREATE INDEX store_items_changed ON store_items (changed_at);
ALTER TABLE store_changes ADD COLUMN removed_floor INTEGER NOT NULL DEFAULT 0;
UPDATE store_changes SET removed_floor = counter;
CREATE TABLE store_removed (
    changed_at INTEGER NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (changed_at, id)
) WITHOUT ROWID;
CREATE TRIGGER store_items_changed_insert AFTER INSERT ON store_items BEGIN
    UPDATE store_items SET changed_at = (SELECT counter FROM store_changes WHERE id = 1) WHERE id = new.id;
END;
CREATE TRIGGER store_items_changed_update AFTER UPDATE ON store_items WHEN new.changed_at IS old.changed_at BEGIN
    UPDATE store_items SET changed_at = (SELECT counter FROM store_changes WHERE id = 1) WHERE id = new.id;
END;
CREATE TRIGGER store_items_removed AFTER DELETE ON store_items BEGIN
    INSERT OR IGNORE INTO store_removed (changed_at, id)
    VALUES ((SELECT counter FROM store_changes WHERE id = 1), old.id);
END;
"#;

/// How many change counter values the deletions in `store_removed` are kept for: a store
/// whose index is older catches up by comparing every row instead.
#[cfg(not(test))]
const REMOVED_WINDOW: i64 = 100_000;
/// Small in tests, so that the window passes.
#[cfg(test)]
const REMOVED_WINDOW: i64 = 8;
const MAX_IDLE_READERS: usize = 8;
/// Reader connections [`StoreBackend::warm_up`] leaves idle: one per core of a small
/// server's async workers, and as many for work handed to blocking threads.
const WARM_READERS: usize = 4;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS store_items (
    id INTEGER PRIMARY KEY,
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    expires_at REAL,
    ttl_seconds REAL,
    embedding BLOB,
    embedding_model TEXT,
    embedding_dims INTEGER,
    UNIQUE (namespace, key)
);
CREATE TABLE IF NOT EXISTS store_changes (id INTEGER PRIMARY KEY CHECK (id = 1), counter INTEGER NOT NULL);
INSERT OR IGNORE INTO store_changes (id, counter) VALUES (1, 0);
CREATE INDEX IF NOT EXISTS store_items_recency ON store_items (namespace, updated_at DESC, key);
CREATE INDEX IF NOT EXISTS store_items_expiry ON store_items (expires_at) WHERE expires_at IS NOT NULL;
CREATE VIRTUAL TABLE IF NOT EXISTS store_fts USING fts5 (
    text, content = 'store_items', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER IF NOT EXISTS store_items_fts_insert AFTER INSERT ON store_items BEGIN
    INSERT INTO store_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS store_items_fts_delete AFTER DELETE ON store_items BEGIN
    INSERT INTO store_fts (store_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER IF NOT EXISTS store_items_fts_update AFTER UPDATE OF text ON store_items BEGIN
    INSERT INTO store_fts (store_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO store_fts (rowid, text) VALUES (new.id, new.text);
END;
"#;

/// The columns an [`Item`] is read from, in [`item_from_row`]'s order.
const ITEM_COLUMNS: &str = "namespace, key, value, created_at, updated_at, expires_at, ttl_seconds";
const LIVE: &str = "(expires_at IS NULL OR expires_at > :now)";

/// A [`super::StoreBackend`] in one SQLite file. See the module documentation.
///
/// ```
/// use std::sync::Arc;
///
/// use agent_memory::store::{MemoryStore, SqliteBackend, StoreOptions};
/// use serde_json::json;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let backend = SqliteBackend::open(&dir.path().join("memories.db")).await?;
/// let store = MemoryStore::new(Arc::new(backend), StoreOptions::default());
/// store.put("notes", "n1", json!({"text": "hello"}), None).await?;
/// assert_eq!(store.get("notes", "n1").await?.expect("stored").value["text"], "hello");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteBackend {
    inner: Arc<Inner>,
}

/// How often SQLite syncs to disk (its `synchronous` pragma, in WAL mode).
///
/// Both keep every acknowledged write when the *process* is killed: a commit is in the WAL
/// file (the operating system's page cache) before it returns. They differ on an
/// operating-system crash or power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSync {
    /// `synchronous = NORMAL` (the default): the WAL is synced at checkpoints only, so a
    /// power loss can roll back the latest commits (never corrupt the file).
    #[default]
    Normal,
    /// `synchronous = FULL`: every commit is synced before it returns (durable against
    /// power loss; each write pays one `fsync`).
    Full,
}

impl SqliteSync {
    fn pragma(self) -> &'static str {
        match self {
            SqliteSync::Normal => "NORMAL",
            SqliteSync::Full => "FULL",
        }
    }
}

/// Options of [`SqliteBackend::open_with`].
///
/// ```
/// use agent_memory::store::{SqliteOptions, SqliteSync, VectorIndexOptions};
///
/// let options = SqliteOptions { sync: SqliteSync::Full, vector_index: VectorIndexOptions::exact(), ..Default::default() };
/// assert_ne!(options, SqliteOptions::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SqliteOptions {
    /// Durability of commits against power loss (see [`SqliteSync`]).
    pub sync: SqliteSync,
    /// When the in-process vector index builds an HNSW graph (see [`VectorIndexOptions`]).
    pub vector_index: VectorIndexOptions,
    /// Whose items keyword scores count (see [`KeywordStatistics`]); every process on one
    /// file should use the same.
    pub keyword_statistics: KeywordStatistics,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    sync: SqliteSync,
    /// Writers wait for it as tasks, in arrival order ([`SqliteBackend::write`]).
    writer: Arc<tokio::sync::Mutex<Connection>>,
    /// Checkpoints the WAL after writes, beside them (`None`: the writer does).
    checkpointer: Option<Checkpointer>,
    readers: Mutex<Vec<Connection>>,
    indexes: RwLock<IndexCache>,
    /// Puts waiting for the writer; whichever put takes the writer first commits every put
    /// waiting then, in one transaction ([`SqliteBackend::put_many`]).
    pending_puts: WaitingWrites<PendingPut>,
}

/// One `put_many` call waiting for the writer, and where its answer goes.
#[derive(Debug)]
struct PendingPut {
    writes: Vec<ItemWrite>,
    now: f64,
    reply: tokio::sync::oneshot::Sender<Result<Vec<Item>, StoreError>>,
}

/// The in-process vector and keyword indexes, each with the `store_changes.counter` value
/// it reflects (`None`: not loaded, or invalidated by a failed commit). Each is loaded on
/// the first search that needs it (a keyword search never waits for the vector index's
/// graph); both are kept in step by every commit of this backend once loaded.
#[derive(Debug)]
struct IndexCache {
    vectors_at: Option<i64>,
    vectors: VectorIndex,
    keywords_at: Option<i64>,
    keywords: KeywordCorpora,
    /// How the indexes last caught up with the stored rows (for tests and the log).
    last_catch_up: Option<CatchUp>,
}

/// Which indexes a search reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    Vectors,
    Keywords,
    Both,
}

impl Needs {
    fn vectors(self) -> bool {
        self != Needs::Keywords
    }

    fn keywords(self) -> bool {
        self != Needs::Vectors
    }
}

impl IndexCache {
    /// Whether every index that `needs` names reflects exactly `counter`.
    fn at(&self, needs: Needs, counter: i64) -> bool {
        (!needs.vectors() || self.vectors_at == Some(counter))
            && (!needs.keywords() || self.keywords_at == Some(counter))
    }

    /// Whether an index that `needs` names is newer than `counter`.
    fn past(&self, needs: Needs, counter: i64) -> bool {
        (needs.vectors() && self.vectors_at.is_some_and(|at| at > counter))
            || (needs.keywords() && self.keywords_at.is_some_and(|at| at > counter))
    }
}

/// A change that a committed write makes to the indexes.
enum IndexDelta {
    Upsert { id: i64, vector: Option<StoredVector>, text: String, meta: RowMeta },
    Remove(i64),
    SetExpiry(i64, Option<f64>),
}

/// Drops the deletions recorded more than [`REMOVED_WINDOW`] counter values before `counter`
/// (this transaction's) and raises `removed_floor` to match, inside write transaction `tx`.
fn forget_old_removals(tx: &Transaction<'_>, counter: i64) -> Result<(), StoreError> {
    let floor = counter - REMOVED_WINDOW;
    tx.prepare_cached("DELETE FROM store_removed WHERE changed_at <= ?1")
        .and_then(|mut statement| statement.execute([floor]))
        .map_err(sql_error)?;
    tx.prepare_cached("UPDATE store_changes SET removed_floor = ?1 WHERE id = 1 AND removed_floor < ?1")
        .and_then(|mut statement| statement.execute([floor]))
        .map_err(sql_error)?;
    Ok(())
}

/// The live item at `key` through `select` (a prepared `SELECT {ITEM_COLUMNS} … WHERE
/// namespace = :ns AND key = :key AND {LIVE}`).
fn select_item(
    select: &mut rusqlite::CachedStatement<'_>,
    key: &ItemKey,
    now: f64,
) -> Result<Option<Item>, StoreError> {
    let mut rows = select
        .query(rusqlite::named_params! {":now": now, ":ns": key.namespace.encoded(), ":key": key.key})
        .map_err(sql_error)?;
    match rows.next().map_err(sql_error)? {
        Some(row) => Ok(Some(item_from_row(row, 0)?)),
        None => Ok(None),
    }
}

/// Bumps the change counter inside write transaction `tx`; returns the value before.
fn bump_counter(tx: &Transaction<'_>) -> Result<i64, StoreError> {
    tx.query_row("UPDATE store_changes SET counter = counter + 1 WHERE id = 1 RETURNING counter - 1", [], |row| {
        row.get(0)
    })
    .map_err(sql_error)
}

/// Commits `tx` (whose counter was `before`) and applies `deltas` to the cache, holding the
/// cache's write lock across the commit so no search sees the new rows with the old index.
///
/// Every row a write changes has its delta, so no deltas means `tx` changed no row (a purge
/// with nothing expired, a delete of missing keys, a refreshing read whose items lost their
/// TTL since it looked): it is rolled back, counter bump included. A bump would tell every
/// other store on the file (other processes) that its indexes are stale, and each would
/// catch up on its next search, under its index lock; the server's sweeper purges every
/// minute. A transaction that deletes also forgets the deletions older than
/// [`REMOVED_WINDOW`] counter values.
fn commit_with(inner: &Inner, tx: Transaction<'_>, before: i64, deltas: Vec<IndexDelta>) -> Result<(), StoreError> {
    if deltas.is_empty() {
        return tx.rollback().map_err(sql_error);
    }
    if deltas.iter().any(|delta| matches!(delta, IndexDelta::Remove(_))) {
        forget_old_removals(&tx, before + 1)?;
    }
    let mut cache = inner.indexes.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Err(error) = tx.commit() {
        cache.vectors_at = None;
        cache.keywords_at = None;
        return Err(sql_error(error));
    }
    // An index that missed another connection's commit stays behind and reloads later.
    let (vectors, keywords) = (cache.vectors_at == Some(before), cache.keywords_at == Some(before));
    for delta in deltas {
        match delta {
            IndexDelta::Upsert { id, vector, text, meta } => {
                if keywords {
                    cache.keywords.upsert(id, &text, meta.clone());
                }
                if vectors {
                    cache.vectors.upsert(id, vector.as_ref().map(|v| (v.model.as_str(), v.vector.as_slice())), meta);
                }
            }
            IndexDelta::Remove(id) => {
                if keywords {
                    cache.keywords.remove(id);
                }
                if vectors {
                    cache.vectors.remove(id);
                }
            }
            IndexDelta::SetExpiry(id, expires_at) => {
                if keywords {
                    cache.keywords.set_expiry(id, expires_at);
                }
                if vectors {
                    cache.vectors.set_expiry(id, expires_at);
                }
            }
        }
    }
    if vectors {
        cache.vectors.maintain();
        cache.vectors_at = Some(before + 1);
    }
    if keywords {
        cache.keywords_at = Some(before + 1);
    }
    Ok(())
}

/// Commits `queued` puts in one transaction, each under its own savepoint, and answers each:
/// a put whose own writes failed gets its error (its savepoint rolled back, the others kept);
/// when the transaction itself fails (or SQLite ends it), every put not failed on its own
/// gets that error, and none is kept.
fn commit_puts(connection: &mut Connection, inner: &Inner, queued: Vec<PendingPut>) {
    let mut outcomes: Vec<Option<Result<Vec<Item>, StoreError>>> = queued.iter().map(|_| None).collect();
    let (requests, replies): (Vec<_>, Vec<_>) =
        queued.into_iter().map(|put| ((put.writes, put.now), put.reply)).unzip();
    let committed = (|| {
        let mut tx = begin_write(connection)?;
        let before = bump_counter(&tx)?;
        let mut deltas = Vec::new();
        for ((writes, now), outcome) in requests.into_iter().zip(&mut outcomes) {
            let savepoint = tx.savepoint().map_err(sql_error)?;
            match upsert_writes(&savepoint, writes, now) {
                Ok((stored, written)) => {
                    savepoint.commit().map_err(sql_error)?;
                    deltas.extend(written);
                    *outcome = Some(Ok(stored));
                }
                Err(error) => {
                    // Dropping the savepoint rolls this put's writes back. Some errors (a full
                    // disk, an I/O error) make SQLite roll back the whole transaction: then
                    // nothing of the group is kept, and every put gets the error.
                    drop(savepoint);
                    if tx.is_autocommit() {
                        return Err(error);
                    }
                    *outcome = Some(Err(error));
                }
            }
        }
        commit_with(inner, tx, before, deltas)
    })();
    for (reply, outcome) in replies.into_iter().zip(outcomes) {
        let answer = match (outcome, &committed) {
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(stored)), Ok(())) => Ok(stored),
            (_, Err(error)) => Err(copy_of(error)),
            (None, Ok(())) => Err(StoreError::backend("sqlite", "a queued put was not run")),
        };
        // A caller that stopped waiting no longer needs its answer.
        let _ = reply.send(answer);
    }
}

/// `error` again, for a second caller (errors are not `Clone`).
fn copy_of(error: &StoreError) -> StoreError {
    match error {
        StoreError::Backend { backend, message } => StoreError::backend(backend, message.clone()),
        other => StoreError::backend("sqlite", other.to_string()),
    }
}

/// Upserts `writes` at `now` in `tx`: the stored items and their index deltas.
fn upsert_writes(
    tx: &Connection,
    writes: Vec<ItemWrite>,
    now: f64,
) -> Result<(Vec<Item>, Vec<IndexDelta>), StoreError> {
    let mut statement = tx.prepare_cached(PUT_UPSERT).map_err(sql_error)?;
    let mut deltas = Vec::with_capacity(writes.len());
    let mut stored = Vec::with_capacity(writes.len());
    for write in writes {
        // `created_at` is the stored one, which the statement answers.
        let (mut item, text, vector, index) = write.into_item(now, now);
        let (created_at, delta) = upsert_item(&mut statement, &item, text, vector, &index)?;
        item.created_at = created_at;
        deltas.push(delta);
        stored.push(item);
    }
    Ok((stored, deltas))
}

/// The upsert of one item, binding `?1`…`?12` as [`upsert_item`] does; `created_at`
/// is the only column the two uses set differently.
macro_rules! item_upsert {
    ($created_at:literal) => {
        concat!(
            "INSERT INTO store_items (namespace, key, value, text, created_at, updated_at, expires_at, \
             ttl_seconds, embedding, embedding_model, embedding_dims, index_spec) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
             ON CONFLICT (namespace, key) DO UPDATE SET \
               value = excluded.value, text = excluded.text, index_spec = excluded.index_spec, \
               created_at = ",
            $created_at,
            ", updated_at = excluded.updated_at, expires_at = excluded.expires_at, \
               ttl_seconds = excluded.ttl_seconds, embedding = excluded.embedding, \
               embedding_model = excluded.embedding_model, embedding_dims = excluded.embedding_dims \
             RETURNING created_at, id"
        )
    };
}

/// A put: an existing item's `created_at` is kept while it is live.
const PUT_UPSERT: &str = item_upsert!(
    "CASE WHEN store_items.expires_at IS NOT NULL AND store_items.expires_at <= excluded.updated_at \
     THEN excluded.created_at ELSE store_items.created_at END"
);

/// A restore: every time as given.
const RESTORE_UPSERT: &str = item_upsert!("excluded.created_at");

/// Writes `item` (indexed by `text`, with `vector`, under `index`) through `statement` (one of
/// [`PUT_UPSERT`], [`RESTORE_UPSERT`]): the stored `created_at` and the item's index delta.
fn upsert_item(
    statement: &mut rusqlite::CachedStatement<'_>,
    item: &Item,
    text: String,
    vector: Option<StoredVector>,
    index: &ItemIndex,
) -> Result<(f64, IndexDelta), StoreError> {
    let value = serde_json::to_string(&item.value)
        .map_err(|e| StoreError::InvalidValue(format!("cannot serialize value: {e}")))?;
    let (blob, model, dims) = match &vector {
        Some(v) => (Some(vector_to_blob(&v.vector)), Some(v.model.clone()), Some(v.vector.len() as i64)),
        None => (None, None, None),
    };
    let namespace = item.namespace.encoded();
    let (created_at, id): (f64, i64) = statement
        .query_row(
            params![
                namespace,
                item.key,
                value,
                text,
                item.created_at,
                item.updated_at,
                item.expires_at,
                item.ttl_seconds,
                blob,
                model,
                dims,
                index.to_column()
            ],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(sql_error)?;
    let meta = RowMeta { namespace, key: item.key.clone(), updated_at: item.updated_at, expires_at: item.expires_at };
    Ok((created_at, IndexDelta::Upsert { id, vector, text, meta }))
}

fn sql_error(error: rusqlite::Error) -> StoreError {
    StoreError::backend("sqlite", error.to_string())
}

fn corrupt(message: String) -> StoreError {
    StoreError::backend("sqlite", message)
}

impl SqliteBackend {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the file cannot be opened, is not a database, or was
    /// written by a newer schema version.
    pub async fn open(path: &Path) -> Result<SqliteBackend, StoreError> {
        SqliteBackend::open_with(path, SqliteOptions::default()).await
    }

    /// Like [`SqliteBackend::open`], with explicit durability and vector index options.
    ///
    /// # Errors
    ///
    /// As [`SqliteBackend::open`].
    pub async fn open_with(path: &Path, options: SqliteOptions) -> Result<SqliteBackend, StoreError> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || SqliteBackend::open_blocking(path, options))
            .await
            .map_err(|e| StoreError::backend("sqlite", format!("open task failed: {e}")))?
    }

    fn open_blocking(path: PathBuf, options: SqliteOptions) -> Result<SqliteBackend, StoreError> {
        let mut writer = open_connection_with(&path, options.sync)
            .map_err(|e| StoreError::backend("sqlite", format!("cannot open {}: {e}", path.display())))?;
        migrate(&mut writer)?;
        let sync = options.sync;
        let checkpointer = Checkpointer::start(&path, move |path| open_connection_with(path, sync));
        if checkpointer.is_some() {
            writer.pragma_update(None, "wal_autocheckpoint", BACKSTOP_CHECKPOINT_PAGES).map_err(sql_error)?;
        }
        Ok(SqliteBackend {
            inner: Arc::new(Inner {
                path,
                sync: options.sync,
                writer: Arc::new(tokio::sync::Mutex::new(writer)),
                checkpointer,
                readers: Mutex::new(Vec::new()),
                pending_puts: WaitingWrites::default(),
                indexes: RwLock::new(IndexCache {
                    vectors_at: None,
                    vectors: VectorIndex::new(options.vector_index),
                    keywords_at: None,
                    keywords: KeywordCorpora::new(options.keyword_statistics),
                    last_catch_up: None,
                }),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The vector index options this backend runs with (those of
    /// [`SqliteBackend::open_with`]).
    pub fn vector_index_options(&self) -> VectorIndexOptions {
        read_cache(&self.inner).vectors.options()
    }

    /// Blocks until the loaded vector index's HNSW graphs hold every vector it holds (at once
    /// without a graph, or before the first semantic search loads the index). Searches never
    /// need this: rows the graph does not hold yet are scanned exactly. For benchmarks and
    /// tests that want to time or check the graph.
    pub fn wait_for_vector_index(&self) {
        let progress = read_cache(&self.inner).vectors.graph_progress();
        progress.wait();
    }

    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        // Waiting for the writer as a task, not as a thread: Tokio's mutex serves waiters in
        // arrival order, where a thread-blocking mutex lets a newcomer take it ahead of
        // threads already asleep on it, so under many concurrent puts some waited for dozens
        // of turns (p90 22 ms at p50 5 ms). No thread sits blocked on the lock either.
        let mut connection = inner.writer.clone().lock_owned().await;
        run_blocking(move || {
            let result = work(&mut connection, &inner);
            if let Some(checkpointer) = &inner.checkpointer {
                checkpointer.wrote();
            }
            result
        })
        .await
    }

    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        run_blocking(move || {
            let idle = lock(&inner.readers).pop();
            let connection = match idle {
                Some(connection) => connection,
                None => open_reader(&inner.path, inner.sync).map_err(sql_error)?,
            };
            let result = work(&connection, &inner);
            inner.return_reader(connection);
            result
        })
        .await
    }

    /// Runs `work` right here, on the async caller's thread, with an idle reader connection:
    /// for index searches whose indexes already match the database, which read a counter
    /// and a page of rows by id and take well under a millisecond. Handing them to
    /// [`run_blocking`] cost more than the work (four thread switches per search, 7% of
    /// the CPU of a hybrid search under load). `Ok(None)` when no reader is idle or `work`
    /// declines (it answers `None` when it would need slow work: an index to load, a scan);
    /// the caller then goes through [`SqliteBackend::read`].
    fn read_inline<T>(
        &self,
        work: impl FnOnce(&Connection, &Inner) -> Result<Option<T>, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let Some(connection) = lock(&self.inner.readers).pop() else { return Ok(None) };
        let result = work(&connection, &self.inner);
        self.inner.return_reader(connection);
        result
    }

    /// `work` on an index snapshot, inline ([`SqliteBackend::read_inline`], [`Pace::Inline`]).
    fn search_inline<T>(
        &self,
        needs: Needs,
        work: impl FnMut(&Connection, i64) -> Result<Option<T>, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.read_inline(|connection, inner| on_index_snapshot(connection, inner, needs, Pace::Inline, work))
    }
}

impl Inner {
    /// Puts a reader connection back in the idle pool, or closes it when the pool is full.
    fn return_reader(&self, connection: Connection) {
        let mut readers = lock(&self.readers);
        if readers.len() < MAX_IDLE_READERS {
            readers.push(connection);
        }
    }
}

/// Whether index work may load or reload an index (slow: it reads every row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pace {
    /// On the async caller's thread: only searches of indexes that already match.
    Inline,
    /// Under [`run_blocking`]: anything.
    Blocking,
}

/// Runs blocking database work off the async scheduler. On a multi-threaded Tokio runtime
/// the work runs right here under `block_in_place` (the worker's other tasks move to another
/// thread), which saves the two thread hand-offs of `spawn_blocking`: on a loaded machine
/// each hand-off waits for a CPU, and they dominated a single put's latency. Elsewhere
/// (a current-thread runtime, or no runtime) it goes to the blocking pool.
async fn run_blocking<T, F>(work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    let multi_threaded = tokio::runtime::Handle::try_current()
        .is_ok_and(|handle| handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_threaded {
        return tokio::task::block_in_place(work);
    }
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::backend("sqlite", format!("database task failed: {e}")))?
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a transaction rolls it back when the connection's transaction guard
    // drops, so the connection is still consistent.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Opens one connection the way every SQLite table of this crate expects it (busy timeout,
/// WAL, `synchronous = NORMAL`); shared with the session store.
pub(crate) fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    open_connection_with(path, SqliteSync::Normal)
}

fn open_connection_with(path: &Path, sync: SqliteSync) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(std::time::Duration::from_secs(10))?;
    set_wal_mode(&connection)?;
    connection.pragma_update(None, "synchronous", sync.pragma())?;
    // Checkpoint every ~16 MB of WAL instead of every ~4 MB: a checkpoint (which syncs)
    // runs inside the commit that triggers it, and hot pages (the change counter, index
    // leaves, FTS5 structure) written many times between two checkpoints are copied once.
    // (The store's writer leaves checkpoints to a `Checkpointer` and raises this.)
    connection.pragma_update(None, "wal_autocheckpoint", 4000)?;
    connection.set_prepared_statement_cache_capacity(64);
    Ok(connection)
}

/// `PRAGMA journal_mode = WAL`. On a fresh file that other connections are opening at the
/// same moment, SQLite can answer SQLITE_BUSY at once instead of waiting in the busy handler
/// (the mode change takes an exclusive lock it does not wait for), so a busy answer is
/// retried for up to about a second before it is an error.
fn set_wal_mode(connection: &Connection) -> rusqlite::Result<()> {
    const ATTEMPTS: u32 = 100;
    let mut attempt = 1;
    loop {
        match connection.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(error, _))
                if attempt < ATTEMPTS
                    && matches!(
                        error.code,
                        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                    ) =>
            {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

/// How much of the file a reader connection maps into memory. Reads of mapped pages are
/// plain memory reads; without the map every page that misses SQLite's small per-connection
/// cache (2 MiB) is copied in with `pread`, which dominated keyword search under load (rows
/// carry their vectors, so a ranking that touches thousands of rows touches thousands of
/// pages). Address space only: the operating system's page cache backs it.
const READER_MMAP_BYTES: i64 = 1 << 30;

/// Opens a reader connection: [`open_connection`] plus a memory-mapped file.
fn open_reader(path: &Path, sync: SqliteSync) -> rusqlite::Result<Connection> {
    let connection = open_connection_with(path, sync)?;
    connection.pragma_update(None, "mmap_size", READER_MMAP_BYTES)?;
    Ok(connection)
}

/// Starts a write transaction with `BEGIN IMMEDIATE`, which takes the database's write lock
/// up front (waiting for it under the busy timeout).
///
/// A deferred transaction (`BEGIN`) that reads first holds a read snapshot; when it then
/// writes and another connection (another store on the same file, another process) has
/// committed since that snapshot, SQLite cannot upgrade the snapshot and fails at once with
/// `SQLITE_BUSY` (`SQLITE_BUSY_SNAPSHOT`), without calling the busy handler. Every write
/// transaction here reads before it writes or may do so (`delete_scope` counts first, the
/// refreshing `get` and the migration read then write), so every one starts IMMEDIATE.
fn begin_write(connection: &mut Connection) -> Result<Transaction<'_>, StoreError> {
    connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql_error)
}

fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    // One IMMEDIATE transaction, so stores opening a fresh file at the same time (threads or
    // processes) neither race on the version row nor fail upgrading a read to a write.
    let tx = begin_write(connection)?;
    migrate_in(&tx)?;
    tx.commit().map_err(sql_error)
}

fn migrate_in(connection: &Connection) -> Result<(), StoreError> {
    connection.execute_batch(SCHEMA).map_err(sql_error)?;
    let version: Option<String> = connection
        .query_row("SELECT value FROM store_meta WHERE key = 'schema_version'", [], |r| r.get(0))
        .optional()
        .map_err(sql_error)?;
    // A file without a version row has just been given `SCHEMA`: version 1.
    let found = match version.as_deref().map(str::parse::<i64>) {
        None => 1,
        Some(Ok(newer)) if newer > SCHEMA_VERSION => {
            return Err(corrupt(format!(
                "the database has store schema version {newer}; this build understands up to {SCHEMA_VERSION}"
            )));
        }
        Some(Ok(found)) if found >= 1 => found,
        Some(other) => return Err(corrupt(format!("unreadable store schema version {other:?}"))),
    };
    if version.is_some() && found == SCHEMA_VERSION {
        return Ok(());
    }
    for step in &MIGRATIONS[(found - 1) as usize..] {
        connection.execute_batch(step).map_err(sql_error)?;
    }
    connection
        .execute(
            "INSERT INTO store_meta (key, value) VALUES ('schema_version', ?1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [SCHEMA_VERSION.to_string()],
        )
        .map_err(sql_error)?;
    Ok(())
}

/// A WHERE clause fragment selecting `scope`, with its parameters appended to `params`.
fn scope_sql(scope: &Scope, column: &str, params: &mut Vec<SqlValue>) -> String {
    match scope {
        Scope::Namespace(namespace) => {
            params.push(SqlValue::Text(namespace.encoded()));
            format!("{column} = ?{}", params.len())
        }
        Scope::Prefix(prefix) => match prefix.encoded_range() {
            None => "1".to_owned(),
            Some((low, high)) => {
                params.push(SqlValue::Text(low));
                params.push(SqlValue::Text(high));
                format!("{column} >= ?{} AND {column} < ?{}", params.len() - 1, params.len())
            }
        },
    }
}

/// A WHERE clause fragment selecting an export page's range, with its parameters appended
/// to `params`: each form is one seek on the UNIQUE (namespace, key) index.
fn export_range_sql(range: ExportRange, params: &mut Vec<SqlValue>) -> String {
    let mut bind = |text: String| {
        params.push(SqlValue::Text(text));
        format!("?{}", params.len())
    };
    match range {
        ExportRange::Nothing => "0".to_owned(),
        ExportRange::All => "1".to_owned(),
        ExportRange::After { namespace, key } => format!("(namespace, key) > ({}, {})", bind(namespace), bind(key)),
        ExportRange::AfterBelow { namespace, key, below } => {
            format!("(namespace, key) > ({}, {}) AND namespace < {}", bind(namespace), bind(key), bind(below))
        }
        ExportRange::Between { from, below } => format!("namespace >= {} AND namespace < {}", bind(from), bind(below)),
        ExportRange::Namespace { namespace } => format!("namespace = {}", bind(namespace)),
        ExportRange::NamespaceAfter { namespace, key } => {
            format!("namespace = {} AND key > {}", bind(namespace), bind(key))
        }
    }
}

fn live_sql(column_prefix: &str, now: f64, params: &mut Vec<SqlValue>) -> String {
    params.push(SqlValue::Real(now));
    let n = params.len();
    format!("({column_prefix}expires_at IS NULL OR {column_prefix}expires_at > ?{n})")
}

fn item_from_row(row: &Row<'_>, first: usize) -> Result<Item, StoreError> {
    let namespace: String = row.get(first).map_err(get_error)?;
    let value: String = row.get(first + 2).map_err(get_error)?;
    let value: Map<String, Value> =
        serde_json::from_str(&value).map_err(|e| corrupt(format!("stored value is not a JSON object: {e}")))?;
    Ok(Item {
        namespace: Namespace::decode(&namespace)?,
        key: row.get(first + 1).map_err(get_error)?,
        value,
        created_at: row.get(first + 3).map_err(get_error)?,
        updated_at: row.get(first + 4).map_err(get_error)?,
        expires_at: row.get(first + 5).map_err(get_error)?,
        ttl_seconds: row.get(first + 6).map_err(get_error)?,
    })
}

fn matches(filter: &Filter, item: &Item) -> bool {
    filter.is_empty() || filter.matches_object(&item.value)
}

fn vector_to_blob(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn blob_to_vector(blob: &[u8], out: &mut Vec<f32>) {
    out.clear();
    out.extend(blob.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
}

#[async_trait]
impl StoreBackend for SqliteBackend {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    /// Loads the keyword and vector indexes (the graphs then build in the background) and
    /// opens [`WARM_READERS`] reader connections, so that the first concurrent searches
    /// neither wait for a load nor each open a connection.
    async fn warm_up(&self) -> Result<(), StoreError> {
        self.read(|connection, inner| {
            on_index_snapshot(connection, inner, Needs::Both, Pace::Blocking, |_, _| Ok(Some(())))?;
            Ok(())
        })
        .await?;
        let inner = self.inner.clone();
        run_blocking(move || {
            let idle = lock(&inner.readers).len();
            for _ in idle..WARM_READERS {
                let connection = open_reader(&inner.path, inner.sync).map_err(sql_error)?;
                inner.return_reader(connection);
            }
            Ok(())
        })
        .await
    }

    /// Group commit: the call queues its writes, then waits for the writer. Whoever gets the
    /// writer first commits every put queued by then in one transaction, each call's writes
    /// under a savepoint of their own (a call that fails is rolled back alone and gets its
    /// own error), and answers each; a call whose writes another one committed finds its
    /// answer waiting. Concurrent puts share one commit's page and WAL writes instead of
    /// paying for one each (measured in `bench/load/README.md`).
    async fn put_many(&self, writes: Vec<ItemWrite>, now: f64) -> Result<Vec<Item>, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let _ticket = self.inner.pending_puts.push(PendingPut { writes, now, reply });
        self.write(|connection, inner| {
            let queued = inner.pending_puts.take();
            if !queued.is_empty() {
                commit_puts(connection, inner, queued);
            }
            Ok(())
        })
        .await?;
        answer.await.unwrap_or_else(|_| Err(StoreError::backend("sqlite", "a put was dropped before it was answered")))
    }

    async fn get_many(&self, keys: &[ItemKey], now: f64, refresh_ttl: bool) -> Result<Vec<Option<Item>>, StoreError> {
        let keys = keys.to_vec();
        let select = format!("SELECT {ITEM_COLUMNS} FROM store_items WHERE namespace = :ns AND key = :key AND {LIVE}");
        let (found, keys, select) = self
            .read(move |connection, _| {
                let found = {
                    let tx = connection.unchecked_transaction().map_err(sql_error)?;
                    let mut statement = tx.prepare_cached(&select).map_err(sql_error)?;
                    keys.iter().map(|key| select_item(&mut statement, key, now)).collect::<Result<Vec<_>, _>>()?
                };
                Ok((found, keys, select))
            })
            .await?;
        // Refreshing needs the writer only when an item found has a TTL to refresh.
        if refresh_ttl && found.iter().flatten().any(|item| item.ttl_seconds.is_some()) {
            return self
                .write(move |connection, inner| {
                    let tx = begin_write(connection)?;
                    let before = bump_counter(&tx)?;
                    let mut deltas = Vec::new();
                    let mut found = Vec::with_capacity(keys.len());
                    {
                        let mut refresh = tx
                            .prepare_cached(&format!(
                                "UPDATE store_items SET expires_at = :now + ttl_seconds \
                                 WHERE namespace = :ns AND key = :key AND ttl_seconds IS NOT NULL AND {LIVE} \
                                 RETURNING id, expires_at"
                            ))
                            .map_err(sql_error)?;
                        let mut select = tx.prepare_cached(&select).map_err(sql_error)?;
                        for key in &keys {
                            let ns = key.namespace.encoded();
                            let refreshed: Option<(i64, Option<f64>)> = refresh
                                .query_row(rusqlite::named_params! {":now": now, ":ns": ns, ":key": key.key}, |row| {
                                    Ok((row.get(0)?, row.get(1)?))
                                })
                                .optional()
                                .map_err(sql_error)?;
                            if let Some((id, expires_at)) = refreshed {
                                deltas.push(IndexDelta::SetExpiry(id, expires_at));
                            }
                            found.push(select_item(&mut select, key, now)?);
                        }
                    }
                    commit_with(inner, tx, before, deltas)?;
                    Ok(found)
                })
                .await;
        }
        Ok(found)
    }

    async fn delete_many(&self, keys: &[ItemKey], now: f64) -> Result<Vec<bool>, StoreError> {
        let keys = keys.to_vec();
        self.write(move |connection, inner| {
            let tx = begin_write(connection)?;
            let before = bump_counter(&tx)?;
            let mut deltas = Vec::new();
            let mut removed = Vec::with_capacity(keys.len());
            {
                let mut delete = tx
                    .prepare_cached(
                        "DELETE FROM store_items WHERE namespace = ?1 AND key = ?2 RETURNING expires_at, id",
                    )
                    .map_err(sql_error)?;
                for key in &keys {
                    let deleted: Option<(Option<f64>, i64)> = delete
                        .query_row(params![key.namespace.encoded(), key.key], |row| Ok((row.get(0)?, row.get(1)?)))
                        .optional()
                        .map_err(sql_error)?;
                    if let Some((_, id)) = deleted {
                        deltas.push(IndexDelta::Remove(id));
                    }
                    let expires_at = deleted.map(|(at, _)| at);
                    removed.push(matches!(expires_at, Some(at) if at.is_none_or(|at| now < at)));
                }
            }
            commit_with(inner, tx, before, deltas)?;
            Ok(removed)
        })
        .await
    }

    async fn scan(&self, query: &ScanQuery) -> Result<Vec<Item>, StoreError> {
        let query = query.clone();
        self.read(move |connection, _| {
            let mut params = Vec::new();
            let scope = scope_sql(&query.scope, "namespace", &mut params);
            let live = live_sql("", query.now, &mut params);
            let mut sql = format!(
                "SELECT {ITEM_COLUMNS} FROM store_items WHERE {scope} AND {live} \
                 ORDER BY updated_at DESC, namespace, key"
            );
            let filtered = !query.filter.is_empty();
            if !filtered {
                params.push(SqlValue::Integer(query.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX))));
                params.push(SqlValue::Integer(i64::try_from(query.offset).unwrap_or(i64::MAX)));
                sql.push_str(&format!(" LIMIT ?{} OFFSET ?{}", params.len() - 1, params.len()));
            }
            let mut statement = connection.prepare_cached(&sql).map_err(sql_error)?;
            let mut rows = statement.query(params_from_iter(params)).map_err(sql_error)?;
            let (mut skipped, limit) = (0, query.limit.unwrap_or(usize::MAX));
            let mut items = Vec::new();
            while items.len() < limit {
                let Some(row) = rows.next().map_err(sql_error)? else { break };
                let item = item_from_row(row, 0)?;
                if filtered {
                    if !matches(&query.filter, &item) {
                        continue;
                    }
                    if skipped < query.offset {
                        skipped += 1;
                        continue;
                    }
                }
                items.push(item);
            }
            Ok(items)
        })
        .await
    }

    async fn vector_search(&self, query: &VectorQuery) -> Result<Vec<ScoredItem>, StoreError> {
        if query.filter.is_empty()
            && let Some(hits) =
                self.search_inline(Needs::Vectors, |tx, counter| search_snapshot(tx, &self.inner, counter, query))?
        {
            return Ok(hits);
        }
        let query = query.clone();
        self.read(move |connection, inner| indexed_vector_search(connection, inner, &query)).await
    }

    async fn keyword_search(&self, query: &KeywordQuery) -> Result<Vec<ScoredItem>, StoreError> {
        if query.filter.is_empty()
            && let Some(hits) =
                self.search_inline(Needs::Keywords, |tx, counter| keyword_snapshot(tx, &self.inner, counter, query))?
        {
            return Ok(hits);
        }
        let query = query.clone();
        self.read(move |connection, inner| indexed_keyword_search(connection, inner, &query)).await
    }

    async fn hybrid_search(&self, query: &HybridQuery) -> Result<Vec<ScoredItem>, StoreError> {
        if has_value_filter(query) {
            // A value filter needs every candidate's value: rank items.
            return hybrid_from_rankings(self, query).await;
        }
        if let Some(hits) =
            self.read_inline(|connection, inner| fused_search(connection, inner, query, Pace::Inline))?
        {
            return Ok(hits);
        }
        let owned = query.clone();
        match self.read(move |connection, inner| fused_search(connection, inner, &owned, Pace::Blocking)).await? {
            Some(hits) => Ok(hits),
            None => hybrid_from_rankings(self, query).await,
        }
    }

    async fn list_namespaces(&self, query: &NamespaceQuery) -> Result<Vec<Namespace>, StoreError> {
        let query = query.clone();
        self.read(move |connection, _| {
            let mut params = Vec::new();
            let scope = scope_sql(&Scope::Prefix(query.prefix.clone()), "namespace", &mut params);
            let live = live_sql("", query.now, &mut params);
            let sql = format!("SELECT DISTINCT namespace FROM store_items WHERE {scope} AND {live} ORDER BY namespace");
            let mut statement = connection.prepare_cached(&sql).map_err(sql_error)?;
            let mut rows = statement.query(params_from_iter(params)).map_err(sql_error)?;
            let mut listed: Vec<Namespace> = Vec::new();
            let mut skipped = 0;
            let mut last: Option<Namespace> = None;
            while listed.len() < query.limit {
                let Some(row) = rows.next().map_err(sql_error)? else { break };
                let encoded: String = row.get(0).map_err(sql_error)?;
                let namespace = Namespace::decode(&encoded)?;
                if !namespace.ends_with(&query.suffix) {
                    continue;
                }
                let namespace = match query.max_depth {
                    Some(depth) => namespace.truncated(depth),
                    None => namespace,
                };
                // Truncation keeps the ascending order, so duplicates are adjacent.
                if last.as_ref() == Some(&namespace) {
                    continue;
                }
                last = Some(namespace.clone());
                if skipped < query.offset {
                    skipped += 1;
                    continue;
                }
                listed.push(namespace);
            }
            Ok(listed)
        })
        .await
    }

    async fn count(&self, scope: &Scope, now: f64) -> Result<u64, StoreError> {
        let scope = scope.clone();
        self.read(move |connection, _| {
            let mut params = Vec::new();
            let scope = scope_sql(&scope, "namespace", &mut params);
            let live = live_sql("", now, &mut params);
            let count: i64 = connection
                .query_row(
                    &format!("SELECT COUNT(*) FROM store_items WHERE {scope} AND {live}"),
                    params_from_iter(params),
                    |row| row.get(0),
                )
                .map_err(sql_error)?;
            Ok(count.max(0) as u64)
        })
        .await
    }

    async fn delete_scope(&self, scope: &Scope, now: f64) -> Result<u64, StoreError> {
        let scope = scope.clone();
        self.write(move |connection, inner| {
            let tx = begin_write(connection)?;
            let before = bump_counter(&tx)?;
            let mut params = Vec::new();
            let scope = scope_sql(&scope, "namespace", &mut params);
            let live = live_sql("", now, &mut params);
            let removed: i64 = tx
                .query_row(
                    &format!("SELECT COUNT(*) FROM store_items WHERE {scope} AND {live}"),
                    params_from_iter(params.iter()),
                    |row| row.get(0),
                )
                .map_err(sql_error)?;
            params.pop();
            let deltas = deleted_ids(&tx, &format!("DELETE FROM store_items WHERE {scope} RETURNING id"), params)?;
            commit_with(inner, tx, before, deltas)?;
            Ok(removed.max(0) as u64)
        })
        .await
    }

    async fn export_items(&self, query: &ExportQuery) -> Result<Vec<ExportedItem>, StoreError> {
        let query = query.clone();
        self.read(move |connection, _inner| {
            // One statement: one snapshot. The keyset condition and the order are served by
            // the UNIQUE (namespace, key) index, so a page costs the same at any depth.
            let mut params = Vec::new();
            let range = export_range_sql(query.range(), &mut params);
            let live = live_sql("", query.now, &mut params);
            params.push(SqlValue::Integer(i64::try_from(query.limit).unwrap_or(i64::MAX)));
            let mut statement = connection
                .prepare_cached(&format!(
                    "SELECT {ITEM_COLUMNS}, embedding, embedding_model, index_spec, text FROM store_items \
                     WHERE {range} AND {live} ORDER BY namespace, key LIMIT ?{}",
                    params.len()
                ))
                .map_err(sql_error)?;
            let mut rows = statement.query(params_from_iter(params)).map_err(sql_error)?;
            let mut items = Vec::with_capacity(query.limit.min(4_096));
            while let Some(row) = rows.next().map_err(sql_error)? {
                let item = item_from_row(row, 0)?;
                let blob: Option<Vec<u8>> = row.get(7).map_err(sql_error)?;
                let model: Option<String> = row.get(8).map_err(sql_error)?;
                let index_spec: Option<String> = row.get(9).map_err(sql_error)?;
                let index = ItemIndex::from_column(index_spec.as_deref()).map_err(corrupt)?;
                let text: String = row.get(10).map_err(sql_error)?;
                let vector = match (blob, model) {
                    (Some(blob), Some(model)) => {
                        let mut vector = Vec::with_capacity(blob.len() / 4);
                        blob_to_vector(&blob, &mut vector);
                        Some(StoredVector { model, vector })
                    }
                    _ => None,
                };
                items.push(ExportedItem { item, vector, index, text: canonical_text_of(&text) });
            }
            Ok(items)
        })
        .await
    }

    async fn restore_items(&self, items: Vec<RestoredItem>) -> Result<u64, StoreError> {
        self.write(move |connection, inner| {
            let tx = begin_write(connection)?;
            let before = bump_counter(&tx)?;
            let written = items.len() as u64;
            let deltas = {
                let mut statement = tx.prepare_cached(RESTORE_UPSERT).map_err(sql_error)?;
                items
                    .into_iter()
                    .map(|RestoredItem { item, text, vector, index }| {
                        upsert_item(&mut statement, &item, text, vector, &index).map(|(_, delta)| delta)
                    })
                    .collect::<Result<Vec<_>, _>>()?
            };
            commit_with(inner, tx, before, deltas)?;
            Ok(written)
        })
        .await
    }

    async fn purge_expired(&self, now: f64) -> Result<u64, StoreError> {
        self.write(move |connection, inner| {
            let tx = begin_write(connection)?;
            let before = bump_counter(&tx)?;
            let deltas = deleted_ids(
                &tx,
                "DELETE FROM store_items WHERE expires_at IS NOT NULL AND expires_at <= ?1 RETURNING id",
                vec![SqlValue::Real(now)],
            )?;
            let removed = deltas.len() as u64;
            commit_with(inner, tx, before, deltas)?;
            Ok(removed)
        })
        .await
    }
}

/// Keyword search: FTS5 ranks the matching rows by `bm25()` (ties in recency order) and only
/// the rows that make the page are read, in the same snapshot as the ranking.
///
/// The ranking statement carries no values: sorting every match with its JSON (the cost
/// that grows with the store) would dwarf the page. Without a value filter the ranking
/// stops at `limit`; with one, rows are read in rank order until `limit` match.
fn ranked_keyword_search(connection: &Connection, query: &KeywordQuery) -> Result<Vec<ScoredItem>, StoreError> {
    let tx = connection.unchecked_transaction().map_err(sql_error)?;
    let (sql, params) = keyword_ranking_sql(query);
    let mut ranking = tx.prepare_cached(&sql).map_err(sql_error)?;
    let mut read = tx.prepare_cached(READ_BY_ID).map_err(sql_error)?;
    let mut ranked = ranking.query(params_from_iter(params)).map_err(sql_error)?;
    let mut hits = Vec::with_capacity(query.limit.min(64));
    while hits.len() < query.limit {
        let Some(row) = ranked.next().map_err(sql_error)? else { break };
        let (id, rank): (i64, f64) = (row.get(0).map_err(sql_error)?, row.get(1).map_err(sql_error)?);
        let Some(item) = read_item(&mut read, id)? else { continue };
        if matches(&query.filter, &item) {
            hits.push(ScoredItem { item, score: keyword::normalize(-rank) });
        }
    }
    Ok(hits)
}

/// Keyword search with each tenant's own statistics ([`KeywordStatistics::Tenant`]) when the
/// in-process index cannot settle on a snapshot: FTS5's `bm25()` counts every tenant, so an
/// index of the rows of the scope's tenant (every row, for the root prefix) is built from one
/// snapshot, as the in-process index would hold them, and ranks every match; the page is read
/// from the same snapshot. Costs a pass over the tenant's texts.
fn tenant_keyword_search(connection: &Connection, query: &KeywordQuery) -> Result<Vec<ScoredItem>, StoreError> {
    let tx = connection.unchecked_transaction().map_err(sql_error)?;
    let tenant = scope_tenant(&query.scope);
    let mut params = Vec::new();
    let range = match tenant {
        Some(tenant) => {
            let (low, high) = tenant_range(tenant);
            params.extend([SqlValue::Text(low), SqlValue::Text(high)]);
            "namespace >= ?1 AND namespace < ?2"
        }
        None => "1",
    };
    let mut corpora = KeywordCorpora::new(KeywordStatistics::Tenant);
    {
        let sql = format!("SELECT id, namespace, key, updated_at, expires_at, text FROM store_items WHERE {range}");
        let mut rows_statement = tx.prepare(&sql).map_err(sql_error)?;
        let mut rows = rows_statement.query(params_from_iter(params)).map_err(sql_error)?;
        while let Some(row) = rows.next().map_err(sql_error)? {
            let (id, meta) = row_meta(row)?;
            if tenant.is_some_and(|tenant| tenant_of_namespace(&meta.namespace) != tenant) {
                continue;
            }
            let text =
                row.get_ref(5).map_err(get_error)?.as_str().map_err(|e| corrupt(format!("unreadable text: {e}")))?;
            corpora.upsert(id, text, meta);
        }
    }
    let (ranked, _) = corpora.search(&query.terms, &query.scope, query.now, corpora.len());
    let mut read = tx.prepare_cached(READ_BY_ID).map_err(sql_error)?;
    let mut hits = Vec::with_capacity(query.limit.min(ranked.len()));
    for hit in ranked {
        if hits.len() == query.limit {
            break;
        }
        if let Some(item) = read_item(&mut read, hit.id)?
            && matches(&query.filter, &item)
        {
            hits.push(ScoredItem { item, score: hit.score });
        }
    }
    Ok(hits)
}

/// Reads one row as an item (`None` when it is gone).
const READ_BY_ID: &str =
    "SELECT namespace, key, value, created_at, updated_at, expires_at, ttl_seconds FROM store_items WHERE id = ?1";

fn read_item(read: &mut rusqlite::CachedStatement<'_>, id: i64) -> Result<Option<Item>, StoreError> {
    let mut rows = read.query([id]).map_err(sql_error)?;
    match rows.next().map_err(sql_error)? {
        Some(row) => item_from_row(row, 0).map(Some),
        None => Ok(None),
    }
}

/// The statement ranking `query`'s matches as `(id, bm25)` rows, best first (bm25 is
/// negated: lower is better), limited to `query.limit` when there is no value filter.
fn keyword_ranking_sql(query: &KeywordQuery) -> (String, Vec<SqlValue>) {
    let mut params = vec![SqlValue::Text(fts5_match_expression(&query.terms))];
    let scope = scope_sql(&query.scope, "i.namespace", &mut params);
    let live = live_sql("i.", query.now, &mut params);
    let mut sql = format!(
        "SELECT i.id, bm25(store_fts) FROM store_fts JOIN store_items i ON i.id = store_fts.rowid \
         WHERE store_fts MATCH ?1 AND {scope} AND {live} \
         ORDER BY bm25(store_fts), i.updated_at DESC, i.namespace, i.key"
    );
    if query.filter.is_empty() {
        params.push(SqlValue::Integer(i64::try_from(query.limit).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" LIMIT ?{}", params.len()));
    }
    (sql, params)
}

/// Hybrid search without a value filter: both rankings as row ids in one snapshot (the
/// vector one from the index, as [`indexed_vector_search`]), fused by id, and only the
/// `limit` winners read. `None` when the index could not settle on the reader's snapshot.
fn fused_search(
    connection: &Connection,
    inner: &Inner,
    query: &HybridQuery,
    pace: Pace,
) -> Result<Option<Vec<ScoredItem>>, StoreError> {
    let needs = if query.keyword.is_some() { Needs::Both } else { Needs::Vectors };
    on_index_snapshot(connection, inner, needs, pace, |tx, counter| {
        let fused = {
            let cache = read_cache(inner);
            if !cache.at(needs, counter) {
                return Ok(None);
            }
            fused_row_ids(&cache.vectors, &cache.keywords, query)
        };
        let mut read = tx.prepare_cached(READ_BY_ID).map_err(sql_error)?;
        let mut hits = Vec::with_capacity(query.limit.min(fused.len()));
        for (id, score) in fused.into_iter().take(query.limit) {
            if let Some(item) = read_item(&mut read, id)? {
                hits.push(ScoredItem { item, score });
            }
        }
        Ok(Some(hits))
    })
}

/// Keyword search from the in-process [`KeywordIndex`], kept in step with the stored rows
/// exactly like the vector index (see [`indexed_vector_search`]); only the rows that make
/// the page are read, in the snapshot the index matches. Value filters are checked on the
/// hits in rank order, asking the index for more until the page is full or every match has
/// been seen. Falls back to FTS5's ranking when the index cannot settle on a snapshot.
fn indexed_keyword_search(
    connection: &Connection,
    inner: &Inner,
    query: &KeywordQuery,
) -> Result<Vec<ScoredItem>, StoreError> {
    match on_index_snapshot(connection, inner, Needs::Keywords, Pace::Blocking, |tx, counter| {
        keyword_snapshot(tx, inner, counter, query)
    })? {
        Some(hits) => Ok(hits),
        None => match read_cache(inner).keywords.statistics() {
            KeywordStatistics::Store => ranked_keyword_search(connection, query),
            KeywordStatistics::Tenant => tenant_keyword_search(connection, query),
        },
    }
}

/// Searches the keyword index at `counter` and reads the winners from `tx`; `None` when the
/// index moved on meanwhile.
fn keyword_snapshot(
    tx: &Connection,
    inner: &Inner,
    counter: i64,
    query: &KeywordQuery,
) -> Result<Option<Vec<ScoredItem>>, StoreError> {
    let page = Page { needs: Needs::Keywords, filter: &query.filter, limit: query.limit };
    page.fill(tx, inner, counter, |cache, want| {
        let (ranked, truncated) = cache.keywords.search(&query.terms, &query.scope, query.now, want);
        (ranked.into_iter().map(|hit| (hit.id, hit.score)).collect(), truncated)
    })
}

/// A page of search results read from the ids an in-process index ranks.
struct Page<'q> {
    /// The index that ranks.
    needs: Needs,
    filter: &'q Filter,
    limit: usize,
}

impl Page<'_> {
    /// Ranks with `rank` (the index cache at `counter`, asked for `want` ids) and reads the
    /// winners from `tx` in rank order until `limit` pass the filter; when the filter rejects
    /// too many and the index left rows out, asks for more. `None` when the index moved on
    /// meanwhile.
    fn fill(
        &self,
        tx: &Connection,
        inner: &Inner,
        counter: i64,
        mut rank: impl FnMut(&IndexCache, usize) -> (Vec<(i64, f64)>, bool),
    ) -> Result<Option<Vec<ScoredItem>>, StoreError> {
        let mut want = first_want(self.filter, self.limit);
        let mut read = tx.prepare_cached(READ_BY_ID).map_err(sql_error)?;
        loop {
            let (ranked, truncated) = {
                let cache = read_cache(inner);
                if !cache.at(self.needs, counter) {
                    return Ok(None);
                }
                rank(&cache, want)
            };
            let mut hits = Vec::with_capacity(self.limit.min(ranked.len()));
            for (id, score) in ranked {
                let Some(item) = read_item(&mut read, id)? else { continue };
                if matches(self.filter, &item) {
                    hits.push(ScoredItem { item, score });
                    if hits.len() == self.limit {
                        break;
                    }
                }
            }
            if hits.len() == self.limit || !truncated {
                return Ok(Some(hits));
            }
            want = widen(want);
        }
    }
}

/// Semantic search from the in-process [`VectorIndex`], loaded on first use and kept in
/// step with this backend's writes; writes by other connections (other stores on the file,
/// other processes) are detected through `store_changes.counter`, read in the same snapshot
/// as the rows, and make the index reload. Falls back to scanning the stored vectors if the
/// index cannot settle on the reader's snapshot (a storm of concurrent writers).
fn indexed_vector_search(
    connection: &Connection,
    inner: &Inner,
    query: &VectorQuery,
) -> Result<Vec<ScoredItem>, StoreError> {
    match on_index_snapshot(connection, inner, Needs::Vectors, Pace::Blocking, |tx, counter| {
        search_snapshot(tx, inner, counter, query)
    })? {
        Some(hits) => Ok(hits),
        None => scanned_vector_search(connection, query),
    }
}

/// Runs `work` in a read snapshot once the indexes it `needs` match that snapshot
/// (reloading them when another connection wrote), up to four snapshots; `work` answers
/// `None` when an index moved on meanwhile. `None` when no snapshot settled (a storm of
/// concurrent writers): the caller falls back to reading the stored rows. At
/// [`Pace::Inline`] an index that needs loading is not loaded: `None` at once.
fn on_index_snapshot<T>(
    connection: &Connection,
    inner: &Inner,
    needs: Needs,
    pace: Pace,
    mut work: impl FnMut(&Connection, i64) -> Result<Option<T>, StoreError>,
) -> Result<Option<T>, StoreError> {
    for _ in 0..4 {
        let tx = ReadSnapshot::begin(connection)?;
        let counter: i64 = tx
            .prepare_cached("SELECT counter FROM store_changes WHERE id = 1")
            .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
            .map_err(sql_error)?;
        // Read the versions in their own statement: the read guard must be gone before a
        // reload takes the write lock.
        let (current, past) = {
            let cache = read_cache(inner);
            (cache.at(needs, counter), cache.past(needs, counter))
        };
        if past {
            // An index is newer than this snapshot: take a fresh snapshot.
            continue;
        }
        if !current {
            if pace == Pace::Inline {
                return Ok(None);
            }
            reload_index(&tx, inner, counter, needs)?;
        }
        if let Some(result) = work(tx.connection, counter)? {
            return Ok(Some(result));
        }
    }
    Ok(None)
}

/// A read snapshot (`BEGIN` … `ROLLBACK`) through cached statements: rusqlite's
/// `Transaction` prepares both for every snapshot, a few percent of an index search.
struct ReadSnapshot<'c> {
    connection: &'c Connection,
}

impl<'c> ReadSnapshot<'c> {
    fn begin(connection: &'c Connection) -> Result<ReadSnapshot<'c>, StoreError> {
        connection.prepare_cached("BEGIN").and_then(|mut begin| begin.execute([])).map_err(sql_error)?;
        Ok(ReadSnapshot { connection })
    }
}

impl std::ops::Deref for ReadSnapshot<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.connection
    }
}

impl Drop for ReadSnapshot<'_> {
    fn drop(&mut self) {
        // Nothing was written; a failure here means SQLite already ended the transaction.
        if let Err(error) = self.connection.prepare_cached("ROLLBACK").and_then(|mut end| end.execute([])) {
            tracing::debug!(%error, "sqlite: ending a read snapshot");
        }
    }
}

/// Searches the vector index at `counter` and reads the winners from `tx`; `None` when the
/// index moved on meanwhile.
fn search_snapshot(
    tx: &Connection,
    inner: &Inner,
    counter: i64,
    query: &VectorQuery,
) -> Result<Option<Vec<ScoredItem>>, StoreError> {
    let page = Page { needs: Needs::Vectors, filter: &query.filter, limit: query.limit };
    page.fill(tx, inner, counter, |cache, want| {
        let (candidates, truncated) = cache.vectors.nearest(&query.model, &query.vector, &query.scope, query.now, want);
        (candidates.into_iter().map(|candidate| (candidate.id, candidate.score)).collect(), truncated)
    })
}

/// Brings the indexes that `needs` names to `tx`'s snapshot (whose counter is `counter`),
/// except those another search already brought to that state or beyond.
///
/// Indexes that are loaded and newer than `store_changes.removed_floor` catch up from the
/// change log: the rows written since the older of their counters (`changed_at`) and the
/// ids deleted since (`store_removed`), so another process's few writes cost a few row
/// reads. Otherwise (the first load, or an index older than the deletions still on record)
/// every stored row is read and compared with the indexes' copies (the vector itself; the
/// text by hash, with the metadata). Either way only rows that differ are applied, so
/// neither re-tokenizes the store nor rebuilds a large vector index's graph.
fn reload_index(tx: &Connection, inner: &Inner, counter: i64, needs: Needs) -> Result<(), StoreError> {
    let mut cache = inner.indexes.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    let vectors = needs.vectors() && cache.vectors_at.is_none_or(|at| at < counter);
    let keywords = needs.keywords() && cache.keywords_at.is_none_or(|at| at < counter);
    if !vectors && !keywords {
        return Ok(());
    }
    let removed_floor: i64 = tx
        .prepare_cached("SELECT removed_floor FROM store_changes WHERE id = 1")
        .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
        .map_err(sql_error)?;
    // The counter to catch up from: the older of the indexes to bring up, when both are
    // loaded and the deletions since that counter are still on record.
    let since = [(vectors, cache.vectors_at), (keywords, cache.keywords_at)]
        .into_iter()
        .filter(|&(needed, _)| needed)
        .map(|(_, at)| at)
        .collect::<Option<Vec<i64>>>()
        .and_then(|counters| counters.into_iter().min())
        .filter(|&since| since >= removed_floor);
    // Until this load completes the indexes it touches match no snapshot.
    if vectors {
        cache.vectors_at = None;
    }
    if keywords {
        cache.keywords_at = None;
    }
    let cache = &mut *cache;
    let mut apply = RowApplier { vectors, keywords, cache, vector: Vec::new(), changed: 0, read: 0 };
    let columns = match (vectors, keywords) {
        (true, true) => "embedding_model, embedding, text",
        (true, false) => "embedding_model, embedding, NULL",
        _ => "NULL, NULL, text",
    };
    let select = format!("SELECT id, namespace, key, updated_at, expires_at, {columns} FROM store_items");
    match since {
        Some(since) => {
            let mut removed =
                tx.prepare_cached("SELECT id FROM store_removed WHERE changed_at > ?1").map_err(sql_error)?;
            let mut ids = removed.query([since]).map_err(sql_error)?;
            while let Some(row) = ids.next().map_err(sql_error)? {
                apply.remove(row.get(0).map_err(|e| corrupt(format!("unreadable removal: {e}")))?);
            }
            // Applied after the deletions: a deleted id that SQLite gave to a new row since
            // comes back with that row.
            let mut statement = tx.prepare_cached(&format!("{select} WHERE changed_at > ?1")).map_err(sql_error)?;
            let mut rows = statement.query([since]).map_err(sql_error)?;
            while let Some(row) = rows.next().map_err(sql_error)? {
                apply.row(row, None)?;
            }
        }
        None => {
            // In namespace order (the UNIQUE (namespace, key) index), so that rows new to the
            // indexes (all of them on a first load) join them with each namespace's rows
            // together: a scoped search (one user's conversations) then reads one stretch of
            // each index's memory.
            let mut statement = tx.prepare(&format!("{select} ORDER BY namespace, key")).map_err(sql_error)?;
            let mut rows = statement.query([]).map_err(sql_error)?;
            let mut present = Present::default();
            while let Some(row) = rows.next().map_err(sql_error)? {
                apply.row(row, Some(&mut present))?;
            }
            if vectors {
                apply.cache.vectors.retain(|id| present.with_vectors.contains(&id));
            }
            if keywords {
                apply.cache.keywords.retain(|id| present.with_text.contains(&id));
            }
        }
    }
    let catch_up = CatchUp { incremental: since.is_some(), rows_read: apply.read, rows_changed: apply.changed };
    if vectors {
        cache.vectors.maintain();
        cache.vectors_at = Some(counter);
    }
    if keywords {
        cache.keywords_at = Some(counter);
    }
    tracing::debug!(
        vectors = cache.vectors.len(),
        texts = cache.keywords.len(),
        incremental = catch_up.incremental,
        rows_read = catch_up.rows_read,
        rows_changed = catch_up.rows_changed,
        counter,
        "sqlite store: indexes caught up"
    );
    cache.last_catch_up = Some(catch_up);
    Ok(())
}

/// The id and index metadata of a row that starts `id, namespace, key, updated_at,
/// expires_at`.
fn row_meta(row: &Row<'_>) -> Result<(i64, RowMeta), StoreError> {
    let meta = RowMeta {
        namespace: row.get(1).map_err(get_error)?,
        key: row.get(2).map_err(get_error)?,
        updated_at: row.get(3).map_err(get_error)?,
        expires_at: row.get(4).map_err(get_error)?,
    };
    Ok((row.get(0).map_err(get_error)?, meta))
}

/// A column that could not be read, as a corrupt-row error.
fn get_error(error: rusqlite::Error) -> StoreError {
    corrupt(format!("unreadable row: {error}"))
}

/// How an index caught up with other connections' writes (kept for tests and the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CatchUp {
    /// From the change log (rather than by comparing every row).
    incremental: bool,
    /// Rows (and deletions) read.
    rows_read: usize,
    /// Rows that differed from the indexes' copies (and deletions applied).
    rows_changed: usize,
}

/// The ids of a full load's rows: those the indexes keep.
#[derive(Default)]
struct Present {
    with_vectors: rustc_hash::FxHashSet<i64>,
    with_text: rustc_hash::FxHashSet<i64>,
}

/// Applies stored rows to the indexes that a catch-up brings up to date.
struct RowApplier<'a> {
    vectors: bool,
    keywords: bool,
    cache: &'a mut IndexCache,
    vector: Vec<f32>,
    changed: usize,
    read: usize,
}

impl RowApplier<'_> {
    fn remove(&mut self, id: i64) {
        self.read += 1;
        self.changed += 1;
        if self.keywords {
            self.cache.keywords.remove(id);
        }
        if self.vectors {
            self.cache.vectors.remove(id);
        }
    }

    /// Applies one row of `SELECT id, namespace, key, updated_at, expires_at, model, vector,
    /// text` where it differs; a full load notes the ids it keeps in `present`.
    fn row(&mut self, row: &rusqlite::Row<'_>, mut present: Option<&mut Present>) -> Result<(), StoreError> {
        self.read += 1;
        let (id, meta) = row_meta(row)?;
        let mut changed = false;
        if self.keywords {
            let text =
                row.get_ref(7).map_err(get_error)?.as_str().map_err(|e| corrupt(format!("unreadable text: {e}")))?;
            if let Some(present) = present.as_deref_mut() {
                present.with_text.insert(id);
            }
            if !self.cache.keywords.holds(id, &meta, text_hash(text)) {
                changed = true;
                self.cache.keywords.upsert(id, text, meta.clone());
            }
        }
        if self.vectors {
            let model = row
                .get_ref(5)
                .map_err(get_error)?
                .as_str_or_null()
                .map_err(|e| corrupt(format!("unreadable model: {e}")))?;
            let blob = row
                .get_ref(6)
                .map_err(get_error)?
                .as_blob_or_null()
                .map_err(|e| corrupt(format!("unreadable vector: {e}")))?;
            match (model, blob) {
                (Some(model), Some(blob)) => {
                    blob_to_vector(blob, &mut self.vector);
                    if let Some(present) = present {
                        present.with_vectors.insert(id);
                    }
                    if !self.cache.vectors.holds(id, model, &self.vector, &meta) {
                        changed = true;
                        self.cache.vectors.upsert(id, Some((model, &self.vector)), meta);
                    }
                }
                // A row without a vector is in no vector set (a full load drops it by not
                // noting it present).
                _ if present.is_none() => self.cache.vectors.remove(id),
                _ => {}
            }
        }
        self.changed += usize::from(changed);
        Ok(())
    }
}

fn read_cache(inner: &Inner) -> std::sync::RwLockReadGuard<'_, IndexCache> {
    inner.indexes.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Semantic search by reading every candidate vector from the table (the fallback of
/// [`indexed_vector_search`]).
fn scanned_vector_search(connection: &Connection, query: &VectorQuery) -> Result<Vec<ScoredItem>, StoreError> {
    {
        let mut params = Vec::new();
        let scope = scope_sql(&query.scope, "namespace", &mut params);
        let live = live_sql("", query.now, &mut params);
        params.push(SqlValue::Text(query.model.clone()));
        let model = params.len();
        params.push(SqlValue::Integer(query.vector.len() as i64));
        let dims = params.len();
        let filtered = !query.filter.is_empty();
        // Pass 1: score every candidate from its vector alone (plus its value when
        // filtering), keeping the ids of the best `limit`.
        let sql = format!(
            "SELECT id, embedding, updated_at, namespace, key{} FROM store_items \
                 WHERE {scope} AND {live} AND embedding_model = ?{model} AND embedding_dims = ?{dims}",
            if filtered { ", value" } else { "" }
        );
        let mut statement = connection.prepare_cached(&sql).map_err(sql_error)?;
        let mut rows = statement.query(params_from_iter(params)).map_err(sql_error)?;
        let mut buffer = Vec::with_capacity(query.vector.len());
        let query_norm = vector::norm(&query.vector);
        let mut best: Vec<(f64, f64, String, String, i64)> = Vec::new();
        while let Some(row) = rows.next().map_err(sql_error)? {
            if filtered {
                let value: String = row.get(5).map_err(sql_error)?;
                let value: Value =
                    serde_json::from_str(&value).map_err(|e| corrupt(format!("stored value is not JSON: {e}")))?;
                if !query.filter.matches(&value) {
                    continue;
                }
            }
            let blob: Vec<u8> = row.get(1).map_err(sql_error)?;
            blob_to_vector(&blob, &mut buffer);
            let score = f64::from(vector::cosine(&buffer, vector::norm(&buffer), &query.vector, query_norm));
            best.push((
                score,
                row.get(2).map_err(sql_error)?,
                row.get(3).map_err(sql_error)?,
                row.get(4).map_err(sql_error)?,
                row.get(0).map_err(sql_error)?,
            ));
            if best.len() >= 2 * query.limit.max(64) {
                sort_candidates(&mut best);
                best.truncate(query.limit);
            }
        }
        sort_candidates(&mut best);
        best.truncate(query.limit);
        // Pass 2: read the winners.
        let mut read = connection
            .prepare_cached(&format!("SELECT {ITEM_COLUMNS} FROM store_items WHERE id = ?1"))
            .map_err(sql_error)?;
        let mut hits = Vec::with_capacity(best.len());
        for (score, .., id) in best {
            let mut rows = read.query([id]).map_err(sql_error)?;
            if let Some(row) = rows.next().map_err(sql_error)? {
                hits.push(ScoredItem { item: item_from_row(row, 0)?, score });
            }
        }
        Ok(hits)
    }
}

/// Runs a `DELETE … RETURNING id` and turns the ids into index deltas.
fn deleted_ids(tx: &Transaction<'_>, sql: &str, params: Vec<SqlValue>) -> Result<Vec<IndexDelta>, StoreError> {
    let mut statement = tx.prepare(sql).map_err(sql_error)?;
    let ids = statement
        .query_map(params_from_iter(params), |row| row.get::<_, i64>(0))
        .map_err(sql_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_error)?;
    Ok(ids.into_iter().map(IndexDelta::Remove).collect())
}

/// Best first: score descending, then recency order (updated_at descending, namespace
/// and key ascending; encoded namespaces order like namespaces).
fn sort_candidates(candidates: &mut [(f64, f64, String, String, i64)]) {
    candidates.sort_by(|a, b| {
        b.0.total_cmp(&a.0).then_with(|| b.1.total_cmp(&a.1)).then_with(|| a.2.cmp(&b.2)).then_with(|| a.3.cmp(&b.3))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NamespacePrefix, StoreBackend};

    const MODEL: &str = "test-model";

    fn vector_of(seed: usize) -> Vec<f32> {
        (0..8).map(|d| ((seed * 7 + d * 3) % 11) as f32 - 5.0 + 0.1 * d as f32).collect()
    }

    fn write(key: usize, text: &str, vector: Option<usize>, ttl_seconds: Option<f64>) -> ItemWrite {
        ItemWrite {
            namespace: Namespace::new(["docs".to_owned(), format!("n{}", key % 3)]).expect("namespace"),
            key: format!("k{key}"),
            value: serde_json::json!({ "text": text }).as_object().cloned().expect("object"),
            ttl_seconds,
            text: text.to_owned(),
            vector: vector.map(|seed| StoredVector { model: MODEL.to_owned(), vector: vector_of(seed) }),
            index: Default::default(),
        }
    }

    /// Without its in-process index (a search that cannot settle on a snapshot), a backend
    /// ranks keywords from the stored rows: FTS5's `bm25()` for store-wide statistics, an
    /// index of the tenant's rows for per-tenant ones. Both answer what the index answers,
    /// scores and order, in every kind of scope and with a value filter.
    #[tokio::test]
    async fn keyword_search_from_the_rows_answers_what_the_index_answers() {
        let namespaces: [&[&str]; 6] = [
            &["acme", "notes"],
            &["acme", "notes", "deep"],
            &["acme/u1", "conversations", "s1"],
            &["acmex"],
            &["globex", "notes"],
            &["globex"],
        ];
        let words = ["apple", "banana", "cherry", "apple apple", "banana cherry apple", "durian"];
        for statistics in [KeywordStatistics::Store, KeywordStatistics::Tenant] {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("store.db");
            let options = SqliteOptions { keyword_statistics: statistics, ..SqliteOptions::default() };
            let backend = SqliteBackend::open_with(&path, options).await.expect("open");
            let mut writes = Vec::new();
            for (n, labels) in namespaces.iter().enumerate() {
                for (w, text) in words.iter().enumerate().skip(n % 3) {
                    let value = serde_json::json!({ "text": text, "n": w }).as_object().cloned().expect("object");
                    writes.push(ItemWrite {
                        namespace: Namespace::new(labels.iter().copied()).expect("namespace"),
                        key: format!("k{n}-{w}"),
                        value,
                        ttl_seconds: (w == 2).then_some(10.0),
                        text: (*text).to_owned(),
                        vector: None,
                        index: Default::default(),
                    });
                }
            }
            backend.put_many(writes, 1000.0).await.expect("put");
            let connection = open_connection(&path).expect("connection");
            let scopes = [
                Scope::Prefix(NamespacePrefix::root()),
                Scope::Prefix(NamespacePrefix::new(["acme"]).expect("prefix")),
                Scope::Prefix(NamespacePrefix::new(["acme/u1"]).expect("prefix")),
                Scope::Namespace(Namespace::new(["acme", "notes"]).expect("namespace")),
                Scope::Prefix(NamespacePrefix::new(["globex"]).expect("prefix")),
                Scope::Prefix(NamespacePrefix::new(["initech"]).expect("prefix")),
            ];
            let filters = [Filter::all(), Filter::from_json(&serde_json::json!({"n": {"$gte": 3}})).expect("filter")];
            for scope in scopes {
                for filter in &filters {
                    for terms in [vec!["apple"], vec!["banana", "apple"], vec!["durian", "cherry"]] {
                        let query = KeywordQuery {
                            scope: scope.clone(),
                            filter: filter.clone(),
                            terms: terms.iter().map(|term| (*term).to_owned()).collect(),
                            limit: 7,
                            now: 1005.0,
                        };
                        let from_index = backend.keyword_search(&query).await.expect("index");
                        let from_rows = match statistics {
                            KeywordStatistics::Store => ranked_keyword_search(&connection, &query),
                            KeywordStatistics::Tenant => tenant_keyword_search(&connection, &query),
                        }
                        .expect("rows");
                        let listed = |hits: &[ScoredItem]| -> Vec<(String, String, f64)> {
                            hits.iter()
                                .map(|hit| (hit.item.namespace.to_string(), hit.item.key.clone(), hit.score))
                                .collect()
                        };
                        let (index, rows) = (listed(&from_index), listed(&from_rows));
                        assert_eq!(index.len(), rows.len(), "{statistics:?} {query:?}: {index:?} vs {rows:?}");
                        for (a, b) in index.iter().zip(&rows) {
                            assert_eq!((&a.0, &a.1), (&b.0, &b.1), "{statistics:?} {query:?}: {index:?} vs {rows:?}");
                            assert!((a.2 - b.2).abs() < 1e-12, "{statistics:?} {query:?}: {index:?} vs {rows:?}");
                        }
                    }
                }
            }
        }
    }

    fn key(key: usize) -> ItemKey {
        ItemKey {
            namespace: Namespace::new(["docs".to_owned(), format!("n{}", key % 3)]).expect("ns"),
            key: format!("k{key}"),
        }
    }

    /// Every live item's key and score for a few vector and keyword queries.
    async fn rankings(backend: &SqliteBackend, now: f64) -> Vec<Vec<(String, f64)>> {
        let scope = Scope::Prefix(NamespacePrefix::root());
        let mut rankings = Vec::new();
        for seed in [1, 4, 9] {
            let query = VectorQuery {
                scope: scope.clone(),
                filter: Filter::all(),
                vector: vector_of(seed),
                model: MODEL.to_owned(),
                limit: 100,
                now,
            };
            rankings.push(backend.vector_search(&query).await.expect("vector search"));
        }
        for term in ["common", "word1", "fresh"] {
            let query = KeywordQuery {
                scope: scope.clone(),
                filter: Filter::all(),
                terms: vec![term.to_owned()],
                limit: 100,
                now,
            };
            rankings.push(backend.keyword_search(&query).await.expect("keyword search"));
        }
        rankings.into_iter().map(|hits| hits.into_iter().map(|hit| (hit.item.key, hit.score)).collect()).collect()
    }

    /// Two stores on one new file in `dir`: `other` has written `items` rows (k0, k1, …,
    /// each with a vector, TTL `ttl(i)`) at time 1000, and `this` has loaded both indexes.
    async fn two_stores(
        dir: &Path,
        items: usize,
        ttl: impl Fn(usize) -> Option<f64>,
    ) -> (std::path::PathBuf, SqliteBackend, SqliteBackend) {
        let path = dir.join("store.db");
        let (this, other) =
            (SqliteBackend::open(&path).await.expect("open"), SqliteBackend::open(&path).await.expect("open"));
        let initial = (0..items).map(|i| write(i, &format!("word{} common", i % 5), Some(i), ttl(i))).collect();
        other.put_many(initial, 1000.0).await.expect("put");
        rankings(&this, 1001.0).await;
        (path, this, other)
    }

    fn change_counter(backend: &SqliteBackend) -> i64 {
        let connection = open_reader(&backend.inner.path, SqliteSync::Normal).expect("reader");
        connection.query_row("SELECT counter FROM store_changes WHERE id = 1", [], |row| row.get(0)).expect("counter")
    }

    /// Starts `count` puts of `make(0)`, `make(1)`, … and waits until all of them are
    /// queued (the caller holds the writer meanwhile, then frees it).
    async fn queue_puts(
        backend: &SqliteBackend,
        count: usize,
        make: impl Fn(usize) -> Vec<ItemWrite>,
    ) -> Vec<tokio::task::JoinHandle<Result<Vec<Item>, StoreError>>> {
        let tasks: Vec<_> = (0..count)
            .map(|i| {
                let (backend, writes) = (backend.clone(), make(i));
                tokio::spawn(async move { backend.put_many(writes, 1000.0 + i as f64).await })
            })
            .collect();
        while backend.inner.pending_puts.len() < count {
            tokio::task::yield_now().await;
        }
        tasks
    }

    /// Puts that wait for the writer together are committed in one transaction, and each
    /// call gets its own items back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn puts_waiting_together_share_one_commit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = SqliteBackend::open(&dir.path().join("store.db")).await.expect("open");
        let before = change_counter(&backend);
        let writer = backend.inner.writer.clone().lock_owned().await;
        let tasks = queue_puts(&backend, 24, |i| vec![write(i, &format!("text {i}"), Some(i), None)]).await;
        drop(writer);
        for (i, task) in tasks.into_iter().enumerate() {
            let stored = task.await.expect("task").expect("put");
            assert_eq!(
                (stored.len(), stored[0].key.as_str(), stored[0].updated_at),
                (1, &*format!("k{i}"), 1000.0 + i as f64)
            );
        }
        assert_eq!(change_counter(&backend), before + 1, "one transaction for the 24 puts");
        let found = backend.get_many(&(0..24).map(key).collect::<Vec<_>>(), 2000.0, false).await.expect("get");
        assert!(found.iter().all(Option::is_some), "every put is stored");
        assert_eq!(rankings(&backend, 2000.0).await[0].len(), 24, "and indexed");
    }

    /// A put whose writes fail inside a shared transaction is rolled back alone (all of its
    /// writes) and gets its own error; the puts beside it are committed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_put_in_a_shared_commit_fails_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = SqliteBackend::open(&dir.path().join("store.db")).await.expect("open");
        let writer = backend.inner.writer.clone().lock_owned().await;
        writer
            .execute_batch(
                "CREATE TEMP TRIGGER poison BEFORE INSERT ON store_items WHEN new.key = 'k104' \
                 BEGIN SELECT RAISE(ABORT, 'poisoned'); END;",
            )
            .expect("trigger");
        // Put 1 writes k103 and then the poisoned k104.
        let tasks = queue_puts(&backend, 3, |i| {
            if i == 1 {
                vec![write(103, "first", None, None), write(104, "second", None, None)]
            } else {
                vec![write(i, "fine", None, None)]
            }
        })
        .await;
        drop(writer);
        let answers: Vec<_> =
            futures::future::join_all(tasks).await.into_iter().map(|task| task.expect("task")).collect();
        assert!(answers[0].is_ok() && answers[2].is_ok(), "{answers:?}");
        let error = answers[1].as_ref().expect_err("the poisoned put fails").to_string();
        assert!(error.contains("poisoned"), "{error}");
        let found = backend.get_many(&[key(0), key(2), key(103), key(104)], 2000.0, false).await.expect("get");
        let stored: Vec<bool> = found.iter().map(Option::is_some).collect();
        assert_eq!(stored, [true, true, false, false], "the failed put left nothing behind");
    }

    /// When the database fills up in the middle of a group, every put's answer matches what
    /// was stored: the items of each put kept, an error for each put that did not fit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_database_fails_the_puts_it_did_not_keep() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = SqliteBackend::open(&dir.path().join("store.db")).await.expect("open");
        backend.put_many(vec![write(0, "first", None, None)], 1000.0).await.expect("put");
        let writer = backend.inner.writer.clone().lock_owned().await;
        let pages: i64 = writer.query_row("PRAGMA page_count", [], |row| row.get(0)).expect("pages");
        writer.pragma_update(None, "max_page_count", pages + 16).expect("cap");
        let big = "lorem ipsum dolor sit amet ".repeat(400);
        let tasks = queue_puts(&backend, 6, |i| vec![write(10 + i, &big, Some(i), None)]).await;
        drop(writer);
        let answers: Vec<_> =
            futures::future::join_all(tasks).await.into_iter().map(|task| task.expect("task")).collect();
        let found = backend.get_many(&(10..16).map(key).collect::<Vec<_>>(), 2000.0, false).await.expect("get");
        for (answer, stored) in answers.iter().zip(&found) {
            assert_eq!(answer.is_ok(), stored.is_some(), "{answer:?}");
        }
        // Room for some of the six (measured: two) and not for the others.
        assert!(answers.iter().any(Result::is_ok) && answers.iter().any(Result::is_err), "{answers:?}");
    }

    /// A put whose caller stops waiting before a writer took it is never committed (so it
    /// cannot land after writes that came later).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_put_cancelled_while_queued_is_not_committed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = SqliteBackend::open(&dir.path().join("store.db")).await.expect("open");
        let writer = backend.inner.writer.clone().lock_owned().await;
        let tasks = queue_puts(&backend, 1, |_| vec![write(7, "cancelled", None, None)]).await;
        tasks[0].abort();
        assert!(tasks.into_iter().next().expect("task").await.is_err_and(|e| e.is_cancelled()));
        assert_eq!(backend.inner.pending_puts.len(), 0, "the cancelled put left the queue");
        drop(writer);
        backend.put_many(vec![write(8, "later", None, None)], 1000.0).await.expect("put");
        let found = backend.get_many(&[key(7), key(8)], 2000.0, false).await.expect("get");
        assert_eq!(found.iter().map(Option::is_some).collect::<Vec<_>>(), [false, true]);
    }

    /// `warm_up` loads both indexes at the database's change number and leaves readers
    /// idle, so the first search is answered inline (without a blocking thread).
    #[tokio::test]
    async fn warm_up_loads_both_indexes_and_opens_readers() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = SqliteBackend::open(&dir.path().join("store.db")).await.expect("open");
        backend.put_many(vec![write(1, "tea", None, None), write(2, "coffee", None, None)], 1000.0).await.expect("put");
        let loaded = |backend: &SqliteBackend| {
            let cache = read_cache(&backend.inner);
            (cache.keywords_at, cache.vectors_at)
        };
        assert_eq!(loaded(&backend), (None, None), "nothing is loaded before a search");
        backend.warm_up().await.expect("warm up");
        let (keywords_at, vectors_at) = loaded(&backend);
        assert!(keywords_at.is_some() && keywords_at == vectors_at, "{keywords_at:?} {vectors_at:?}");
        assert!(lock(&backend.inner.readers).len() >= WARM_READERS);
        let query = KeywordQuery {
            scope: Scope::Prefix(NamespacePrefix::root()),
            filter: Filter::default(),
            terms: vec!["tea".into()],
            limit: 5,
            now: 1000.0,
        };
        let hits = backend
            .search_inline(Needs::Keywords, |tx, counter| keyword_snapshot(tx, &backend.inner, counter, &query))
            .expect("search");
        assert_eq!(hits.map(|hits| hits.len()), Some(1), "answered inline from the loaded index");
    }

    fn last_catch_up(backend: &SqliteBackend) -> Option<CatchUp> {
        read_cache(&backend.inner).last_catch_up
    }

    /// Another store's writes (new rows, changed texts and vectors, a vector dropped, deletes,
    /// a deleted id that SQLite hands to a new row, a refreshed TTL, a purge) reach this
    /// store's indexes by reading only the rows they changed, and leave them equal to those a
    /// fresh store loads from every row.
    #[tokio::test]
    async fn another_stores_writes_are_read_back_from_the_change_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (path, this, other) = two_stores(dir.path(), 40, |i| (i % 4 == 0).then_some(100.0)).await;
        assert_eq!(last_catch_up(&this).map(|c| (c.incremental, c.rows_read)), Some((false, 40)));

        let changes = vec![
            write(40, "fresh common", Some(40), None),
            write(41, "fresh", Some(41), None),
            write(1, "word1 fresh", Some(101), None),
            write(2, "word2 without vector", None, None),
        ];
        other.put_many(changes, 1002.0).await.expect("put");
        let id_of = |key: &str| -> i64 {
            let connection = Connection::open(&path).expect("open");
            connection.query_row("SELECT id FROM store_items WHERE key = ?1", [key], |row| row.get(0)).expect("id")
        };
        let reused = id_of("k41");
        assert_eq!(other.delete_many(&[key(3), key(41)], 1003.0).await.expect("delete"), [true, true]);
        // k41 had the largest id: SQLite gives it to the next new row.
        other.put_many(vec![write(42, "fresh again", Some(42), None)], 1004.0).await.expect("put");
        assert_eq!(id_of("k42"), reused);
        other.get_many(&[key(4)], 1050.0, true).await.expect("refresh");
        assert_eq!(other.purge_expired(1120.0).await.expect("purge"), 9, "k0, k8, … k36 expired; k4 was refreshed");

        let caught_up = rankings(&this, 1121.0).await;
        let log = last_catch_up(&this).expect("caught up");
        assert!(log.incremental, "{log:?}");
        // The rows written and still there (k40, k1, k2, k42, and k4 refreshed), and the
        // 2 + 9 deletions: not the 30 other rows.
        assert_eq!(log.rows_read, 5 + 2 + 9, "{log:?}");
        let fresh = SqliteBackend::open(&path).await.expect("open");
        assert_eq!(caught_up, rankings(&fresh, 1121.0).await);
        assert!(caught_up[5].iter().any(|(key, _)| key == "k42"), "the reused id serves the new row");
    }

    /// A store whose indexes are older than the deletions on record compares every row.
    #[tokio::test]
    async fn an_index_older_than_the_recorded_deletions_compares_every_row() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (path, this, other) = two_stores(dir.path(), 30, |_| None).await;
        for i in 0..REMOVED_WINDOW as usize + 1 {
            assert_eq!(other.delete_many(&[key(i)], 1002.0).await.expect("delete"), [true]);
        }
        let caught_up = rankings(&this, 1003.0).await;
        let log = last_catch_up(&this).expect("caught up");
        assert_eq!((log.incremental, log.rows_read), (false, 30 - REMOVED_WINDOW as usize - 1), "{log:?}");
        let fresh = SqliteBackend::open(&path).await.expect("open");
        assert_eq!(caught_up, rankings(&fresh, 1003.0).await);
    }
}
