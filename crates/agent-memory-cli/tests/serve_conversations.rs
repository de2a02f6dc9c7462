//! Conversations and sessions through real HTTP on the default SQLite file: they land in
//! the store's database, survive a restart, and stay scoped to their tenant.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::{Value, json};

mod common;

const ACME_KEY: &str = "acme-secret-0123456789";
const GLOBEX_KEY: &str = "globex-secret-0123456789";

/// One HTTP/1.1 request with a JSON body; returns the status and the JSON answer.
fn call(base: &str, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let address = base.strip_prefix("http://").expect("http url");
    let mut stream = TcpStream::connect(address).expect("connect");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nauthorization: Bearer {key}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("status");
    let text = response.split_once("\r\n\r\n").map(|(_, body)| body).unwrap_or_default();
    (status, serde_json::from_str(text).unwrap_or(Value::Null))
}

#[test]
fn conversations_and_sessions_persist_in_the_sqlite_file_per_tenant() {
    let workdir = tempfile::tempdir().expect("temp dir");
    let keys = format!("acme:{ACME_KEY},globex:{GLOBEX_KEY}");
    let messages = json!([
        {"role": "user", "content": "My printer shows error E42 after the firmware update"},
        {"role": "assistant", "content": "Roll back the firmware from the settings menu."},
    ]);

    let (mut server, url) = common::start_server(workdir.path(), &keys);
    {
        let index =
            json!({"user_id": "u1", "session_id": "s1", "messages": messages, "metadata": {"topic": "printer"}});
        let (status, indexed) = call(&url, "POST", "/conversations", ACME_KEY, Some(index));
        assert_eq!(status, 200, "{indexed}");
        let (status, _) = call(&url, "POST", "/sessions/t1/messages", ACME_KEY, Some(json!({"messages": messages})));
        assert_eq!(status, 200);
        let (status, error) = call(&url, "POST", "/sessions/t1/messages", ACME_KEY, Some(json!({"messages": 7})));
        assert_eq!((status, error["code"].as_str()), (400, Some("invalid_messages")));
    }
    server.terminate();
    assert!(workdir.path().join("agent-memory.db").is_file());

    // A new process on the same file finds both, for acme only.
    let (mut server, url) = common::start_server(workdir.path(), &keys);
    {
        let search = json!({"user_id": "u1", "query": "printer firmware error"});
        let (status, found) = call(&url, "POST", "/conversations/search", ACME_KEY, Some(search.clone()));
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["results"][0]["context"].as_str().map(|c| c.lines().next()), Some(Some("[Topic: printer]")));
        assert_eq!(
            call(&url, "GET", "/sessions/t1", ACME_KEY, None),
            (200, json!({"session_id": "t1", "messages": messages}))
        );
        assert_eq!(call(&url, "POST", "/conversations/search", GLOBEX_KEY, Some(search)).1, json!({"results": []}));
        assert_eq!(call(&url, "GET", "/sessions", GLOBEX_KEY, None).1, json!({"sessions": [], "next_after": null}));
        let (_, spec) = call(&url, "GET", "/openapi.json", ACME_KEY, None);
        for path in ["/conversations", "/conversations/search", "/sessions/{session_id}/messages", "/context/summarize"]
        {
            assert!(spec["paths"][path].is_object(), "{path} is documented");
        }
    }
    server.terminate();
}
