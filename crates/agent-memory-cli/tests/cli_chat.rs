//! `agent-memory chat` end to end against a local OpenAI-compatible server (axum on
//! 127.0.0.1:0, replaying chat-completions responses shaped like OpenAI's), and
//! `agent-memory sessions` on the history it leaves.
#![allow(clippy::unwrap_used)] // a test may panic: that is the test failing

use std::path::Path;
use std::sync::{Arc, Mutex};

use assert_cmd::Command;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};

/// The request bodies the server received, in order.
type Seen = Arc<Mutex<Vec<Value>>>;

/// Answers like a model that remembers what it is shown: it knows the user's name only if
/// an earlier user message in the request says it.
async fn complete(State(seen): State<Seen>, Json(body): Json<Value>) -> Json<Value> {
    seen.lock().unwrap().push(body.clone());
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last = messages.last().and_then(|m| m["content"].as_str()).unwrap_or_default().to_owned();
    let knows_bob = messages[..messages.len().saturating_sub(1)]
        .iter()
        .any(|m| m["role"] == "user" && m["content"].as_str().is_some_and(|c| c.contains("I'm Bob")));
    let reply = if last.contains("I'm Bob") {
        "Hi Bob! Nice to meet you."
    } else if knows_bob {
        "Your name is Bob."
    } else {
        "I don't know your name yet."
    };
    Json(json!({
        "id": "chatcmpl-AZ3xq9",
        "object": "chat.completion",
        "created": 1_733_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": reply, "refusal": null},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 21, "completion_tokens": 7, "total_tokens": 28},
        "system_fingerprint": "fp_0ba0d124f1"
    }))
}

/// Starts the server on its own thread; returns its base URL and what it saw.
fn serve() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new().route("/v1/chat/completions", post(complete)).with_state(seen.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || runtime.block_on(async { axum::serve(listener, app).await.unwrap() }));
    (url, seen)
}

/// The binary with a clean environment: no LLM keys or provider variables leak in.
fn cli() -> Command {
    let mut command = Command::cargo_bin("agent-memory").unwrap();
    command.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command
}

fn chat(db: &Path, url: &str, session: &str) -> Command {
    let mut command = cli();
    command.args([
        "chat",
        "--session",
        session,
        "--provider",
        "openai-compatible",
        "--model",
        "smol",
        "--base-url",
        url,
    ]);
    command.args(["--system", "You are terse.", "--db", db.to_str().unwrap()]);
    command
}

fn stdout(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(output.status.success(), "failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn roles_and_texts(request: &Value) -> Vec<(String, String)> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap().to_owned(), m["content"].as_str().unwrap().to_owned()))
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(r, t)| ((*r).to_owned(), (*t).to_owned())).collect()
}

#[test]
fn chat_remembers_bob_within_a_session_and_not_across_sessions() {
    let (url, seen) = serve();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agent-memory.db");

    assert_eq!(stdout(chat(&db, &url, "bob").arg("Hi, I'm Bob")), "Hi Bob! Nice to meet you.\n");
    assert_eq!(stdout(chat(&db, &url, "bob").arg("What's my name?")), "Your name is Bob.\n");
    assert_eq!(stdout(chat(&db, &url, "alice").arg("What's my name?")), "I don't know your name yet.\n");

    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[1]["model"], "smol");
    assert_eq!(
        roles_and_texts(&requests[1]),
        pairs(&[
            ("system", "You are terse."),
            ("user", "Hi, I'm Bob"),
            ("assistant", "Hi Bob! Nice to meet you."),
            ("user", "What's my name?"),
        ])
    );
    assert_eq!(roles_and_texts(&requests[2]), pairs(&[("system", "You are terse."), ("user", "What's my name?")]));

    // The sessions command sees what chat stored (the system prompt is not stored).
    let listed: Value = serde_json::from_str(&stdout(cli().args(["sessions", "list", "--db"]).arg(&db))).unwrap();
    let summary: Vec<(&str, u64)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["session_id"].as_str().unwrap(), s["message_count"].as_u64().unwrap()))
        .collect();
    assert_eq!(summary, vec![("alice", 2), ("bob", 4)]);
    let shown: Value = serde_json::from_str(&stdout(cli().args(["sessions", "show", "bob", "--db"]).arg(&db))).unwrap();
    assert_eq!(
        shown,
        json!([
            {"role": "user", "content": "Hi, I'm Bob"},
            {"role": "assistant", "content": "Hi Bob! Nice to meet you."},
            {"role": "user", "content": "What's my name?"},
            {"role": "assistant", "content": "Your name is Bob."}
        ])
    );
}

#[test]
fn chat_without_a_message_takes_one_turn_per_stdin_line() {
    let (url, seen) = serve();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agent-memory.db");
    let out = stdout(chat(&db, &url, "bob").write_stdin("Hi, I'm Bob\n\nWhat's my name?\n"));
    assert_eq!(out, "Hi Bob! Nice to meet you.\nYour name is Bob.\n");
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[test]
fn chat_reports_bad_input_on_one_line_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agent-memory.db");
    let cases: [(&[&str], &str); 3] = [
        (&["chat", "--session", "", "hi"], "agent-memory chat: invalid session id \"\": it is empty\n"),
        (
            &["chat", "--session", "s", "--provider", "skynet", "hi"],
            "agent-memory chat: no LLM configured: unknown LLM provider \"skynet\" (expected one of openai, \
             anthropic, ollama, openrouter, groq, openai-compatible)\n",
        ),
        (
            &["chat", "--session", "s", "--provider", "openai", "hi"],
            "agent-memory chat: no LLM configured: openai needs an API key: set OPENAI_API_KEY\n",
        ),
    ];
    for (args, expected) in cases {
        let output = cli().args(args).arg("--db").arg(&db).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&output.stderr), expected, "{args:?}");
        assert!(output.stdout.is_empty());
    }
    // No LLM configured at all: the error says how to configure one.
    let output = cli().args(["chat", "--session", "s", "hi", "--db"]).arg(&db).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("agent-memory chat: no LLM configured: set OPENAI_API_KEY"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1);
}

/// Answers like a model that uses the recall tool whenever it is offered: a user message
/// gets a `recall_past_conversations` call with the message as the query; a tool result
/// gets "Recalled: " and the result's last line; without tools the answer is "Noted.".
async fn complete_with_recall(State(seen): State<Seen>, Json(body): Json<Value>) -> Json<Value> {
    seen.lock().unwrap().push(body.clone());
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last = messages.last().cloned().unwrap_or_default();
    let offered = body["tools"].as_array().is_some_and(|tools| !tools.is_empty());
    let message = if last["role"] == "tool" {
        let result = last["content"].as_str().unwrap_or_default();
        json!({"role": "assistant", "content": format!("Recalled: {}", result.lines().last().unwrap_or_default())})
    } else if offered {
        let arguments = json!({"query": last["content"]}).to_string();
        json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{
                "id": "call_Rk2s9",
                "type": "function",
                "function": {"name": "recall_past_conversations", "arguments": arguments}
            }]
        })
    } else {
        json!({"role": "assistant", "content": "Noted."})
    };
    let finish_reason = if message.get("tool_calls").is_some() { "tool_calls" } else { "stop" };
    Json(json!({
        "id": "chatcmpl-BX71f2",
        "object": "chat.completion",
        "created": 1_733_000_100,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 60, "completion_tokens": 12, "total_tokens": 72}
    }))
}

fn serve_with_recall() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new().route("/v1/chat/completions", post(complete_with_recall)).with_state(seen.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || runtime.block_on(async { axum::serve(listener, app).await.unwrap() }));
    (url, seen)
}

#[test]
fn chat_gets_the_recall_tool_over_the_users_indexed_conversations() {
    let (url, seen) = serve_with_recall();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agent-memory.db");
    let history = dir.path().join("history.jsonl");
    let lines = [
        json!({"user_id": "bob", "session_id": "ledger", "metadata": {"topic": "storage", "date": "2025-01-15"},
               "messages": [{"role": "user", "content": "Which database should we use for the ledger?"},
                            {"role": "assistant", "content": "PostgreSQL, for its transactions."}]}),
        json!({"user_id": "alice", "session_id": "catalog", "metadata": {"date": "2025-02-01"},
               "messages": [{"role": "user", "content": "Which database should we use for the catalog?"},
                            {"role": "assistant", "content": "MongoDB, for its documents."}]}),
    ];
    std::fs::write(&history, lines.map(|line| line.to_string()).join("\n")).unwrap();
    let db_url = format!("sqlite:{}", db.display());
    stdout(cli().args(["conversations", "--db", &db_url, "import", "--quiet"]).arg(&history));

    let reply = stdout(chat(&db, &url, "today").args(["--user", "bob", "Which database did we choose?"]));
    assert_eq!(reply, "Recalled: Assistant: PostgreSQL, for its transactions.\n");

    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    let tools = requests[0]["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0]["function"]["name"], "recall_past_conversations");
    assert_eq!(tools[0]["function"]["parameters"]["required"], json!(["query"]));
    // The tool's answer, from bob's indexed conversation only, went back to the model.
    let messages = requests[1]["messages"].as_array().unwrap();
    let result = messages.last().unwrap();
    assert_eq!(result["role"], "tool");
    assert_eq!(result["tool_call_id"], "call_Rk2s9");
    assert_eq!(
        result["content"],
        "### Result 1\n\n[Topic: storage, Date: 2025-01-15]\n\nHuman: Which database should we use for the \
         ledger?\nAssistant: PostgreSQL, for its transactions."
    );
}

#[test]
fn chat_remember_indexes_the_session_for_later_recall() {
    let (url, seen) = serve_with_recall();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agent-memory.db");

    // Nothing indexed for carol yet: no tool is offered.
    let reply = stdout(chat(&db, &url, "first").args(["--user", "carol", "--remember", "I'm allergic to peanuts"]));
    assert_eq!(reply, "Noted.\n");
    assert!(seen.lock().unwrap()[0].get("tools").is_none(), "{}", seen.lock().unwrap()[0]);
    let db_url = format!("sqlite:{}", db.display());
    let listed = stdout(cli().args(["conversations", "--db", &db_url, "sessions", "--user", "carol"]));
    assert_eq!(listed, "first\n");

    // A later session recalls it; another user does not see it.
    let reply = stdout(chat(&db, &url, "second").args(["--user", "carol", "Do I have food allergies?"]));
    assert_eq!(reply, "Recalled: Assistant: Noted.\n");
    let reply = stdout(chat(&db, &url, "third").args(["--user", "dave", "Do I have food allergies?"]));
    assert_eq!(reply, "Noted.\n");
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 4);
    let recalled = requests[2]["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned();
    assert!(recalled.starts_with("### Result 1\n\n[Date: "), "{recalled}");
    assert!(recalled.ends_with("]\n\nHuman: I'm allergic to peanuts\nAssistant: Noted."), "{recalled}");
    assert!(requests[3].get("tools").is_none());

    // --no-recall turns the tool off even when there is something to recall.
    let reply = stdout(chat(&db, &url, "fourth").args(["--user", "carol", "--no-recall", "Do I have food allergies?"]));
    assert_eq!(reply, "Noted.\n");
}
