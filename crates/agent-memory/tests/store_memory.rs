//! The conformance suite on the in-memory backend.

use std::sync::Arc;

use agent_memory::store::{MemoryBackend, StoreBackend};

async fn make_backend() -> Arc<dyn StoreBackend> {
    Arc::new(MemoryBackend::new())
}

agent_memory::store_conformance!(make_backend());
