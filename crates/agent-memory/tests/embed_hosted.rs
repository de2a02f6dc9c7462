//! Hosted embedding providers against a local HTTP server that speaks each provider's wire
//! format: the requests are checked field by field, the responses are shaped like the real
//! ones, and failures (429, 5xx, 4xx, timeouts, malformed answers) are played back.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_memory::embed::{EmbedError, EmbedderOptions, connect, from_provider};
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Value,
}

/// What the server answers to the `n`th request (0-based).
struct Reply {
    status: StatusCode,
    headers: Vec<(&'static str, &'static str)>,
    body: Value,
    delay: Duration,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply { status: StatusCode::OK, headers: Vec::new(), body, delay: Duration::ZERO }
    }

    fn status(status: u16, body: Value) -> Reply {
        Reply { status: StatusCode::from_u16(status).unwrap(), ..Reply::ok(body) }
    }
}

type Responder = Arc<dyn Fn(&Seen, usize) -> Reply + Send + Sync>;

struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(responder: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Server {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let responder: Responder = Arc::new(responder);
    let app = Router::new().fallback({
        let seen = Arc::clone(&seen);
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let seen = Arc::clone(&seen);
            let responder = Arc::clone(&responder);
            async move {
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let request = Seen { method, path: uri.to_string(), headers, body };
                let n = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(request.clone());
                    seen.len() - 1
                };
                let reply = responder(&request, n);
                tokio::time::sleep(reply.delay).await;
                let mut response: Response = (reply.status, reply.body.to_string()).into_response();
                response.headers_mut().insert("content-type", "application/json".parse().unwrap());
                for (name, value) in reply.headers {
                    response.headers_mut().insert(name, value.parse().unwrap());
                }
                response
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { url, seen }
}

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|t| t.to_string()).collect()
}

/// Fast retries so the tests stay quick.
fn options(server: &Server, base_path: &str) -> EmbedderOptions {
    EmbedderOptions::new()
        .with_base_url(format!("{}{base_path}", server.url))
        .with_timeout(Duration::from_secs(5))
        .with_backoff(Duration::from_millis(10), Duration::from_millis(50))
}

/// A 3-d vector for text number `i`: [i, -i/2, 0.25].
fn vector(i: usize) -> Vec<f32> {
    vec![i as f32, -(i as f32) / 2.0, 0.25]
}

/// OpenAI's response to `inputs`, with the items in reverse order to check that `index`
/// is honoured.
fn openai_response(inputs: &Value, model: &str) -> Value {
    let n = inputs.as_array().unwrap().len();
    let data: Vec<Value> =
        (0..n).rev().map(|i| json!({ "object": "embedding", "index": i, "embedding": vector(i + 1) })).collect();
    json!({ "object": "list", "data": data, "model": model, "usage": { "prompt_tokens": 8, "total_tokens": 8 } })
}

fn header<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn openai_request_shape_and_response_order() {
    let server = serve(|seen, _| Reply::ok(openai_response(&seen.body["input"], "text-embedding-3-small"))).await;
    let embedder = from_provider("openai", None, &options(&server, "/v1").with_api_key("sk-test")).unwrap();
    assert_eq!(embedder.model_id(), "openai/text-embedding-3-small");
    assert_eq!(embedder.dimensions(), 1536);

    let server3 = serve(|seen, _| Reply::ok(openai_response(&seen.body["input"], "m"))).await;
    let embedder = from_provider(
        "openai",
        Some("text-embedding-3-small"),
        &options(&server3, "/v1").with_api_key("sk-test").with_dimensions(3),
    )
    .unwrap();
    assert_eq!(embedder.model_id(), "openai/text-embedding-3-small@3");
    let vectors = embedder.embed(&texts(&["first", "second"])).await.unwrap();
    assert_eq!(vectors, vec![vector(1), vector(2)]);

    let requests = server3.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/v1/embeddings"));
    assert_eq!(header(request, "authorization"), Some("Bearer sk-test"));
    assert_eq!(header(request, "content-type"), Some("application/json"));
    assert_eq!(
        request.body,
        json!({ "model": "text-embedding-3-small", "input": ["first", "second"], "encoding_format": "float", "dimensions": 3 })
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn openai_batches_to_the_batch_size_and_keeps_order() {
    let server = serve(|seen, _| Reply::ok(openai_response(&seen.body["input"], "m"))).await;
    let embedder =
        from_provider("openai", Some("m"), &options(&server, "/v1").with_api_key("k").with_batch_size(2)).unwrap();
    let vectors = embedder.embed(&texts(&["a", "b", "c", "d", "e"])).await.unwrap();
    // Each batch numbers its own items from 1.
    assert_eq!(vectors, vec![vector(1), vector(2), vector(1), vector(2), vector(1)]);
    let inputs: Vec<Value> = server.requests().iter().map(|r| r.body["input"].clone()).collect();
    assert_eq!(inputs, vec![json!(["a", "b"]), json!(["c", "d"]), json!(["e"])]);
    assert!(embedder.embed(&[]).await.unwrap().is_empty());
    assert_eq!(server.requests().len(), 3, "no request for no texts");
}

#[tokio::test]
async fn rate_limit_then_success_is_retried_honouring_retry_after() {
    let server = serve(|seen, n| match n {
        0 => Reply {
            headers: vec![("retry-after", "0")],
            ..Reply::status(
                429,
                json!({ "error": { "message": "Rate limit reached for text-embedding-3-small", "type": "requests", "code": "rate_limit_exceeded" } }),
            )
        },
        1 => Reply::status(502, json!({ "error": { "message": "Bad gateway", "type": "server_error" } })),
        _ => Reply::ok(openai_response(&seen.body["input"], "m")),
    })
    .await;
    let embedder = from_provider("openai", Some("m"), &options(&server, "/v1").with_api_key("k")).unwrap();
    let vector = embedder.embed_one("hello").await.unwrap();
    assert_eq!(vector, [1.0, -0.5, 0.25]);
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.body == requests[0].body), "the same request is sent again");
}

#[tokio::test]
async fn server_errors_give_up_after_the_configured_retries() {
    let server =
        serve(|_, _| Reply::status(503, json!({ "error": { "message": "The engine is currently overloaded" } }))).await;
    let embedder =
        from_provider("openai", Some("m"), &options(&server, "/v1").with_api_key("k").with_max_retries(2)).unwrap();
    let err = embedder.embed_one("hello").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "openai: http 503 Service Unavailable: The engine is currently overloaded (gave up after 3 attempts)"
    );
    assert!(matches!(err, EmbedError::Provider { ref provider, .. } if provider == "openai"));
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = serve(|_, _| {
        Reply::status(
            401,
            json!({ "error": { "message": "Incorrect API key provided: sk-bad.", "type": "invalid_request_error", "code": "invalid_api_key" } }),
        )
    })
    .await;
    let embedder = from_provider("openai", Some("m"), &options(&server, "/v1").with_api_key("sk-bad")).unwrap();
    let err = embedder.embed_one("hello").await.unwrap_err();
    assert_eq!(err.to_string(), "openai: http 401 Unauthorized: Incorrect API key provided: sk-bad.");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn timeouts_fail_with_the_provider_and_the_limit() {
    let slow = |seen: &Seen, _| Reply {
        delay: Duration::from_secs(3),
        ..Reply::ok(openai_response(&seen.body["input"], "m"))
    };
    let server = serve(slow).await;
    let options =
        options(&server, "/v1").with_api_key("k").with_timeout(Duration::from_millis(200)).with_max_retries(0);
    let embedder = from_provider("openai", Some("m"), &options).unwrap();
    let err = embedder.embed_one("hello").await.unwrap_err();
    assert_eq!(err.to_string(), format!("openai: timed out after 200 ms calling {}/v1/embeddings", server.url));
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let server = serve(|seen, n| Reply {
        delay: if n == 0 { Duration::from_secs(3) } else { Duration::ZERO },
        ..Reply::ok(openai_response(&seen.body["input"], "m"))
    })
    .await;
    let options = options(&server, "/v1").with_api_key("k").with_timeout(Duration::from_millis(200));
    let embedder = from_provider("openai", Some("m"), &options).unwrap();
    assert_eq!(embedder.embed_one("hello").await.unwrap(), [1.0, -0.5, 0.25]);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn unreachable_servers_are_named() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let options = EmbedderOptions::new().with_base_url(format!("{url}/v1")).with_max_retries(0);
    let embedder = from_provider("openai-compatible", Some("m"), &options).unwrap();
    let err = embedder.embed_one("hello").await.unwrap_err().to_string();
    assert!(err.starts_with(&format!("openai-compatible: cannot connect to {url}/v1/embeddings: ")), "{err}");
}

#[tokio::test]
async fn malformed_answers_are_errors() {
    let server = serve(|seen, n| match n {
        0 => Reply::ok(
            json!({ "object": "list", "data": [{ "object": "embedding", "index": 0, "embedding": [0.5, 0.5, 0.5] }] }),
        ),
        1 => Reply::ok(
            json!({ "object": "list", "data": [{ "object": "embedding", "index": 0, "embedding": "AAAAPw==" }] }),
        ),
        _ => Reply::ok(openai_response(&seen.body["input"], "m")),
    })
    .await;
    let embedder = from_provider("openai", Some("m"), &options(&server, "/v1").with_api_key("k")).unwrap();
    let err = embedder.embed(&texts(&["a", "b"])).await.unwrap_err();
    assert_eq!(err.to_string(), "openai: asked for 2 embeddings, got 1");
    let err = embedder.embed(&texts(&["a"])).await.unwrap_err();
    assert_eq!(err.to_string(), "openai: response item has no numeric `embedding` (was `encoding_format` ignored?)");

    // A model of a known size that answers with another size.
    let embedder = from_provider("openai", None, &options(&server, "/v1").with_api_key("k")).unwrap();
    let err = embedder.embed(&texts(&["a"])).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "openai: returned a vector of 3 dimensions, expected 1536 for openai/text-embedding-3-small"
    );
}

#[tokio::test]
async fn openai_compatible_servers_need_no_key() {
    let server = serve(|seen, _| Reply::ok(openai_response(&seen.body["input"], "bge-small"))).await;
    let embedder = connect("vllm", Some("BAAI/bge-small-en-v1.5"), &options(&server, "/v1/")).await.unwrap();
    assert_eq!(embedder.model_id(), "openai-compatible/BAAI/bge-small-en-v1.5");
    assert_eq!(embedder.dimensions(), 3, "learned by the probe");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/embeddings");
    assert_eq!(header(&requests[0], "authorization"), None);
    assert_eq!(requests[0].body["input"], json!(["dimension probe"]));
}

#[tokio::test]
async fn ollama_native_api() {
    let server = serve(|seen, _| {
        if seen.body["model"] != "nomic-embed-text" {
            return Reply::status(404, json!({ "error": format!("model \"{}\" not found, try pulling it first", seen.body["model"].as_str().unwrap()) }));
        }
        let n = seen.body["input"].as_array().unwrap().len();
        Reply::ok(json!({
            "model": "nomic-embed-text",
            "embeddings": (1..=n).map(vector).collect::<Vec<_>>(),
            "total_duration": 14143917,
            "load_duration": 1019500,
            "prompt_eval_count": 8
        }))
    })
    .await;
    let embedder = from_provider("ollama", Some("nomic-embed-text"), &options(&server, "")).unwrap();
    assert_eq!(embedder.model_id(), "ollama/nomic-embed-text");
    let err = embedder.embed(&texts(&["why is the sky blue?", "why is the grass green?"])).await.unwrap_err();
    // The table says 768; this server's model says 3: the mismatch is caught.
    assert_eq!(err.to_string(), "ollama: returned a vector of 3 dimensions, expected 768 for ollama/nomic-embed-text");

    let embedder = from_provider("ollama", Some("nomic-embed-text"), &options(&server, "").with_dimensions(3)).unwrap();
    let vectors = embedder.embed(&texts(&["why is the sky blue?", "why is the grass green?"])).await.unwrap();
    assert_eq!(vectors, vec![vector(1), vector(2)]);
    let request = &server.requests()[1];
    assert_eq!(request.path, "/api/embed");
    assert_eq!(
        request.body,
        json!({ "model": "nomic-embed-text", "input": ["why is the sky blue?", "why is the grass green?"], "truncate": true, "dimensions": 3 })
    );

    let missing = from_provider("ollama", Some("nope"), &options(&server, "")).unwrap();
    let err = missing.embed_one("x").await.unwrap_err();
    assert_eq!(err.to_string(), "ollama: http 404 Not Found: model \"nope\" not found, try pulling it first");
}

#[tokio::test]
async fn voyage_sends_input_type() {
    let server = serve(|seen, _| {
        let n = seen.body["input"].as_array().unwrap().len();
        let data: Vec<Value> =
            (0..n).map(|i| json!({ "object": "embedding", "embedding": vector(i + 1), "index": i })).collect();
        Reply::ok(json!({ "object": "list", "data": data, "model": "voyage-3", "usage": { "total_tokens": 10 } }))
    })
    .await;
    let embedder =
        from_provider("voyage", None, &options(&server, "/v1").with_api_key("pa-test").with_dimensions(3)).unwrap();
    assert_eq!(embedder.embed(&texts(&["doc one", "doc two"])).await.unwrap(), vec![vector(1), vector(2)]);
    assert_eq!(embedder.embed_query("which doc?").await.unwrap(), vector(1));
    let requests = server.requests();
    assert_eq!(requests[0].path, "/v1/embeddings");
    assert_eq!(header(&requests[0], "authorization"), Some("Bearer pa-test"));
    assert_eq!(
        requests[0].body,
        json!({ "model": "voyage-3", "input": ["doc one", "doc two"], "input_type": "document", "output_dimension": 3 })
    );
    assert_eq!(requests[1].body["input_type"], "query");
}

#[tokio::test]
async fn cohere_v2_embed() {
    let server = serve(|seen, _| {
        let texts = seen.body["texts"].clone();
        let n = texts.as_array().unwrap().len();
        Reply::ok(json!({
            "id": "da6e531f-4c54-4d64-a6b1-3a6b2d9b7d11",
            "embeddings": { "float": (1..=n).map(vector).collect::<Vec<_>>() },
            "texts": texts,
            "meta": { "api_version": { "version": "2" }, "billed_units": { "input_tokens": 4 } },
            "response_type": "embeddings_by_type"
        }))
    })
    .await;
    let options = options(&server, "/v2").with_api_key("co-test").with_dimensions(3).with_batch_size(1000);
    let embedder = from_provider("cohere", None, &options).unwrap();
    let many: Vec<String> = (0..100).map(|i| format!("text {i}")).collect();
    let vectors = embedder.embed(&many).await.unwrap();
    assert_eq!(vectors.len(), 100);
    assert_eq!((vectors[95].clone(), vectors[96].clone()), (vector(96), vector(1)), "96 texts per request at most");
    assert_eq!(embedder.embed_query("a query").await.unwrap(), vector(1));

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].path, "/v2/embed");
    assert_eq!(header(&requests[0], "authorization"), Some("Bearer co-test"));
    assert_eq!(requests[0].body["model"], "embed-english-v3.0");
    assert_eq!(requests[0].body["input_type"], "search_document");
    assert_eq!(requests[0].body["embedding_types"], json!(["float"]));
    assert_eq!(requests[0].body["texts"].as_array().unwrap().len(), 96);
    assert_eq!(requests[0].body["output_dimension"], 3);
    assert_eq!(requests[2].body["input_type"], "search_query");
}

#[tokio::test]
async fn gemini_batch_embed_contents() {
    let server = serve(|seen, _| {
        let n = seen.body["requests"].as_array().unwrap().len();
        Reply::ok(json!({ "embeddings": (1..=n).map(|i| json!({ "values": vector(i) })).collect::<Vec<_>>() }))
    })
    .await;
    let embedder = from_provider(
        "google_genai",
        Some("models/text-embedding-004"),
        &options(&server, "/v1beta").with_api_key("AIza-test"),
    )
    .unwrap();
    assert_eq!(embedder.model_id(), "gemini/text-embedding-004");
    let err = embedder.embed(&texts(&["a"])).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "gemini: returned a vector of 3 dimensions, expected 768 for gemini/text-embedding-004"
    );

    let embedder =
        from_provider("gemini", None, &options(&server, "/v1beta").with_api_key("AIza-test").with_dimensions(3))
            .unwrap();
    assert_eq!(embedder.embed(&texts(&["a", "b"])).await.unwrap(), vec![vector(1), vector(2)]);
    assert_eq!(embedder.embed_query("q").await.unwrap(), vector(1));
    let requests = server.requests();
    let request = &requests[1];
    assert_eq!(request.path, "/v1beta/models/text-embedding-004:batchEmbedContents");
    assert_eq!(header(request, "x-goog-api-key"), Some("AIza-test"));
    assert_eq!(header(request, "authorization"), None);
    assert_eq!(
        request.body,
        json!({ "requests": [
            { "model": "models/text-embedding-004", "content": { "parts": [{ "text": "a" }] }, "taskType": "RETRIEVAL_DOCUMENT", "outputDimensionality": 3 },
            { "model": "models/text-embedding-004", "content": { "parts": [{ "text": "b" }] }, "taskType": "RETRIEVAL_DOCUMENT", "outputDimensionality": 3 }
        ] })
    );
    assert_eq!(requests[2].body["requests"][0]["taskType"], "RETRIEVAL_QUERY");

    let failing = serve(|_, _| {
        Reply::status(400, json!({ "error": { "code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT" } }))
    })
    .await;
    let embedder = from_provider("gemini", None, &options(&failing, "/v1beta").with_api_key("bad")).unwrap();
    let err = embedder.embed_one("x").await.unwrap_err();
    assert_eq!(err.to_string(), "gemini: http 400 Bad Request: API key not valid. Please pass a valid API key.");
}
