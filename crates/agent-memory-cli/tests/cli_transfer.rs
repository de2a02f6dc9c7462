//! `agent-memory export` / `import` as a user runs them: a SQLite database dumped to a file
//! (and to stdout), imported into another file (and from stdin) with the same embedder
//! (vectors reused) and another one (re-embedded); a malformed dump imports nothing and
//! exits with code 2.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use agent_memory::embed::HashEmbedder;
use agent_memory::message::Message;
use agent_memory::session::{SessionStore, SqliteSessions};
use agent_memory::store::MemoryStore;
use serde_json::{Value, json};

fn agent_memory(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin!("agent-memory"));
    for (name, _) in std::env::vars() {
        if name.starts_with("AGENT_MEMORY_") {
            command.env_remove(name);
        }
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn agent-memory");
    let mut pipe = child.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut pipe, stdin.unwrap_or_default()).expect("write stdin");
    drop(pipe);
    child.wait_with_output().expect("wait")
}

fn sqlite(dir: &Path, name: &str) -> String {
    format!("sqlite:{}", dir.join(name).display())
}

/// A database with two memories (one with a TTL) and one session.
async fn populate(path: &Path) {
    let store = MemoryStore::sqlite(path).await.expect("open").with_embedder(Arc::new(HashEmbedder::new(64)));
    store.put(("u1", "prefs"), "lang", json!({"text": "prefers Rust"}), None).await.expect("put");
    store.put(("u1", "prefs"), "tea", json!({"text": "green tea"}), Some(86_400.0)).await.expect("put");
    let sessions = SqliteSessions::open(path).await.expect("sessions");
    sessions.append("thread_1", &[Message::user("Hi, I'm Bob"), Message::assistant("Hi Bob!")]).await.expect("append");
}

fn stdout_json(output: &Output) -> Value {
    assert!(output.status.success(), "failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

/// The dump's lines without session times (set from the clock at each write).
fn normalized(dump: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(dump)
        .lines()
        .map(|line| {
            let mut value: Value = serde_json::from_str(line).expect("JSON line");
            if let Some(object) = value.as_object_mut()
                && object.get("type").is_some_and(|t| t == "session")
            {
                object.remove("created_at");
                object.remove("updated_at");
            }
            if let Some(object) = value.as_object_mut() {
                object.remove("exported_at");
            }
            value
        })
        .collect()
}

#[tokio::test]
async fn export_then_import_round_trips_through_files_and_pipes() {
    let dir = tempfile::tempdir().expect("temp dir");
    populate(&dir.path().join("a.db")).await;
    let dump_path = dir.path().join("dump.jsonl");
    let source = sqlite(dir.path(), "a.db");
    let output = agent_memory(
        &["export", "--db", &source, "--embedder", "hash:64", "--out", dump_path.to_str().expect("utf-8")],
        None,
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stderr).trim(), r#"{"items":2,"conversation_chunks":0,"sessions":1}"#);
    let dump = std::fs::read(&dump_path).expect("dump file");
    let stdout_dump = agent_memory(&["export", "--db", &source, "--embedder", "hash:64"], None).stdout;
    assert_eq!(normalized(&stdout_dump), normalized(&dump), "--out - (the default) writes the same dump");

    let target = sqlite(dir.path(), "b.db");
    let summary = stdout_json(&agent_memory(
        &["import", "--db", &target, "--embedder", "hash:64", dump_path.to_str().expect("utf-8")],
        None,
    ));
    assert_eq!(
        summary,
        json!({"items": 2, "conversation_chunks": 0, "sessions": 1, "vectors_reused": 2, "vectors_embedded": 0,
               "source_embedder": {"model": "hash-v1/64", "dimensions": 64}})
    );
    let again = agent_memory(&["export", "--db", &target, "--embedder", "hash:64"], None).stdout;
    assert_eq!(normalized(&again), normalized(&dump), "nothing lost");

    // From stdin, into a store with another embedder: everything is embedded again.
    let other = sqlite(dir.path(), "c.db");
    let output = agent_memory(&["import", "--db", &other, "--embedder", "hash:32", "-"], Some(&dump));
    let summary = stdout_json(&output);
    assert_eq!((summary["vectors_reused"].clone(), summary["vectors_embedded"].clone()), (json!(0), json!(2)));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "", "no progress bar on a pipe");
    let reembedded = agent_memory(&["export", "--db", &other, "--embedder", "hash:32"], None).stdout;
    let lines = normalized(&reembedded);
    assert_eq!(lines[0]["embedder"], json!({"model": "hash-v1/32", "dimensions": 32}));
    assert_eq!(lines[1]["vector"]["model"], "hash-v1/32");
    assert_eq!(lines[1]["value"], json!({"text": "prefers Rust"}));
    assert_eq!(lines[2]["expires_at"], normalized(&dump)[2]["expires_at"]);
}

#[tokio::test]
async fn a_malformed_dump_exits_2_naming_the_line_and_imports_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    populate(&dir.path().join("a.db")).await;
    let dump = agent_memory(&["export", "--db", &sqlite(dir.path(), "a.db"), "--embedder", "hash:64"], None).stdout;
    let mut lines: Vec<String> = String::from_utf8(dump).expect("utf-8").lines().map(str::to_owned).collect();
    lines[2] = lines[2].replace("\"key\"", "\"kee\"");
    let target = sqlite(dir.path(), "b.db");
    let output =
        agent_memory(&["import", "--db", &target, "--embedder", "hash:64", "-"], Some(lines.join("\n").as_bytes()));
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&output.stderr).trim(), "agent-memory import: line 3: missing field `key`");
    let after = agent_memory(&["export", "--db", &target, "--embedder", "hash:64"], None);
    assert_eq!(normalized(&after.stdout).len(), 1, "only the header: nothing was imported");

    let output = agent_memory(&["import", "--db", &target, "missing.jsonl"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot open missing.jsonl"));
}

/// `--namespace-prefix` writes the items under the prefix only, and no sessions; a prefix
/// that is not one exits with code 2.
#[tokio::test]
async fn a_namespace_prefix_exports_its_items_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a.db");
    populate(&path).await;
    let store = MemoryStore::sqlite(&path).await.expect("open").with_embedder(Arc::new(HashEmbedder::new(64)));
    store.put(("u2",), "other", json!({"text": "someone else"}), None).await.expect("put");
    let source = sqlite(dir.path(), "a.db");
    let output = agent_memory(&["export", "--db", &source, "--embedder", "hash:64", "--namespace-prefix", "u1"], None);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stderr).trim(), r#"{"items":2,"conversation_chunks":0,"sessions":0}"#);
    let lines = normalized(&output.stdout);
    let addresses: Vec<(&Value, &Value)> = lines[1..].iter().map(|line| (&line["namespace"], &line["key"])).collect();
    assert_eq!(addresses, [(&json!(["u1", "prefs"]), &json!("lang")), (&json!(["u1", "prefs"]), &json!("tea"))]);

    let output = agent_memory(&["export", "--db", &source, "--namespace-prefix", r#"["u1", ""]"#], None);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "agent-memory export: --namespace-prefix: invalid namespace: namespace labels must not be empty"
    );
}

/// On a terminal (a pseudo-terminal from util-linux's `script`), export and a re-embedding
/// import draw their progress bars on stderr.
#[tokio::test]
async fn progress_bars_are_drawn_on_a_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    populate(&dir.path().join("a.db")).await;
    let binary = assert_cmd::cargo::cargo_bin!("agent-memory").display().to_string();
    let dump = dir.path().join("dump.jsonl").display().to_string();
    let on_a_terminal = |command: String| -> String {
        let output = Command::new("script")
            .args(["--quiet", "--return", "--command", &command, "/dev/null"])
            .env("TERM", "xterm")
            .env_remove("AGENT_MEMORY_DATABASE_URL")
            .env_remove("AGENT_MEMORY_EMBEDDER")
            .stdin(Stdio::null())
            .output()
            .expect("util-linux script runs");
        assert!(output.status.success(), "{command}: {}", String::from_utf8_lossy(&output.stdout));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let export =
        on_a_terminal(format!("{binary} export --db {} --embedder hash:64 --out {dump}", sqlite(dir.path(), "a.db")));
    assert!(export.contains("exporting "), "{export:?}");
    assert!(export.contains("/2 items"), "{export:?}");
    let import =
        on_a_terminal(format!("{binary} import --db {} --embedder hash:32 {dump}", sqlite(dir.path(), "b.db")));
    assert!(import.contains("re-embedding "), "{import:?}");
    assert!(import.contains("2/2 items"), "{import:?}");
}

/// Conversations indexed by `agent-memory conversations import` answer the same searches
/// after `export` and `import`: a stemmed word ("painted" finds "painting") and a word of a
/// neighbouring chunk's lines, with the same chunks in the same order and the same scores.
#[test]
fn conversation_search_is_the_same_after_export_and_import() {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = sqlite(dir.path(), "a.db");
    let conversation = json!({"user_id": "u1", "session_id": "s1", "metadata": {"topic": "hobbies"}, "messages": [
        {"role": "user", "content": "I spent the weekend painting a lighthouse"},
        {"role": "assistant", "content": "Watercolours or oils?"},
        {"role": "user", "content": "Oils, on a big canvas"},
        {"role": "assistant", "content": "Sounds lovely"},
        {"role": "user", "content": "Next I want to try pottery"},
        {"role": "assistant", "content": "Clay is fun"},
    ]});
    let line = format!("{conversation}\n");
    let import = ["conversations", "--db", &source, "--embedder", "hash:64", "import", "--quiet"];
    let output = agent_memory(
        &[&import[..], &["--chunk-size", "2", "--chunk-overlap", "0", "-"]].concat(),
        Some(line.as_bytes()),
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let dump = agent_memory(&["export", "--db", &source, "--embedder", "hash:64"], None);
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let target = sqlite(dir.path(), "b.db");
    let summary =
        stdout_json(&agent_memory(&["import", "--db", &target, "--embedder", "hash:64", "-"], Some(&dump.stdout)));
    assert_eq!(summary["conversation_chunks"], 3);

    let search = |db: &str, mode: &str, query: &str| -> Value {
        let args = ["conversations", "--db", db, "--embedder", "hash:64", "search", "--user", "u1", "--json"];
        stdout_json(&agent_memory(&[&args[..], &["--mode", mode, "--limit", "10", query]].concat(), None))
    };
    for (query, found) in [("painted", 2), ("pottery", 2), ("hobbies", 3)] {
        let before = search(&source, "keyword", query);
        assert_eq!(before["results"].as_array().expect("results").len(), found, "{query}: {before}");
        assert_eq!(search(&target, "keyword", query), before, "{query}");
        assert_eq!(search(&target, "hybrid", query), search(&source, "hybrid", query), "{query}");
    }
}
