//! PostgreSQL puts committed in groups: concurrent puts share insert statements, each
//! still gets its own answer, and a group that cannot share a statement (a key written twice,
//! a put that fails) is inserted put by put. A table lock from another connection holds the
//! statements of the puts that took the insert slots, so that the puts behind them queue up
//! together.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)]

mod store_postgres_support;

use std::sync::Arc;
use std::time::Duration;

use agent_memory::store::{Item, ItemKey, ItemWrite, Namespace, PostgresBackend, StoreBackend, StoreError};
use serde_json::json;
use store_postgres_support as support;
use tokio::task::JoinHandle;
use tokio_postgres::Client;

fn write(key: &str, text: &str) -> ItemWrite {
    ItemWrite {
        namespace: Namespace::new(["puts"]).unwrap(),
        key: key.to_owned(),
        value: json!({ "text": text }).as_object().unwrap().clone(),
        ttl_seconds: None,
        text: text.to_owned(),
        vector: None,
        index: Default::default(),
    }
}

fn put(backend: &Arc<PostgresBackend>, key: &str, text: &str, now: f64) -> JoinHandle<Result<Vec<Item>, StoreError>> {
    let (backend, writes) = (Arc::clone(backend), vec![write(key, text)]);
    tokio::spawn(async move { backend.put_many(writes, now).await })
}

/// Holds an exclusive lock on the items table from its own connection until released.
struct TableLock {
    client: Client,
}

impl TableLock {
    async fn take(schema: &str) -> TableLock {
        let client = support::connect(&support::database_url()).await;
        client.batch_execute(&format!("BEGIN; LOCK TABLE \"{schema}\".items IN EXCLUSIVE MODE")).await.unwrap();
        TableLock { client }
    }

    async fn release(self) {
        self.client.batch_execute("COMMIT").await.unwrap();
    }
}

/// How many transactions wrote the rows of `puts`.
async fn writing_transactions(client: &Client, schema: &str) -> i64 {
    let sql = format!("SELECT count(DISTINCT xmin::text) FROM \"{schema}\".items WHERE ns = 'puts'");
    client.query_one(&sql, &[]).await.unwrap().get(0)
}

async fn stored_text(backend: &PostgresBackend, key: &str) -> Option<String> {
    let address = ItemKey { namespace: Namespace::new(["puts"]).unwrap(), key: key.to_owned() };
    let found = backend.get_many(&[address], 5000.0, false).await.unwrap().pop().flatten();
    found.map(|item| item.value["text"].as_str().unwrap().to_owned())
}

/// Puts that the table lock holds: more than the backend runs at once, so that every insert
/// slot is taken and the puts started next wait in the queue, in order, until the lock goes.
async fn hold_every_slot(backend: &Arc<PostgresBackend>) -> Vec<JoinHandle<Result<Vec<Item>, StoreError>>> {
    let held = (0..8).map(|i| put(backend, &format!("held{i}"), "a held put", 1000.0)).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    held
}

async fn finish(held: Vec<JoinHandle<Result<Vec<Item>, StoreError>>>) {
    for task in held {
        task.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_queued_together_share_one_statement_and_keep_their_own_answers() {
    let backend = Arc::new(support::backend().await);
    let schema = backend.schema_name().to_owned();
    let client = support::connect(&support::database_url()).await;
    let lock = TableLock::take(&schema).await;
    let held = hold_every_slot(&backend).await;
    let queued: Vec<_> =
        (0..20).map(|i| put(&backend, &format!("k{i}"), &format!("text {i}"), 2000.0 + f64::from(i))).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    lock.release().await;
    finish(held).await;
    for (i, task) in queued.into_iter().enumerate() {
        let items = task.await.unwrap().unwrap();
        assert_eq!((items[0].key.clone(), items[0].updated_at), (format!("k{i}"), 2000.0 + i as f64));
    }
    // The held puts that took the insert slots, one by one, then everything queued behind
    // them (the other held puts and the 20) in one group: far fewer statements than puts.
    let transactions = writing_transactions(&client, &schema).await;
    assert!(transactions <= 6, "{transactions} transactions for 28 puts");
    assert_eq!(stored_text(&backend, "k7").await.as_deref(), Some("text 7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_written_twice_in_a_group_ends_with_the_later_put() {
    let backend = Arc::new(support::backend().await);
    let lock = TableLock::take(backend.schema_name()).await;
    let held = hold_every_slot(&backend).await;
    let earlier = put(&backend, "same", "earlier", 2000.0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let later = put(&backend, "same", "later", 2001.0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    lock.release().await;
    finish(held).await;
    assert_eq!(earlier.await.unwrap().unwrap()[0].updated_at, 2000.0);
    assert_eq!(later.await.unwrap().unwrap()[0].updated_at, 2001.0);
    assert_eq!(stored_text(&backend, "same").await.as_deref(), Some("later"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_put_in_a_group_fails_alone() {
    let backend = Arc::new(support::backend().await);
    let schema = backend.schema_name().to_owned();
    let client = support::connect(&support::database_url()).await;
    client
        .batch_execute(&format!(
            "CREATE FUNCTION \"{schema}\".poison() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN IF NEW.key = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$;
             CREATE TRIGGER poison BEFORE INSERT ON \"{schema}\".items
                 FOR EACH ROW EXECUTE FUNCTION \"{schema}\".poison();"
        ))
        .await
        .unwrap();
    let lock = TableLock::take(&schema).await;
    let held = hold_every_slot(&backend).await;
    let tasks: Vec<_> = ["good1", "poison", "good2"].iter().map(|key| put(&backend, key, "text", 2000.0)).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    lock.release().await;
    finish(held).await;
    let answers: Vec<_> = futures::future::join_all(tasks).await.into_iter().map(|task| task.unwrap()).collect();
    assert!(answers[0].is_ok() && answers[2].is_ok(), "{answers:?}");
    assert!(answers[1].as_ref().unwrap_err().to_string().contains("poisoned"), "{answers:?}");
    for (key, stored) in [("good1", true), ("poison", false), ("good2", true)] {
        assert_eq!(stored_text(&backend, key).await.is_some(), stored, "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_cancelled_while_queued_is_never_written() {
    let backend = Arc::new(support::backend().await);
    let lock = TableLock::take(backend.schema_name()).await;
    let held = hold_every_slot(&backend).await;
    let cancelled = put(&backend, "cancelled", "text", 2000.0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    cancelled.abort();
    assert!(cancelled.await.unwrap_err().is_cancelled());
    lock.release().await;
    finish(held).await;
    backend.put_many(vec![write("after", "text")], 3000.0).await.unwrap();
    assert_eq!(stored_text(&backend, "cancelled").await, None);
    assert_eq!(stored_text(&backend, "after").await.as_deref(), Some("text"));
}
