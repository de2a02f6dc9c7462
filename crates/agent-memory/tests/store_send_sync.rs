//! The store's public types can be shared across tasks and threads.

use agent_memory::store::{
    Filter, Item, MemoryBackend, MemoryStore, Namespace, SearchHit, SearchQuery, StoreError, Sweeper,
};

fn send_sync<T: Send + Sync>() {}

#[test]
fn store_types_are_send_and_sync() {
    send_sync::<MemoryStore>();
    send_sync::<MemoryBackend>();
    #[cfg(feature = "sqlite")]
    send_sync::<agent_memory::store::SqliteBackend>();
    send_sync::<Namespace>();
    send_sync::<Item>();
    send_sync::<SearchHit>();
    send_sync::<SearchQuery>();
    send_sync::<Filter>();
    send_sync::<StoreError>();
    send_sync::<Sweeper>();
}

#[tokio::test]
async fn store_futures_are_send() {
    fn assert_send<F: std::future::Future + Send>(future: F) -> F {
        future
    }
    let store = MemoryStore::in_memory();
    assert_send(store.put("ns", "k", serde_json::json!({}), None)).await.expect("put");
    let hits = assert_send(store.search("ns", SearchQuery::all())).await.expect("search");
    assert_eq!(hits.len(), 1);
}
