//! ConversationMemory in process memory: the reference's option tests
//! (test_conversation_memory.py 1–6), then the backend checks every store passes
//! (`recall_kit`: reference 7–20, 31, 32 and its defects fixed).

#![allow(clippy::unwrap_used)] // Test helpers fail loudly.

mod recall_kit;

use std::sync::Arc;

use agent_memory::message::Message;
use agent_memory::recall::{ChunkingOptions, ConversationMemory, RecallError};
use agent_memory::store::MemoryStore;
use agent_memory::summarize::{SummarizeError, Summarizer};

recall_conformance!(async { MemoryStore::in_memory() }.await);

struct FixedSummarizer;

#[async_trait::async_trait]
impl Summarizer for FixedSummarizer {
    async fn summarize(&self, messages: &[Message], _existing: Option<&str>) -> Result<String, SummarizeError> {
        Ok(format!("{} messages", messages.len()))
    }
}

// --- Init (reference 1–6) ---

#[test]
fn t01_defaults() {
    let memory = ConversationMemory::in_memory();
    assert_eq!(memory.chunking().chunk_size(), 10);
    assert_eq!(memory.chunking().chunk_overlap(), 2);
    assert!(!memory.includes_summary());
    assert_eq!(memory.store().backend().kind(), "memory");
}

#[tokio::test]
async fn t04_t05_bad_store_urls_are_errors() {
    let err = ConversationMemory::open("sqlite:").await.unwrap_err();
    assert!(err.to_string().starts_with("store configuration: "), "{err}");
    assert!(matches!(ConversationMemory::open("bogus://x").await, Err(RecallError::Store(_))));
}

#[test]
fn t06_custom_options_are_kept() {
    let memory = ConversationMemory::in_memory()
        .with_chunking(ChunkingOptions::new(20, 5).unwrap())
        .with_summarizer(Arc::new(FixedSummarizer));
    assert_eq!((memory.chunking().chunk_size(), memory.chunking().chunk_overlap()), (20, 5));
    assert!(memory.includes_summary());
    let err = ChunkingOptions::new(4, 5).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid conversation memory options: chunk_overlap (5) must be smaller than chunk_size (4)"
    );
}
