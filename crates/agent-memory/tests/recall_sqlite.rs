//! ConversationMemory on the SQLite backend: the checks every backend passes
//! (`recall_kit`), and it persists across reopening.

#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used)] // Test helpers fail loudly.

mod recall_kit;

use std::sync::Arc;

use agent_memory::embed::HashEmbedder;
use agent_memory::message::{Message, ToolCall};
use agent_memory::recall::{ChunkingOptions, ConversationMemory, RecallQuery, chunk_id};
use agent_memory::store::{MemoryStore, SearchMode};
use serde_json::{Map, Value, json};

recall_conformance!(
    { let dir = tempfile::tempdir().unwrap(); }
    MemoryStore::sqlite(dir.path().join("conversations.db")).await.unwrap()
);

fn meta(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

async fn open(path: &std::path::Path) -> ConversationMemory {
    ConversationMemory::sqlite(path)
        .await
        .unwrap()
        .with_embedder(Arc::new(HashEmbedder::new(256)))
        .with_chunking(ChunkingOptions::new(4, 2).unwrap())
}

fn conversation(topic: &str, n: usize) -> Vec<Message> {
    (0..n).map(|i| Message::user(format!("{topic} message {i}")).with_id(format!("{topic}-{i}"))).collect()
}

#[tokio::test]
async fn index_search_reindex_and_delete_persist() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conversations.db");
    {
        let memory = open(&path).await;
        let ids = memory
            .index_conversation("alice", "s1", &conversation("kafka", 8), &meta(json!({"date": "2025-03-01"})))
            .await
            .unwrap();
        assert_eq!(ids, [0, 2, 4].map(|offset| chunk_id("alice", "s1", offset)));
        memory.index_conversation("alice", "s2", &conversation("tennis", 2), &Map::new()).await.unwrap();
        memory.index_conversation("bob", "s1", &conversation("kafka", 2), &Map::new()).await.unwrap();
    }
    let memory = open(&path).await;
    for mode in [SearchMode::Keyword, SearchMode::Semantic, SearchMode::Hybrid] {
        let results = memory.search("alice", &RecallQuery::new("kafka message 7").mode(mode).limit(1)).await.unwrap();
        assert_eq!(results[0].chunk.session_id, "s1", "{mode:?}");
        assert_eq!(results[0].chunk.user_id, "alice");
    }
    let results = memory.search("alice", &RecallQuery::new("kafka message 7").mode(SearchMode::Keyword)).await.unwrap();
    assert_eq!(results[0].chunk.offset, 4);
    assert_eq!(results[0].chunk.messages, conversation("kafka", 8)[4..]);
    // Filters before the limit: a date range and a session.
    let march = RecallQuery::new("message").limit(1).dates(Some("2025-03-01"), Some("2025-03-31"));
    assert!(memory.search("alice", &march).await.unwrap().iter().all(|r| r.chunk.session_id == "s1"));
    let tennis = memory.search("alice", &RecallQuery::new("kafka message").limit(1).session("s2")).await.unwrap();
    assert_eq!(tennis.len(), 1);
    assert_eq!(tennis[0].chunk.session_id, "s2");
    // Re-indexing a shorter session replaces it.
    memory.index_conversation("alice", "s1", &conversation("kafka", 3), &Map::new()).await.unwrap();
    assert_eq!(memory.session_chunks("alice", "s1").await.unwrap().len(), 1);
    assert_eq!(memory.delete_conversation("alice", "s1").await.unwrap(), 1);
    assert_eq!(memory.delete_user_conversations("alice").await.unwrap(), 1);
    assert_eq!(memory.sessions("bob").await.unwrap(), ["s1"]);
}

#[tokio::test]
async fn tool_messages_round_trip_through_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let memory = open(&dir.path().join("c.db")).await;
    let messages = vec![
        Message::user("restart the web server").with_id("m1"),
        Message::assistant_tool_calls(vec![ToolCall::new("c1", "restart", &json!({"service": "web"}))]).with_id("m2"),
        Message::tool("c1", "restarted").with_id("m3"),
    ];
    memory.index_conversation("u", "s", &messages, &Map::new()).await.unwrap();
    let results = memory.search("u", &RecallQuery::new("restart web")).await.unwrap();
    assert_eq!(results[0].chunk.messages, messages);
}
