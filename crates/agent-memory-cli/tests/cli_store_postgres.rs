//! `agent-memory store … --db postgres://…` end to end on a real PostgreSQL with pgvector.
//!
//! The server comes from `AGENT_MEMORY_TEST_PG_URL` or `DATABASE_URL` (the test command
//! sets both through `scripts/setup-test-deps`). Without either, the test fails with
//! `CI=true`, and otherwise starts the throwaway server with `scripts/deps/postgres.sh`.
//! Each run uses its own schema (`?schema=`), which the library's PostgreSQL tests drop
//! once it is an hour old.

use std::time::{SystemTime, UNIX_EPOCH};

use assert_cmd::Command;
use serde_json::{Value, json};

fn database_url() -> String {
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
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/deps/postgres.sh");
    let output = std::process::Command::new("bash").arg(&script).arg("start").output().expect("run postgres.sh");
    assert!(output.status.success(), "postgres.sh start failed:\n{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("export DATABASE_URL=").map(str::to_owned))
        .expect("postgres.sh prints DATABASE_URL")
}

struct Db {
    url: String,
}

impl Db {
    fn new() -> Db {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs();
        let base = database_url();
        let separator = if base.contains('?') { '&' } else { '?' };
        Db { url: format!("{base}{separator}schema=amtest_{now}_{}_cli", std::process::id()) }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut command = Command::cargo_bin("agent-memory").expect("binary");
        command.env_remove("AGENT_MEMORY_DATABASE_URL").arg("store").args(args).arg("--db").arg(&self.url);
        command.output().expect("run")
    }

    fn ok(&self, args: &[&str]) -> Value {
        let output = self.run(args);
        assert!(output.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("stdout is JSON")
    }
}

#[test]
fn store_commands_work_on_postgres() {
    let db = Db::new();
    let item = db.ok(&["put", r#"["user_123","prefs"]"#, "language", r#"{"preference":"Python","level":10}"#]);
    assert_eq!(item["value"], json!({"preference": "Python", "level": 10}));
    db.ok(&["put", r#"["user_123","prefs"]"#, "editor", r#"{"preference":"Vim","level":9}"#, "--ttl", "3600"]);
    db.ok(&["put", "other", "k", r#"{"preference":"none"}"#]);

    let got = db.ok(&["get", r#"["user_123","prefs"]"#, "language"]);
    assert_eq!(got, item);
    assert_eq!(db.ok(&["count", "user_123"]), json!(2));
    assert_eq!(db.ok(&["namespaces", "--prefix", "user_123"]), json!([["user_123", "prefs"]]));

    let hits = db.ok(&["search", "user_123", "python", "--mode", "keyword"]);
    let keys: Vec<&str> = hits.as_array().expect("array").iter().map(|h| h["key"].as_str().expect("key")).collect();
    assert_eq!(keys, ["language"]);
    let filtered = db.ok(&["search", "user_123", "--filter", r#"{"level":{"$gt":9}}"#]);
    assert_eq!(filtered.as_array().expect("array").len(), 1, "10 > 9 as numbers: {filtered}");
    assert_eq!(filtered[0]["key"], "language");

    assert_eq!(db.ok(&["delete", r#"["user_123","prefs"]"#, "language"]), json!({"deleted": true}));
    assert_eq!(db.ok(&["count", "user_123"]), json!(1));

    let bad = db.run(&["search", "user_123", "--filter", r#"{"level":{"$regex":"x"}}"#]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown filter operator"));
}
