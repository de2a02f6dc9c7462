//! `serve --otel-endpoint`: request spans reach a real OTLP/HTTP receiver (a tiny local
//! endpoint that decodes the protobuf export requests), with their names and attributes.
#![cfg(feature = "otel")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;

mod common;

const ACME_KEY: &str = "acme-secret-0123456789";

type Received = Arc<Mutex<Vec<ExportTraceServiceRequest>>>;

async fn receive(State(received): State<Received>, body: Bytes) -> ([(&'static str, &'static str); 1], Vec<u8>) {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export request");
    received.lock().expect("lock").push(request);
    // An empty ExportTraceServiceResponse.
    ([("content-type", "application/x-protobuf")], Vec::new())
}

fn text(value: Option<&AnyValue>) -> Option<&str> {
    match value?.value.as_ref()? {
        any_value::Value::StringValue(text) => Some(text),
        _ => None,
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| text(kv.value.as_ref()))
}

fn integer(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?.value.as_ref()? {
        any_value::Value::IntValue(value) => Some(*value),
        _ => None,
    }
}

fn get(address: &str, path: &str) -> u16 {
    send(address, "GET", path, "")
}

fn send(address: &str, method: &str, path: &str, body: &str) -> u16 {
    let mut stream = TcpStream::connect(address).expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nx-api-key: {ACME_KEY}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    response.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_are_exported_over_otlp_http() {
    let received: Received = Arc::default();
    let app = axum::Router::new().route("/v1/traces", post(receive)).with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let collector = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut command = Command::new(assert_cmd::cargo::cargo_bin!("agent-memory"));
    for (name, _) in std::env::vars() {
        if name.starts_with("AGENT_MEMORY_") || name.starts_with("OTEL_") {
            command.env_remove(name);
        }
    }
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", "memory", "--embedder", "none"])
        .args(["--otel-endpoint", &collector])
        .env("AGENT_MEMORY_API_KEYS", format!("acme:{ACME_KEY}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut server = common::ChildGuard::spawn(&mut command);
    let line = common::read_listening_line(&mut server);
    let address = line.strip_prefix("listening on http://").expect("listening line").to_owned();

    let statuses = tokio::task::spawn_blocking(move || {
        [
            get(&address, "/whoami"),
            get(&address, "/sessions/t1"),
            get(&address, "/no-such-route"),
            // No --chat-model: 503 chat_model_required.
            send(&address, "POST", "/context/summarize", r#"{"messages": [{"role": "user", "content": "hi"}]}"#),
        ]
    })
    .await
    .expect("requests");
    assert_eq!(statuses, [200, 200, 404, 503]);
    // SIGTERM: the server flushes its pending spans before it exits.
    let status = tokio::task::spawn_blocking(move || server.terminate()).await.expect("join");
    assert!(status.success());

    let requests = received.lock().expect("lock");
    let mut spans = Vec::new();
    for request in requests.iter() {
        for resource_spans in &request.resource_spans {
            let resource = resource_spans.resource.as_ref().expect("resource");
            assert_eq!(attribute(&resource.attributes, "service.name"), Some("agent-memory"));
            for scope in &resource_spans.scope_spans {
                for span in &scope.spans {
                    let get = |key| attribute(&span.attributes, key).map(str::to_owned);
                    let status = integer(&span.attributes, "http.response.status_code");
                    // The span status: 0 unset, 1 ok, 2 error.
                    let span_status = span.status.as_ref().map_or(0, |status| status.code);
                    spans.push((span.name.clone(), get("method"), get("path"), get("tenant"), status, span_status));
                }
            }
        }
    }
    let some = |s: &str| Some(s.to_owned());
    for expected in [
        ("request".to_owned(), some("GET"), some("/whoami"), some("acme"), Some(200), 0),
        ("request".to_owned(), some("GET"), some("/sessions/t1"), some("acme"), Some(200), 0),
        ("request".to_owned(), some("GET"), some("/no-such-route"), None, Some(404), 0),
        ("request".to_owned(), some("POST"), some("/context/summarize"), some("acme"), Some(503), 2),
    ] {
        assert!(spans.contains(&expected), "{expected:?} not in {spans:?}");
    }
}
