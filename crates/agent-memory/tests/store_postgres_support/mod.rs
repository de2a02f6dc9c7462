//! What the PostgreSQL tests share: the server's URL, a fresh schema per backend, and a
//! plain connection for checks the store's API does not expose.
//!
//! The URL comes from `AGENT_MEMORY_TEST_PG_URL` or `DATABASE_URL` (the test command sets
//! both through `scripts/setup-test-deps`). When neither is set:
//! * with `CI=true` every test fails, naming the missing variable (CI must never skip the
//!   PostgreSQL suite silently);
//! * otherwise the tests start the throwaway server themselves with
//!   `scripts/deps/postgres.sh start` (the same script, so the same server), and fail with
//!   its log when it cannot be started.

#![allow(dead_code, clippy::unwrap_used)]

use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use agent_memory::store::{PostgresBackend, PostgresConfig};
use tokio_postgres::{Client, NoTls};

/// Schemas made by these tests start with this, then the Unix time and the process id.
const SCHEMA_PREFIX: &str = "amtest_";
/// Schemas left by earlier runs are dropped once they are this old (seconds).
const STALE_AFTER: u64 = 3600;

/// The repository's `scripts/deps/postgres.sh`.
pub(crate) fn script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/deps/postgres.sh")
}

/// The URL of the PostgreSQL server the tests use (see the module documentation).
pub(crate) fn database_url() -> String {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    URL.get_or_init(find_database_url).clone().unwrap_or_else(|message| panic!("{message}"))
}

fn find_database_url() -> Result<String, String> {
    for var in ["AGENT_MEMORY_TEST_PG_URL", "DATABASE_URL"] {
        if let Ok(url) = std::env::var(var)
            && !url.trim().is_empty()
        {
            return Ok(url);
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        return Err("CI=true but neither AGENT_MEMORY_TEST_PG_URL nor DATABASE_URL is set: the PostgreSQL store \
                    tests need a server; run them through scripts/test (which sources scripts/setup-test-deps) \
                    or export DATABASE_URL=postgres://…"
            .into());
    }
    let output = Command::new("bash")
        .arg(script())
        .arg("start")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script().display()))?;
    if !output.status.success() {
        return Err(format!(
            "no DATABASE_URL, and {} could not start a throwaway PostgreSQL:\n{}",
            script().display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    url_from_exports(&String::from_utf8_lossy(&output.stdout))
        .ok_or_else(|| format!("{} printed no DATABASE_URL", script().display()))
}

/// The `DATABASE_URL` in `export NAME=value` lines.
pub(crate) fn url_from_exports(exports: &str) -> Option<String> {
    exports.lines().find_map(|line| line.strip_prefix("export DATABASE_URL=")).map(str::to_owned)
}

/// A schema name no other test uses.
pub(crate) fn fresh_schema() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    format!("{SCHEMA_PREFIX}{now}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A plain connection to the test server.
pub(crate) async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// A backend on a fresh schema of the test server. Schemas older than an hour left by
/// earlier runs are dropped (once per process).
pub(crate) async fn backend() -> PostgresBackend {
    backend_with(|config| config).await
}

/// Like [`backend`], with the configuration adjusted by `adjust`.
pub(crate) async fn backend_with(adjust: impl FnOnce(PostgresConfig) -> PostgresConfig) -> PostgresBackend {
    let url = database_url();
    drop_stale_schemas(&url).await;
    let config = adjust(PostgresConfig::new(url).schema(fresh_schema()));
    PostgresBackend::connect(config).await.unwrap()
}

async fn drop_stale_schemas(url: &str) {
    static DONE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    DONE.get_or_init(|| async {
        let client = connect(url).await;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let rows = client.query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'amtest\\_%'", &[]).await.unwrap();
        for row in rows {
            let name: String = row.get(0);
            let created = name.trim_start_matches(SCHEMA_PREFIX).split('_').next().and_then(|t| t.parse::<u64>().ok());
            if created.is_some_and(|t| t + STALE_AFTER < now) {
                // Another process may drop it at the same time: that is fine.
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")).await;
            }
        }
    })
    .await;
}

/// An item's postings columns as the builds before the change log wrote them (version 2 and
/// 3 schemas): its distinct tokens in first-seen order, their counts, and its token count.
pub(crate) fn postings_columns(text: &str) -> (Vec<String>, Vec<i32>, i32) {
    let mut terms: Vec<String> = Vec::new();
    let mut tfs: Vec<i32> = Vec::new();
    for token in agent_memory::store::keyword::tokenize(text) {
        match terms.iter().position(|t| *t == token) {
            Some(p) => tfs[p] += 1,
            None => {
                terms.push(token);
                tfs.push(1);
            }
        }
    }
    let length = tfs.iter().sum();
    (terms, tfs, length)
}
