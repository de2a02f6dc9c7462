//! `agent-memory store …` end to end: a real SQLite file, JSON out, errors on stderr with
//! exit code 2.

use assert_cmd::Command;
use serde_json::{Value, json};

mod common;

struct Db {
    dir: tempfile::TempDir,
}

impl Db {
    fn new() -> Db {
        Db { dir: tempfile::tempdir().expect("temp dir") }
    }

    fn url(&self) -> String {
        format!("sqlite:{}", self.dir.path().join("cli.db").display())
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::cargo_bin("agent-memory").expect("binary");
        command.env_remove("AGENT_MEMORY_DATABASE_URL").arg("store").args(args).arg("--db").arg(self.url());
        command
    }

    /// Runs `args`, expects success, and parses stdout as JSON.
    fn ok(&self, args: &[&str]) -> Value {
        let output = self.command(args).output().expect("run");
        assert!(output.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("stdout is JSON")
    }

    /// Runs `args`, expects exit code 2 and returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let output = self.command(args).output().expect("run");
        assert_eq!(output.status.code(), Some(2), "{args:?} should fail with 2");
        assert!(output.stdout.is_empty(), "nothing on stdout on error");
        String::from_utf8(output.stderr).expect("utf-8 stderr")
    }
}

#[test]
fn put_get_list_delete_round_trip() {
    let db = Db::new();
    let item = db.ok(&["put", r#"["user_123","prefs"]"#, "language", r#"{"preference":"Python"}"#, "--ttl", "3600"]);
    assert_eq!(item["namespace"], json!(["user_123", "prefs"]));
    assert_eq!(item["key"], "language");
    assert_eq!(item["value"], json!({"preference": "Python"}));
    assert_eq!(item["ttl_seconds"], 3600.0);
    let created = item["created_at"].as_f64().expect("created_at");
    assert_eq!(item["expires_at"].as_f64(), Some(created + 3600.0));

    let got = db.ok(&["get", r#"["user_123","prefs"]"#, "language"]);
    assert_eq!(got, item);
    assert_eq!(db.ok(&["get", r#"["user_123","prefs"]"#, "missing"]), Value::Null);

    db.ok(&["put", r#"["user_123","prefs"]"#, "theme", r#"{"value":"dark"}"#]);
    let listed = db.ok(&["list", r#"["user_123","prefs"]"#]);
    let keys: Vec<&str> = listed.as_array().expect("array").iter().map(|i| i["key"].as_str().expect("key")).collect();
    assert_eq!(keys.len(), 2);
    assert!(keys.contains(&"theme") && keys.contains(&"language"));
    assert_eq!(db.ok(&["list", r#"["user_123","prefs"]"#, "--limit", "1"]).as_array().expect("array").len(), 1);

    assert_eq!(db.ok(&["delete", r#"["user_123","prefs"]"#, "theme"]), json!({"deleted": true}));
    assert_eq!(db.ok(&["delete", r#"["user_123","prefs"]"#, "theme"]), json!({"deleted": false}));
    assert_eq!(db.ok(&["count", "user_123"]), json!(1));
}

#[test]
fn bare_word_namespaces_search_filters_and_namespaces() {
    let db = Db::new();
    db.ok(&["put", "notes", "a", r#"{"text":"rust systems programming","stars":10}"#]);
    db.ok(&["put", "notes", "b", r#"{"text":"python data science","stars":9}"#]);
    db.ok(&["put", r#"["notes","archive"]"#, "c", r#"{"text":"old rust notes","stars":2}"#]);

    let hits = db.ok(&["search", "notes", "rust", "--mode", "keyword"]);
    let keys: Vec<&str> = hits.as_array().expect("array").iter().map(|h| h["key"].as_str().expect("key")).collect();
    assert_eq!(keys.len(), 2);
    assert!(keys.contains(&"a") && keys.contains(&"c"));
    assert!(hits[0]["score"].as_f64().expect("score") > 0.0);

    let filtered = db.ok(&["search", "notes", "--filter", r#"{"stars":{"$gt":9}}"#]);
    assert_eq!(filtered.as_array().expect("array").len(), 1);
    assert_eq!(filtered[0]["key"], "a");
    assert_eq!(filtered[0]["score"], Value::Null);

    let limited = db.ok(&["search", "[]", "--limit", "1", "--filter", r#"{"stars":{"$lt":10}}"#]);
    assert_eq!(limited.as_array().expect("array").len(), 1);

    assert_eq!(db.ok(&["namespaces"]), json!([["notes"], ["notes", "archive"]]));
    assert_eq!(db.ok(&["namespaces", "--prefix", "notes", "--max-depth", "1"]), json!([["notes"]]));
    assert_eq!(db.ok(&["count", "notes"]), json!(3));
    assert_eq!(db.ok(&["count", "[]"]), json!(3));
}

#[test]
fn semantic_search_with_an_embedding_provider() {
    let db = Db::new();
    let with_hash = ["--embedding-provider", "hash", "--embedding-model", "64"];
    for (key, text) in [("cat", "the cat sat on the mat"), ("money", "quarterly revenue report")] {
        let value = json!({ "text": text }).to_string();
        let mut args = vec!["put", "docs", key, value.as_str()];
        args.extend(with_hash);
        db.ok(&args);
    }
    let mut args = vec!["search", "docs", "cat mat", "--mode", "semantic", "--limit", "1"];
    args.extend(with_hash);
    assert_eq!(db.ok(&args)[0]["key"], "cat");
    let error = db.fails(&["search", "docs", "cat", "--mode", "semantic", "--embedding-provider", "none"]);
    assert!(error.contains("requires an embedder"), "{error}");
    // The default (built-in) model never compares its query with the hash model's vectors.
    assert_eq!(db.ok(&["search", "docs", "cat", "--mode", "semantic"]), json!([]));
    // Items re-put under the default model are found by it.
    db.ok(&["put", "docs", "cat", r#"{"text":"the cat sat on the mat"}"#]);
    db.ok(&["put", "docs", "money", r#"{"text":"quarterly revenue report"}"#]);
    let hits = db.ok(&["search", "docs", "a kitten on a rug", "--mode", "semantic", "--limit", "2"]);
    assert_eq!(hits.as_array().expect("array").len(), 2);
    assert_eq!(hits[0]["key"], "cat");
    let spec = db.ok(&["search", "docs", "cat mat", "--mode", "semantic", "--embedding-provider", "hash:64"]);
    assert_eq!(spec, json!([]), "the hash vectors were replaced by built-in ones");
}

/// The keys of a JSON array of items or search results, in order.
fn keys(items: &Value) -> Vec<&str> {
    items.as_array().expect("array").iter().map(|item| item["key"].as_str().expect("key")).collect()
}

#[test]
fn keyword_statistics_tenant_scores_each_tenant_over_its_own_items() {
    let db = Db::new();
    common::tenant_keyword_statistics(|args| db.ok(args));
}

#[test]
fn put_index_and_no_index_decide_what_a_query_matches() {
    let db = Db::new();
    let put = |key: &str, value: &str, index: &[&str]| {
        let mut args = vec!["put", "docs", key, value, "--embedding-provider", "none"];
        args.extend(index);
        db.ok(&args)
    };
    let search = |query: &str| db.ok(&["search", "docs", query, "--mode", "keyword", "--embedding-provider", "none"]);
    let hidden = put("hidden", r#"{"title":"rust notes","body":"borrow checker"}"#, &["--no-index"]);
    put("titled", r#"{"title":"python recipes","body":"rust borrow checker"}"#, &["--index", "title"]);
    put(
        "both",
        r#"{"title":"go notes","body":"rust tips","tags":["borrow"]}"#,
        &["--index", "title", "--index", "tags"],
    );
    put("whole", r#"{"title":"c notes","body":"rust tips"}"#, &[]);

    assert_eq!(keys(&search("rust")), ["whole"], "only the store's default indexes the body");
    assert_eq!(keys(&search("python")), ["titled"]);
    assert_eq!(keys(&search("borrow")), ["both"], "titled's body and hidden are not indexed");
    assert_eq!(keys(&search("notes")).len(), 2, "'both' and 'whole' by their titles, not 'hidden'");
    assert!(!keys(&search("notes")).contains(&"hidden"));

    // An item that is not indexed is still stored, listed and filtered.
    assert_eq!(db.ok(&["get", "docs", "hidden"]), hidden);
    assert_eq!(hidden["value"], json!({"title": "rust notes", "body": "borrow checker"}));
    let filtered = db.ok(&["search", "docs", "--filter", r#"{"title":"rust notes"}"#, "--embedding-provider", "none"]);
    assert_eq!(keys(&filtered), ["hidden"]);
    assert_eq!(db.ok(&["count", "docs"]), json!(4));

    // A re-put without a spec goes back to the store's fields.
    put("hidden", r#"{"title":"rust notes","body":"borrow checker"}"#, &[]);
    assert_eq!(keys(&search("checker")), ["hidden"]);
}

#[test]
fn put_index_flags_are_checked() {
    let db = Db::new();
    let output = db.command(&["put", "docs", "k", "{}", "--index", "title", "--no-index"]).output().expect("run");
    assert_eq!(output.status.code(), Some(2));
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("'--index <PATH>' cannot be used with '--no-index'"), "{error}");
    let error = db.fails(&["put", "docs", "k", "{}", "--index", ""]);
    assert!(error.contains("invalid index"), "{error}");
    assert_eq!(db.ok(&["get", "docs", "k"]), Value::Null, "nothing written");
}

#[test]
fn purge_removes_expired_items() {
    let db = Db::new();
    db.ok(&["put", "tmp", "short", "{}", "--ttl", "0.01"]);
    db.ok(&["put", "tmp", "kept", "{}"]);
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(db.ok(&["get", "tmp", "short"]), Value::Null);
    assert_eq!(db.ok(&["purge"]), json!({"purged": 1}));
    assert_eq!(db.ok(&["purge"]), json!({"purged": 0}));
    assert_eq!(db.ok(&["count", "tmp"]), json!(1));
}

#[test]
fn bad_input_is_an_error_on_stderr_with_exit_code_2() {
    let db = Db::new();
    assert!(db.fails(&["put", "ns", "k", "not json"]).contains("invalid value"));
    assert!(db.fails(&["put", "ns", "k", "[1,2]"]).contains("values must be JSON objects"));
    assert!(db.fails(&["put", "ns", "k", "{}", "--ttl", "0"]).contains("invalid ttl"));
    assert!(db.fails(&["put", "ns", "k", "{}", "--ttl", "-5"]).contains("invalid ttl"));
    assert!(db.fails(&["put", "[1]", "k", "{}"]).contains("invalid namespace"));
    assert!(db.fails(&["put", r#"["a",""]"#, "k", "{}"]).contains("invalid namespace"));
    assert!(db.fails(&["get", "ns", ""]).contains("invalid key"));
    assert!(db.fails(&["search", "ns", "--filter", r#"{"a":{"$regex":"x"}}"#]).contains("unknown filter operator"));
    assert!(db.fails(&["search", "ns", "--filter", "nope"]).contains("invalid filter"));
    assert!(db.fails(&["namespaces", "--max-depth", "0"]).contains("max_depth"));
    let mut command = Command::cargo_bin("agent-memory").expect("binary");
    let output = command.args(["store", "count", "ns", "--db", "mysql://nowhere"]).output().expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unsupported store url"));
    let mut command = Command::cargo_bin("agent-memory").expect("binary");
    command.args(["store", "frobnicate"]).assert().code(2);
}

#[test]
fn default_database_is_agent_memory_db_in_the_working_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    Command::cargo_bin("agent-memory")
        .expect("binary")
        .current_dir(dir.path())
        .env_remove("AGENT_MEMORY_DATABASE_URL")
        .args(["store", "put", "ns", "k", r#"{"v":1}"#])
        .assert()
        .success();
    assert!(dir.path().join("agent-memory.db").is_file());
}
