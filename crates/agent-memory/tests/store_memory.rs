//! The conformance suite on the in-memory backend: once with the default vector index, once
//! with an HNSW graph answering every semantic search.

use std::sync::Arc;

use agent_memory::store::{MemoryBackend, StoreBackend};

async fn make_backend() -> Arc<dyn StoreBackend> {
    Arc::new(MemoryBackend::new())
}

agent_memory::store_conformance!(make_backend());

mod with_graph {
    use std::sync::Arc;

    use agent_memory::store::{MemoryBackend, StoreBackend, VectorIndexOptions};

    /// A graph from the first vector on, and no exact scan of small scopes.
    async fn make_backend() -> Arc<dyn StoreBackend> {
        let options = VectorIndexOptions { ann_min_vectors: 1, exact_scope_max: 0, ..VectorIndexOptions::default() };
        Arc::new(MemoryBackend::with_vector_index(options))
    }

    agent_memory::store_conformance!(make_backend());
}

mod tenant_statistics {
    use std::sync::Arc;

    use agent_memory::store::{KeywordStatistics, MemoryBackend, StoreBackend, VectorIndexOptions};

    async fn make_backend() -> Arc<dyn StoreBackend> {
        Arc::new(MemoryBackend::with_indexes(VectorIndexOptions::default(), KeywordStatistics::Tenant))
    }

    agent_memory::tenant_statistics_conformance!(make_backend());
}
