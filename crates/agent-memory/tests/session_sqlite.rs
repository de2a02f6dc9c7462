//! The `SessionStore` contract on `SqliteSessions`, plus what only a file can show:
//! sessions survive reopening and share the file with the memory store.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used)] // a test may panic: that is the test failing

mod session_kit;

use std::sync::Arc;

use agent_memory::message::Message;
use agent_memory::session::{SessionStore, SqliteSessions};
use agent_memory::store::{MemoryStore, SqliteBackend, StoreOptions};
use serde_json::json;

/// A store on a fresh file; the directory is leaked for the test's lifetime (the process
/// removes nothing, the OS temp dir is cleaned by the runner).
async fn fresh() -> Arc<dyn SessionStore> {
    let dir = tempfile::tempdir().unwrap().keep();
    Arc::new(SqliteSessions::open(&dir.join("sessions.db")).await.unwrap())
}

session_conformance!(fresh().await);

#[tokio::test]
async fn sessions_survive_reopening_and_share_the_memory_store_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memory.db");
    let store = MemoryStore::new(Arc::new(SqliteBackend::open(&path).await.unwrap()), StoreOptions::default());
    store.put("notes", "n1", json!({"text": "Bob likes tea"}), None).await.unwrap();
    let sessions = SqliteSessions::open(&path).await.unwrap();
    sessions.append("bob", &[Message::user("Hi, I'm Bob"), Message::assistant("Hi Bob!")]).await.unwrap();
    drop(sessions);
    drop(store);

    let sessions = SqliteSessions::open(&path).await.unwrap();
    assert_eq!(sessions.load("bob").await.unwrap(), vec![Message::user("Hi, I'm Bob"), Message::assistant("Hi Bob!")]);
    sessions.append("bob", &[Message::user("What's my name?")]).await.unwrap();
    assert_eq!(sessions.load("bob").await.unwrap().len(), 3);
    let store = MemoryStore::new(Arc::new(SqliteBackend::open(&path).await.unwrap()), StoreOptions::default());
    assert_eq!(store.get("notes", "n1").await.unwrap().unwrap().value["text"], "Bob likes tea");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not.db");
    std::fs::write(&path, b"this is plain text, not SQLite, and long enough to have a header").unwrap();
    let error = SqliteSessions::open(&path).await.unwrap_err().to_string();
    assert!(error.starts_with("session storage failed: sqlite:"), "{error}");
    assert!(error.contains("not a database"), "{error}");
}
