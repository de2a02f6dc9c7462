//! `agent-memory serve` as a process: it starts, says where it listens, answers, and
//! shuts down cleanly on SIGTERM; it refuses an exposed address without keys.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use common::{ChildGuard, read_listening_line};

mod common;

/// `agent-memory`, independent of the caller's `AGENT_MEMORY_*` environment.
fn agent_memory() -> Command {
    common::agent_memory_command()
}

/// Starts `serve` on a free loopback port and returns the child and its base address.
fn start(extra: &[&str]) -> (ChildGuard, String) {
    let mut command = agent_memory();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", "memory"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = ChildGuard::spawn(&mut command);
    let address = address_of(&mut child);
    (child, address)
}

/// The `host:port` the child's listening line names.
fn address_of(child: &mut ChildGuard) -> String {
    read_listening_line(child).strip_prefix("listening on http://").expect("listening line").to_owned()
}

/// A minimal HTTP/1.1 GET: returns the status code and the body.
fn http_get(address: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("status code");
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

#[test]
fn serves_and_shuts_down_on_sigterm() {
    let (mut child, address) = start(&[]);
    assert_eq!(http_get(&address, "/healthz", &[]), (200, r#"{"status":"ok"}"#.to_owned()));
    assert_eq!(http_get(&address, "/readyz", &[]), (200, r#"{"status":"ready"}"#.to_owned()));
    assert_eq!(http_get(&address, "/whoami", &[]), (200, r#"{"tenant":"local"}"#.to_owned()));
    let status = child.terminate();
    assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");
}

#[test]
fn keys_from_the_environment_guard_the_api() {
    let mut command = agent_memory();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", "memory"])
        .env("AGENT_MEMORY_API_KEYS", "acme:acme-secret-0123456789,globex:globex-secret-0123456789")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = ChildGuard::spawn(&mut command);
    let address = address_of(&mut child);

    assert_eq!(http_get(&address, "/whoami", &[]).0, 401);
    assert_eq!(
        http_get(&address, "/whoami", &[("x-api-key", "globex-secret-0123456789")]),
        (200, r#"{"tenant":"globex"}"#.to_owned())
    );
    assert_eq!(child.terminate().code(), Some(0));
}

#[test]
fn refuses_a_public_address_without_keys() {
    let output = agent_memory().args(["serve", "--listen", "0.0.0.0:0"]).output().expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("agent-memory: refusing to listen on 0.0.0.0:0 without API keys"), "stderr: {stderr}");
}

#[test]
fn bad_configuration_is_exit_code_2() {
    let output = agent_memory().args(["serve", "--database-url", "mysql://x"]).output().expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "agent-memory: invalid database url \"mysql://x\": expected sqlite:PATH, memory or postgres://…\n"
    );
}

#[test]
fn an_unknown_embedder_is_exit_code_2() {
    let output = agent_memory()
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", "memory", "--embedder", "nonsense"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("agent-memory: invalid embedder: "), "stderr: {stderr}");
    assert!(stderr.contains("nonsense"), "stderr: {stderr}");
}

/// A minimal HTTP/1.1 request with a JSON body: returns the status code and the body.
fn http_send(address: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    http_send_as(address, None, method, path, body)
}

/// [`http_send`] with an API key (`x-api-key`).
fn http_send_as(address: &str, key: Option<&str>, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    let key_header = key.map(|key| format!("x-api-key: {key}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         {key_header}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("status code");
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

#[test]
fn vector_index_settings_from_flags_and_environment_reach_the_sqlite_backend() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite:{}", dir.path().join("tuned.db").display());
    let mut command = agent_memory();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &database, "--log-format", "json"])
        .args(["--vector-ann-min-vectors", "1", "--vector-exact-scope-max", "0", "--vector-graph-precision", "f16"])
        .env("AGENT_MEMORY_VECTOR_EF_SEARCH", "16")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = ChildGuard::spawn(&mut command);
    let address = address_of(&mut child);

    // The options the opened backend reports running with, logged before listening.
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let logged = loop {
        let mut line = String::new();
        assert_ne!(stderr.read_line(&mut line).expect("read stderr"), 0, "no vector index line");
        let event: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
        if event["message"] == "in-process vector index" {
            break event;
        }
    };
    let fields: Vec<(&str, serde_json::Value)> = [
        "vector_ann_min_vectors",
        "vector_exact_scope_max",
        "vector_connectivity",
        "vector_ef_construction",
        "vector_ef_search",
        "vector_graph_precision",
    ]
    .into_iter()
    .map(|name| (name, logged[name].clone()))
    .collect();
    assert_eq!(
        fields,
        [
            ("vector_ann_min_vectors", 1.into()),
            ("vector_exact_scope_max", 0.into()),
            ("vector_connectivity", 16.into()),
            ("vector_ef_construction", agent_memory::store::VectorIndexOptions::default().expansion_add.into()),
            ("vector_ef_search", 16.into()),
            ("vector_graph_precision", "f16".into()),
        ]
    );

    // A graph from the first vector, searched with ef 16 in every scope, still ranks the
    // nearest item first on a small store.
    for (key, text) in
        [("tea", "green tea at five"), ("bike", "the bicycle needs new brakes"), ("rent", "pay the rent")]
    {
        let body = format!(r#"{{"namespace":["notes"],"key":"{key}","value":{{"text":"{text}"}}}}"#);
        assert_eq!(http_send(&address, "PUT", "/store/items", &body).0, 200);
    }
    let (status, answer) = http_send(
        &address,
        "POST",
        "/store/items/search",
        r#"{"namespace_prefix":["notes"],"query":"tea time","mode":"semantic","limit":1}"#,
    );
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(answer["items"][0]["key"], "tea", "{answer}");
    assert_eq!(answer["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(child.terminate().code(), Some(0));
}

/// The served store counts each tenant's own items in its keyword scores: another
/// tenant's items, however many and however alike, leave them unmoved (and cannot be
/// inferred from them); the tenant's own writes move them. On the default SQLite file.
#[test]
fn keyword_scores_count_only_the_tenants_own_items() {
    const ACME: &str = "acme-secret-0123456789";
    const GLOBEX: &str = "globex-secret-0123456789";
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut child, url) =
        common::start_server_with(dir.path(), &format!("acme:{ACME},globex:{GLOBEX}"), &["--embedder", "none"]);
    let address = url.strip_prefix("http://").expect("http url").to_owned();
    let put = |key: &str, namespace: &str, item: &str, text: &str| {
        let body = format!(r#"{{"namespace":{namespace},"key":"{item}","value":{{"text":"{text}"}}}}"#);
        assert_eq!(http_send_as(&address, Some(key), "PUT", "/store/items", &body).0, 200);
    };
    let scores = || {
        let body = r#"{"namespace_prefix":["notes"],"query":"merger plans","mode":"keyword","limit":10}"#;
        let (status, answer) = http_send_as(&address, Some(ACME), "POST", "/store/items/search", body);
        assert_eq!(status, 200, "{answer}");
        let answer: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
        let items = answer["items"].as_array().expect("items").clone();
        items.iter().map(|item| (item["key"].to_string(), item["score"].as_f64().expect("score"))).collect::<Vec<_>>()
    };
    put(ACME, r#"["notes"]"#, "a", "merger plans for the autumn");
    put(ACME, r#"["notes"]"#, "b", "holiday plans");
    put(ACME, r#"["notes"]"#, "c", "quarterly numbers");
    let alone = scores();
    assert_eq!(alone.len(), 2, "{alone:?}");
    for i in 0..40 {
        put(GLOBEX, r#"["notes"]"#, &format!("g{i}"), "merger merger plans");
    }
    assert_eq!(scores(), alone, "globex's items moved acme's scores");
    put(ACME, r#"["notes"]"#, "d", "merger talk");
    assert_ne!(scores()[0], alone[0], "acme's own items count");
    assert_eq!(child.terminate().code(), Some(0));
}

#[test]
fn a_bad_vector_index_setting_is_exit_code_2() {
    let output = agent_memory()
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", "memory", "--vector-connectivity", "1"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "agent-memory: invalid vector index setting connectivity (M) 1: use 2 to 256 (16 by default)\n"
    );
}

/// A test that panics while its server runs leaves no process behind: the guard stops and
/// reaps it as the panic unwinds.
#[test]
fn a_panicking_test_leaves_no_server_behind() {
    let started = std::sync::Mutex::new(None);
    let outcome = std::panic::catch_unwind(|| {
        let (child, address) = start(&[]);
        *started.lock().expect("lock") = Some((child.id(), address));
        panic!("the test fails while its server runs");
    });
    assert!(outcome.is_err());
    let (pid, address) = started.lock().expect("lock").take().expect("the server started");
    let probe = Command::new("kill").args(["-0", &pid.to_string()]).stderr(Stdio::null()).status().expect("run kill");
    assert!(!probe.success(), "process {pid} is still there");
    assert!(TcpStream::connect(&address).is_err(), "{address} still answers");
}
