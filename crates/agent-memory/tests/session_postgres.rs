//! The `SessionStore` contract on `PostgresSessions`, each test on a fresh schema of the
//! test server (`DATABASE_URL`; see `store_postgres_support` for how it is found: never
//! skipped).
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)] // a test may panic: that is the test failing

mod session_kit;
#[path = "store_postgres_support/mod.rs"]
mod support;

use std::sync::Arc;

use agent_memory::message::Message;
use agent_memory::session::{PostgresSessions, SessionStore, open_sessions};

async fn fresh() -> Arc<dyn SessionStore> {
    Arc::new(PostgresSessions::new(Arc::new(support::backend().await)).await.unwrap())
}

session_conformance!(fresh().await);

#[tokio::test]
async fn sessions_are_shared_through_the_database_and_opened_by_url() {
    let schema = support::fresh_schema();
    let url = format!("{}?schema={schema}", support::database_url());
    let writer = open_sessions(&url).await.unwrap();
    writer.append("bob", &[Message::user("Hi, I'm Bob"), Message::assistant("Hi Bob!")]).await.unwrap();
    let reader = open_sessions(&url).await.unwrap();
    assert_eq!(reader.load("bob").await.unwrap(), vec![Message::user("Hi, I'm Bob"), Message::assistant("Hi Bob!")]);
    let client = support::connect(&support::database_url()).await;
    let row = client
        .query_one(&format!("SELECT count(*) FROM \"{schema}\".session_messages WHERE session_id = 'bob'"), &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 2);
}
