//! One PostgreSQL schema per test, dropped when the test is done with it.
//!
//! Shared by the library's PostgreSQL test binaries (through `store_postgres_support`) and
//! the CLI's (through `tests/common`, by `#[path]`), so there is one implementation.
//!
//! * [`SchemaGuard::new`] names a fresh schema, `amtest_<unix seconds>_<pid>_<n>`; dropping
//!   the guard runs `DROP SCHEMA … CASCADE`, on a panic too. Hold the guard for as long as
//!   anything (a backend, a server process) may use the schema: declare it before them, so
//!   that it is dropped after them.
//! * The first guard made for a server also sweeps it: `amtest_…` schemas whose name says
//!   they are more than an hour old are leftovers of killed runs and are dropped. Younger
//!   ones may belong to a test binary running right now, and anything else is not ours:
//!   neither is touched.
//!
//! `Drop` cannot be async and may run inside a tokio runtime (whose thread it blocks) or
//! outside one, so the statements run on a short-lived thread with its own runtime and
//! connection, under a lock timeout (a connection the test left inside a transaction cannot
//! hang it). Failures are printed, never raised: a guard never panics.

#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::{Client, NoTls};

/// Every schema the tests make starts with this.
pub(crate) const SCHEMA_PREFIX: &str = "amtest_";
/// A schema whose name says it is older than this is a leftover (seconds).
pub(crate) const STALE_AFTER: u64 = 3600;
/// How long a drop waits for a lock before giving up (and printing why).
const LOCK_TIMEOUT: &str = "10s";

/// A fresh `amtest_…` schema name on the server at `url`, dropped (`CASCADE`) with the guard.
#[derive(Debug)]
pub(crate) struct SchemaGuard {
    url: String,
    name: String,
}

impl SchemaGuard {
    /// A schema name no other test uses, on the server at `url` (a plain PostgreSQL URL,
    /// without the store's `?schema=`). The schema itself is created by whoever opens it.
    /// Sweeps the server's stale `amtest_…` schemas first, once per process and server.
    pub(crate) fn new(url: &str) -> SchemaGuard {
        sweep_stale_schemas_once(url);
        SchemaGuard { url: url.to_owned(), name: fresh_schema_name() }
    }

    /// The schema's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let statement = drop_statement(&self.name);
        if let Err(message) =
            on_own_thread(&self.url, move |client| async move { client.batch_execute(&statement).await.map(|_| ()) })
        {
            eprintln!("warning: could not drop test schema {}: {message}", self.name);
        }
    }
}

/// `amtest_<unix seconds>_<pid>_<n>`: the time lets a later run's sweep tell leftovers from
/// schemas in use, the process id and counter keep concurrent tests apart.
pub(crate) fn fresh_schema_name() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!("{SCHEMA_PREFIX}{}_{}_{}", unix_now(), std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// When a test schema was made, from its name: the first 10-digit part after the prefix
/// (names of older builds put a word first, as `amtest_serve_<time>_<pid>`). `None` for
/// names that are not ours or carry no time.
pub(crate) fn created_at(name: &str) -> Option<u64> {
    name.strip_prefix(SCHEMA_PREFIX)?
        .split('_')
        .find(|part| part.len() == 10 && part.bytes().all(|b| b.is_ascii_digit()))?
        .parse()
        .ok()
}

/// Whether `name` is a test schema more than [`STALE_AFTER`] seconds old at `now`.
pub(crate) fn is_stale(name: &str, now: u64) -> bool {
    created_at(name).is_some_and(|created| created + STALE_AFTER < now)
}

/// Drops the stale test schemas on the server at `url`; returns how many were dropped.
pub(crate) fn sweep_stale_schemas(url: &str) -> Result<usize, String> {
    on_own_thread(url, |client| async move {
        let rows = client.query(r"SELECT nspname FROM pg_namespace WHERE nspname LIKE 'amtest\_%'", &[]).await?;
        let now = unix_now();
        let mut dropped = 0;
        for name in rows.iter().map(|row| row.get::<_, String>(0)).filter(|name| is_stale(name, now)) {
            // Another process may be sweeping too: its drop wins, ours finds nothing.
            match client.batch_execute(&drop_statement(&name)).await {
                Ok(()) => dropped += 1,
                Err(e) => eprintln!("warning: could not drop stale test schema {name}: {e}"),
            }
        }
        Ok(dropped)
    })
}

fn sweep_stale_schemas_once(url: &str) {
    static SWEPT: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut swept = SWEPT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if swept.get_or_insert_with(HashSet::new).insert(url.to_owned())
        && let Err(message) = sweep_stale_schemas(url)
    {
        eprintln!("warning: could not sweep stale test schemas: {message}");
    }
}

fn drop_statement(name: &str) -> String {
    format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", name.replace('"', "\"\""))
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Runs `work` with a fresh connection to `url` on a new thread with its own runtime, and
/// waits for it: usable from `Drop`, inside a runtime or outside one.
fn on_own_thread<T, F, Fut>(url: &str, work: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce(Client) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, tokio_postgres::Error>>,
{
    let url = url.to_owned();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let connect = tokio_postgres::connect(&url, NoTls);
            let (client, connection) = tokio::time::timeout(Duration::from_secs(10), connect)
                .await
                .map_err(|_| "connecting took more than 10 s".to_owned())?
                .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            client
                .batch_execute(&format!("SET lock_timeout = '{LOCK_TIMEOUT}'; SET client_min_messages = warning"))
                .await
                .map_err(|e| e.to_string())?;
            work(client).await.map_err(|e| e.to_string())
        })
    });
    thread.join().unwrap_or_else(|_| Err("the thread panicked".to_owned()))
}
