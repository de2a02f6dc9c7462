//! The in-process keyword index of a [`PostgresBackend`]: the same [`KeywordIndex`] the
//! SQLite and memory backends keep, loaded from the postings columns of `items` on the first
//! keyword search and brought up to date with every process's writes before each search.
//!
//! # Staying exact
//!
//! Schema version 4 numbers every statement that changes `items` (`keyword_totals.change_seq`,
//! bumped by the statement's trigger on the row every writer locks first and holds until it
//! commits, so numbers are taken in commit order, without gaps) and logs the addresses it
//! changed under that number (`item_changes`). The index remembers the number it reflects.
//! A search ranks in the index at number `n`, then reads, in one statement (one snapshot,
//! one round trip), the current number and the ranked rows by primary key:
//!
//! * the number is `n`: the rows are exactly those the index ranked, so expiry and value
//!   filters are checked on them and the page is final (a filter that rejects too many asks
//!   the index for more, as on SQLite);
//! * the number is past `n`: another process (or this one) wrote. The addresses logged
//!   after `n` are read, with their rows as they are now, in one statement, and applied to
//!   the index (absent rows are removed), which then reflects that statement's number; the
//!   search starts again. A log purged past `n`, or more than [`MAX_CATCH_UP`] changed
//!   addresses, reload every row instead.
//!
//! A search that starts after a write returned therefore sees it, whichever process wrote.
//! One task at a time updates the index; a search that finds a full load under way, or that
//! cannot settle on a snapshot in four tries (a storm of writers), is answered by the SQL
//! statement instead ([`PostgresBackend`]'s SQL path, which scores the same).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use deadpool_postgres::Object;
use futures::StreamExt;
use rustc_hash::FxHashMap;
use tokio_postgres::types::ToSql;

use super::{ITEM_COLUMNS, PostgresBackend, by_score, item_from_row};
use crate::store::backend::{KeywordQuery, ScoredItem};
use crate::store::keyword_index::{KeywordHit, KeywordIndex};
use crate::store::vector_index::{RowMeta, first_want, widen};
use crate::store::{Item, StoreError};

/// The most changed addresses a search catches up on from the log; further behind, the
/// index reloads every row (reading the rows changed since is then no cheaper).
pub(super) const MAX_CATCH_UP: usize = 20_000;

/// How many times a search reads the change number before it gives up on the index.
const ATTEMPTS: usize = 4;

/// The index, the change number it reflects, and the address of each of its row ids.
pub(super) struct KeywordCache {
    state: RwLock<CacheState>,
    /// Held by the one task that catches the index up or loads it.
    updating: tokio::sync::Mutex<()>,
    /// A full load is under way: searches take the SQL path rather than wait for it.
    loading: AtomicBool,
    from_index: AtomicU64,
    from_sql: AtomicU64,
}

#[derive(Default)]
struct CacheState {
    /// The `change_seq` the index reflects; `None` until loaded.
    at: Option<i64>,
    index: KeywordIndex,
    /// Address (`ns`, NUL, `key`: PostgreSQL text never holds NUL) → the index's row id.
    ids: FxHashMap<Arc<str>, i64>,
    addresses: FxHashMap<i64, Arc<str>>,
    next_id: i64,
}

/// A row as the index needs it (the postings columns and the metadata).
struct IndexedRow {
    updated_at: f64,
    expires_at: Option<f64>,
    doc_len: i32,
    terms: Vec<String>,
    tfs: Vec<i32>,
}

fn address(ns: &str, key: &str) -> String {
    format!("{ns}\0{key}")
}

fn split_address(address: &str) -> (&str, &str) {
    address.split_once('\0').unwrap_or((address, ""))
}

impl CacheState {
    /// Makes the index hold `row` at `ns`/`key`, or nothing there when `row` is `None`.
    fn apply(&mut self, ns: String, key: String, row: Option<IndexedRow>) {
        let joined = address(&ns, &key);
        let Some(row) = row else {
            if let Some(id) = self.ids.remove(joined.as_str()) {
                self.addresses.remove(&id);
                self.index.remove(id);
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
        let counts = row.terms.into_iter().zip(row.tfs.into_iter().map(|tf| tf.max(0) as u32));
        let meta = RowMeta { namespace: ns, key, updated_at: row.updated_at, expires_at: row.expires_at };
        // Nothing compares texts here (`holds` is SQLite's): the row's number stands in.
        self.index.upsert_counted(id, counts, row.doc_len.max(0) as u32, 0, meta);
    }
}

/// How a search at one change number ended.
enum Attempt {
    Done(Vec<ScoredItem>),
    /// The database is past the index: catch up, then try again.
    Behind,
    /// The index moved meanwhile: try again.
    Moved,
}

/// Resets [`KeywordCache::loading`] however the load ends.
struct LoadingFlag<'a>(&'a AtomicBool);

impl Drop for LoadingFlag<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl KeywordCache {
    pub(super) fn new() -> KeywordCache {
        KeywordCache {
            state: RwLock::new(CacheState::default()),
            updating: tokio::sync::Mutex::new(()),
            loading: AtomicBool::new(false),
            from_index: AtomicU64::new(0),
            from_sql: AtomicU64::new(0),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, CacheState> {
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, CacheState> {
        self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Searches answered from the index and by SQL instead.
    pub(super) fn counts(&self) -> (u64, u64) {
        (self.from_index.load(Ordering::Relaxed), self.from_sql.load(Ordering::Relaxed))
    }

    /// Counts a search the SQL path answered.
    pub(super) fn note_sql(&self) {
        self.from_sql.fetch_add(1, Ordering::Relaxed);
    }

    /// The change number the index reflects and the rows it holds (`None` before the load).
    pub(super) fn status(&self) -> Option<(i64, usize)> {
        let state = self.read();
        state.at.map(|at| (at, state.index.len()))
    }

    /// `query` answered from the index, exactly as of a snapshot taken after the call
    /// started; `None` when the index cannot answer now (being loaded by another task, a
    /// storm of writers, a failed catch-up): the caller runs the SQL statement.
    pub(super) async fn search(&self, backend: &PostgresBackend, query: &KeywordQuery) -> Option<Vec<ScoredItem>> {
        for _ in 0..ATTEMPTS {
            let at = self.read().at;
            let result = match at {
                None => match self.load_first(backend).await {
                    Ok(true) => Ok(Attempt::Moved),
                    Ok(false) => return None,
                    Err(error) => Err(error),
                },
                Some(at) => self.attempt(backend, query, at).await,
            };
            match result {
                Ok(Attempt::Done(hits)) => {
                    self.from_index.fetch_add(1, Ordering::Relaxed);
                    return Some(hits);
                }
                Ok(Attempt::Moved) => {}
                Ok(Attempt::Behind) => {
                    if let Err(error) = self.catch_up(backend).await {
                        tracing::warn!(%error, "postgres keyword index: catching up failed; searching with SQL");
                        return None;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "postgres keyword index: searching with SQL");
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
    async fn attempt(&self, backend: &PostgresBackend, query: &KeywordQuery, at: i64) -> Result<Attempt, StoreError> {
        let mut want = first_want(&query.filter, query.limit);
        loop {
            let (ranked, uncertain_from) = {
                let state = self.read();
                if state.at != Some(at) {
                    return Ok(Attempt::Moved);
                }
                let (hits, uncertain_from) = rank(&state.index, query, want);
                let ranked: Vec<(Arc<str>, f64)> = hits
                    .into_iter()
                    .filter_map(|hit| Some((state.addresses.get(&hit.id)?.clone(), hit.score)))
                    .collect();
                (ranked, uncertain_from)
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
                    tracing::warn!(at, "postgres keyword index: a ranked row is missing; reloading");
                    self.write().at = None;
                    return Ok(Attempt::Moved);
                };
                scored.push(ScoredItem { item, score });
            }
            scored.sort_by(by_score);
            if let Some(uncertain) = uncertain_from {
                scored.retain(|hit| hit.score > uncertain);
            }
            let mut hits = Vec::with_capacity(query.limit.min(scored.len()));
            for hit in scored {
                if query.filter.is_empty() || query.filter.matches_object(&hit.item.value) {
                    hits.push(hit);
                    if hits.len() == query.limit {
                        break;
                    }
                }
            }
            if hits.len() == query.limit || uncertain_from.is_none() {
                return Ok(Attempt::Done(hits));
            }
            want = widen(want);
        }
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

    /// Brings the index to the newest change number from the log, or reloads every row when
    /// the log cannot: purged past the index, or too many changes.
    async fn catch_up(&self, backend: &PostgresBackend) -> Result<(), StoreError> {
        if self.loading.load(Ordering::Acquire) {
            return Ok(());
        }
        let _updating = self.updating.lock().await;
        let Some(at) = self.read().at else { return self.load_all(backend).await };
        let Some((seq, changes)) = backend.changes_since(at, MAX_CATCH_UP).await? else {
            return self.load_all(backend).await;
        };
        if seq <= at {
            return Ok(());
        }
        let mut state = self.write();
        if state.at != Some(at) {
            // Only this task (holding `updating`) moves the index, but a search that found
            // it inconsistent may have dropped it.
            return Ok(());
        }
        let count = changes.len();
        for (ns, key, row) in changes {
            state.apply(ns, key, row);
        }
        state.at = Some(seq);
        tracing::debug!(from = at, to = seq, changed = count, "postgres keyword index: caught up");
        Ok(())
    }

    /// Reads every row into a new index (the current one keeps answering meanwhile) and
    /// swaps it in. The caller holds `updating`.
    async fn load_all(&self, backend: &PostgresBackend) -> Result<(), StoreError> {
        self.loading.store(true, Ordering::Release);
        let _flag = LoadingFlag(&self.loading);
        let fresh = backend.load_keyword_rows().await?;
        let (at, rows) = (fresh.at, fresh.index.len());
        *self.write() = fresh;
        tracing::debug!(at, rows, "postgres keyword index: loaded");
        Ok(())
    }
}

/// At least the best `want` matches of `query` in the index, and, when there are more
/// matches, the score at and below which the list may lack some.
///
/// The index ranks by BM25 sums; results are ordered by the reported score
/// ([`crate::store::keyword::normalize`] of the sum) and then by recency, as the SQL
/// statement orders them. Sums a rounding apart (the same terms added in another order) can
/// report the same score, and must then be ordered by recency: so the list goes on until its
/// last score is below the `want`-th, and the caller, once it has sorted the list, keeps only
/// the hits scored above that last one (no match left out can score higher).
fn rank(index: &KeywordIndex, query: &KeywordQuery, want: usize) -> (Vec<KeywordHit>, Option<f64>) {
    let mut ask = want.saturating_add(1);
    loop {
        let (hits, truncated) = index.search(&query.terms, &query.scope, query.now, ask);
        if !truncated || hits.len() <= want {
            return (hits, None);
        }
        let boundary = hits[want - 1].score;
        let last = hits[hits.len() - 1].score;
        if last < boundary {
            return (hits, Some(last));
        }
        ask = ask.saturating_mul(2);
    }
}

type Change = (String, String, Option<IndexedRow>);

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
            .run("keyword search", |client| {
                let (sql, nss, keys) = (&sql, &nss, &keys);
                // Planning it cost twice its execution (0.15 against 0.08 ms for a page of
                // 11 rows); the generic plan is the same nested loop over the primary key.
                async move { super::query_generic(&client, sql, &[nss, keys]).await }
            })
            .await?;
        let corrupt = |e: tokio_postgres::Error| super::db_error("keyword search", e);
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
        let seq = seq.ok_or_else(|| StoreError::backend(super::BACKEND, "keyword search: no change number"))?;
        Ok((seq, items))
    }

    /// The newest change number and, for every address changed after `at`, its row now
    /// (`None`: removed), in one statement. `None` when the log cannot say: purged past
    /// `at`, or more than `most` addresses changed.
    async fn changes_since(&self, at: i64, most: usize) -> Result<Option<(i64, Vec<Change>)>, StoreError> {
        let sql = format!(
            "WITH t AS MATERIALIZED (
                 SELECT k.change_seq, f.seq AS floor FROM {s}.keyword_totals AS k, {s}.item_changes_floor AS f
                 WHERE k.id = 1 AND f.id = 1),
             c AS MATERIALIZED (SELECT DISTINCT l.ns, l.key FROM {s}.item_changes AS l WHERE l.seq > $1 LIMIT $2)
             SELECT t.change_seq, t.floor, c.ns, c.key, i.ns IS NOT NULL, i.updated_at, i.expires_at, i.doc_len,
                 i.terms, i.tfs
             FROM t LEFT JOIN (c LEFT JOIN {s}.items AS i ON i.ns = c.ns AND i.key = c.key) ON true",
            s = self.schema
        );
        let limit = i64::try_from(most).unwrap_or(i64::MAX - 1) + 1;
        let rows = self
            .run("keyword index catch-up", |client| {
                let sql = &sql;
                async move {
                    let statement = client.prepare_cached(sql).await?;
                    client.query(&statement, &[&at, &limit]).await
                }
            })
            .await?;
        let corrupt = |e: tokio_postgres::Error| super::db_error("keyword index catch-up", e);
        let (mut seq, mut floor) = (None, 0i64);
        let mut changes = Vec::with_capacity(rows.len());
        for row in &rows {
            seq = Some(row.try_get::<_, i64>(0).map_err(corrupt)?);
            floor = row.try_get(1).map_err(corrupt)?;
            let Some(ns) = row.try_get::<_, Option<String>>(2).map_err(corrupt)? else { continue };
            let key: String = row.try_get(3).map_err(corrupt)?;
            let present: bool = row.try_get(4).map_err(corrupt)?;
            let indexed = if present {
                Some(IndexedRow {
                    updated_at: row.try_get(5).map_err(corrupt)?,
                    expires_at: row.try_get(6).map_err(corrupt)?,
                    doc_len: row.try_get(7).map_err(corrupt)?,
                    terms: row.try_get(8).map_err(corrupt)?,
                    tfs: row.try_get(9).map_err(corrupt)?,
                })
            } else {
                None
            };
            changes.push((ns, key, indexed));
        }
        let seq = seq.ok_or_else(|| StoreError::backend(super::BACKEND, "keyword index catch-up: no change number"))?;
        if floor > at || changes.len() > most {
            return Ok(None);
        }
        Ok(Some((seq, changes)))
    }

    /// Every row's postings and metadata, streamed into a new index, with the change
    /// number of the statement's snapshot.
    async fn load_keyword_rows(&self) -> Result<CacheState, StoreError> {
        let sql = format!(
            "SELECT t.change_seq, i.ns, i.key, i.updated_at, i.expires_at, i.doc_len, i.terms, i.tfs
             FROM {s}.keyword_totals AS t LEFT JOIN {s}.items AS i ON true WHERE t.id = 1",
            s = self.schema
        );
        self.run("keyword index load", |client| load_rows(client, &sql)).await
    }
}

async fn load_rows(client: Object, sql: &str) -> Result<CacheState, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    let no_params: Vec<&(dyn ToSql + Sync)> = Vec::new();
    let rows = client.query_raw(&statement, no_params).await?;
    let mut rows = std::pin::pin!(rows);
    let mut state = CacheState::default();
    while let Some(row) = rows.next().await {
        let row = row?;
        state.at = Some(row.try_get(0)?);
        let Some(ns) = row.try_get::<_, Option<String>>(1)? else { continue };
        let indexed = IndexedRow {
            updated_at: row.try_get(3)?,
            expires_at: row.try_get(4)?,
            doc_len: row.try_get(5)?,
            terms: row.try_get(6)?,
            tfs: row.try_get(7)?,
        };
        state.apply(ns, row.try_get(2)?, Some(indexed));
    }
    Ok(state)
}
