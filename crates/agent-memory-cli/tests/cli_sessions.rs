//! `agent-memory sessions list|show|delete` on a session database written through the
//! library (the same file `chat` and `store` use).
#![allow(clippy::unwrap_used)] // a test may panic: that is the test failing

use agent_memory::message::{Message, ToolCall};
use agent_memory::session::{SessionStore, SqliteSessions};
use assert_cmd::Command;
use serde_json::{Value, json};

fn sessions(db: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut command = Command::cargo_bin("agent-memory").unwrap();
    command.env_remove("AGENT_MEMORY_DATABASE_URL").arg("sessions").args(args).arg("--db").arg(db);
    command.output().unwrap()
}

fn json_out(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn list_show_and_delete_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agent-memory.db");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = SqliteSessions::open(&db).await.unwrap();
        let call = ToolCall::new("c1", "recall", &json!({"query": "name"}));
        store
            .append(
                "thread_123",
                &[
                    Message::user("Hi, I'm Bob"),
                    Message::assistant_tool_calls(vec![call]),
                    Message::tool("c1", "nothing found"),
                    Message::assistant("Hi Bob!"),
                ],
            )
            .await
            .unwrap();
        store.append("thread_456", &[Message::user("hello")]).await.unwrap();
    });

    let listed = json_out(&sessions(&db, &["list"]));
    let ids: Vec<(&str, u64)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["session_id"].as_str().unwrap(), s["message_count"].as_u64().unwrap()))
        .collect();
    assert_eq!(ids, vec![("thread_123", 4), ("thread_456", 1)]);
    let first = &listed[0];
    assert!(first["created_at"].as_f64().unwrap() > 1.7e9);
    assert!(first["updated_at"].as_f64().unwrap() >= first["created_at"].as_f64().unwrap());

    assert_eq!(
        json_out(&sessions(&db, &["show", "thread_123"])),
        json!([
            {"role": "user", "content": "Hi, I'm Bob"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "recall", "arguments": "{\"query\":\"name\"}"}}
            ]},
            {"role": "tool", "content": "nothing found", "tool_call_id": "c1"},
            {"role": "assistant", "content": "Hi Bob!"}
        ])
    );
    assert_eq!(json_out(&sessions(&db, &["show", "unknown"])), json!([]));
    assert_eq!(json_out(&sessions(&db, &["delete", "thread_123"])), json!({"deleted": true}));
    assert_eq!(json_out(&sessions(&db, &["delete", "thread_123"])), json!({"deleted": false}));
    let listed = json_out(&sessions(&db, &["list"]));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["session_id"], "thread_456");
}

#[test]
fn bad_input_is_one_line_on_stderr_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agent-memory.db");
    let output = sessions(&db, &["show", ""]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "agent-memory sessions: invalid session id \"\": it is empty\n"
    );
    assert!(output.stdout.is_empty());

    let mut command = Command::cargo_bin("agent-memory").unwrap();
    let output = command.args(["sessions", "list", "--db", "ftp://nowhere"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "agent-memory sessions: unsupported session store url \"ftp://nowhere\" (this build supports memory:, sqlite:PATH, postgres://…)\n"
    );

    let mut command = Command::cargo_bin("agent-memory").unwrap();
    let output = command.args(["sessions", "rename"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&output.stderr).lines().count(), 1);
}

#[test]
fn list_takes_a_prefix_a_cursor_and_a_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agent-memory.db");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = SqliteSessions::open(&db).await.unwrap();
        for id in ["bob/1", "bob/2", "bob/3", "bob_x", "bobby/1", "carol/1"] {
            store.append(id, &[Message::user(id)]).await.unwrap();
        }
    });
    let ids = |args: &[&str]| -> Vec<String> {
        let listed = json_out(&sessions(&db, args));
        listed.as_array().unwrap().iter().map(|s| s["session_id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ids(&["list", "--prefix", "bob/"]), ["bob/1", "bob/2", "bob/3"]);
    assert_eq!(ids(&["list", "--prefix", "bob_"]), ["bob_x"]);
    assert_eq!(ids(&["list", "--prefix", "bob/", "--limit", "2"]), ["bob/1", "bob/2"]);
    assert_eq!(ids(&["list", "--prefix", "bob/", "--after", "bob/2"]), ["bob/3"]);
    assert_eq!(ids(&["list", "--after", "bob_x", "--limit", "1"]), ["bobby/1"]);
    assert_eq!(ids(&["list", "--prefix", "dave/"]), Vec::<String>::new());
    assert_eq!(ids(&["list"]).len(), 6);

    let output = sessions(&db, &["list", "--limit", "0"]);
    assert_eq!(output.status.code(), Some(2));
    let output = sessions(&db, &["list", "--prefix", "a\u{1}"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "agent-memory sessions: invalid session listing: prefix must not contain control characters\n"
    );
}
