//! The PostgreSQL + pgvector backend: [`PostgresBackend`], opened with [`PostgresConfig`]
//! or [`MemoryStore::postgres`].
//!
//! # Layout
//!
//! All tables live in one schema (default `agent_memory`, see [`PostgresConfig::schema`]),
//! created and upgraded by numbered migrations recorded in `<schema>.schema_migrations`
//! (applied in one transaction under an advisory lock, so processes starting together do
//! not race; a schema newer than this build is refused). `CREATE EXTENSION IF NOT EXISTS
//! vector` is part of the first step: the database user needs the right to create it, or
//! an administrator creates it once.
//!
//! * `items`: one row per item, keyed by `(ns, key)` where `ns` is [`Namespace::encoded`]
//!   in `COLLATE "C"`, so namespace order and prefix ranges are bytewise, as on every
//!   backend. The value is stored as `json` (not `jsonb`) so that it comes back exactly as
//!   written, key order and number spelling included. The item's distinct tokens
//!   (`terms text[]`), their counts (`tfs`) and its token count (`doc_len`) are kept on the
//!   row, and copied as one row per term into `keyword_postings` (below). `index_spec`
//!   (migration 5) is the item's own [`crate::store::ItemIndex`] as JSON text, NULL for the
//!   store's fields.
//! * `keyword_postings`: `(term, ns, key)` with the term's count and the item's length,
//!   all in the primary key's index (`INCLUDE (tf, doc_len)`), so a keyword search reads a
//!   term's postings in a namespace range from the index alone. Kept, with the statistics
//!   tables `keyword_totals` and `keyword_terms`, by statement-level triggers on `items`.
//! * `models`: the registry of embedding models (`model` id → `id`, `dimensions`). A vector
//!   is stored in the item's `embedding vector` column with `embedding_model` naming its
//!   model; each model gets an HNSW index on `(embedding::vector(N)) vector_cosine_ops`
//!   restricted to its rows (`WHERE embedding_model = id`), with `N` the model's dimension
//!   taken from the first vector written with it. A store whose embedder changes (another
//!   model id) thus gets a new index, and vectors of different models are never compared.
//!   A model id that comes back with another dimension is a [`StoreError::Config`] error.
//!
//! # Search
//!
//! * **Semantic**: by default ([`PostgresConfig::vector_index`]) ranked in an in-process
//!   vector index (the SQLite backend's: exact scans, and an HNSW
//!   graph built in the background from [`VectorIndexOptions::ann_min_vectors`] vectors on),
//!   kept exact across processes with the keyword index below (one cache, one change
//!   number, one catch-up statement that reads the changed rows' postings and vectors): the
//!   search ranks by model, scope and expiry in the index, then reads the ranked rows by
//!   primary key in the one-statement snapshot check that keyword search does, checks value
//!   filters on them and asks the index for more when a filter rejects too many. Scores are
//!   [`crate::store::vector::cosine`] on the stored vectors, ties in recency order: an
//!   exact search equals the statement below on the same data (which may return any of the
//!   rows tied at its `LIMIT`). The statement answers while the indexes load, when they
//!   cannot settle, and when the index is configured off:
//!   `ORDER BY embedding::vector(N) <=> query LIMIT k` through the model's
//!   HNSW index, with the namespace, expiry and value filters in the same `WHERE`. On
//!   pgvector ≥ 0.8 every pooled session sets `hnsw.iterative_scan = strict_order`, so the
//!   index keeps scanning until `k` rows pass the filters; older pgvector gets a larger
//!   `hnsw.ef_search` instead. When the index scan still yields fewer than `k` rows (a very
//!   selective filter can exhaust `hnsw.max_scan_tuples`), the search is repeated exactly
//!   (no index), so a filtered search returns `k` results whenever `k` items match. Scores
//!   are [`crate::store::vector::cosine`] computed in Rust on the returned vectors, the
//!   same kernel the other backends use. Models over 2,000 dimensions (HNSW's limit for
//!   `vector`) are searched exactly.
//! * **Keyword**: true Okapi BM25 as defined in [`crate::store::keyword`] (not `ts_rank`):
//!   tokens come from [`crate::store::keyword::tokenize`] at write time; the document
//!   count, token count (`keyword_totals`) and per-term document frequencies
//!   (`keyword_terms`) and the postings are kept by statement-level triggers on `items` in
//!   the writing transaction (so a query reads a few rows, not the table; writers queue on
//!   the totals row, which every trigger locks first, so they cannot deadlock). One
//!   statement computes each query term's idf once, sums the BM25 terms of the query terms'
//!   postings in scope with one aggregate (index scans of the postings), keeps the best
//!   `limit` + some candidates (and any tied with the last), and reads only those items, by
//!   primary key, for expiry, filter and recency: values are read for about a page, not for
//!   every match. When expiry or the filter leave fewer than `limit`, it is repeated over
//!   every match, so a filtered search still fills its page. The reported score is
//!   recomputed in Rust with the [`crate::store::keyword`] functions, so it equals the
//!   other backends' score for the same data, and the candidates are ordered by it.
//!   Under [`KeywordStatistics::Tenant`] ([`PostgresConfig::keyword_statistics`]) the
//!   statement reads the tenant's counts (`keyword_tenant_totals`, kept by triggers of
//!   their own; migration 6) and counts the query terms' postings in the tenant's range
//!   (grouped by tenant for a search across tenants), instead of the store-wide totals.
//!
//!   That statement is the fallback. By default ([`PostgresConfig::keyword_index`]) each
//!   backend keeps an in-process keyword index (the SQLite backend's), loaded by the first
//!   keyword search from the postings columns, and ranks there: a search costs the index's
//!   ranking plus one round trip that reads the page's rows together with the schema's
//!   change number. Every statement that changes `items` takes the next number in its
//!   trigger while holding the totals row (so numbers follow commit order) and logs the
//!   addresses it changed (`item_changes`, migration 4); an index behind the number first
//!   applies the rows changed since (from the log; every row when the log was purged past
//!   it or more than 20,000 addresses changed), so a search sees every write that returned
//!   before it started, in this process or another. Results, scores and order equal the
//!   statement's. The statement answers instead while the index is being loaded (the first
//!   search waits for the load; concurrent ones do not), when catching up fails, and when
//!   writers keep the number moving through four tries. Memory per process: the index
//!   (postings, document lengths and each item's namespace, key, times), as on SQLite, plus
//!   each item's address once more (shared by the two id maps) and its `updated_at`; about
//!   twice this during a full reload, which builds the new indexes beside the old. The
//!   vector index adds each vector (4 bytes per dimension: 1 KB per item at 256), the
//!   item's namespace, key and times again, and its graph once built
//!   ([`PostgresConfig::vector_index`]).
//! * **Hybrid**: without value filters, and with both in-process indexes on, both rankings
//!   are taken from the indexes as row ids (the keyword one in the keyword search's order:
//!   reported score, then recency), fused as [`StoreBackend::hybrid_search`] says, and only
//!   the winners are read, in the same snapshot check. Otherwise (a value filter, an index
//!   configured off or unable to answer) the provided method runs the semantic and keyword
//!   searches at once, on two pooled connections, and fuses their items.
//! * **Filters** are translated to SQL with the semantics of [`crate::store::Filter`]:
//!   numbers compare as `numeric` (exact: `10 > 9`, and integers beyond 2^53 stay exact
//!   where the other backends fall back to `f64`), strings bytewise, booleans as booleans,
//!   and a comparison across types never matches.
//!
//! # Connections
//!
//! A `deadpool-postgres` pool (default 16 connections) without TLS. Each call checks out a
//! connection whose socket is still open; a call that fails because the connection was
//! closed under it (a server restart, a killed backend) is retried once on a fresh
//! connection. A failed statement never leaves a transaction open on a pooled connection.
//! Each call is one statement (one round trip once the statement is prepared on that
//! connection, which is cached), batch operations included; the first write with a new
//! embedding model also registers it; a keyword search from the index that finds other
//! writes runs one more to catch up (for both in-process indexes at once).

mod index_cache;
mod puts;
mod rows;
mod schema;
mod sql;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Hook, HookError, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime};
use pgvector::Vector;
use serde_json::Value;
use tokio_postgres::{NoTls, Row};

use self::index_cache::{IndexCache, Indexed, SearchKind};
use self::rows::{CreatedAt, ItemRow, RowIndexing, RowTimes};
use self::sql::Sql;
use super::backend::{
    ExportQuery, ExportRange, ExportedItem, HybridQuery, KeywordQuery, NamespaceQuery, RestoredItem, ScanQuery, Scope,
    ScoredItem, StoreBackend, VectorQuery, canonical_index_text, has_value_filter, hybrid_from_rankings,
};
use super::group_commit::WaitingWrites;
use super::keyword::KeywordStatistics;
use super::keyword_corpora::{scope_tenant, tenant_range};
use super::vector_index::VectorIndexOptions;
use super::{
    Item, ItemIndex, ItemKey, ItemWrite, LABEL_SEPARATOR, MemoryStore, Namespace, OpenOptions, StoreError,
    StoreOptions, StoredVector,
};
use super::{keyword, vector};

/// The schema used when none is configured.
pub const DEFAULT_SCHEMA: &str = "agent_memory";
/// The pool size used when none is configured.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;
/// The most dimensions an HNSW index on `vector` supports; larger models are searched exactly.
pub const MAX_INDEXED_DIMENSIONS: usize = 2000;

const BACKEND: &str = "postgres";
/// Put groups whose insert statements may run at once (see [`puts`]).
const PUT_SLOTS: usize = 4;
const ITEM_COLUMNS: &str = "i.ns, i.key, i.value, i.created_at, i.updated_at, i.expires_at, i.ttl_seconds";
const RECENCY: &str = "i.updated_at DESC, i.ns, i.key";
/// Run on every new pooled connection: plans are made for the actual parameters (so the
/// HNSW and partial indexes are chosen per query), and on pgvector ≥ 0.8 filtered HNSW
/// scans continue until enough rows pass the filter.
const SESSION_SETUP: &str = "SET plan_cache_mode = force_custom_plan;
SELECT set_config('hnsw.iterative_scan', 'strict_order', false) FROM pg_extension
WHERE extname = 'vector' AND string_to_array(split_part(extversion, '-', 1), '.')::int[] >= '{0,8}';";

/// How to open a [`PostgresBackend`]: the server's URL, the schema and the pool size.
///
/// ```
/// use agent_memory::store::PostgresConfig;
///
/// let config = PostgresConfig::new("postgres://app@db.internal/agents").schema("memories").max_connections(8);
/// assert_eq!(config.schema_name(), "memories");
/// ```
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    url: String,
    schema: String,
    max_connections: usize,
    keyword_index: bool,
    vector_index: bool,
    vector_index_options: VectorIndexOptions,
    keyword_statistics: KeywordStatistics,
}

impl PostgresConfig {
    /// A configuration for the server at `url` (`postgres://user:password@host:port/db`,
    /// or the key-value form `host=… user=…`), schema [`DEFAULT_SCHEMA`] and
    /// [`DEFAULT_MAX_CONNECTIONS`] connections.
    pub fn new(url: impl Into<String>) -> PostgresConfig {
        PostgresConfig {
            url: url.into(),
            schema: DEFAULT_SCHEMA.to_owned(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            keyword_index: true,
            vector_index: true,
            vector_index_options: VectorIndexOptions::default(),
            keyword_statistics: KeywordStatistics::Store,
        }
    }

    /// A configuration from a store URL as [`MemoryStore::postgres`] takes it: the schema
    /// named by a `schema=NAME` parameter (which is not passed on to the server), else
    /// [`DEFAULT_SCHEMA`]. For opening such a URL with other settings.
    ///
    /// ```
    /// use agent_memory::store::PostgresConfig;
    ///
    /// let config = PostgresConfig::from_url("postgres://app@db/agents?schema=team_a").keyword_index(false);
    /// assert_eq!(config.schema_name(), "team_a");
    /// ```
    pub fn from_url(url: &str) -> PostgresConfig {
        let (url, schema) = split_schema_parameter(url);
        let config = PostgresConfig::new(url);
        match schema {
            Some(schema) => config.schema(schema),
            None => config,
        }
    }

    /// The schema holding the store's tables: lower-case ASCII letters, digits and `_`,
    /// starting with a letter or `_`, at most 63 bytes. Several stores can share a database
    /// under different schemas.
    pub fn schema(mut self, schema: impl Into<String>) -> PostgresConfig {
        self.schema = schema.into();
        self
    }

    /// The most connections the pool opens (at least 1).
    pub fn max_connections(mut self, max_connections: usize) -> PostgresConfig {
        self.max_connections = max_connections;
        self
    }

    /// Whether keyword search ranks in an in-process index (the default) or in SQL only;
    /// see the [module documentation](self#search). The index costs memory in every process
    /// (about what the SQLite backend's costs, plus each item's address: measured 1.1 KB per
    /// item of `bench/load` data, 114 MB at 100,000 items) and one full read of the postings
    /// columns on the first keyword search (1.1 s at 100,000 items).
    pub fn keyword_index(mut self, enabled: bool) -> PostgresConfig {
        self.keyword_index = enabled;
        self
    }

    /// Whether semantic search ranks in an in-process vector index (the default) or with
    /// pgvector's HNSW index in SQL only, and whether hybrid search without value filters
    /// fuses the in-process rankings by row id and reads only the winners; see the
    /// [module documentation](self#search). The vectors are held in every process: 4 bytes
    /// per dimension and item (1 KB at 256 dimensions) plus each item's namespace, key and
    /// times and, from [`VectorIndexOptions::ann_min_vectors`] vectors of a model on, an HNSW
    /// graph (by default 8-bit vectors, of half the dimensions for the built-in model, and
    /// about 2 × `connectivity` edges of 4 bytes per item): measured about 2.2 KB per item
    /// of `bench/load` data with the built-in model (46 MB at 20,845 items). Read in full by
    /// the first search that needs an in-process index (keyword or semantic), together with
    /// the keyword index.
    pub fn vector_index(mut self, enabled: bool) -> PostgresConfig {
        self.vector_index = enabled;
        self
    }

    /// The in-process vector index's settings (when its HNSW graph is built, its width and
    /// `ef`), as for the SQLite and in-memory backends; [`VectorIndexOptions::default`] unless set.
    pub fn vector_index_options(mut self, options: VectorIndexOptions) -> PostgresConfig {
        self.vector_index_options = options;
        self
    }

    /// Whose items keyword scores count ([`KeywordStatistics::Store`] unless set); every
    /// process on one schema should use the same. Under [`KeywordStatistics::Tenant`] the
    /// SQL path (no in-process keyword index, or while it loads) reads the tenant's item and
    /// token counts (kept by triggers, per tenant, whichever setting wrote them) and counts
    /// the query terms' postings in the tenant itself.
    ///
    /// ```
    /// use agent_memory::store::{KeywordStatistics, PostgresConfig};
    ///
    /// let config = PostgresConfig::new("postgres://app@db/agents").keyword_statistics(KeywordStatistics::Tenant);
    /// # drop(config);
    /// ```
    pub fn keyword_statistics(mut self, statistics: KeywordStatistics) -> PostgresConfig {
        self.keyword_statistics = statistics;
        self
    }

    /// The configured schema name.
    pub fn schema_name(&self) -> &str {
        &self.schema
    }
}

/// A [`StoreBackend`] on PostgreSQL with pgvector; see the [module documentation](self).
///
/// Several backends (in one process or many) may share a database and a schema: every
/// write is one statement, upserts lock rows in a fixed order, and migrations and model
/// registration are serialized by an advisory lock.
pub struct PostgresBackend {
    pool: Pool,
    /// The schema as a quoted identifier, ready to be written into SQL.
    schema: String,
    schema_name: String,
    models: RwLock<HashMap<String, ModelSlot>>,
    pgvector_version: String,
    iterative_scan: bool,
    analyze: std::sync::Mutex<AnalyzeSchedule>,
    /// Whose items keyword scores count ([`PostgresConfig::keyword_statistics`]).
    keyword_statistics: KeywordStatistics,
    /// The in-process keyword and vector indexes, unless both are configured off.
    indexes: Option<IndexCache>,
    /// Rows this backend wrote since it last purged the change log.
    written_since_log_purge: std::sync::atomic::AtomicU64,
    /// Puts waiting for an insert slot ([`puts`]).
    pending_puts: WaitingWrites<puts::PendingPut>,
    /// The insert statements of put groups that may run at once.
    put_slots: tokio::sync::Semaphore,
}

/// When this backend last asked PostgreSQL to refresh the items table's planner statistics.
///
/// Autovacuum analyzes a table only after its naptime (a minute by default), so right after
/// a bulk load the planner has no statistics: it then takes a namespace prefix for 0.5% of
/// the rows and scans the prefix instead of using the HNSW index (measured: 17 ms against
/// 0.8 ms at 10k rows). So every [`ANALYZE_MIN_ROWS`] rows written, and whenever the rows
/// written since the last analyze reach a fifth of the table, the backend runs `ANALYZE` in
/// the background.
#[derive(Debug, Default)]
struct AnalyzeSchedule {
    written_since: u64,
    rows_at_last: u64,
}

/// Fewest rows written between two background `ANALYZE`s of the items table.
const ANALYZE_MIN_ROWS: u64 = 1_000;

impl AnalyzeSchedule {
    /// Counts `rows` written; true when an `ANALYZE` is due (and then resets the count).
    fn note_written(&mut self, rows: u64) -> bool {
        self.written_since += rows;
        if self.written_since < ANALYZE_MIN_ROWS.max(self.rows_at_last / 5) {
            return false;
        }
        self.rows_at_last += self.written_since;
        self.written_since = 0;
        true
    }
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("schema", &self.schema_name)
            .field("pgvector", &self.pgvector_version)
            .field("pool", &self.pool.status())
            .finish()
    }
}

/// A registered embedding model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ModelSlot {
    id: i32,
    dimensions: usize,
}

impl PostgresBackend {
    /// Connects, creates the `vector` extension and the schema if needed and applies
    /// pending migrations.
    ///
    /// ```no_run
    /// use agent_memory::store::{PostgresBackend, PostgresConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), agent_memory::store::StoreError> {
    /// let backend = PostgresBackend::connect(PostgresConfig::new("postgres://postgres@127.0.0.1:55432/postgres")).await?;
    /// println!("pgvector {}", backend.pgvector_version());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Config`] for a malformed URL or schema name or a schema written by a
    /// newer build; [`StoreError::Backend`] when the server cannot be reached or refuses
    /// (for example when pgvector is not installed on it).
    pub async fn connect(config: PostgresConfig) -> Result<PostgresBackend, StoreError> {
        validate_schema_name(&config.schema)?;
        if config.max_connections == 0 {
            return Err(StoreError::Config("max_connections must be at least 1".into()));
        }
        let mut pg_config: tokio_postgres::Config = config.url.parse().map_err(|e| {
            StoreError::Config(format!("invalid postgres url: {e} (expected postgres://user@host:port/db)"))
        })?;
        if pg_config.get_application_name().is_none() {
            pg_config.application_name("agent-memory");
        }
        let manager = Manager::from_config(pg_config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(config.max_connections)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(Duration::from_secs(10)))
            .wait_timeout(Some(Duration::from_secs(30)))
            .post_create(Hook::async_fn(|client, _| {
                Box::pin(async move { client.batch_execute(SESSION_SETUP).await.map_err(HookError::Backend) })
            }))
            .build()
            .map_err(|e| StoreError::Config(format!("cannot build the connection pool: {e}")))?;
        let schema = format!("\"{}\"", config.schema);

        let client = pool.get().await.map_err(|e| pool_error("connect", e))?;
        // This first connection may predate the extension, so its session settings may be
        // incomplete: it is used for the migration and then closed, not pooled.
        let mut client = Object::take(client);
        match schema::migrate(&mut client, &schema).await {
            Ok(_) => {}
            Err(schema::MigrateError::Database(e)) => return Err(db_error("migrate", e)),
            Err(schema::MigrateError::TooNew { found, known }) => {
                return Err(StoreError::Config(format!(
                    "schema {:?} is at version {found} but this build knows versions up to {known}: upgrade agent-memory",
                    config.schema
                )));
            }
        }
        let pgvector_version: String = client
            .query_one("SELECT extversion FROM pg_extension WHERE extname = 'vector'", &[])
            .await
            .map_err(|e| db_error("connect", e))?
            .get(0);
        let iterative_scan = version_at_least(&pgvector_version, (0, 8));
        let mut models = HashMap::new();
        for row in client
            .query(&format!("SELECT model, id, dimensions FROM {schema}.models"), &[])
            .await
            .map_err(|e| db_error("connect", e))?
        {
            let dimensions: i32 = row.get(2);
            models.insert(row.get(0), ModelSlot { id: row.get(1), dimensions: dimensions as usize });
        }
        let table_rows: f64 = client
            .query_one(
                &format!("SELECT greatest(reltuples, 0)::float8 FROM pg_class WHERE oid = '{schema}.items'::regclass"),
                &[],
            )
            .await
            .map_err(|e| db_error("connect", e))?
            .get(0);
        let analyze = AnalyzeSchedule { written_since: 0, rows_at_last: table_rows as u64 };
        Ok(PostgresBackend {
            pool,
            schema,
            schema_name: config.schema,
            models: RwLock::new(models),
            pgvector_version,
            iterative_scan,
            analyze: std::sync::Mutex::new(analyze),
            keyword_statistics: config.keyword_statistics,
            indexes: (config.keyword_index || config.vector_index).then(|| {
                IndexCache::new(Indexed {
                    keywords: config.keyword_index,
                    keyword_statistics: config.keyword_statistics,
                    vectors: config.vector_index.then_some(config.vector_index_options),
                })
            }),
            written_since_log_purge: std::sync::atomic::AtomicU64::new(0),
            pending_puts: WaitingWrites::default(),
            put_slots: tokio::sync::Semaphore::new(PUT_SLOTS),
        })
    }

    /// Creates `schema` (and the `vector` extension) at schema version `version`, applying
    /// only the migrations up to it, as an older build would have left it: for tests of the
    /// upgrade that [`PostgresBackend::connect`] then applies. Not for applications.
    ///
    /// # Errors
    ///
    /// As [`PostgresBackend::connect`].
    #[doc(hidden)]
    pub async fn create_schema_at_version(url: &str, schema: &str, version: i32) -> Result<(), StoreError> {
        validate_schema_name(schema)?;
        let pg_config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::Config(format!("invalid postgres url: {e}")))?;
        let (mut client, connection) = pg_config.connect(NoTls).await.map_err(|e| db_error("connect", e))?;
        let connection = tokio::spawn(connection);
        let result = schema::migrate_to(&mut client, &format!("\"{schema}\""), version).await;
        drop(client);
        let _ = connection.await;
        match result {
            Ok(_) => Ok(()),
            Err(schema::MigrateError::Database(e)) => Err(db_error("migrate", e)),
            Err(schema::MigrateError::TooNew { found, known }) => {
                Err(StoreError::Config(format!("schema {schema:?} is at version {found}, newer than {known}")))
            }
        }
    }

    /// The version of the pgvector extension in the database (for example `0.8.0`).
    pub fn pgvector_version(&self) -> &str {
        &self.pgvector_version
    }

    /// The schema holding this store's tables.
    pub fn schema_name(&self) -> &str {
        &self.schema_name
    }

    /// The schema as a quoted identifier, for tables that share it (the session store's).
    pub(crate) fn quoted_schema(&self) -> &str {
        &self.schema
    }

    /// PostgreSQL's plan (`EXPLAIN`) for the index search that [`StoreBackend::vector_search`]
    /// runs first for `query`, to check that the HNSW index is used. `None` when no item
    /// was ever embedded by `query.model`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails.
    pub async fn explain_vector_search(&self, query: &VectorQuery) -> Result<Option<String>, StoreError> {
        let Some(slot) = self.find_model(&query.model).await? else {
            return Ok(None);
        };
        let mut sql = self.vector_sql(query, slot, true);
        sql.text.insert_str(0, "EXPLAIN ");
        let rows = self.run("explain", |client| query_rows(client, &sql)).await?;
        Ok(Some(rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>().join("\n")))
    }

    /// Counts `rows` written and, when [`AnalyzeSchedule`] says so, refreshes the items
    /// table's planner statistics in the background; every [`CHANGE_LOG_PURGE_EVERY`] rows,
    /// purges the change log in the background (both best effort: a failure is logged at
    /// debug level and changes nothing for the caller).
    fn note_written(&self, rows: u64) {
        self.note_logged(rows);
        let due = self.analyze.lock().unwrap_or_else(std::sync::PoisonError::into_inner).note_written(rows);
        if due {
            let sql = format!("ANALYZE {}.items", self.schema);
            self.in_background(
                "ANALYZE of the items table",
                move |client| async move { client.batch_execute(&sql).await },
            );
        }
    }

    /// Counts `rows` changed (written or deleted: each is an entry of the change log) and
    /// purges the log in the background every [`CHANGE_LOG_PURGE_EVERY`].
    fn note_logged(&self, rows: u64) {
        use std::sync::atomic::Ordering;
        let changed = self.written_since_log_purge.fetch_add(rows, Ordering::Relaxed) + rows;
        if changed >= CHANGE_LOG_PURGE_EVERY {
            self.written_since_log_purge.store(0, Ordering::Relaxed);
            let sql = change_log_purge_sql(&self.schema);
            self.in_background("purge of the change log", move |client| async move {
                let keep = i64::try_from(CHANGE_LOG_KEEP).unwrap_or(i64::MAX);
                client.execute(&sql, &[&keep]).await.map(drop)
            });
        }
    }

    /// Runs `work` on a pooled connection in the background, best effort: a failure is
    /// logged at debug level and changes nothing for the caller.
    fn in_background<F, Fut>(&self, what: &'static str, work: F)
    where
        F: FnOnce(Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), tokio_postgres::Error>> + Send,
    {
        // Writes run on tokio (the driver needs it); `try_current` only keeps this panic-free.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let pool = self.pool.clone();
        runtime.spawn(async move {
            let result = match pool.get().await {
                Ok(client) => work(client).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(error) = result {
                tracing::debug!(%error, "background {what} failed");
            }
        });
    }

    /// Keyword searches answered so far from the in-process index and by the SQL statement
    /// (`(0, n)` when the index is configured off): to check which path serves a workload.
    pub fn keyword_search_counts(&self) -> (u64, u64) {
        self.keyword_cache().map_or((0, 0), |cache| cache.counts(SearchKind::Keyword))
    }

    /// The change number the in-process keyword index reflects and how many items it holds;
    /// `None` before the first search that needs an in-process index loads it, or when it is
    /// configured off.
    pub fn keyword_index_status(&self) -> Option<(i64, usize)> {
        self.keyword_cache()?.keyword_status()
    }

    /// Semantic searches answered so far from the in-process vector index and by SQL
    /// (pgvector) instead (`(0, n)` when the index is configured off).
    pub fn vector_search_counts(&self) -> (u64, u64) {
        self.vector_cache().map_or((0, 0), |cache| cache.counts(SearchKind::Vector))
    }

    /// Hybrid searches answered so far by fusing the in-process rankings by row id, and by
    /// fusing the two searches' items instead (a value filter, an index configured off or
    /// unable to answer).
    pub fn hybrid_search_counts(&self) -> (u64, u64) {
        self.indexes.as_ref().map_or((0, 0), |cache| cache.counts(SearchKind::Hybrid))
    }

    /// The change number the in-process vector index reflects and how many vectors it
    /// holds; `None` before the first search that needs an in-process index loads it, or
    /// when it is configured off.
    pub fn vector_index_status(&self) -> Option<(i64, usize)> {
        self.vector_cache()?.vector_status()
    }

    /// Blocks until the in-process vector index's HNSW graphs hold every vector it has
    /// loaded (searches are exact meanwhile): for benchmarks and tests that need the graph.
    pub fn wait_for_vector_index(&self) {
        if let Some(cache) = self.vector_cache() {
            cache.wait_for_graphs();
        }
    }

    fn keyword_cache(&self) -> Option<&IndexCache> {
        self.indexes.as_ref().filter(|cache| cache.has_keywords())
    }

    fn vector_cache(&self) -> Option<&IndexCache> {
        self.indexes.as_ref().filter(|cache| cache.has_vectors())
    }

    /// Deletes the oldest entries of the change log (`item_changes`), keeping the newest
    /// `keep` or a few more (whole statements), and moves the log's floor past them: a
    /// process whose keyword index is older than the floor reloads it. Runs by itself in
    /// the background every [`CHANGE_LOG_PURGE_EVERY`] rows a backend writes, keeping
    /// [`CHANGE_LOG_KEEP`]. Returns how many entries were deleted.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails.
    pub async fn purge_change_log(&self, keep: u64) -> Result<u64, StoreError> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let sql = change_log_purge_sql(&self.schema);
        self.run("purge change log", |client| {
            let sql = &sql;
            async move {
                let statement = client.prepare_cached(sql).await?;
                client.execute(&statement, &[&keep]).await
            }
        })
        .await
    }

    /// Runs `f` on a pooled connection; retries once on a fresh connection when the
    /// connection turned out to be closed (a server restart, a terminated session).
    ///
    /// The retried statement may, in the rare case where the connection broke after the
    /// server committed it, run twice: writes are idempotent for a given `now` (upserts,
    /// deletes), except that a repeated delete reports the item as already gone.
    pub(crate) async fn run<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        F: Fn(Object) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        run_on(&self.pool, op, f).await
    }

    fn cached_model(&self, model: &str) -> Option<ModelSlot> {
        self.models.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(model).copied()
    }

    fn cache_model(&self, model: &str, slot: ModelSlot) {
        self.models.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(model.to_owned(), slot);
    }

    /// The registered model `model`, looked up in the database when not cached (another
    /// process may have registered it).
    async fn find_model(&self, model: &str) -> Result<Option<ModelSlot>, StoreError> {
        if let Some(slot) = self.cached_model(model) {
            return Ok(Some(slot));
        }
        let sql = format!("SELECT id, dimensions FROM {}.models WHERE model = $1", self.schema);
        let row = self
            .run("find model", |client| {
                let sql = &sql;
                async move { client.query_opt(sql.as_str(), &[&model]).await }
            })
            .await?;
        Ok(row.map(|row| {
            let dimensions: i32 = row.get(1);
            let slot = ModelSlot { id: row.get(0), dimensions: dimensions as usize };
            self.cache_model(model, slot);
            slot
        }))
    }

    /// The model slot of each vector (registering new models), `None` where there is none.
    async fn model_slots(
        &self,
        vectors: impl Iterator<Item = Option<&StoredVector>>,
    ) -> Result<Vec<Option<ModelSlot>>, StoreError> {
        let mut slots = Vec::new();
        for vector in vectors {
            slots.push(match vector {
                Some(v) => Some(self.model_slot(&v.model, v.vector.len()).await?),
                None => None,
            });
        }
        Ok(slots)
    }

    /// The model slot for vectors of `model` with `dimensions`, registering the model and
    /// creating its HNSW index on first use.
    async fn model_slot(&self, model: &str, dimensions: usize) -> Result<ModelSlot, StoreError> {
        let slot = match self.cached_model(model) {
            Some(slot) => slot,
            None => {
                let dims = i32::try_from(dimensions).map_err(|_| {
                    StoreError::InvalidRequest(format!("a vector of {dimensions} dimensions is too long"))
                })?;
                let schema = &self.schema;
                let slot = self
                    .run("register model", |mut client| async move {
                        let tx = client.transaction().await?;
                        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&schema::MIGRATION_LOCK]).await?;
                        let existing = tx
                            .query_opt(&format!("SELECT id, dimensions FROM {schema}.models WHERE model = $1"), &[&model])
                            .await?;
                        let (id, stored): (i32, i32) = match existing {
                            Some(row) => (row.get(0), row.get(1)),
                            None => {
                                let row = tx
                                    .query_one(
                                        &format!(
                                            "INSERT INTO {schema}.models (model, dimensions) VALUES ($1, $2) RETURNING id"
                                        ),
                                        &[&model, &dims],
                                    )
                                    .await?;
                                (row.get(0), dims)
                            }
                        };
                        if stored as usize <= MAX_INDEXED_DIMENSIONS && stored == dims {
                            tx.batch_execute(&format!(
                                "CREATE INDEX IF NOT EXISTS items_hnsw_{id} ON {schema}.items \
                                 USING hnsw ((embedding::vector({stored})) vector_cosine_ops) WHERE embedding_model = {id}"
                            ))
                            .await?;
                        }
                        tx.commit().await?;
                        Ok(ModelSlot { id, dimensions: stored as usize })
                    })
                    .await?;
                self.cache_model(model, slot);
                slot
            }
        };
        if slot.dimensions != dimensions {
            return Err(StoreError::Config(format!(
                "embedding model {model:?} is registered in schema {:?} with {} dimensions, but this vector has \
                 {dimensions}: give the embedder a distinct model id",
                self.schema_name, slot.dimensions
            )));
        }
        Ok(slot)
    }

    /// The semantic search statement; `use_index` orders by the `<=>` operator (which the
    /// HNSW index serves), otherwise by `cosine_distance()` (which it does not: exact).
    fn vector_sql(&self, query: &VectorQuery, slot: ModelSlot, use_index: bool) -> Sql {
        let mut sql = Sql::new();
        let n = slot.dimensions;
        let vector = sql.bind(Vector::from(query.vector.clone()));
        let now = sql.bind(query.now);
        let order = if use_index {
            format!("i.embedding::vector({n}) <=> {vector}::vector")
        } else {
            format!("cosine_distance(i.embedding::vector({n}), {vector}::vector)")
        };
        sql.push(&format!(
            "SELECT {ITEM_COLUMNS}, i.embedding FROM {}.items AS i WHERE i.embedding_model = {}",
            self.schema, slot.id
        ));
        sql.and_scope(&query.scope);
        sql.and_live(&now);
        sql.and_filter(&query.filter);
        let limit = sql.bind(i64::try_from(query.limit).unwrap_or(i64::MAX));
        sql.push(&format!(" ORDER BY {order} LIMIT {limit}"));
        sql
    }

    async fn scored_vector_rows(&self, sql: &Sql, query: &VectorQuery) -> Result<Vec<ScoredItem>, StoreError> {
        let ef_search = (!self.iterative_scan).then(|| query.limit.saturating_mul(4).clamp(40, 1000));
        let rows = self
            .run("vector search", |client| async move {
                if let Some(ef) = ef_search {
                    client.batch_execute(&format!("SET hnsw.ef_search = {ef}")).await?;
                }
                query_rows(client, sql).await
            })
            .await?;
        let query_norm = vector::norm(&query.vector);
        rows.iter()
            .map(|row| {
                let stored: Vector = row.try_get(7).map_err(|e| db_error("vector search", e))?;
                let stored = stored.as_slice();
                let score = f64::from(vector::cosine(stored, vector::norm(stored), &query.vector, query_norm));
                Ok(ScoredItem { item: item_from_row(row)?, score })
            })
            .collect()
    }

    /// The keyword search statement for the best `depth` candidates (and any tied with the
    /// last; `usize::MAX` for every match): the query terms' postings in scope (index scans
    /// of `keyword_postings`, index-only once the table is vacuumed) are scored by one
    /// aggregate with each term's idf computed once; only those candidates
    /// are then read from `items` (by primary key), and the live ones that pass the filter
    /// come back ranked by score then recency. Values are read for the candidates, not for
    /// every match. The last column counts the candidates, so the caller knows whether a
    /// deeper search could find more.
    ///
    /// SQL ranks by the score rounded to [`RANK_SCALE`]: the order in which an item's terms
    /// are added up is the plan's, so equal scores may differ in the last bit, and must
    /// still tie (and be ordered by recency). The caller re-scores the candidates exactly.
    fn keyword_sql(&self, query: &KeywordQuery, depth: usize) -> Sql {
        let s = &self.schema;
        let mut sql = Sql::new();
        let terms = sql.bind(query.terms.clone());
        let now = sql.bind(query.now);
        let depth = sql.bind(to_i64(depth));
        let corpus = KeywordCorpusSql::new(&mut sql, s, &terms, self.keyword_statistics, &query.scope);
        // `idf` is keyword::idf (ln, and 1e-6 where it is not positive); the sum's terms are
        // keyword::term_score's, with float8 constants and the same operation order.
        sql.push(&format!(
            "WITH {stats_and_df},
             weights AS MATERIALIZED (
                 SELECT df.tenant, df.term, CASE WHEN w.idf > 0 THEN w.idf ELSE 1e-6::float8 END AS idf,
                     stats.tokens / greatest(stats.docs, 1) AS average
                 FROM df JOIN stats USING (tenant)
                 CROSS JOIN LATERAL (SELECT ln((stats.docs - df.hits + 0.5) / (df.hits + 0.5)) AS idf) AS w
                 WHERE df.hits > 0 ORDER BY df.ord),
             ranked AS MATERIALIZED (
                 SELECT scored.ns, scored.key, round(scored.bm25 * {RANK_SCALE:?}::float8) AS rank
                 FROM (SELECT p.ns, p.key,
                     sum(weights.idf * (p.tf::float8 * {k1p1:?}::float8)
                         / (p.tf::float8 + {k1:?}::float8 * ({one_minus_b:?}::float8
                            + {b:?}::float8 * p.doc_len::float8 / weights.average))) AS bm25
                 FROM weights CROSS JOIN LATERAL (
                     SELECT p.ns, p.key, p.tf, p.doc_len FROM {s}.keyword_postings AS p
                     WHERE p.term = weights.term{posting_in_corpus}",
            stats_and_df = corpus.stats_and_df,
            posting_in_corpus = corpus.posting_in_corpus,
            k1 = keyword::K1,
            k1p1 = keyword::K1 + 1.0,
            one_minus_b = 1.0 - keyword::B,
            b = keyword::B,
        ));
        sql.and_scope_on("p.ns", &query.scope);
        sql.push(&format!(
            ") AS p
                 GROUP BY p.ns, p.key) AS scored
                 ORDER BY rank DESC FETCH FIRST ({depth}::bigint) ROWS WITH TIES)
             SELECT {ITEM_COLUMNS}, i.doc_len, i.terms, i.tfs, stats.docs, stats.tokens,
                 (SELECT array_agg(df.hits ORDER BY df.ord) FROM df WHERE df.tenant = stats.tenant) AS hits,
                 (SELECT count(*) FROM ranked) AS candidates
             FROM ranked AS r JOIN {s}.items AS i ON i.ns = r.ns AND i.key = r.key
             JOIN stats ON stats.tenant = {item_corpus}
             WHERE true",
            item_corpus = corpus.item_corpus,
        ));
        sql.and_live(&now);
        sql.and_filter(&query.filter);
        sql.push(&format!(" ORDER BY r.rank DESC, {RECENCY} LIMIT {depth}::bigint"));
        sql
    }

    /// Keyword search by the SQL statement ([`PostgresBackend::keyword_sql`]): without an
    /// in-process index, or when it cannot answer.
    async fn sql_keyword_search(&self, query: &KeywordQuery) -> Result<Vec<ScoredItem>, StoreError> {
        let depth = keyword_depth(query);
        let sql = self.keyword_sql(query, depth);
        let mut rows = self.run("keyword search", |client| query_rows_generic(client, &sql)).await?;
        // The candidate count comes with every row; no row means it is unknown.
        let deeper = |rows: &[Row]| {
            rows.first().is_none_or(|row| row.try_get::<_, i64>(13).is_ok_and(|count| count >= to_i64(depth)))
        };
        if rows.len() < query.limit && deeper(&rows) {
            // Expired items or the filter took out too many of the best candidates: rank
            // every match.
            let sql = self.keyword_sql(query, usize::MAX);
            rows = self.run("keyword search", |client| query_rows_generic(client, &sql)).await?;
        }
        let mut hits = rows
            .iter()
            .map(|row| {
                let corrupt = |e: tokio_postgres::Error| db_error("keyword search", e);
                let doc_len: i32 = row.try_get(7).map_err(corrupt)?;
                let item_terms: Vec<String> = row.try_get(8).map_err(corrupt)?;
                let counts: Vec<i32> = row.try_get(9).map_err(corrupt)?;
                let docs: f64 = row.try_get(10).map_err(corrupt)?;
                let tokens: f64 = row.try_get(11).map_err(corrupt)?;
                let document_frequency: Vec<i64> = row.try_get(12).map_err(corrupt)?;
                let average = tokens / docs;
                let mut bm25 = 0.0;
                for (term, &hits) in query.terms.iter().zip(&document_frequency) {
                    if hits == 0 {
                        continue;
                    }
                    if let Some(position) = item_terms.iter().position(|t| t == term) {
                        let tf = counts.get(position).copied().unwrap_or(0).max(0) as u32;
                        let idf = keyword::idf(docs as u64, hits as u64);
                        bm25 += keyword::term_score(idf, tf, doc_len.max(0) as u32, average);
                    }
                }
                Ok(ScoredItem { item: item_from_row(row)?, score: keyword::normalize(bm25) })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        hits.sort_by(by_score);
        hits.truncate(query.limit);
        Ok(hits)
    }

    /// PostgreSQL's plan (`EXPLAIN`) for the statement [`StoreBackend::keyword_search`] runs
    /// for `query`, to check which indexes it reads.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails.
    pub async fn explain_keyword_search(&self, query: &KeywordQuery) -> Result<String, StoreError> {
        let mut sql = self.keyword_sql(query, keyword_depth(query));
        sql.text.insert_str(0, "EXPLAIN ");
        let rows = self.run("explain", |client| query_rows(client, &sql)).await?;
        Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>().join("\n"))
    }
}

fn validate_schema_name(schema: &str) -> Result<(), StoreError> {
    let mut chars = schema.chars();
    let valid_start = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !valid_start || schema.len() > 63 || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(StoreError::Config(format!(
            "invalid schema name {schema:?}: use 1 to 63 lower-case ASCII letters, digits and '_', not starting with a digit"
        )));
    }
    Ok(())
}

/// Whether a pgvector version string (`0.8.0`) is at least `(major, minor)`.
fn version_at_least(version: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = version.split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

/// Whether the error means the connection is gone (so the statement did not run to
/// completion and a fresh connection may succeed).
/// Runs `f` on a pooled connection (`op` names it in errors), once more on a fresh
/// connection when the first one turns out to be lost.
pub(crate) async fn run_on<T, F, Fut>(pool: &Pool, op: &'static str, f: F) -> Result<T, StoreError>
where
    F: Fn(Object) -> Fut,
    Fut: Future<Output = Result<T, tokio_postgres::Error>>,
{
    let mut retried = false;
    loop {
        let client = match pool.get().await {
            Ok(client) => client,
            Err(PoolError::Backend(e)) if !retried && is_connection_error(&e) => {
                retried = true;
                continue;
            }
            Err(e) => return Err(pool_error(op, e)),
        };
        match f(client).await {
            Ok(value) => return Ok(value),
            Err(e) if !retried && is_connection_error(&e) => {
                tracing::debug!(op, error = %e, "postgres connection lost; retrying on a fresh connection");
                // A lost connection usually means the server restarted or dropped every
                // session: the idle ones are as dead, even if their sockets have not
                // reported it yet, so the retry must not pick one of them.
                pool.retain(|_, _| false);
                retried = true;
            }
            Err(e) => return Err(db_error(op, e)),
        }
    }
}

fn is_connection_error(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
        }
        None => std::error::Error::source(error).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

fn db_error(op: &str, error: tokio_postgres::Error) -> StoreError {
    let message = match error.as_db_error() {
        Some(db) => format!("{op}: {} (sqlstate {})", db.message(), db.code().code()),
        None => match std::error::Error::source(&error) {
            Some(source) => format!("{op}: {error}: {source}"),
            None => format!("{op}: {error}"),
        },
    };
    StoreError::backend(BACKEND, message)
}

fn pool_error(op: &str, error: PoolError) -> StoreError {
    match error {
        PoolError::Backend(e) => db_error(op, e),
        PoolError::Timeout(kind) => {
            StoreError::backend(BACKEND, format!("{op}: timed out waiting for a database connection ({kind:?})"))
        }
        other => StoreError::backend(BACKEND, format!("{op}: {other}")),
    }
}

async fn query_rows(client: Object, sql: &Sql) -> Result<Vec<Row>, tokio_postgres::Error> {
    let statement = client.prepare_cached(&sql.text).await?;
    client.query(&statement, &sql.params()).await
}

/// [`query_rows`] with a generic plan: planning the keyword statement for its parameters
/// cost about a quarter of its server time at 10k items and chose the same plan (its steps
/// are materialized CTEs and index scans whatever the terms), whereas the session default
/// (`force_custom_plan`, for the HNSW partial indexes) plans every execution. The session
/// setting is switched for this statement alone: the three messages are pipelined in one
/// round trip and sent together on the first poll, so the reset runs even if the caller
/// stops waiting or the statement fails.
async fn query_rows_generic(client: Object, sql: &Sql) -> Result<Vec<Row>, tokio_postgres::Error> {
    query_generic(&client, &sql.text, &sql.params()).await
}

/// [`query_rows_generic`] for a statement's text and parameters.
async fn query_generic(
    client: &Object,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    let (generic, rows, custom) = futures::join!(
        client.batch_execute("SET plan_cache_mode = force_generic_plan"),
        client.query(&statement, params),
        client.batch_execute("SET plan_cache_mode = force_custom_plan"),
    );
    generic?;
    custom?;
    rows
}

/// An item from the first seven columns ([`ITEM_COLUMNS`]).
fn item_from_row(row: &Row) -> Result<Item, StoreError> {
    let corrupt = |e: tokio_postgres::Error| StoreError::backend(BACKEND, format!("corrupt row: {e}"));
    let ns: String = row.try_get(0).map_err(corrupt)?;
    let value: Value = row.try_get(2).map_err(corrupt)?;
    let Value::Object(value) = value else {
        return Err(StoreError::backend(BACKEND, format!("corrupt row: the value in {ns:?} is not a JSON object")));
    };
    Ok(Item {
        namespace: Namespace::decode(&ns)?,
        key: row.try_get(1).map_err(corrupt)?,
        value,
        created_at: row.try_get(3).map_err(corrupt)?,
        updated_at: row.try_get(4).map_err(corrupt)?,
        expires_at: row.try_get(5).map_err(corrupt)?,
        ttl_seconds: row.try_get(6).map_err(corrupt)?,
    })
}

/// Score descending, then recency order.
fn by_score(a: &ScoredItem, b: &ScoredItem) -> std::cmp::Ordering {
    b.score.total_cmp(&a.score).then_with(|| super::memory::recency(&a.item, &b.item))
}

/// An item's keyword postings: distinct tokens (first-seen order), their counts, the
/// token count.
/// [`postings`] as the insert statements bind them: the terms and the counts each joined
/// with spaces (split again by `string_to_array`), and the token count.
fn posting_columns(text: &str) -> (String, String, i32) {
    let (terms, counts, length) = postings(text);
    (terms.join(" "), counts.iter().map(i32::to_string).collect::<Vec<_>>().join(" "), length)
}

fn postings(text: &str) -> (Vec<String>, Vec<i32>, i32) {
    let mut terms: Vec<String> = Vec::new();
    let mut counts: Vec<i32> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut length = 0i32;
    for token in keyword::tokenize(text) {
        length = length.saturating_add(1);
        match index.get(&token) {
            Some(&i) => counts[i] = counts[i].saturating_add(1),
            None => {
                index.insert(token.clone(), terms.len());
                terms.push(token);
                counts.push(1);
            }
        }
    }
    (terms, counts, length)
}

/// Rows a backend writes between two background purges of the change log.
pub const CHANGE_LOG_PURGE_EVERY: u64 = 10_000;
/// Change log entries a background purge keeps (at least).
pub const CHANGE_LOG_KEEP: u64 = 100_000;

/// The statement that purges the change log down to its newest `$1` entries (whole
/// statements) and moves the floor, in one snapshot.
fn change_log_purge_sql(schema: &str) -> String {
    format!(
        "WITH cut AS (SELECT l.seq FROM {schema}.item_changes AS l ORDER BY l.seq DESC OFFSET $1 LIMIT 1),
         floor AS (
             UPDATE {schema}.item_changes_floor AS f SET seq = greatest(f.seq, cut.seq) FROM cut
             WHERE f.id = 1 RETURNING f.seq)
         DELETE FROM {schema}.item_changes AS l USING floor WHERE l.seq <= floor.seq"
    )
}

/// Keyword candidates are ranked in SQL by `round(bm25 · RANK_SCALE)`: scores that differ
/// by less than this resolution only through rounding tie, and go by recency.
const RANK_SCALE: f64 = 1e9;

/// How many of the best-scored matches a keyword search reads first: the page and some
/// room for expired items, and more when a filter may reject some. When too few of them
/// pass, the search is repeated over every match.
fn keyword_depth(query: &KeywordQuery) -> usize {
    let room = if query.filter.is_empty() { query.limit / 2 } else { query.limit.saturating_mul(3) };
    query.limit.saturating_add(room).saturating_add(16)
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl StoreBackend for PostgresBackend {
    fn kind(&self) -> &'static str {
        BACKEND
    }

    /// Loads the in-process indexes, when this backend keeps any.
    async fn warm_up(&self) -> Result<(), StoreError> {
        match &self.indexes {
            Some(indexes) => indexes.warm_up(self).await,
            None => Ok(()),
        }
    }

    /// Group commit (`postgres/puts.rs`): concurrent puts share insert statements.
    async fn put_many(&self, writes: Vec<ItemWrite>, now: f64) -> Result<Vec<Item>, StoreError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let slots = self.model_slots(writes.iter().map(|write| write.vector.as_ref())).await?;
        let models: Vec<Option<i32>> = slots.iter().map(|slot| slot.map(|slot| slot.id)).collect();
        let (reply, answer) = tokio::sync::oneshot::channel();
        let _ticket = self.pending_puts.push(puts::PendingPut::new(writes, &models, now, reply));
        {
            let _slot = self.put_slots.acquire().await;
            let queued = self.pending_puts.take();
            if !queued.is_empty() {
                // Its own task: the group completes (and answers) even if this caller stops.
                let group = tokio::spawn(puts::commit(self.pool.clone(), self.schema.clone(), queued));
                if let Ok(written) = group.await {
                    self.note_written(written);
                }
            }
        }
        answer.await.unwrap_or_else(|_| Err(StoreError::backend(BACKEND, "a put was dropped before it was answered")))
    }

    async fn export_items(&self, query: &ExportQuery) -> Result<Vec<ExportedItem>, StoreError> {
        // One statement: one snapshot. The keyset condition and the order are served by the
        // (ns, key) primary key (both columns COLLATE "C": bytewise, the dump's order).
        let mut sql = Sql::new();
        let now = sql.bind(query.now);
        sql.push(&format!(
            "SELECT {ITEM_COLUMNS}, i.embedding, m.model, i.index_spec, i.terms, i.tfs, i.doc_len FROM {s}.items AS i \
             LEFT JOIN {s}.models AS m ON m.id = i.embedding_model WHERE true",
            s = self.schema
        ));
        sql.and_live(&now);
        let range = match query.range() {
            ExportRange::Nothing => " AND false".to_owned(),
            ExportRange::All => String::new(),
            ExportRange::After { namespace, key } => {
                format!(" AND (i.ns, i.key) > ({}::text, {}::text)", sql.bind(namespace), sql.bind(key))
            }
            ExportRange::AfterBelow { namespace, key, below } => format!(
                " AND (i.ns, i.key) > ({}::text, {}::text) AND i.ns < {}::text",
                sql.bind(namespace),
                sql.bind(key),
                sql.bind(below)
            ),
            ExportRange::Between { from, below } => {
                format!(" AND i.ns >= {}::text AND i.ns < {}::text", sql.bind(from), sql.bind(below))
            }
            ExportRange::Namespace { namespace } => format!(" AND i.ns = {}::text", sql.bind(namespace)),
            ExportRange::NamespaceAfter { namespace, key } => {
                format!(" AND i.ns = {}::text AND i.key > {}::text", sql.bind(namespace), sql.bind(key))
            }
        };
        sql.push(&range);
        let limit = sql.bind(i64::try_from(query.limit).unwrap_or(i64::MAX));
        sql.push(&format!(" ORDER BY i.ns, i.key LIMIT {limit}"));
        let rows = self.run("export", |client| query_rows(client, &sql)).await?;
        let corrupt = |e: tokio_postgres::Error| StoreError::backend(BACKEND, format!("corrupt row: {e}"));
        rows.iter()
            .map(|row| {
                let item = item_from_row(row)?;
                let embedding: Option<Vector> = row.try_get(7).map_err(corrupt)?;
                let model: Option<String> = row.try_get(8).map_err(corrupt)?;
                let vector = match (embedding, model) {
                    (Some(embedding), Some(model)) => Some(StoredVector { model, vector: embedding.to_vec() }),
                    _ => None,
                };
                let spec: Option<String> = row.try_get(9).map_err(corrupt)?;
                let index = ItemIndex::from_column(spec.as_deref())
                    .map_err(|e| StoreError::backend(BACKEND, format!("corrupt row: {e}")))?;
                // PostgreSQL keeps postings, not texts: each term `tf` times is a text with the
                // same postings (`postings` writes `doc_len` as the number of tokens, the sum of
                // `tfs`; checked here, as a row that breaks it would not score the same).
                let terms: Vec<String> = row.try_get(10).map_err(corrupt)?;
                let tfs: Vec<i32> = row.try_get(11).map_err(corrupt)?;
                let doc_len: i32 = row.try_get(12).map_err(corrupt)?;
                let tokens: i64 = tfs.iter().map(|&tf| i64::from(tf)).sum();
                if terms.len() != tfs.len() || tfs.iter().any(|&tf| tf <= 0) || tokens != i64::from(doc_len) {
                    return Err(StoreError::backend(
                        BACKEND,
                        format!(
                            "corrupt row {:?} {:?}: {} terms, {} counts summing to {tokens}, doc_len {doc_len}",
                            item.namespace.labels(),
                            item.key,
                            terms.len(),
                            tfs.len()
                        ),
                    ));
                }
                let text = canonical_index_text(terms.iter().zip(tfs.iter().map(|&tf| tf.unsigned_abs())));
                Ok(ExportedItem { item, vector, index, text })
            })
            .collect()
    }

    async fn restore_items(&self, items: Vec<RestoredItem>) -> Result<u64, StoreError> {
        if items.is_empty() {
            return Ok(0);
        }
        let slots = self.model_slots(items.iter().map(|restored| restored.vector.as_ref())).await?;
        let last =
            last_per_address(items.iter().map(|restored| (&restored.item.namespace, restored.item.key.as_str())));
        let rows: Vec<ItemRow> = last
            .into_iter()
            .map(|((ns, key), i)| {
                let RestoredItem { item, text, vector, index } = &items[i];
                let times = RowTimes {
                    created: item.created_at,
                    updated: item.updated_at,
                    expires: item.expires_at,
                    ttl: item.ttl_seconds,
                };
                let model = slots[i].map(|slot| slot.id);
                ItemRow::new(ns, key, &item.value, times, RowIndexing { text, vector: vector.as_ref(), model, index })
            })
            .collect();
        let restored =
            rows::upsert(&self.pool, &self.schema, &rows.iter().collect::<Vec<_>>(), CreatedAt::Given).await?;
        self.note_written(restored.len() as u64);
        Ok(items.len() as u64)
    }

    async fn get_many(&self, keys: &[ItemKey], now: f64, refresh_ttl: bool) -> Result<Vec<Option<Item>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // Each address once (a key may be asked for twice).
        let unique: HashSet<(String, &str)> = keys.iter().map(|k| (k.namespace.encoded(), k.key.as_str())).collect();
        let (nss, names): (Vec<String>, Vec<&str>) = unique.into_iter().unzip();
        let sql = format!(
            "WITH k AS (SELECT * FROM unnest($1::text[], $2::text[]) AS k(ns, key)),
             refreshed AS (
                 UPDATE {s}.items AS i SET expires_at = $3 + i.ttl_seconds FROM k
                 WHERE $4 AND i.ns = k.ns AND i.key = k.key AND i.ttl_seconds IS NOT NULL
                     AND (i.expires_at IS NULL OR i.expires_at > $3)
                 RETURNING i.ns, i.key, i.expires_at)
             SELECT i.ns, i.key, i.value, i.created_at, i.updated_at,
                 coalesce(r.expires_at, i.expires_at), i.ttl_seconds
             FROM {s}.items AS i JOIN k ON i.ns = k.ns AND i.key = k.key
             LEFT JOIN refreshed AS r ON r.ns = i.ns AND r.key = i.key
             WHERE i.expires_at IS NULL OR i.expires_at > $3",
            s = self.schema
        );
        let rows = self
            .run("get", |client| {
                let (sql, nss, names) = (&sql, &nss, &names);
                async move {
                    let statement = client.prepare_cached(sql).await?;
                    client.query(&statement, &[nss, names, &now, &refresh_ttl]).await
                }
            })
            .await?;
        let mut found: HashMap<(String, String), Item> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let item = item_from_row(row)?;
            found.insert((row.get(0), item.key.clone()), item);
        }
        Ok(keys.iter().map(|k| found.get(&(k.namespace.encoded(), k.key.clone())).cloned()).collect())
    }

    async fn delete_many(&self, keys: &[ItemKey], now: f64) -> Result<Vec<bool>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let nss: Vec<String> = keys.iter().map(|k| k.namespace.encoded()).collect();
        let names: Vec<&str> = keys.iter().map(|k| k.key.as_str()).collect();
        let sql = format!(
            "DELETE FROM {s}.items AS i USING unnest($1::text[], $2::text[]) AS k(ns, key)
             WHERE i.ns = k.ns AND i.key = k.key
             RETURNING i.ns, i.key, (i.expires_at IS NULL OR i.expires_at > $3)",
            s = self.schema
        );
        let rows = self
            .run("delete", |client| {
                let (sql, nss, names) = (&sql, &nss, &names);
                async move {
                    let statement = client.prepare_cached(sql).await?;
                    client.query(&statement, &[nss, names, &now]).await
                }
            })
            .await?;
        self.note_logged(rows.len() as u64);
        let mut live: HashMap<(String, String), bool> = HashMap::with_capacity(rows.len());
        for row in &rows {
            live.insert((row.get(0), row.get(1)), row.get(2));
        }
        // A key listed twice was removed once: only its first mention reports it.
        let mut reported = HashSet::new();
        Ok(keys
            .iter()
            .map(|k| {
                let address = (k.namespace.encoded(), k.key.clone());
                let removed = live.get(&address).copied().unwrap_or(false);
                removed && reported.insert(address)
            })
            .collect())
    }

    async fn scan(&self, query: &ScanQuery) -> Result<Vec<Item>, StoreError> {
        let mut sql = Sql::new();
        let now = sql.bind(query.now);
        sql.push(&format!("SELECT {ITEM_COLUMNS} FROM {}.items AS i WHERE true", self.schema));
        sql.and_scope(&query.scope);
        sql.and_live(&now);
        sql.and_filter(&query.filter);
        let offset = sql.bind(to_i64(query.offset));
        let limit = sql.bind(query.limit.map(to_i64));
        sql.push(&format!(" ORDER BY {RECENCY} OFFSET {offset} LIMIT {limit}"));
        let rows = self.run("scan", |client| query_rows(client, &sql)).await?;
        rows.iter().map(item_from_row).collect()
    }

    async fn vector_search(&self, query: &VectorQuery) -> Result<Vec<ScoredItem>, StoreError> {
        let Some(slot) = self.find_model(&query.model).await? else {
            return Ok(Vec::new());
        };
        if slot.dimensions != query.vector.len() || query.limit == 0 {
            return Ok(Vec::new());
        }
        if let Some(cache) = self.vector_cache() {
            if let Some(hits) = cache.vector_search(self, query).await {
                return Ok(hits);
            }
            cache.note_sql(SearchKind::Vector);
        }
        let indexed = slot.dimensions <= MAX_INDEXED_DIMENSIONS;
        let mut hits = self.scored_vector_rows(&self.vector_sql(query, slot, indexed), query).await?;
        if indexed && hits.len() < query.limit {
            // The index scan may stop before enough rows pass a selective filter: the exact
            // search finds every match.
            hits = self.scored_vector_rows(&self.vector_sql(query, slot, false), query).await?;
        }
        hits.sort_by(by_score);
        hits.truncate(query.limit);
        Ok(hits)
    }

    async fn keyword_search(&self, query: &KeywordQuery) -> Result<Vec<ScoredItem>, StoreError> {
        if query.terms.is_empty() || query.limit == 0 {
            return Ok(Vec::new());
        }
        if let Some(cache) = self.keyword_cache() {
            if let Some(hits) = cache.keyword_search(self, query).await {
                return Ok(hits);
            }
            cache.note_sql(SearchKind::Keyword);
        }
        self.sql_keyword_search(query).await
    }

    async fn hybrid_search(&self, query: &HybridQuery) -> Result<Vec<ScoredItem>, StoreError> {
        if let Some(cache) = &self.indexes {
            let ranked_in_process =
                cache.has_vectors() && (query.keyword.is_none() || cache.has_keywords()) && !has_value_filter(query);
            if ranked_in_process && let Some(hits) = cache.hybrid_search(self, query).await {
                return Ok(hits);
            }
            cache.note_sql(SearchKind::Hybrid);
        }
        hybrid_from_rankings(self, query).await
    }

    async fn list_namespaces(&self, query: &NamespaceQuery) -> Result<Vec<Namespace>, StoreError> {
        let mut sql = Sql::new();
        let now = sql.bind(query.now);
        let separator = LABEL_SEPARATOR.to_string();
        let label = match query.max_depth {
            Some(depth) => {
                let depth = sql.bind(i32::try_from(depth).unwrap_or(i32::MAX));
                let sep = sql.bind(separator.clone());
                format!("array_to_string((string_to_array(i.ns, {sep}::text))[1:{depth}::int], {sep}::text)")
            }
            None => "i.ns".to_owned(),
        };
        sql.push(&format!("SELECT DISTINCT ({label}) COLLATE \"C\" AS t FROM {}.items AS i WHERE true", self.schema));
        sql.and_scope(&Scope::Prefix(query.prefix.clone()));
        sql.and_live(&now);
        if !query.suffix.is_empty() {
            let encoded = query.suffix.join(&separator);
            let tail = format!("{separator}{encoded}");
            let length = i32::try_from(tail.chars().count()).unwrap_or(i32::MAX);
            let (whole, tail, length) = (sql.bind(encoded), sql.bind(tail), sql.bind(length));
            sql.push(&format!(" AND (i.ns = {whole}::text OR right(i.ns, {length}::int) = {tail}::text)"));
        }
        let offset = sql.bind(to_i64(query.offset));
        let limit = sql.bind(to_i64(query.limit));
        sql.push(&format!(" ORDER BY t OFFSET {offset} LIMIT {limit}"));
        let rows = self.run("list namespaces", |client| query_rows(client, &sql)).await?;
        rows.iter().map(|row| Namespace::decode(row.get(0))).collect()
    }

    async fn count(&self, scope: &Scope, now: f64) -> Result<u64, StoreError> {
        let mut sql = Sql::new();
        let now = sql.bind(now);
        sql.push(&format!("SELECT count(*) FROM {}.items AS i WHERE true", self.schema));
        sql.and_scope(scope);
        sql.and_live(&now);
        let rows = self.run("count", |client| query_rows(client, &sql)).await?;
        Ok(rows.first().map_or(0, |row| row.get::<_, i64>(0)).max(0) as u64)
    }

    async fn delete_scope(&self, scope: &Scope, now: f64) -> Result<u64, StoreError> {
        let mut sql = Sql::new();
        let now = sql.bind(now);
        sql.push(&format!("WITH gone AS (DELETE FROM {}.items AS i WHERE true", self.schema));
        sql.and_scope(scope);
        sql.push(&format!(
            " RETURNING i.expires_at) SELECT count(*) FROM gone WHERE expires_at IS NULL OR expires_at > {now}"
        ));
        let rows = self.run("delete namespace", |client| query_rows(client, &sql)).await?;
        let removed = rows.first().map_or(0, |row| row.get::<_, i64>(0)).max(0) as u64;
        self.note_logged(removed);
        Ok(removed)
    }

    async fn purge_expired(&self, now: f64) -> Result<u64, StoreError> {
        let sql = format!("DELETE FROM {}.items WHERE expires_at <= $1", self.schema);
        let purged = self
            .run("purge expired", |client| {
                let sql = &sql;
                async move {
                    let statement = client.prepare_cached(sql).await?;
                    client.execute(&statement, &[&now]).await
                }
            })
            .await?;
        self.note_logged(purged);
        Ok(purged)
    }
}

impl MemoryStore {
    /// A store on PostgreSQL with pgvector at `url`, with the built-in embedder (as
    /// [`MemoryStore::in_memory`]; change it with [`MemoryStore::with_embedder`] or
    /// [`MemoryStore::without_embedder`]). The tables live in schema [`DEFAULT_SCHEMA`], or in
    /// the one named by a `schema=NAME` parameter of the URL
    /// (`postgres://u@host/db?schema=team_a`), which is not passed on to the server. Use
    /// [`PostgresBackend::connect`] with [`MemoryStore::new`] for other settings.
    ///
    /// ```no_run
    /// use agent_memory::store::MemoryStore;
    /// use serde_json::json;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), agent_memory::store::StoreError> {
    /// let store = MemoryStore::postgres("postgres://postgres@127.0.0.1:55432/agent_memory_test").await?;
    /// store.put(("user_1", "prefs"), "theme", json!({"value": "dark"}), None).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// See [`PostgresBackend::connect`].
    pub async fn postgres(url: &str) -> Result<MemoryStore, StoreError> {
        MemoryStore::postgres_with(url, OpenOptions::default()).await
    }

    /// [`MemoryStore::postgres`] with the in-process vector index's options
    /// ([`PostgresConfig::vector_index_options`]).
    pub(crate) async fn postgres_with(url: &str, options: OpenOptions) -> Result<MemoryStore, StoreError> {
        let config = PostgresConfig::from_url(url)
            .vector_index_options(options.vector_index)
            .keyword_statistics(options.keyword_statistics);
        let backend = PostgresBackend::connect(config).await?;
        Ok(MemoryStore::new(Arc::new(backend), StoreOptions::default()).with_default_embedder())
    }
}

/// Removes a `schema=NAME` query parameter from a URL: the URL without it, and the name.
pub(crate) fn split_schema_parameter(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut schema = None;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.strip_prefix("schema=") {
            Some(name) => schema = Some(name.to_owned()),
            None => rest.push(pair),
        }
    }
    let url = if rest.is_empty() { base.to_owned() } else { format!("{base}?{}", rest.join("&")) };
    (url, schema)
}

/// The index of the last entry of each address (encoded namespace, key), in address order:
/// the last write of an address wins, and rows written in address order make concurrent
/// batches lock rows in the same order (no deadlocks).
fn last_per_address<'a>(
    addresses: impl Iterator<Item = (&'a Namespace, &'a str)>,
) -> BTreeMap<(String, &'a str), usize> {
    addresses.enumerate().map(|(i, (namespace, key))| ((namespace.encoded(), key), i)).collect()
}

/// The parts of the keyword search statement that depend on whose items BM25 counts
/// ([`KeywordStatistics`]): the `stats` (per corpus: `tenant`, `docs`, `tokens`) and `df`
/// (per corpus and query term: `tenant`, `term`, `ord`, `hits`) CTEs, the condition that
/// keeps a posting to its own corpus's weights, and the corpus of an item `i`.
struct KeywordCorpusSql {
    stats_and_df: String,
    posting_in_corpus: String,
    item_corpus: String,
}

impl KeywordCorpusSql {
    /// `terms` is the bound query terms' placeholder.
    fn new(sql: &mut Sql, s: &str, terms: &str, statistics: KeywordStatistics, scope: &Scope) -> KeywordCorpusSql {
        match statistics {
            // One corpus, the store, with the totals the triggers keep.
            KeywordStatistics::Store => KeywordCorpusSql {
                stats_and_df: format!(
                    "stats AS MATERIALIZED (
                         SELECT ''::text AS tenant, docs::float8 AS docs, tokens::float8 AS tokens
                         FROM {s}.keyword_totals WHERE id = 1),
                     df AS MATERIALIZED (
                         SELECT ''::text AS tenant, q.term, q.ord, coalesce(k.docs, 0) AS hits
                         FROM unnest({terms}::text[]) WITH ORDINALITY AS q(term, ord)
                         LEFT JOIN {s}.keyword_terms AS k ON k.term = q.term)"
                ),
                posting_in_corpus: String::new(),
                item_corpus: "''".to_owned(),
            },
            // A corpus per tenant: its totals kept by triggers (migration 6), each query
            // term's document count counted over the tenant's range of its postings (one
            // index range each), or over every tenant's, by tenant, for the root prefix.
            KeywordStatistics::Tenant => {
                let tenant_of = |column: &str| format!("{s}.item_tenant({column})");
                let single_tenant = scope_tenant(scope).is_some();
                let (totals_of_tenant, posting_in_tenant) = match scope_tenant(scope) {
                    Some(tenant) => {
                        let (low, high) = tenant_range(tenant);
                        let (low, high, tenant) = (sql.bind(low), sql.bind(high), sql.bind(tenant.to_owned()));
                        (
                            format!(" WHERE t.tenant = {tenant}::text"),
                            format!(
                                " AND p.ns >= {low}::text AND p.ns < {high}::text AND {} = {tenant}::text",
                                tenant_of("p.ns")
                            ),
                        )
                    }
                    None => (String::new(), String::new()),
                };
                KeywordCorpusSql {
                    stats_and_df: format!(
                        "stats AS MATERIALIZED (
                             SELECT t.tenant, t.docs::float8 AS docs, t.tokens::float8 AS tokens
                             FROM {s}.keyword_tenant_totals AS t{totals_of_tenant}),
                         counts AS MATERIALIZED (
                             SELECT {posting_tenant} AS tenant, p.term, count(*) AS hits
                             FROM {s}.keyword_postings AS p
                             WHERE p.term = ANY({terms}::text[]){posting_in_tenant} GROUP BY 1, 2),
                         df AS MATERIALIZED (
                             SELECT stats.tenant, q.term, q.ord, coalesce(c.hits, 0) AS hits
                             FROM stats CROSS JOIN unnest({terms}::text[]) WITH ORDINALITY AS q(term, ord)
                             LEFT JOIN counts AS c ON c.tenant = stats.tenant AND c.term = q.term)",
                        posting_tenant = tenant_of("p.ns"),
                    ),
                    // One tenant's scope holds only its postings and `weights` only its
                    // rows; across tenants, each posting takes its own tenant's weights.
                    posting_in_corpus: if single_tenant {
                        String::new()
                    } else {
                        format!(" AND {} = weights.tenant", tenant_of("p.ns"))
                    },
                    item_corpus: tenant_of("i.ns"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyze_is_due_every_thousand_rows_then_every_fifth_of_the_table() {
        let mut schedule = AnalyzeSchedule::default();
        assert!(!schedule.note_written(999));
        assert!(schedule.note_written(1));
        // 1,000 rows known: the next is due after max(1,000, 200) rows.
        assert!(!schedule.note_written(999));
        assert!(schedule.note_written(1));
        let mut big = AnalyzeSchedule { written_since: 0, rows_at_last: 100_000 };
        assert!(!big.note_written(19_999));
        assert!(big.note_written(1));
        assert_eq!(big.rows_at_last, 120_000);
    }

    #[test]
    fn the_schema_parameter_is_taken_out_of_the_url() {
        assert_eq!(split_schema_parameter("postgres://u@h/db"), ("postgres://u@h/db".into(), None));
        assert_eq!(
            split_schema_parameter("postgres://u@h/db?schema=a_b"),
            ("postgres://u@h/db".into(), Some("a_b".into()))
        );
        assert_eq!(
            split_schema_parameter("postgres://u@h/db?sslmode=disable&schema=x&connect_timeout=3"),
            ("postgres://u@h/db?sslmode=disable&connect_timeout=3".into(), Some("x".into()))
        );
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(validate_schema_name("agent_memory").is_ok());
        assert!(validate_schema_name("_t1").is_ok());
        for bad in ["", "1abc", "Upper", "a-b", "a\"b", "a;drop", &"x".repeat(64)] {
            assert!(matches!(validate_schema_name(bad), Err(StoreError::Config(_))), "{bad:?}");
        }
    }

    #[test]
    fn pgvector_versions_compare_numerically() {
        assert!(version_at_least("0.8.0", (0, 8)));
        assert!(version_at_least("0.10.1", (0, 8)));
        assert!(!version_at_least("0.6.2", (0, 8)));
        assert!(!version_at_least("0.7.4", (0, 8)));
    }

    #[test]
    fn postings_count_tokens_like_the_keyword_module() {
        let (terms, counts, length) = postings("t: apple Apple banana");
        assert_eq!(terms, ["t", "apple", "banana"]);
        assert_eq!(counts, [1, 2, 1]);
        assert_eq!(length, 4);
        assert_eq!(postings(""), (vec![], vec![], 0));
    }
}
