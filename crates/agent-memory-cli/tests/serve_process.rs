//! `agent-memory serve` as a process: it starts, says where it listens, answers, and
//! shuts down cleanly on SIGTERM; it refuses an exposed address without keys.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

fn agent_memory() -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin!("agent-memory"));
    // The test must not depend on the caller's environment.
    for (name, _) in std::env::vars() {
        if name.starts_with("AGENT_MEMORY_") {
            command.env_remove(name);
        }
    }
    command
}

/// Starts `serve` on a free loopback port and returns the child and its base address.
fn start(extra: &[&str]) -> (Child, String) {
    let mut child = agent_memory()
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", "memory"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn agent-memory");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read the listening line");
    let address = line.trim().strip_prefix("listening on http://").expect("listening line").to_owned();
    (child, address)
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

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("run kill");
    assert!(killed.success());
    child.wait().expect("wait")
}

#[test]
fn serves_and_shuts_down_on_sigterm() {
    let (mut child, address) = start(&[]);
    assert_eq!(http_get(&address, "/healthz", &[]), (200, r#"{"status":"ok"}"#.to_owned()));
    assert_eq!(http_get(&address, "/readyz", &[]), (200, r#"{"status":"ready"}"#.to_owned()));
    assert_eq!(http_get(&address, "/whoami", &[]), (200, r#"{"tenant":"local"}"#.to_owned()));
    let status = terminate(&mut child);
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
    let mut child = command.spawn().expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("line");
    let address = line.trim().strip_prefix("listening on http://").expect("listening line").to_owned();

    assert_eq!(http_get(&address, "/whoami", &[]).0, 401);
    assert_eq!(
        http_get(&address, "/whoami", &[("x-api-key", "globex-secret-0123456789")]),
        (200, r#"{"tenant":"globex"}"#.to_owned())
    );
    assert_eq!(terminate(&mut child).code(), Some(0));
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
