//! `agent-memory conversations …` end to end on a SQLite file.

#![allow(clippy::unwrap_used)] // Test helpers fail loudly.

use assert_cmd::Command;
use serde_json::{Value, json};

const CONVERSATIONS: &str = r#"{"user_id":"alice","session_id":"s1","messages":[{"role":"user","content":"My Postgres backups fail with a permission error","id":"a1"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"read_logs","arguments":"{}"}}],"id":"a2"},{"role":"tool","content":"pg_dump: permission denied for table users","tool_call_id":"c1","id":"a3"},{"role":"assistant","content":"Grant SELECT on users to the backup role.","id":"a4"}],"metadata":{"topic":"backups","date":"2025-01-15"}}
{"user_id":"alice","session_id":"s2","messages":[{"role":"user","content":"Which pasta goes with pesto?","id":"b1"},{"role":"assistant","content":"Trofie or linguine.","id":"b2"}]}
{"user_id":"bob","session_id":"s1","messages":[{"role":"user","content":"Postgres backups are slow","id":"c1"}]}
"#;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("conversations.jsonl"), CONVERSATIONS).unwrap();
        Fixture { dir }
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("agent-memory").unwrap();
        cmd.current_dir(self.dir.path())
            .env_remove("AGENT_MEMORY_DATABASE_URL")
            .env_remove("AGENT_MEMORY_EMBEDDER")
            .args(["conversations", "--db", "sqlite:conversations.db", "--embedder", "none"]);
        cmd
    }

    fn run(&self, args: &[&str]) -> String {
        let output = self.cmd().args(args).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    fn import(&self) -> Value {
        serde_json::from_str(&self.run(&["import", "conversations.jsonl", "--quiet"])).unwrap()
    }
}

#[test]
fn import_then_search_as_json_returns_messages_with_ids() {
    let fixture = Fixture::new();
    assert_eq!(fixture.import(), json!({"conversations": 3, "chunks": 3}));
    let out: Value =
        serde_json::from_str(&fixture.run(&["search", "--user", "alice", "--json", "postgres permission"])).unwrap();
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "keyword search: only s1 has these words");
    assert_eq!(results[0]["session_id"], "s1");
    assert_eq!(results[0]["date"], "2025-01-15");
    let ids: Vec<&str> = results[0]["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a1", "a2", "a3", "a4"]);
    assert_eq!(results[0]["messages"][1]["tool_calls"][0]["function"]["name"], "read_logs");
    assert_eq!(results[0]["messages"][2]["tool_call_id"], "c1");
}

#[test]
fn text_search_prints_the_tool_answer() {
    let fixture = Fixture::new();
    fixture.import();
    let out = fixture.run(&["search", "--user", "alice", "pesto"]);
    let score_line = out.lines().nth(1).unwrap();
    assert!(score_line.starts_with("**Score:** 0."), "{out}");
    // s2 has no date metadata, so its context has no header.
    assert!(!out.contains("[Date:"), "{out}");
    assert!(out.starts_with("### Result 1\n**Score:** "));
    assert!(out.ends_with("\n\nHuman: Which pasta goes with pesto?\nAssistant: Trofie or linguine.\n"), "{out}");
    assert_eq!(fixture.run(&["search", "--user", "carol", "pesto"]), "No relevant past conversations found.\n");
}

#[test]
fn reimport_replaces_and_delete_counts() {
    let fixture = Fixture::new();
    fixture.import();
    fixture.import();
    assert_eq!(fixture.run(&["sessions", "--user", "alice"]), "s1\ns2\n");
    assert_eq!(fixture.run(&["delete", "--user", "alice", "--session", "s1"]), "{\"deleted\":1}\n");
    assert_eq!(fixture.run(&["sessions", "--user", "alice"]), "s2\n");
    assert_eq!(fixture.run(&["delete", "--user", "alice"]), "{\"deleted\":1}\n");
    assert_eq!(fixture.run(&["sessions", "--user", "bob"]), "s1\n");
}

#[test]
fn batch_search_writes_one_line_per_query() {
    let fixture = Fixture::new();
    fixture.import();
    let queries = "{\"id\":1,\"user_id\":\"alice\",\"query\":\"postgres backups\"}\n\n\
                   {\"id\":2,\"user_id\":\"bob\",\"query\":\"postgres backups\",\"limit\":1}\n\
                   {\"id\":3,\"user_id\":\"alice\",\"query\":\"postgres backups\",\"session_id\":\"s2\"}\n";
    let output = fixture.cmd().args(["search", "--batch", "-"]).write_stdin(queries).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!((lines[0]["id"].clone(), lines[0]["results"][0]["session_id"].clone()), (json!(1), json!("s1")));
    assert_eq!(lines[1]["results"][0]["messages"][0]["id"], "c1");
    assert_eq!(lines[2]["results"], json!([]));
}

#[test]
fn bad_input_exits_with_2_and_names_the_line() {
    let fixture = Fixture::new();
    std::fs::write(
        fixture.dir.path().join("bad.jsonl"),
        "{\"user_id\":\"u\",\"session_id\":\"s\",\"messages\":[]}\n{\"user_id\":\"u\"}\n",
    )
    .unwrap();
    let output = fixture.cmd().args(["import", "bad.jsonl", "--quiet"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "agent-memory conversations: line 2: a conversation needs a non-empty string \"session_id\"\n"
    );
    let output =
        fixture.cmd().args(["import", "bad.jsonl", "--chunk-size", "2", "--chunk-overlap", "2"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let output = fixture.cmd().args(["search", "--user", "u", "--from", "yesterday", "x"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}
