//! The `SessionStore` contract on `InMemorySessions` (the shared check is in `session_kit`).

mod session_kit;

use std::sync::Arc;

use agent_memory::session::{InMemorySessions, SessionStore};

async fn fresh() -> Arc<dyn SessionStore> {
    Arc::new(InMemorySessions::new())
}

session_conformance!(fresh().await);
