//! Helpers shared by the integration tests that run `agent-memory serve` as a process.
//!
//! Every long-running child a test spawns is held in a [`ChildGuard`], so that a test that
//! panics before it stops its server leaves no process behind; every PostgreSQL schema a
//! test makes is held in a [`PostgresSchema`], dropped with it.

#![allow(dead_code)] // each test binary uses its own part of these helpers

use std::io::{BufRead, BufReader};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

#[path = "../../../agent-memory/tests/store_postgres_support/schema_guard.rs"]
mod schema_guard;

/// How long a dropped guard waits for the child to exit after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// A spawned child process that is stopped and reaped when the guard is dropped (on a
/// panic too): SIGTERM, up to five seconds to exit, then SIGKILL. Derefs to the [`Child`]
/// (`id`, `stdout.take()`, …).
#[derive(Debug)]
pub(crate) struct ChildGuard {
    child: Child,
}

impl ChildGuard {
    /// Spawns `command`, panicking (the test failing) when it cannot start.
    pub(crate) fn spawn(command: &mut Command) -> ChildGuard {
        ChildGuard { child: command.spawn().unwrap_or_else(|e| panic!("spawn {command:?}: {e}")) }
    }

    /// Sends SIGTERM and waits for the exit status (a graceful shutdown).
    pub(crate) fn terminate(&mut self) -> ExitStatus {
        self.signal("-TERM");
        self.child.wait().expect("wait for the child")
    }

    fn signal(&self, signal: &str) {
        let _ = Command::new("kill").args([signal, &self.child.id().to_string()]).status();
    }
}

impl Deref for ChildGuard {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.child
    }
}

impl DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return; // already exited (and reaped), or unknowable
        }
        self.signal("-TERM");
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `agent-memory` with no `AGENT_MEMORY_*` setting inherited from the environment.
pub(crate) fn agent_memory_command() -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin!("agent-memory"));
    for (name, _) in std::env::vars() {
        if name.starts_with("AGENT_MEMORY_") {
            command.env_remove(name);
        }
    }
    command
}

/// `agent-memory serve` on a free loopback port in `workdir` (so its default SQLite file
/// lands there), with `api_keys` (`tenant:key,…`) and no other `AGENT_MEMORY_*` setting
/// inherited from the environment. Returns the guarded child and its base URL; the
/// server's log is `workdir/server.log`.
pub(crate) fn start_server(workdir: &Path, api_keys: &str) -> (ChildGuard, String) {
    start_server_with(workdir, api_keys, &[])
}

/// [`start_server`] with more `serve` arguments (`["--embedder", "none"]`).
pub(crate) fn start_server_with(workdir: &Path, api_keys: &str, args: &[&str]) -> (ChildGuard, String) {
    let mut command = agent_memory_command();
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .env("AGENT_MEMORY_API_KEYS", api_keys)
        .current_dir(workdir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(workdir.join("server.log")).expect("log file"));
    let mut child = ChildGuard::spawn(&mut command);
    let url = read_listening_line(&mut child).strip_prefix("listening on ").expect("listening line").to_owned();
    (child, url)
}

/// The first line the child writes on its stdout (taken): `serve`'s `listening on URL`.
pub(crate) fn read_listening_line(child: &mut ChildGuard) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read the listening line");
    line.trim().to_owned()
}

/// The PostgreSQL server the tests use: `AGENT_MEMORY_TEST_PG_URL` or `DATABASE_URL` (set by
/// `scripts/setup-test-deps`). Without either, the test fails with `CI=true` (CI never skips
/// the PostgreSQL tests silently) and otherwise starts the project's throwaway server with
/// `scripts/deps/postgres.sh start`.
pub(crate) fn postgres_url() -> String {
    for var in ["AGENT_MEMORY_TEST_PG_URL", "DATABASE_URL"] {
        if let Ok(url) = std::env::var(var)
            && !url.trim().is_empty()
        {
            return url;
        }
    }
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
        "CI=true but neither AGENT_MEMORY_TEST_PG_URL nor DATABASE_URL is set: run the tests through scripts/test"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/deps/postgres.sh");
    let output = Command::new("bash").arg(&script).arg("start").output().expect("run scripts/deps/postgres.sh");
    assert!(output.status.success(), "postgres.sh start failed:\n{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("export DATABASE_URL=").map(str::to_owned))
        .expect("postgres.sh prints DATABASE_URL")
}

/// A fresh `amtest_…` schema on the test server, dropped (`CASCADE`) with this value, on a
/// panic too. Declare it before the processes that use it, so that they stop first. The
/// first one in a process also drops the server's test schemas older than an hour.
#[derive(Debug)]
pub(crate) struct PostgresSchema {
    /// The store URL that opens this schema (`…?schema=amtest_…`).
    pub(crate) url: String,
    guard: schema_guard::SchemaGuard,
}

impl PostgresSchema {
    /// A fresh schema on [`postgres_url`]'s server.
    pub(crate) fn new() -> PostgresSchema {
        let base = postgres_url();
        let guard = schema_guard::SchemaGuard::new(&base);
        let separator = if base.contains('?') { '&' } else { '?' };
        PostgresSchema { url: format!("{base}{separator}schema={}", guard.name()), guard }
    }

    /// The schema's name.
    pub(crate) fn name(&self) -> &str {
        self.guard.name()
    }
}

/// What a test needs from `scripts/deps/<script>`: the value of the `export VARIABLE=…`
/// line the script prints. The environment's `VARIABLE` (set by `scripts/test`) is used
/// when present; otherwise the script runs here (it does nothing when its component is
/// already set up). A script that fails fails the test: the component is required.
pub(crate) fn test_dependency(script: &str, variable: &str) -> PathBuf {
    if let Ok(value) = std::env::var(variable) {
        return PathBuf::from(value);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/deps").join(script);
    let output = Command::new("bash")
        .arg(&path)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", path.display()));
    assert!(output.status.success(), "scripts/deps/{script} failed: the tests need what it sets up");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let prefix = format!("export {variable}=");
    let value = stdout
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("scripts/deps/{script} prints no {variable}"));
    PathBuf::from(value)
}

/// `agent-memory store … --keyword-statistics`, through `store` (which runs a store command
/// with `--db` and parses its JSON): with `tenant`, the score of one tenant's item does not
/// move when another tenant stores the query's words; with `store` (the default), it does.
pub(crate) fn tenant_keyword_statistics(store: impl Fn(&[&str]) -> serde_json::Value) {
    for (key, text) in [("m", "merger plans for the spring"), ("l", "lunch order"), ("t", "team offsite")] {
        store(&["put", r#"["acme","notes"]"#, key, &serde_json::json!({ "text": text }).to_string()]);
    }
    let score = |statistics: Option<&str>| {
        let mut args = vec!["search", r#"["acme"]"#, "merger plans", "--mode", "keyword"];
        args.extend(statistics.map(|s| ["--keyword-statistics", s]).into_iter().flatten());
        let hits = store(&args);
        assert_eq!(hits.as_array().map(Vec::len), Some(1), "{statistics:?}: {hits}");
        assert_eq!(hits[0]["key"], "m");
        hits[0]["score"].as_f64().expect("score")
    };
    let (tenant, default) = (score(Some("tenant")), score(None));
    assert_eq!(score(Some("store")), default, "store is the default");
    for i in 0..20 {
        store(&["put", r#"["globex","notes"]"#, &format!("g{i}"), r#"{"text":"plans and more plans"}"#]);
    }
    assert_eq!(score(Some("tenant")), tenant, "another tenant's items move nothing");
    assert_ne!(score(None), default, "store-wide statistics count them");
}
