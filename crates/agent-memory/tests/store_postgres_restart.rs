//! The PostgreSQL backend's pool recovers from a server restart and from terminated
//! sessions. This runs on a private throwaway cluster (its own data directory and port,
//! started with `scripts/deps/postgres.sh`), so restarting it never disturbs other tests or
//! a server given through `DATABASE_URL`. It needs what that script needs: root (to
//! install PostgreSQL and pgvector when missing) or an installed PostgreSQL with pgvector,
//! or Python to fetch the `pgserver` wheel.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)]

mod store_postgres_support;

use std::process::Command;
use std::sync::Arc;

use agent_memory::store::{MemoryStore, PostgresBackend, PostgresConfig, StoreOptions};
use serde_json::json;
use store_postgres_support as support;

const DATA_DIR: &str = "/tmp/agent-memory-pg-restart";
const PORT: &str = "55433";

/// The private cluster; stopped when dropped.
struct Cluster {
    url: String,
}

impl Cluster {
    fn script(command: &str) -> String {
        let output = Command::new("bash")
            .arg(support::script())
            .arg(command)
            .env("AGENT_MEMORY_PG_DIR", DATA_DIR)
            .env("AGENT_MEMORY_PG_PORT", PORT)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "scripts/deps/postgres.sh {command} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn start() -> Cluster {
        let url = support::url_from_exports(&Cluster::script("start")).expect("the script prints DATABASE_URL");
        Cluster { url }
    }

    async fn restart(&self) {
        tokio::task::spawn_blocking(|| Cluster::script("restart")).await.unwrap();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(support::script())
            .arg("stop")
            .env("AGENT_MEMORY_PG_DIR", DATA_DIR)
            .env("AGENT_MEMORY_PG_PORT", PORT)
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pool_recovers_from_a_restart_and_from_terminated_sessions() {
    let cluster = Cluster::start();
    let schema = support::SchemaGuard::new(&cluster.url); // dropped before the cluster stops
    let config = PostgresConfig::new(cluster.url.clone()).schema(schema.name().to_owned()).max_connections(4);
    let store = MemoryStore::new(Arc::new(PostgresBackend::connect(config).await.unwrap()), StoreOptions::default());
    store.put("ns", "before", json!({"text": "written before the restart"}), None).await.unwrap();
    // Open every pooled connection, so that all of them are dead after the restart.
    let reads: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.get("ns", "before").await.unwrap().is_some() })
        })
        .collect();
    for read in reads {
        assert!(read.await.unwrap());
    }

    cluster.restart().await;
    for i in 0..10 {
        store.put("ns", format!("after-{i}"), json!({"i": i}), None).await.unwrap();
    }
    assert_eq!(store.get("ns", "before").await.unwrap().unwrap().value["text"], "written before the restart");
    assert_eq!(store.count("ns").await.unwrap(), 11);

    // Sessions killed on the server while idle in the pool (an administrator, a proxy).
    let admin = support::connect(&cluster.url).await;
    let killed: i64 = admin
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 5000) AS done FROM pg_stat_activity
             WHERE application_name = 'agent-memory' AND pid <> pg_backend_pid()) AS t WHERE done",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(killed >= 1, "the pool had open sessions to terminate");
    let concurrent: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.put("ns", format!("killed-{i}"), json!({}), None).await.map(|_| ()) })
        })
        .collect();
    for put in concurrent {
        put.await.unwrap().unwrap();
    }
    assert_eq!(store.count("ns").await.unwrap(), 19);
}
