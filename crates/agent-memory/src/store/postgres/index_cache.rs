//! The in-process indexes of a [`PostgresBackend`]: the same [`KeywordIndex`] and
//! [`VectorIndex`] the SQLite and memory backends keep, loaded together from `items` (the
//! postings columns, the embedding and its model) on the first search that needs one, and
//! brought up to date with every process's writes before each search, by one catch-up that
//! maintains both under one change number.
//!
//! # Staying exact
//!
//! Schema version 4 numbers every statement that changes `items` (`keyword_totals.change_seq`,
//! bumped by the statement's trigger on the row every writer locks first and holds until it
//! commits, so numbers are taken in commit order, without gaps) and logs the addresses it
//! changed under that number (`item_changes`). The indexes remember the number they reflect.
//! A search ranks in an index at number `n` (keyword, semantic, or both fused by row id for
//! a hybrid search), then reads, in one statement (one snapshot, one round trip), the
//! current number and the ranked rows by primary key:
//!
//! * the number is `n`: the rows are exactly those the index ranked, so expiry and value
//!   filters are checked on them and the page is final (a filter that rejects too many asks
//!   the index for more, as on SQLite);
//! * the number is past `n`: another process (or this one) wrote. The addresses logged
//!   after `n` are read, with their rows as they are now, in one statement, and applied to
//!   both indexes (absent rows are removed), which then reflect that statement's number;
//!   the search starts again. A log purged past `n`, or more than [`MAX_CATCH_UP`] changed
//!   addresses, reload every row instead.
//!
//! A search that starts after a write returned therefore sees it, whichever process wrote.
//! One task at a time updates the indexes; a search that finds a full load under way, or
//! that cannot settle on a snapshot in four tries (a storm of writers), is answered by the
//! SQL statement instead ([`PostgresBackend`]'s SQL path, which scores the same).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use deadpool_postgres::Object;
use futures::StreamExt;
use pgvector::Vector;
use rustc_hash::FxHashMap;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{ITEM_COLUMNS, PostgresBackend, by_score, item_from_row};
use crate::store::backend::{HybridQuery, KeywordQuery, ScoredItem, VectorQuery, fused_row_ids};
use crate::store::keyword::KeywordStatistics;
use crate::store::keyword_corpora::KeywordCorpora;
use crate::store::vector_index::{RowMeta, VectorIndex, VectorIndexOptions, first_want, widen};
use crate::store::{Filter, Item, StoreError};

/// The most changed addresses a search catches up on from the log; further behind, the
/// indexes reload every row (reading the rows changed since is then no cheaper).
pub(super) const MAX_CATCH_UP: usize = 20_000;

/// How many times a search reads the change number before it gives up on the index.
const ATTEMPTS: usize = 4;

/// Which indexes a cache keeps (at least one).
#[derive(Debug, Clone, Copy)]
pub(super) struct Indexed {
    pub(super) keywords: bool,
    /// Whose items keyword scores count.
    pub(super) keyword_statistics: KeywordStatistics,
    pub(super) vectors: Option<VectorIndexOptions>,
}

/// Searches of one kind answered from an index and by SQL instead.
#[derive(Default)]
struct Answered {
    from_index: AtomicU64,
    from_sql: AtomicU64,
}

impl Answered {
    fn get(&self) -> (u64, u64) {
        (self.from_index.load(Ordering::Relaxed), self.from_sql.load(Ordering::Relaxed))
    }
}

/// The kinds of search the cache answers, for its counters.
#[derive(Debug, Clone, Copy)]
pub(super) enum SearchKind {
    Keyword,
    Vector,
    Hybrid,
}

/// The indexes, the change number they reflect, and the address of each of their row ids.
pub(super) struct IndexCache {
    indexed: Indexed,
    state: RwLock<CacheState>,
    /// Held by the one task that catches the indexes up or loads them.
    updating: tokio::sync::Mutex<()>,
    /// A full load is under way: searches take the SQL path rather than wait for it.
    loading: AtomicBool,
    keyword: Answered,
    vector: Answered,
    hybrid: Answered,
}

struct CacheState {
    /// The `change_seq` the indexes reflect; `None` until loaded.
    at: Option<i64>,
    keywords: KeywordCorpora,
    vectors: VectorIndex,
    /// Address (`ns`, NUL, `key`: PostgreSQL text never holds NUL) → the indexes' row id.
    ids: FxHashMap<Arc<str>, i64>,
    addresses: FxHashMap<i64, Arc<str>>,
    next_id: i64,
}

/// A row as the indexes need it: the metadata, the postings columns (`None` when keywords
/// are not indexed) and the vector with its model (`None` without one, or when vectors are
/// not indexed).
struct IndexedRow {
    updated_at: f64,
    expires_at: Option<f64>,
    postings: Option<(i32, Vec<String>, Vec<i32>)>,
    vector: Option<(String, Vector)>,
}

fn address(ns: &str, key: &str) -> String {
    format!("{ns}\0{key}")
}

fn split_address(address: &str) -> (&str, &str) {
    address.split_once('\0').unwrap_or((address, ""))
}

impl CacheState {
    fn new(indexed: Indexed) -> CacheState {
        CacheState {
            at: None,
            keywords: KeywordCorpora::new(indexed.keyword_statistics),
            vectors: VectorIndex::new(indexed.vectors.unwrap_or_else(VectorIndexOptions::exact)),
            ids: FxHashMap::default(),
            addresses: FxHashMap::default(),
            next_id: 0,
        }
    }

    /// Makes the indexes hold `row` at `ns`/`key`, or nothing there when `row` is `None`.
    /// The caller calls [`VectorIndex::maintain`] once it has applied a batch.
    fn apply(&mut self, ns: String, key: String, row: Option<IndexedRow>) {
        let joined = address(&ns, &key);
        let Some(row) = row else {
            if let Some(id) = self.ids.remove(joined.as_str()) {
                self.addresses.remove(&id);
                self.keywords.remove(id);
                self.vectors.remove(id);
            }
            return;
        };
        let id = match self.ids.get(joined.as_str()) {
            Some(&id) => id,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                let joined: Arc<str> = joined.into();
                self.ids.insert(joined.clone(), id);
                self.addresses.insert(id, joined);
                id
            }
        };
        let meta = RowMeta { namespace: ns, key, updated_at: row.updated_at, expires_at: row.expires_at };
        match &row.vector {
            Some((model, vector)) => self.vectors.upsert(id, Some((model, vector.as_slice())), meta.clone()),
            None => self.vectors.remove(id),
        }
        if let Some((doc_len, terms, tfs)) = row.postings {
            let counts = terms.into_iter().zip(tfs.into_iter().map(|tf| tf.max(0) as u32));
            // Nothing compares texts here (`holds` is SQLite's): the row's number stands in.
            self.keywords.upsert_counted(id, counts, doc_len.max(0) as u32, 0, meta);
        }
    }
}

/// A ranking by an index: row ids with their scores, best first.
struct Ranked {
    ids: Vec<(i64, f64)>,
    /// Rows may have been left out: a filter that rejects too many asks for more.
    more: bool,
    /// The hits are sorted again once read, by reported score then recency as the SQL path
    /// sorts them (the indexes already rank that way; this keeps one definition of the
    /// order); `false` keeps the fused ranking's order.
    reorder: bool,
}

/// How a search at one change number ended.
enum Attempt {
    Done(Vec<ScoredItem>),
    /// The database is past the index: catch up, then try again.
    Behind,
    /// The index moved meanwhile: try again.
    Moved,
}

/// Resets [`IndexCache::loading`] however the load ends.
struct LoadingFlag<'a>(&'a AtomicBool);

impl Drop for LoadingFlag<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl IndexCache {
    pub(super) fn new(indexed: Indexed) -> IndexCache {
        IndexCache {
            indexed,
            state: RwLock::new(CacheState::new(indexed)),
            updating: tokio::sync::Mutex::new(()),
            loading: AtomicBool::new(false),
            keyword: Answered::default(),
            vector: Answered::default(),
            hybrid: Answered::default(),
        }
    }

    /// Whether keywords are indexed.
    pub(super) fn has_keywords(&self) -> bool {
        self.indexed.keywords
    }

    /// Whether vectors are indexed.
    pub(super) fn has_vectors(&self) -> bool {
        self.indexed.vectors.is_some()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, CacheState> {
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, CacheState> {
        self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn answered(&self, kind: SearchKind) -> &Answered {
        match kind {
            SearchKind::Keyword => &self.keyword,
            SearchKind::Vector => &self.vector,
            SearchKind::Hybrid => &self.hybrid,
        }
    }

    /// Searches of `kind` answered from the indexes and by SQL instead.
    pub(super) fn counts(&self, kind: SearchKind) -> (u64, u64) {
        self.answered(kind).get()
    }

    /// Counts a search of `kind` the SQL path answered.
    pub(super) fn note_sql(&self, kind: SearchKind) {
        self.answered(kind).from_sql.fetch_add(1, Ordering::Relaxed);
    }

    /// The change number the indexes reflect and the rows the keyword index holds (`None`
    /// before the load).
    pub(super) fn keyword_status(&self) -> Option<(i64, usize)> {
        let state = self.read();
        state.at.map(|at| (at, state.keywords.len()))
    }

    /// The change number the indexes reflect and the vectors the vector index holds (`None`
    /// before the load).
    pub(super) fn vector_status(&self) -> Option<(i64, usize)> {
        let state = self.read();
        state.at.map(|at| (at, state.vectors.len()))
    }

    /// Blocks until the vector index's graphs hold every vector loaded so far.
    pub(super) fn wait_for_graphs(&self) {
        let progress = self.read().vectors.graph_progress();
        progress.wait();
    }

    /// `query` answered from the keyword index, exactly as of a snapshot taken after the
    /// call started; `None` when the index cannot answer now (being loaded by another task, a
    /// storm of writers, a failed catch-up): the caller runs the SQL statement.
    pub(super) async fn keyword_search(
        &self,
        backend: &PostgresBackend,
        query: &KeywordQuery,
    ) -> Option<Vec<ScoredItem>> {
        let rank = |state: &CacheState, want: usize| {
            // The index ranks as keyword search reports: by reported score, then recency.
            let (hits, more) = state.keywords.search(&query.terms, &query.scope, query.now, want);
            let ids = hits.into_iter().map(|hit| (hit.id, hit.score)).collect();
            Ranked { ids, more, reorder: true }
        };
        self.search(backend, SearchKind::Keyword, &query.filter, query.limit, rank).await
    }

    /// `query` answered from the vector index (exact scores, ties in recency order, as
    /// [`VectorIndex::nearest`]); `None` as for [`IndexCache::keyword_search`].
    pub(super) async fn vector_search(
        &self,
        backend: &PostgresBackend,
        query: &VectorQuery,
    ) -> Option<Vec<ScoredItem>> {
        let rank = |state: &CacheState, want: usize| {
            let (candidates, more) = state.vectors.nearest(&query.model, &query.vector, &query.scope, query.now, want);
            let ids = candidates.into_iter().map(|candidate| (candidate.id, candidate.score)).collect();
            Ranked { ids, more, reorder: true }
        };
        self.search(backend, SearchKind::Vector, &query.filter, query.limit, rank).await
    }

    /// `query` (without value filters: the caller checks) answered by fusing both indexes'
    /// rankings by row id ([`fused_row_ids`], as the memory and SQLite backends do) and
    /// reading only the winners; `None` as for [`IndexCache::keyword_search`].
    pub(super) async fn hybrid_search(
        &self,
        backend: &PostgresBackend,
        query: &HybridQuery,
    ) -> Option<Vec<ScoredItem>> {
        let rank = |state: &CacheState, _want: usize| {
            let mut ids = fused_row_ids(&state.vectors, &state.keywords, query);
            ids.truncate(query.limit);
            Ranked { ids, more: false, reorder: false }
        };
        self.search(backend, SearchKind::Hybrid, &Filter::all(), query.limit, rank).await
    }

    /// A search ranked by `rank` at the indexes' change number, retried after catching up.
    async fn search(
        &self,
        backend: &PostgresBackend,
        kind: SearchKind,
        filter: &Filter,
        limit: usize,
        rank: impl Fn(&CacheState, usize) -> Ranked,
    ) -> Option<Vec<ScoredItem>> {
        for _ in 0..ATTEMPTS {
            let at = self.read().at;
            let result = match at {
                None => match self.load_first(backend).await {
                    Ok(true) => Ok(Attempt::Moved),
                    Ok(false) => return None,
                    Err(error) => Err(error),
                },
                Some(at) => self.attempt(backend, at, filter, limit, &rank).await,
            };
            match result {
                Ok(Attempt::Done(hits)) => {
                    self.answered(kind).from_index.fetch_add(1, Ordering::Relaxed);
                    return Some(hits);
                }
                Ok(Attempt::Moved) => {}
                Ok(Attempt::Behind) => {
                    if let Err(error) = self.catch_up(backend).await {
                        tracing::warn!(%error, ?kind, "postgres index: catching up failed; searching with SQL");
                        return None;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, ?kind, "postgres index: searching with SQL");
                    return None;
                }
            }
            if self.loading.load(Ordering::Acquire) {
                return None;
            }
        }
        None
    }

    /// Ranks at change number `at` and reads the page in a snapshot that must be at `at`.
    async fn attempt(
        &self,
        backend: &PostgresBackend,
        at: i64,
        filter: &Filter,
        limit: usize,
        rank: &impl Fn(&CacheState, usize) -> Ranked,
    ) -> Result<Attempt, StoreError> {
        let mut want = first_want(filter, limit);
        loop {
            let (ranked, more, reorder) = {
                let state = self.read();
                if state.at != Some(at) {
                    return Ok(Attempt::Moved);
                }
                let ranking = rank(&state, want);
                let ranked: Vec<(Arc<str>, f64)> = ranking
                    .ids
                    .into_iter()
                    .filter_map(|(id, score)| Some((state.addresses.get(&id)?.clone(), score)))
                    .collect();
                (ranked, ranking.more, ranking.reorder)
            };
            let (seq, mut items) =
                backend.read_addresses(ranked.iter().map(|(address, _)| split_address(address))).await?;
            if seq != at {
                return Ok(if seq > at { Attempt::Behind } else { Attempt::Moved });
            }
            let mut scored = Vec::with_capacity(ranked.len());
            for (address, score) in ranked {
                let Some(item) = items.remove(&*address) else {
                    // Impossible at the same change number: the index disagrees with the table.
                    tracing::warn!(at, "postgres index: a ranked row is missing; reloading");
                    self.write().at = None;
                    return Ok(Attempt::Moved);
                };
                scored.push(ScoredItem { item, score });
            }
            if reorder {
                scored.sort_by(by_score);
            }
            let mut hits = Vec::with_capacity(limit.min(scored.len()));
            for hit in scored {
                if filter.is_empty() || filter.matches_object(&hit.item.value) {
                    hits.push(hit);
                    if hits.len() == limit {
                        break;
                    }
                }
            }
            if hits.len() == limit || !more {
                return Ok(Attempt::Done(hits));
            }
            want = widen(want);
        }
    }

    /// Loads every row now, unless another task is loading it or has loaded it.
    pub(super) async fn warm_up(&self, backend: &PostgresBackend) -> Result<(), StoreError> {
        self.load_first(backend).await.map(drop)
    }

    /// Loads every row unless another task is loading it (then `false` at once: this search
    /// takes the SQL path) or has loaded it.
    async fn load_first(&self, backend: &PostgresBackend) -> Result<bool, StoreError> {
        let Ok(_updating) = self.updating.try_lock() else { return Ok(false) };
        if self.read().at.is_none() {
            self.load_all(backend).await?;
        }
        Ok(true)
    }

    /// Brings the indexes to the newest change number from the log, or reloads every row
    /// when the log cannot: purged past the indexes, or too many changes.
    async fn catch_up(&self, backend: &PostgresBackend) -> Result<(), StoreError> {
        if self.loading.load(Ordering::Acquire) {
            return Ok(());
        }
        let _updating = self.updating.lock().await;
        let Some(at) = self.read().at else { return self.load_all(backend).await };
        let Some((seq, changes)) = backend.changes_since(self.indexed, at, MAX_CATCH_UP).await? else {
            return self.load_all(backend).await;
        };
        if seq <= at {
            return Ok(());
        }
        let mut state = self.write();
        if state.at != Some(at) {
            // Only this task (holding `updating`) moves the indexes, but a search that found
            // them inconsistent may have dropped them.
            return Ok(());
        }
        let count = changes.len();
        for (ns, key, row) in changes {
            state.apply(ns, key, row);
        }
        state.vectors.maintain();
        state.at = Some(seq);
        tracing::debug!(from = at, to = seq, changed = count, "postgres index: caught up");
        Ok(())
    }

    /// Reads every row into new indexes (the current ones keep answering meanwhile) and
    /// swaps them in. The caller holds `updating`.
    async fn load_all(&self, backend: &PostgresBackend) -> Result<(), StoreError> {
        self.loading.store(true, Ordering::Release);
        let _flag = LoadingFlag(&self.loading);
        let fresh = backend.load_index_rows(self.indexed).await?;
        let (at, texts, vectors) = (fresh.at, fresh.keywords.len(), fresh.vectors.len());
        let old = std::mem::replace(&mut *self.write(), fresh);
        // Dropping a vector index joins its graph worker: not under the lock.
        drop(old);
        tracing::debug!(at, texts, vectors, "postgres index: loaded");
        Ok(())
    }
}

type Change = (String, String, Option<IndexedRow>);

/// The columns a catch-up or load reads for the indexes (from `items` as `i` and `models`
/// as `m`), NULLs for an index not kept: doc_len, terms, tfs, embedding, model.
fn indexed_columns(indexed: Indexed) -> String {
    let postings =
        if indexed.keywords { "i.doc_len, i.terms, i.tfs" } else { "NULL::int4, NULL::text[], NULL::int4[]" };
    let vectors = if indexed.vectors.is_some() { "i.embedding, m.model" } else { "NULL::vector, NULL::text" };
    format!("{postings}, {vectors}")
}

/// The row at `first` on of a catch-up's or load's row: updated_at, expires_at, then
/// [`indexed_columns`].
fn indexed_row(row: &Row, first: usize) -> Result<IndexedRow, tokio_postgres::Error> {
    let doc_len: Option<i32> = row.try_get(first + 2)?;
    let postings = match doc_len {
        Some(doc_len) => Some((doc_len, row.try_get(first + 3)?, row.try_get(first + 4)?)),
        None => None,
    };
    let embedding: Option<Vector> = row.try_get(first + 5)?;
    let model: Option<String> = row.try_get(first + 6)?;
    Ok(IndexedRow {
        updated_at: row.try_get(first)?,
        expires_at: row.try_get(first + 1)?,
        postings,
        vector: model.zip(embedding),
    })
}

impl PostgresBackend {
    /// The change number and the live and expired rows at the given addresses, in one
    /// statement (one snapshot), keyed by [`address`].
    async fn read_addresses<'a>(
        &self,
        addresses: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Result<(i64, FxHashMap<String, Item>), StoreError> {
        let (nss, keys): (Vec<&str>, Vec<&str>) = addresses.unzip();
        let sql = format!(
            "SELECT {ITEM_COLUMNS}, t.change_seq FROM {s}.keyword_totals AS t
             LEFT JOIN (unnest($1::text[], $2::text[]) AS k(ns, key)
                 JOIN {s}.items AS i ON i.ns = k.ns AND i.key = k.key) ON true
             WHERE t.id = 1",
            s = self.schema
        );
        let rows = self
            .run("index search", |client| {
                let (sql, nss, keys) = (&sql, &nss, &keys);
                // Planning it cost twice its execution (0.15 against 0.08 ms for a page of
                // 11 rows); the generic plan is the same nested loop over the primary key.
                async move { super::query_generic(&client, sql, &[nss, keys]).await }
            })
            .await?;
        let corrupt = |e: tokio_postgres::Error| super::db_error("index search", e);
        let mut seq = None;
        let mut items = FxHashMap::default();
        for row in &rows {
            seq = Some(row.try_get::<_, i64>(7).map_err(corrupt)?);
            let ns: Option<String> = row.try_get(0).map_err(corrupt)?;
            if let Some(ns) = ns {
                let item = item_from_row(row)?;
                items.insert(address(&ns, &item.key), item);
            }
        }
        let seq = seq.ok_or_else(|| StoreError::backend(super::BACKEND, "index search: no change number"))?;
        Ok((seq, items))
    }

    /// The newest change number and, for every address changed after `at`, its row now
    /// (`None`: removed), in one statement. `None` when the log cannot say: purged past
    /// `at`, or more than `most` addresses changed.
    async fn changes_since(
        &self,
        indexed: Indexed,
        at: i64,
        most: usize,
    ) -> Result<Option<(i64, Vec<Change>)>, StoreError> {
        let sql = format!(
            "WITH t AS MATERIALIZED (
                 SELECT k.change_seq, f.seq AS floor FROM {s}.keyword_totals AS k, {s}.item_changes_floor AS f
                 WHERE k.id = 1 AND f.id = 1),
             c AS MATERIALIZED (SELECT DISTINCT l.ns, l.key FROM {s}.item_changes AS l WHERE l.seq > $1 LIMIT $2)
             SELECT t.change_seq, t.floor, c.ns, c.key, i.ns IS NOT NULL, i.updated_at, i.expires_at, {columns}
             FROM t LEFT JOIN (c LEFT JOIN {s}.items AS i ON i.ns = c.ns AND i.key = c.key
                 LEFT JOIN {s}.models AS m ON m.id = i.embedding_model) ON true",
            s = self.schema,
            columns = indexed_columns(indexed),
        );
        let limit = i64::try_from(most).unwrap_or(i64::MAX - 1) + 1;
        let rows = self
            .run("index catch-up", |client| {
                let sql = &sql;
                async move {
                    let statement = client.prepare_cached(sql).await?;
                    client.query(&statement, &[&at, &limit]).await
                }
            })
            .await?;
        let corrupt = |e: tokio_postgres::Error| super::db_error("index catch-up", e);
        let (mut seq, mut floor) = (None, 0i64);
        let mut changes = Vec::with_capacity(rows.len());
        for row in &rows {
            seq = Some(row.try_get::<_, i64>(0).map_err(corrupt)?);
            floor = row.try_get(1).map_err(corrupt)?;
            let Some(ns) = row.try_get::<_, Option<String>>(2).map_err(corrupt)? else { continue };
            let key: String = row.try_get(3).map_err(corrupt)?;
            let present: bool = row.try_get(4).map_err(corrupt)?;
            let indexed = if present { Some(indexed_row(row, 5).map_err(corrupt)?) } else { None };
            changes.push((ns, key, indexed));
        }
        let seq = seq.ok_or_else(|| StoreError::backend(super::BACKEND, "index catch-up: no change number"))?;
        if floor > at || changes.len() > most {
            return Ok(None);
        }
        Ok(Some((seq, changes)))
    }

    /// Every row's indexed columns and metadata, streamed into new indexes, with the change
    /// number of the statement's snapshot. In namespace order, so that each namespace's rows
    /// lie together in both indexes (a scoped search reads one stretch of memory).
    async fn load_index_rows(&self, indexed: Indexed) -> Result<CacheState, StoreError> {
        let sql = format!(
            "SELECT t.change_seq, i.ns, i.key, i.updated_at, i.expires_at, {columns}
             FROM {s}.keyword_totals AS t LEFT JOIN ({s}.items AS i
                 LEFT JOIN {s}.models AS m ON m.id = i.embedding_model) ON true
             WHERE t.id = 1
             ORDER BY i.ns, i.key",
            s = self.schema,
            columns = indexed_columns(indexed),
        );
        self.run("index load", |client| load_rows(client, &sql, indexed)).await
    }
}

async fn load_rows(client: Object, sql: &str, indexed: Indexed) -> Result<CacheState, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    let no_params: Vec<&(dyn ToSql + Sync)> = Vec::new();
    let rows = client.query_raw(&statement, no_params).await?;
    let mut rows = std::pin::pin!(rows);
    let mut state = CacheState::new(indexed);
    while let Some(row) = rows.next().await {
        let row = row?;
        state.at = Some(row.try_get(0)?);
        let Some(ns) = row.try_get::<_, Option<String>>(1)? else { continue };
        let indexed = indexed_row(&row, 3)?;
        state.apply(ns, row.try_get(2)?, Some(indexed));
    }
    state.vectors.maintain();
    Ok(state)
}
