//! ConversationMemory on the PostgreSQL + pgvector backend: the checks every backend passes
//! (`recall_kit`), each test on a fresh schema of the test server (`DATABASE_URL`; see
//! `store_postgres_support` for how it is found: never skipped, and with `CI=true` and no
//! server every test fails), and conversations shared through the database by URL.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)] // Test helpers fail loudly.

mod recall_kit;
#[path = "store_postgres_support/mod.rs"]
mod support;

use std::sync::Arc;

use agent_memory::embed::HashEmbedder;
use agent_memory::message::{Message, ToolCall};
use agent_memory::recall::{ConversationMemory, RecallQuery};
use agent_memory::store::{MemoryStore, SearchMode, StoreOptions};
use serde_json::{Map, json};

recall_conformance!(MemoryStore::new(Arc::new(support::backend().await), StoreOptions::default()));

#[tokio::test]
async fn conversations_are_shared_through_the_database_by_url() {
    let url = format!("{}?schema={}", support::database_url(), support::fresh_schema());
    let embedder = Arc::new(HashEmbedder::new(64));
    let writer = ConversationMemory::open(&url).await.unwrap().with_embedder(embedder.clone());
    let messages = vec![
        Message::user("restart the web server").with_id("m1"),
        Message::assistant_tool_calls(vec![ToolCall::new("c1", "restart", &json!({"service": "web"}))]).with_id("m2"),
        Message::tool("c1", "restarted").with_id("m3"),
    ];
    writer.index_conversation("alice", "ops", &messages, &Map::new()).await.unwrap();
    writer.index_conversation("bob", "ops", &messages[..1], &Map::new()).await.unwrap();

    let reader = ConversationMemory::open(&url).await.unwrap().with_embedder(embedder);
    assert_eq!(reader.store().backend().kind(), "postgres");
    for mode in [SearchMode::Keyword, SearchMode::Semantic, SearchMode::Hybrid] {
        let results = reader.search("alice", &RecallQuery::new("restart web").mode(mode)).await.unwrap();
        assert_eq!(results.len(), 1, "{mode:?}");
        assert_eq!(results[0].chunk.user_id, "alice");
        assert_eq!(results[0].chunk.messages, messages, "{mode:?}");
    }
    assert_eq!(reader.sessions("bob").await.unwrap(), ["ops"]);
    assert_eq!(reader.delete_user_conversations("alice").await.unwrap(), 1);
    assert!(reader.search("alice", &RecallQuery::new("restart")).await.unwrap().is_empty());
}
