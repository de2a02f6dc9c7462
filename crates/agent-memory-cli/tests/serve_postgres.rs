//! Two `agent-memory serve` processes on one PostgreSQL database give consistent results:
//! what one writes, the other reads, searches, lists and deletes, and tenants stay apart.
//! Vector index settings reach the PostgreSQL backend's in-process vector index, and a
//! server with its in-process indexes turned off answers from SQL.
//!
//! The server's URL comes from `AGENT_MEMORY_TEST_PG_URL` or `DATABASE_URL` (set by
//! `scripts/setup-test-deps`); when neither is set, `scripts/deps/postgres.sh start` starts
//! the project's throwaway server. Each test uses its own schema (`amtest_…`), dropped when
//! the test ends (`common::PostgresSchema`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;

use common::{ChildGuard, PostgresSchema, agent_memory_command, read_listening_line};
use serde_json::{Value, json};

mod common;

const ACME_KEY: &str = "acme-secret-0123456789";
const GLOBEX_KEY: &str = "globex-secret-0123456789";

/// A running server; dropping it stops the process (its [`ChildGuard`]).
struct Server {
    child: ChildGuard,
    address: String,
}

impl Server {
    fn start(url: &str) -> Self {
        let mut command = agent_memory_command();
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url", url, "--embedder", "hash:64"])
            .env("AGENT_MEMORY_API_KEYS", format!("acme:{ACME_KEY},globex:{GLOBEX_KEY}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = ChildGuard::spawn(&mut command);
        let line = read_listening_line(&mut child);
        let address = line.strip_prefix("listening on http://").expect("listening line").to_owned();
        Self { child, address }
    }

    /// One HTTP/1.1 request with a JSON body; returns the status and the JSON answer.
    fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let mut stream = TcpStream::connect(&self.address).expect("connect");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nx-api-key: {key}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            self.address,
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("receive");
        let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("status");
        let text = response.split_once("\r\n\r\n").map(|(_, body)| body).unwrap_or_default();
        (status, serde_json::from_str(text).unwrap_or(Value::Null))
    }
}

#[test]
fn two_servers_on_one_database_agree() {
    let schema = PostgresSchema::new(); // outlives both servers
    let a = Server::start(&schema.url);
    let b = Server::start(&schema.url);
    assert_eq!(a.call("GET", "/readyz", ACME_KEY, None), (200, json!({"status": "ready"})));

    let put = json!({"namespace": ["users", "u1"], "key": "lang", "value": {"text": "prefers Rust for systems work"}});
    let (status, stored) = a.call("PUT", "/store/items", ACME_KEY, Some(put));
    assert_eq!(status, 200, "{stored}");

    // B reads what A wrote, exactly.
    let (status, read) = b.call("GET", "/store/items?namespace=users.u1&key=lang", ACME_KEY, None);
    assert_eq!((status, &read), (200, &stored));
    let (_, found) = b.call("POST", "/store/items/search", ACME_KEY, Some(json!({"query": "rust systems"})));
    assert_eq!(found["items"][0]["key"], "lang", "{found}");
    let (_, listed) = b.call("POST", "/store/namespaces", ACME_KEY, Some(json!({})));
    assert_eq!(listed, json!({"namespaces": [["users", "u1"]]}));

    // The other tenant sees nothing through either server.
    for server in [&a, &b] {
        let read = server.call("GET", "/store/items?namespace=users.u1&key=lang", GLOBEX_KEY, None);
        assert_eq!(read, (200, Value::Null));
        assert_eq!(server.call("POST", "/store/items/search", GLOBEX_KEY, Some(json!({}))).1, json!({"items": []}));
    }

    // A delete through B is seen by A.
    let delete = json!({"namespace": ["users", "u1"], "key": "lang"});
    assert_eq!(b.call("DELETE", "/store/items", ACME_KEY, Some(delete)), (200, json!({"deleted": true})));
    assert_eq!(a.call("GET", "/store/items?namespace=users.u1&key=lang", ACME_KEY, None), (200, Value::Null));

    conversations_and_sessions_are_shared(&a, &b);
}

/// Conversations and sessions live in the same database: what A writes, B finds; the other
/// tenant finds nothing through either server.
fn conversations_and_sessions_are_shared(a: &Server, b: &Server) {
    let messages = json!([
        {"role": "user", "content": "The deploy pipeline fails on the docker build"},
        {"role": "assistant", "content": "Pin the base image version."},
    ]);
    let index = json!({"user_id": "u1", "session_id": "s1", "messages": messages, "metadata": {"date": "2025-03-02"}});
    let (status, indexed) = a.call("POST", "/conversations", ACME_KEY, Some(index));
    assert_eq!(status, 200, "{indexed}");
    let search = json!({"user_id": "u1", "query": "docker build pipeline"});
    let (status, found) = b.call("POST", "/conversations/search", ACME_KEY, Some(search.clone()));
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["results"][0]["chunk_id"], indexed["chunk_ids"][0]);
    assert_eq!(found["results"][0]["messages"], messages);

    let (status, _) = a.call("POST", "/sessions/t1/messages", ACME_KEY, Some(json!({"messages": messages})));
    assert_eq!(status, 200);
    assert_eq!(b.call("GET", "/sessions/t1", ACME_KEY, None), (200, json!({"session_id": "t1", "messages": messages})));

    for server in [a, b] {
        assert_eq!(
            server.call("POST", "/conversations/search", GLOBEX_KEY, Some(search.clone())).1,
            json!({"results": []})
        );
        assert_eq!(server.call("GET", "/sessions", GLOBEX_KEY, None).1, json!({"sessions": [], "next_after": null}));
        assert_eq!(server.call("GET", "/sessions/t1", GLOBEX_KEY, None).1["messages"], json!([]));
    }

    assert_eq!(b.call("DELETE", "/conversations/u1/s1", ACME_KEY, None), (200, json!({"deleted": 1})));
    assert_eq!(a.call("POST", "/conversations/search", ACME_KEY, Some(search)).1, json!({"results": []}));
    assert_eq!(b.call("DELETE", "/sessions/t1", ACME_KEY, None), (200, json!({"deleted": true})));
    assert_eq!(a.call("GET", "/sessions", ACME_KEY, None).1, json!({"sessions": [], "next_after": null}));
}

#[test]
fn vector_index_settings_reach_the_in_process_index() {
    let schema = PostgresSchema::new();
    let url = &schema.url;
    let mut command = agent_memory_command();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", url, "--embedder", "hash:64"])
        .args(["--vector-ef-search", "64", "--vector-connectivity", "8", "--log-format", "json"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = ChildGuard::spawn(&mut command);
    let line = read_listening_line(&mut child);
    assert!(line.starts_with("listening on http://"), "{line}");
    let mut server = Server { child, address: String::new() };
    let mut stderr = BufReader::new(server.child.stderr.take().expect("stderr"));
    let options = loop {
        let mut line = String::new();
        assert_ne!(stderr.read_line(&mut line).expect("read stderr"), 0, "no options logged before listening");
        let event: Value = serde_json::from_str(&line).expect("a JSON log line");
        assert_ne!(event["level"], "WARN", "{event}");
        if event["message"] == "in-process vector index" {
            break event;
        }
    };
    assert_eq!(options["vector_ef_search"], 64);
    assert_eq!(options["vector_connectivity"], 8);
    drop(server);
}

/// The keys each of a keyword, a semantic and a hybrid search returns on a server over `url`
/// started with `args` and `envs`, and the JSON log events it wrote (debug for the
/// PostgreSQL backend, so that loading an in-process index shows).
fn search_and_log(url: &str, args: &[&str], envs: &[(&str, &str)]) -> (Vec<Vec<String>>, Vec<Value>) {
    let workdir = tempfile::tempdir().expect("temp dir");
    let log = workdir.path().join("server.log");
    let mut command = agent_memory_command();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", url, "--embedder", "hash:64"])
        .args(["--log-format", "json"])
        .args(args)
        .envs(envs.iter().copied())
        .env("AGENT_MEMORY_API_KEYS", format!("acme:{ACME_KEY}"))
        .env("RUST_LOG", "info,agent_memory::store::postgres=debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"));
    let mut child = ChildGuard::spawn(&mut command);
    let line = read_listening_line(&mut child);
    let address = line.strip_prefix("listening on http://").expect("listening line").to_owned();
    let mut server = Server { child, address };
    for (key, text) in [("tea", "green tea at five"), ("bike", "the bicycle needs new brakes")] {
        let put = json!({"namespace": ["notes"], "key": key, "value": {"text": text}});
        assert_eq!(server.call("PUT", "/store/items", ACME_KEY, Some(put)).0, 200);
    }
    let searches = [
        json!({"query": "bicycle brakes", "mode": "keyword"}),
        json!({"query": "green tea at five", "mode": "semantic", "limit": 1}),
        json!({"query": "green tea", "mode": "hybrid", "limit": 1}),
    ];
    let found = searches
        .into_iter()
        .map(|search| {
            let (status, found) = server.call("POST", "/store/items/search", ACME_KEY, Some(search));
            assert_eq!(status, 200, "{found}");
            found["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|item| item["key"].as_str().expect("key").to_owned())
                .collect()
        })
        .collect();
    assert!(server.child.terminate().success(), "a clean shutdown");
    let events = std::fs::read_to_string(&log)
        .expect("read the log")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("a JSON log line: {line}")))
        .collect();
    (found, events)
}

/// The messages of the in-process indexes' own log events (`postgres index: loaded`, …).
fn index_messages(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|event| event["message"].as_str())
        .filter(|message| message.starts_with("postgres index:"))
        .collect()
}

#[test]
fn a_server_with_both_in_process_indexes_off_answers_from_sql() {
    let expected = [vec!["bike"], vec!["tea"], vec!["tea"]];

    // The control: by default the first search loads the in-process indexes.
    let schema = PostgresSchema::new();
    let (found, events) = search_and_log(&schema.url, &[], &[]);
    assert_eq!(found, expected);
    assert!(index_messages(&events).contains(&"postgres index: loaded"), "{events:?}");

    // Off by a flag and by an environment variable: the same answers, no index ever loaded.
    let schema = PostgresSchema::new();
    let (found, events) = search_and_log(
        &schema.url,
        &["--postgres-keyword-index", "false"],
        &[("AGENT_MEMORY_POSTGRES_VECTOR_INDEX", "false")],
    );
    assert_eq!(found, expected);
    assert_eq!(index_messages(&events), Vec::<&str>::new(), "{events:?}");
    let settings = events.iter().find(|event| event["message"] == "postgres in-process indexes").expect("logged");
    assert_eq!((&settings["keyword_index"], &settings["vector_index"]), (&json!(false), &json!(false)));
    assert!(!events.iter().any(|event| event["level"] == "WARN"), "{events:?}");
}

#[test]
fn the_postgres_index_flags_are_refused_with_sqlite() {
    for command in [&["serve", "--listen", "127.0.0.1:0"][..], &["mcp"]] {
        let workdir = tempfile::tempdir().expect("temp dir");
        let output = agent_memory_command()
            .args(command)
            .args(["--database-url", "sqlite:x.db", "--postgres-vector-index", "false"])
            .current_dir(workdir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run the command");
        assert_eq!(output.status.code(), Some(2), "{command:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(
                "the postgres setting vector_index applies to PostgreSQL databases only, and the database is sqlite:x.db"
            ),
            "{command:?}: {stderr}"
        );
        assert!(!workdir.path().join("x.db").exists(), "{command:?}: nothing opened");
    }
}
