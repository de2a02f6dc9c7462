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

use std::collections::{BTreeMap, HashMap, HashSet};

use deadpool_postgres::Pool;
use pgvector::Vector;
use serde_json::Value;
use tokio::sync::oneshot;

use super::{BACKEND, posting_columns, run_on};
use crate::store::{Item, ItemWrite, StoreError};

/// One `put_many` call's rows, waiting for a slot, and where its answer goes.
#[derive(Debug)]
pub(super) struct PendingPut {
    writes: Vec<ItemWrite>,
    rows: Vec<Row>,
    now: f64,
    reply: oneshot::Sender<Result<Vec<Item>, StoreError>>,
}

/// One row of the insert statement: the last write of a call to its address.
#[derive(Debug)]
struct Row {
    ns: String,
    key: String,
    value: Value,
    ttl: Option<f64>,
    length: i32,
    terms: String,
    counts: String,
    embedding: Option<Vector>,
    model: Option<i32>,
    spec: Option<String>,
    now: f64,
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
        // A later write of the call to the same address replaces an earlier one.
        let last: BTreeMap<(String, &str), usize> =
            writes.iter().enumerate().map(|(i, write)| ((write.namespace.encoded(), write.key.as_str()), i)).collect();
        let rows = last
            .into_iter()
            .map(|((ns, key), i)| {
                let write = &writes[i];
                let (terms, counts, length) = posting_columns(&write.text);
                Row {
                    ns,
                    key: key.to_owned(),
                    value: Value::Object(write.value.clone()),
                    ttl: write.ttl_seconds,
                    length,
                    terms,
                    counts,
                    embedding: write.vector.as_ref().map(|v| Vector::from(v.vector.clone())),
                    model: models[i],
                    spec: write.index.to_column(),
                    now,
                }
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
        let rows: Vec<&Row> = queued.iter().flat_map(|put| &put.rows).collect();
        match insert(&pool, &schema, &rows).await {
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
        let rows: Vec<&Row> = put.rows.iter().collect();
        let answer = match insert(&pool, &schema, &rows).await {
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

/// Inserts or updates `rows` (distinct addresses) with one statement; each row's
/// `created_at` by address.
async fn insert(pool: &Pool, schema: &str, rows: &[&Row]) -> Result<HashMap<(String, String), f64>, StoreError> {
    let sql = format!(
        "INSERT INTO {schema}.items AS i (ns, key, value, created_at, updated_at, expires_at, ttl_seconds, doc_len, \
             terms, tfs, embedding, embedding_model, index_spec)
         SELECT w.ns, w.key, w.value, w.now, w.now, w.ttl + w.now, w.ttl, w.doc_len,
             string_to_array(w.terms, ' '), string_to_array(w.tfs, ' ')::integer[], w.embedding, w.model, w.spec
         FROM unnest($1::text[], $2::text[], $3::json[], $4::float8[], $5::integer[], $6::text[], $7::text[],
             $8::vector[], $9::integer[], $10::float8[], $11::text[])
             AS w(ns, key, value, ttl, doc_len, terms, tfs, embedding, model, now, spec)
         ON CONFLICT (ns, key) DO UPDATE SET
             value = EXCLUDED.value,
             index_spec = EXCLUDED.index_spec,
             created_at = CASE WHEN i.expires_at IS NULL OR i.expires_at > EXCLUDED.updated_at
                 THEN i.created_at ELSE EXCLUDED.created_at END,
             updated_at = EXCLUDED.updated_at,
             expires_at = EXCLUDED.expires_at,
             ttl_seconds = EXCLUDED.ttl_seconds,
             doc_len = EXCLUDED.doc_len,
             terms = EXCLUDED.terms,
             tfs = EXCLUDED.tfs,
             embedding = EXCLUDED.embedding,
             embedding_model = EXCLUDED.embedding_model
         RETURNING i.ns, i.key, i.created_at"
    );
    let nss: Vec<&str> = rows.iter().map(|row| row.ns.as_str()).collect();
    let keys: Vec<&str> = rows.iter().map(|row| row.key.as_str()).collect();
    let values: Vec<&Value> = rows.iter().map(|row| &row.value).collect();
    let ttls: Vec<Option<f64>> = rows.iter().map(|row| row.ttl).collect();
    let lengths: Vec<i32> = rows.iter().map(|row| row.length).collect();
    let terms: Vec<&str> = rows.iter().map(|row| row.terms.as_str()).collect();
    let counts: Vec<&str> = rows.iter().map(|row| row.counts.as_str()).collect();
    let embeddings: Vec<Option<&Vector>> = rows.iter().map(|row| row.embedding.as_ref()).collect();
    let models: Vec<Option<i32>> = rows.iter().map(|row| row.model).collect();
    let nows: Vec<f64> = rows.iter().map(|row| row.now).collect();
    let specs: Vec<Option<&str>> = rows.iter().map(|row| row.spec.as_deref()).collect();
    let returned = run_on(pool, "put", |client| {
        let sql = &sql;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 11] =
            [&nss, &keys, &values, &ttls, &lengths, &terms, &counts, &embeddings, &models, &nows, &specs];
        async move {
            let statement = client.prepare_cached(sql).await?;
            client.query(&statement, &params).await
        }
    })
    .await?;
    Ok(returned.iter().map(|row| ((row.get(0), row.get(1)), row.get(2))).collect())
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
            Ok(Item {
                namespace: write.namespace,
                key: write.key,
                value: write.value,
                created_at,
                updated_at: now,
                expires_at: write.ttl_seconds.map(|ttl| now + ttl),
                ttl_seconds: write.ttl_seconds,
            })
        })
        .collect()
}
