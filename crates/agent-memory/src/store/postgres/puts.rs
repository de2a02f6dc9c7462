//! Puts, committed in groups: `put_many` turns its writes into rows, queues them
//! ([`WaitingWrites`]) and waits for one of a few insert slots; whoever gets a slot inserts
//! every put queued by then with one statement, so that concurrent puts share statements (and
//! the statement-level keyword-statistics triggers with their lock on the totals row) while a
//! few statements still run side by side. The group runs as its own task: a caller that stops
//! waiting cannot cut the others' puts short.
//!
//! A statement is all or nothing, so a group whose statement fails, or whose puts write the
//! same key (one statement cannot update a row twice), is inserted put by put instead: each
//! put gets its own answer.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::Pool;
use tokio::sync::oneshot;

use super::rows::{CreatedAt, ItemRow, RowIndexing, RowTimes, upsert};
use super::{BACKEND, last_per_address};
use crate::store::{Item, ItemWrite, StoreError};

/// One `put_many` call's rows, waiting for a slot, and where its answer goes.
#[derive(Debug)]
pub(super) struct PendingPut {
    writes: Vec<ItemWrite>,
    /// The last write of the call to each address, in address order.
    rows: Vec<ItemRow>,
    now: f64,
    reply: oneshot::Sender<Result<Vec<Item>, StoreError>>,
}

impl PendingPut {
    /// The put of `writes` at `now` (`models[i]`: the registered model id of write `i`'s
    /// vector), answered through `reply`.
    pub(super) fn new(
        writes: Vec<ItemWrite>,
        models: &[Option<i32>],
        now: f64,
        reply: oneshot::Sender<Result<Vec<Item>, StoreError>>,
    ) -> PendingPut {
        let last = last_per_address(writes.iter().map(|write| (&write.namespace, write.key.as_str())));
        let rows = last
            .into_iter()
            .map(|((ns, key), i)| {
                let write = &writes[i];
                let expires = write.ttl_seconds.map(|ttl| now + ttl);
                let times = RowTimes { created: now, updated: now, expires, ttl: write.ttl_seconds };
                let indexed = RowIndexing {
                    text: &write.text,
                    vector: write.vector.as_ref(),
                    model: models[i],
                    index: &write.index,
                };
                ItemRow::new(ns, key, &write.value, times, indexed)
            })
            .collect();
        PendingPut { writes, rows, now, reply }
    }
}

/// Inserts the `queued` puts (one statement when they can share it, else one each) and
/// answers each; the rows written.
pub(super) async fn commit(pool: Pool, schema: String, queued: Vec<PendingPut>) -> u64 {
    let mut addresses = HashSet::new();
    let shareable =
        queued.len() > 1 && queued.iter().flat_map(|put| &put.rows).all(|row| addresses.insert((&row.ns, &row.key)));
    if shareable {
        // In address order across the group too, as `upsert` wants.
        let mut rows: Vec<&ItemRow> = queued.iter().flat_map(|put| &put.rows).collect();
        rows.sort_unstable_by(|a, b| (&a.ns, &a.key).cmp(&(&b.ns, &b.key)));
        match upsert(&pool, &schema, &rows, CreatedAt::KeptWhileLive).await {
            Ok(created) => {
                let written = rows.len() as u64;
                for put in queued {
                    let answer = items_of(put.writes, put.now, &created);
                    // A caller that stopped waiting no longer needs its answer.
                    let _ = put.reply.send(answer);
                }
                return written;
            }
            // Nothing was written: each put on its own tells whose rows failed.
            Err(error) => tracing::debug!(%error, puts = queued.len(), "postgres: a group of puts failed; one by one"),
        }
    }
    let mut written = 0;
    for put in queued {
        let rows: Vec<&ItemRow> = put.rows.iter().collect();
        let answer = match upsert(&pool, &schema, &rows, CreatedAt::KeptWhileLive).await {
            Ok(created) => {
                written += rows.len() as u64;
                items_of(put.writes, put.now, &created)
            }
            Err(error) => Err(error),
        };
        let _ = put.reply.send(answer);
    }
    written
}

/// The items a put stored: its writes, with the `created_at` of each address.
fn items_of(
    writes: Vec<ItemWrite>,
    now: f64,
    created: &HashMap<(String, String), f64>,
) -> Result<Vec<Item>, StoreError> {
    writes
        .into_iter()
        .map(|write| {
            let address = (write.namespace.encoded(), write.key.clone());
            let created_at = *created.get(&address).ok_or_else(|| {
                StoreError::backend(BACKEND, format!("put: no row came back for key {:?}", write.key))
            })?;
            Ok(write.into_item(created_at, now).0)
        })
        .collect()
}
