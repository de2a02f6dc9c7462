//! The conformance suite on the PostgreSQL backend with its in-process keyword and vector
//! indexes configured off, so that keyword, semantic and hybrid searches run the SQL
//! statements (the path a backend takes while its indexes load, or when they cannot answer).

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)]

mod store_postgres_support;

use std::sync::Arc;

use agent_memory::store::StoreBackend;
use store_postgres_support as support;

async fn make_backend() -> Arc<dyn StoreBackend> {
    Arc::new(support::backend_with(|config| config.keyword_index(false).vector_index(false)).await)
}

agent_memory::store_conformance!(make_backend());

mod tenant_statistics {
    use std::sync::Arc;

    use agent_memory::store::{KeywordStatistics, StoreBackend};

    use super::support;

    /// Per-tenant statistics counted by the SQL statement itself.
    async fn make_backend() -> Arc<dyn StoreBackend> {
        let backend = support::backend_with(|config| {
            config.keyword_index(false).vector_index(false).keyword_statistics(KeywordStatistics::Tenant)
        });
        Arc::new(backend.await)
    }

    agent_memory::tenant_statistics_conformance!(make_backend());
}
