//! What the PostgreSQL tests share: the server's URL, a fresh schema per backend (dropped
//! when the test ends, see `schema_guard`), and a plain connection for checks the store's
//! API does not expose.
//!
//! The URL comes from `AGENT_MEMORY_TEST_PG_URL` or `DATABASE_URL` (the test command sets
//! both through `scripts/setup-test-deps`). When neither is set:
//! * with `CI=true` every test fails, naming the missing variable (CI must never skip the
//!   PostgreSQL suite silently);
//! * otherwise the tests start the throwaway server themselves with
//!   `scripts/deps/postgres.sh start` (the same script, so the same server), and fail with
//!   its log when it cannot be started.

#![allow(dead_code, clippy::unwrap_used)]

pub(crate) mod schema_guard;

use std::cell::RefCell;
use std::process::Command;
use std::sync::OnceLock;

use agent_memory::store::{PostgresBackend, PostgresConfig};
use tokio_postgres::{Client, NoTls};

pub(crate) use schema_guard::SchemaGuard;

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

/// A schema name no other test uses, dropped (`CASCADE`) when the calling test's thread
/// ends: after the test returns or panics, once its runtime, backends and connections are
/// gone (the test harness runs each test on its own thread and joins it). For a schema that
/// must go sooner, or one on another server, hold a [`SchemaGuard`] instead.
pub(crate) fn fresh_schema() -> String {
    let guard = SchemaGuard::new(&database_url());
    let name = guard.name().to_owned();
    drop_when_the_test_ends(guard);
    name
}

/// Keeps `guard` until the current thread (the test) ends.
pub(crate) fn drop_when_the_test_ends(guard: SchemaGuard) {
    thread_local! {
        static GUARDS: RefCell<Vec<SchemaGuard>> = const { RefCell::new(Vec::new()) };
    }
    GUARDS.with_borrow_mut(|guards| guards.push(guard));
}

/// A plain connection to the test server.
pub(crate) async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// A backend on a fresh schema of the test server, dropped when the test ends (see
/// [`fresh_schema`]).
pub(crate) async fn backend() -> PostgresBackend {
    backend_with(|config| config).await
}

/// Like [`backend`], with the configuration adjusted by `adjust`.
pub(crate) async fn backend_with(adjust: impl FnOnce(PostgresConfig) -> PostgresConfig) -> PostgresBackend {
    let config = adjust(PostgresConfig::new(database_url()).schema(fresh_schema()));
    PostgresBackend::connect(config).await.unwrap()
}

/// Whether `information_schema.schemata` lists `schema`.
pub(crate) async fn schema_exists(client: &Client, schema: &str) -> bool {
    let row = client
        .query_one("SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1", &[&schema])
        .await
        .unwrap();
    row.get::<_, i64>(0) == 1
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
