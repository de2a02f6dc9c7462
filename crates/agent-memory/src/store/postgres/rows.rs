//! Item rows as the insert statement binds them, and that statement: puts ([`super::puts`])
//! and restores (`restore_items`) write items the same way, and differ only in where an
//! existing item's `created_at` comes from ([`CreatedAt`]).

use std::collections::HashMap;

use deadpool_postgres::Pool;
use pgvector::Vector;
use serde_json::{Map, Value};

use super::{posting_columns, run_on};
use crate::store::{ItemIndex, StoreError, StoredVector};

/// One row of the insert statement.
#[derive(Debug)]
pub(super) struct ItemRow {
    pub(super) ns: String,
    pub(super) key: String,
    value: Value,
    times: RowTimes,
    length: i32,
    terms: String,
    counts: String,
    embedding: Option<Vector>,
    model: Option<i32>,
    spec: Option<String>,
}

/// An item row's times: `expires` is `updated + ttl` for a put, the kept value for a restore.
#[derive(Debug, Clone, Copy)]
pub(super) struct RowTimes {
    pub(super) created: f64,
    pub(super) updated: f64,
    pub(super) expires: Option<f64>,
    pub(super) ttl: Option<f64>,
}

/// What the item's indexes get: the text it is searched by, its vector with the registered
/// model id, its index spec.
pub(super) struct RowIndexing<'a> {
    pub(super) text: &'a str,
    pub(super) vector: Option<&'a StoredVector>,
    pub(super) model: Option<i32>,
    pub(super) index: &'a ItemIndex,
}

impl ItemRow {
    pub(super) fn new(
        ns: String,
        key: &str,
        value: &Map<String, Value>,
        times: RowTimes,
        indexed: RowIndexing<'_>,
    ) -> ItemRow {
        let (terms, counts, length) = posting_columns(indexed.text);
        ItemRow {
            ns,
            key: key.to_owned(),
            value: Value::Object(value.clone()),
            times,
            length,
            terms,
            counts,
            embedding: indexed.vector.map(|v| Vector::from(v.vector.clone())),
            model: indexed.model,
            spec: indexed.index.to_column(),
        }
    }
}

/// What an existing item's `created_at` becomes when a row replaces it.
#[derive(Debug, Clone, Copy)]
pub(super) enum CreatedAt {
    /// A put: kept while the item is live, the row's when it had expired.
    KeptWhileLive,
    /// A restore: the row's.
    Given,
}

/// Inserts or updates `rows` (distinct addresses; in address order, so that concurrent
/// statements lock rows in the same order) with one statement; each row's stored
/// `created_at` by address.
pub(super) async fn upsert(
    pool: &Pool,
    schema: &str,
    rows: &[&ItemRow],
    created_at: CreatedAt,
) -> Result<HashMap<(String, String), f64>, StoreError> {
    let created_at = match created_at {
        CreatedAt::KeptWhileLive => {
            "CASE WHEN i.expires_at IS NULL OR i.expires_at > EXCLUDED.updated_at \
             THEN i.created_at ELSE EXCLUDED.created_at END"
        }
        CreatedAt::Given => "EXCLUDED.created_at",
    };
    let sql = format!(
        "INSERT INTO {schema}.items AS i (ns, key, value, created_at, updated_at, expires_at, ttl_seconds, doc_len, \
             terms, tfs, embedding, embedding_model, index_spec)
         SELECT w.ns, w.key, w.value, w.created, w.updated, w.expires, w.ttl, w.doc_len,
             string_to_array(w.terms, ' '), string_to_array(w.tfs, ' ')::integer[], w.embedding, w.model, w.spec
         FROM unnest($1::text[], $2::text[], $3::json[], $4::float8[], $5::float8[], $6::float8[], $7::float8[],
             $8::integer[], $9::text[], $10::text[], $11::vector[], $12::integer[], $13::text[])
             AS w(ns, key, value, created, updated, expires, ttl, doc_len, terms, tfs, embedding, model, spec)
         ON CONFLICT (ns, key) DO UPDATE SET
             value = EXCLUDED.value,
             index_spec = EXCLUDED.index_spec,
             created_at = {created_at},
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
    let created: Vec<f64> = rows.iter().map(|row| row.times.created).collect();
    let updated: Vec<f64> = rows.iter().map(|row| row.times.updated).collect();
    let expires: Vec<Option<f64>> = rows.iter().map(|row| row.times.expires).collect();
    let ttls: Vec<Option<f64>> = rows.iter().map(|row| row.times.ttl).collect();
    let lengths: Vec<i32> = rows.iter().map(|row| row.length).collect();
    let terms: Vec<&str> = rows.iter().map(|row| row.terms.as_str()).collect();
    let counts: Vec<&str> = rows.iter().map(|row| row.counts.as_str()).collect();
    let embeddings: Vec<Option<&Vector>> = rows.iter().map(|row| row.embedding.as_ref()).collect();
    let models: Vec<Option<i32>> = rows.iter().map(|row| row.model).collect();
    let specs: Vec<Option<&str>> = rows.iter().map(|row| row.spec.as_deref()).collect();
    let returned = run_on(pool, "write items", |client| {
        let sql = &sql;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 13] = [
            &nss,
            &keys,
            &values,
            &created,
            &updated,
            &expires,
            &ttls,
            &lengths,
            &terms,
            &counts,
            &embeddings,
            &models,
            &specs,
        ];
        async move {
            let statement = client.prepare_cached(sql).await?;
            client.query(&statement, &params).await
        }
    })
    .await?;
    Ok(returned.iter().map(|row| ((row.get(0), row.get(1)), row.get(2))).collect())
}
