//! The conformance suite on the PostgreSQL backend with its in-process keyword index
//! configured off, so that keyword and hybrid searches run the SQL statement (the path a
//! backend takes before its index is loaded, or when the index cannot answer).

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)]

mod store_postgres_support;

use std::sync::Arc;

use agent_memory::store::StoreBackend;
use store_postgres_support as support;

async fn make_backend() -> Arc<dyn StoreBackend> {
    Arc::new(support::backend_with(|config| config.keyword_index(false)).await)
}

agent_memory::store_conformance!(make_backend());
