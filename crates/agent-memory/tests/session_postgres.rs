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

/// A tenant's page of a listing seeks the bytewise session-id index between the prefix and
/// its successor: PostgreSQL's plan never scans the table, however many other sessions it
/// holds.
#[tokio::test]
async fn a_page_is_an_index_range_scan() {
    use agent_memory::session::{RestoredSession, SessionListQuery};
    use std::time::UNIX_EPOCH;

    let backend = Arc::new(support::backend().await);
    let sessions = PostgresSessions::new(backend.clone()).await.unwrap();
    let restored: Vec<RestoredSession> = (0..5000)
        .map(|n| RestoredSession {
            session_id: format!("tenant{:03}/session-{:02}", n / 50, n % 50),
            messages: vec![],
            created_at: UNIX_EPOCH,
            updated_at: UNIX_EPOCH,
        })
        .collect();
    sessions.restore(&restored).await.unwrap();
    let client = support::connect(&support::database_url()).await;
    client.batch_execute(&format!("ANALYZE \"{}\".session_threads", backend.schema_name())).await.unwrap();

    let first = SessionListQuery::new(100).unwrap().with_prefix("tenant042/").unwrap();
    let next = first.clone().with_after("tenant042/session-09").unwrap();
    for query in [&first, &next, &SessionListQuery::new(10).unwrap()] {
        let plan = sessions.explain_list_page(query).await.unwrap();
        assert!(plan.contains("Index Scan using session_threads_id_bytewise"), "{plan}");
        assert!(!plan.contains("Seq Scan"), "{plan}");
        // The prefix's successor bounds the seek: `tenant042/` up to `tenant0420`.
        assert_eq!(plan.contains("< 'tenant0420'::text"), !query.prefix().is_empty(), "{plan}");
    }
    let page = sessions.list_page(&next).await.unwrap();
    assert_eq!(page.sessions.len(), 40);
    assert_eq!(page.sessions[0].session_id, "tenant042/session-10");
    assert_eq!(page.next_after, None);
}
