//! `agent-memory store … --db postgres://…` end to end on a real PostgreSQL with pgvector.
//!
//! The server comes from `AGENT_MEMORY_TEST_PG_URL` or `DATABASE_URL` (the test command
//! sets both through `scripts/setup-test-deps`). Without either, the test fails with
//! `CI=true`, and otherwise starts the throwaway server with `scripts/deps/postgres.sh`.
//! Each test uses its own schema (`?schema=amtest_…`), dropped when the test ends
//! (`common::PostgresSchema`).

use assert_cmd::Command;
use common::PostgresSchema;
use serde_json::{Value, json};

mod common;

/// A fresh schema, dropped with the value.
struct Db {
    schema: PostgresSchema,
}

impl Db {
    fn new() -> Db {
        Db { schema: PostgresSchema::new() }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut command = Command::cargo_bin("agent-memory").expect("binary");
        command.env_remove("AGENT_MEMORY_DATABASE_URL").arg("store").args(args).arg("--db").arg(&self.schema.url);
        command.output().expect("run")
    }

    fn ok(&self, args: &[&str]) -> Value {
        let output = self.run(args);
        assert!(output.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("stdout is JSON")
    }
}

#[test]
fn keyword_statistics_tenant_scores_each_tenant_over_its_own_items() {
    let db = Db::new();
    common::tenant_keyword_statistics(|args| db.ok(args));
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

#[test]
fn put_index_specs_are_kept_on_postgres() {
    let db = Db::new();
    let none = "--embedding-provider=none";
    db.ok(&["put", "docs", "hidden", r#"{"title":"rust notes"}"#, "--no-index", none]);
    db.ok(&["put", "docs", "titled", r#"{"title":"python","body":"rust"}"#, "--index", "title", none]);
    let keys = |query: &str| -> Vec<String> {
        let hits = db.ok(&["search", "docs", query, "--mode", "keyword", none]);
        hits.as_array().expect("array").iter().map(|h| h["key"].as_str().expect("key").to_owned()).collect()
    };
    assert_eq!(keys("rust"), Vec::<String>::new(), "neither the unindexed item nor an unindexed field");
    assert_eq!(keys("python"), ["titled"]);
    assert_eq!(db.ok(&["get", "docs", "hidden"])["value"], json!({"title": "rust notes"}));
}
