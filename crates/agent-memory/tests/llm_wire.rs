//! Wire-format tests of the HTTP chat clients against a local server that checks the
//! requests it receives and replays realistic OpenAI and Anthropic responses.

#![allow(clippy::unwrap_used)] // helpers of a test may panic: that is the test failing

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent_memory::llm::{
    ChatModel, ChatRequest, FinishReason, LlmConfig, LlmError, Provider, RetryPolicy, ToolDefinition, Usage,
};
use agent_memory::message::{Message, ToolCall};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One canned answer of the local server.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    body: String,
    delay: Duration,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply { status, headers: Vec::new(), body: body.to_string(), delay: Duration::ZERO }
    }

    fn header(mut self, name: &'static str, value: &'static str) -> Reply {
        self.headers.push((name, value));
        self
    }

    fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// A request the local server received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: Value,
}

#[derive(Default)]
struct ServerState {
    replies: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
}

struct LocalServer {
    url: String,
    state: Arc<ServerState>,
}

impl LocalServer {
    async fn start(replies: Vec<Reply>) -> LocalServer {
        let state = Arc::new(ServerState { replies: Mutex::new(replies.into()), seen: Mutex::default() });
        let app = Router::new().fallback(answer).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        LocalServer { url, state }
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }
}

async fn answer(State(state): State<Arc<ServerState>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.seen.lock().unwrap().push(Seen { path: uri.path().to_owned(), headers, body });
    let reply = state.replies.lock().unwrap().pop_front();
    let Some(reply) = reply else {
        return (StatusCode::IM_A_TEAPOT, "no reply scripted").into_response();
    };
    tokio::time::sleep(reply.delay).await;
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    for (name, value) in reply.headers {
        headers.insert(name, value.parse().unwrap());
    }
    (StatusCode::from_u16(reply.status).unwrap(), headers, reply.body).into_response()
}

fn fast_retries(max_retries: u32) -> RetryPolicy {
    RetryPolicy { max_retries, initial_backoff: Duration::from_millis(5), max_backoff: Duration::from_millis(50) }
}

fn openai(server: &LocalServer, retry: RetryPolicy) -> Arc<dyn ChatModel> {
    let config = LlmConfig {
        api_key: Some("sk-test".into()),
        base_url: Some(format!("{}/v1", server.url)),
        retry,
        ..LlmConfig::new(Provider::OpenAi, "gpt-4o-mini")
    };
    config.connect().unwrap()
}

fn anthropic(server: &LocalServer, retry: RetryPolicy) -> Arc<dyn ChatModel> {
    let config = LlmConfig {
        api_key: Some("sk-ant-test".into()),
        base_url: Some(server.url.clone()),
        retry,
        ..LlmConfig::new(Provider::Anthropic, "claude-haiku-4-5")
    };
    config.connect().unwrap()
}

fn weather_tool() -> ToolDefinition {
    ToolDefinition {
        name: "get_weather".into(),
        description: "Current weather in a city".into(),
        parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    }
}

/// A conversation that went through one tool round trip.
fn tool_round_trip() -> Vec<Message> {
    let mut user = Message::user("Weather in Paris?").with_id("m1");
    user.metadata.insert("turn".into(), json!(1));
    vec![
        Message::system("Be brief."),
        user,
        Message::assistant_tool_calls(vec![ToolCall::new("call_abc", "get_weather", &json!({"city": "Paris"}))]),
        Message::tool("call_abc", "18°C, sunny"),
    ]
}

#[tokio::test]
async fn openai_text_reply() {
    let server = LocalServer::start(vec![Reply::json(
        200,
        json!({
            "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
            "object": "chat.completion",
            "created": 1741569952,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! How can I help?", "refusal": null, "annotations": []},
                "logprobs": null,
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
                      "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0}},
            "service_tier": "default",
            "system_fingerprint": "fp_06737a9306"
        }),
    )])
    .await;
    let model = openai(&server, RetryPolicy::none());
    let request =
        ChatRequest::new(vec![Message::system("Be brief."), Message::user("Hi").with_id("u1")]).with_max_tokens(50);
    let response = model.chat(&request).await.unwrap();

    assert_eq!(response.message, Message::assistant("Hello! How can I help?"));
    assert_eq!(response.usage, Usage { input_tokens: 19, output_tokens: 10 });
    assert_eq!(response.finish_reason, Some(FinishReason::Stop));
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(seen[0].headers["authorization"], "Bearer sk-test");
    assert_eq!(seen[0].headers["content-type"], "application/json");
    assert_eq!(
        seen[0].body,
        json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            "max_completion_tokens": 50
        })
    );
}

#[tokio::test]
async fn openai_tool_calls_round_trip() {
    let server = LocalServer::start(vec![Reply::json(
        200,
        json!({
            "id": "chatcmpl-abc",
            "object": "chat.completion",
            "created": 1741570283,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": null,
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}},
                        {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}
                    ],
                    "refusal": null,
                    "annotations": []
                },
                "logprobs": null,
                "finish_reason": "tool_calls"
            }],
            "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99}
        }),
    )])
    .await;
    let model = openai(&server, RetryPolicy::none());
    let request = ChatRequest::new(tool_round_trip()).with_tools(vec![weather_tool()]).with_temperature(0.0);
    let response = model.chat(&request).await.unwrap();

    assert_eq!(
        response.message.tool_calls,
        vec![
            ToolCall::new("call_1", "get_weather", &json!({"city": "Rome"})),
            ToolCall::new("call_2", "get_weather", &json!({"city": "Oslo"})),
        ]
    );
    assert_eq!(response.message.content, None);
    assert_eq!(response.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(
        server.seen()[0].body,
        json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "content": "18°C, sunny", "tool_call_id": "call_abc"}
            ],
            "tools": [{"type": "function", "function": {
                "name": "get_weather",
                "description": "Current weather in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
            }}],
            "temperature": 0.0
        })
    );
}

#[tokio::test]
async fn openai_compatible_servers_get_max_tokens_and_no_key() {
    let server = LocalServer::start(vec![Reply::json(
        200,
        json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "smollm2",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}),
    )])
    .await;
    let config = LlmConfig {
        base_url: Some(format!("{}/v1/", server.url)),
        ..LlmConfig::new(Provider::OpenAiCompatible, "smollm2")
    };
    let model = config.connect().unwrap();
    let response = model.chat(&ChatRequest::new(vec![Message::user("hi")]).with_max_tokens(8)).await.unwrap();
    assert_eq!(response.message.text(), "Hi");
    let seen = server.seen();
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert!(seen[0].headers.get("authorization").is_none());
    assert_eq!(
        seen[0].body,
        json!({"model": "smollm2", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8})
    );
}

#[tokio::test]
async fn openai_error_bodies_name_provider_status_and_message() {
    let server = LocalServer::start(vec![Reply::json(
        401,
        json!({"error": {
            "message": "Incorrect API key provided: sk-test. You can find your API key at https://platform.openai.com/account/api-keys.",
            "type": "invalid_request_error",
            "param": null,
            "code": "invalid_api_key"
        }}),
    )])
    .await;
    let model = openai(&server, fast_retries(3));
    let err = model.chat(&ChatRequest::new(vec![Message::user("hi")])).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "openai returned HTTP 401: Incorrect API key provided: sk-test. You can find your API key at \
         https://platform.openai.com/account/api-keys. (invalid_request_error)"
    );
    assert!(matches!(err, LlmError::Status { status: 401, .. }));
    assert_eq!(server.seen().len(), 1, "a 401 is not retried");
}

#[tokio::test]
async fn llama_cpp_validation_errors_are_readable() {
    let server = LocalServer::start(vec![Reply::json(
        422,
        json!({"detail": [{"type": "string_type", "loc": ["body", "messages", 1, "content"],
                           "msg": "Input should be a valid string", "input": null}]}),
    )])
    .await;
    let config =
        LlmConfig { base_url: Some(format!("{}/v1", server.url)), ..LlmConfig::new(Provider::OpenAiCompatible, "m") };
    let err = config.connect().unwrap().chat(&ChatRequest::new(vec![Message::user("hi")])).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "openai-compatible returned HTTP 422: [{\"type\":\"string_type\",\"loc\":[\"body\",\"messages\",1,\"content\"],\
         \"msg\":\"Input should be a valid string\",\"input\":null}]"
    );
}

#[tokio::test]
async fn rate_limits_are_retried_honouring_retry_after() {
    let rate_limited = json!({"error": {"message": "Rate limit reached for gpt-4o-mini in organization org-x on requests per min (RPM): Limit 3, Used 3, Requested 1.",
                                        "type": "requests", "param": null, "code": "rate_limit_exceeded"}});
    let ok = json!({"id": "chatcmpl-2", "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "done"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}});
    let server =
        LocalServer::start(vec![Reply::json(429, rate_limited).header("retry-after-ms", "300"), Reply::json(200, ok)])
            .await;
    let policy =
        RetryPolicy { max_retries: 2, initial_backoff: Duration::from_millis(1), max_backoff: Duration::from_secs(5) };
    let started = Instant::now();
    let response = openai(&server, policy).chat(&ChatRequest::new(vec![Message::user("hi")])).await.unwrap();
    assert_eq!(response.message.text(), "done");
    assert!(started.elapsed() >= Duration::from_millis(300), "Retry-After was not honoured: {:?}", started.elapsed());
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, seen[1].body);
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let server = LocalServer::start(vec![
        Reply::json(500, json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error"}})),
        Reply::json(502, json!({"error": {"message": "Bad gateway.", "type": "cf_bad_gateway"}})),
        Reply::json(503, json!({"error": {"message": "The engine is currently overloaded.", "type": "server_error"}})),
    ])
    .await;
    let err = openai(&server, fast_retries(2)).chat(&ChatRequest::new(vec![Message::user("hi")])).await.unwrap_err();
    assert_eq!(err.to_string(), "openai returned HTTP 503: The engine is currently overloaded. (server_error)");
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let slow = || Reply::json(200, json!({})).delayed(Duration::from_secs(5));
    let server = LocalServer::start(vec![slow(), slow()]).await;
    let config = LlmConfig {
        base_url: Some(format!("{}/v1", server.url)),
        timeout: Duration::from_millis(200),
        retry: fast_retries(1),
        ..LlmConfig::new(Provider::Ollama, "llama3.2")
    };
    let started = Instant::now();
    let err = config.connect().unwrap().chat(&ChatRequest::new(vec![Message::user("hi")])).await.unwrap_err();
    assert_eq!(err.to_string(), "ollama did not answer within 200ms");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn unreachable_servers_are_named() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let config =
        LlmConfig { base_url: Some(url.clone()), retry: RetryPolicy::none(), ..LlmConfig::new(Provider::Ollama, "m") };
    let err = config.connect().unwrap().chat(&ChatRequest::new(vec![Message::user("hi")])).await.unwrap_err();
    match &err {
        LlmError::Connection { provider, url: failed, .. } => {
            assert_eq!(provider, "ollama");
            assert_eq!(failed, &format!("{url}/chat/completions"));
        }
        other => panic!("expected a connection error, got {other:?}"),
    }
    assert!(err.to_string().starts_with(&format!("cannot reach ollama at {url}/chat/completions: ")), "{err}");
}

#[tokio::test]
async fn anthropic_text_reply() {
    let server = LocalServer::start(vec![Reply::json(
        200,
        json!({
            "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5-20251001",
            "content": [{"type": "text", "text": "Hi! How can I help you today?"}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                      "output_tokens": 12, "service_tier": "standard"}
        }),
    )])
    .await;
    let model = anthropic(&server, RetryPolicy::none());
    let request = ChatRequest::new(vec![Message::system("Be brief."), Message::user("Hi").with_id("u1")]);
    let response = model.chat(&request).await.unwrap();

    assert_eq!(response.message, Message::assistant("Hi! How can I help you today?"));
    assert_eq!(response.usage, Usage { input_tokens: 12, output_tokens: 12 });
    assert_eq!(response.finish_reason, Some(FinishReason::Stop));
    let seen = server.seen();
    assert_eq!(seen[0].path, "/v1/messages");
    assert_eq!(seen[0].headers["x-api-key"], "sk-ant-test");
    assert_eq!(seen[0].headers["anthropic-version"], "2023-06-01");
    assert!(seen[0].headers.get("authorization").is_none());
    assert_eq!(
        seen[0].body,
        json!({"model": "claude-haiku-4-5", "max_tokens": 4096, "system": "Be brief.",
               "messages": [{"role": "user", "content": "Hi"}]})
    );
}

#[tokio::test]
async fn anthropic_tool_use_round_trip() {
    let server = LocalServer::start(vec![Reply::json(
        200,
        json!({
            "id": "msg_01Aq9w938a90dw8q",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5-20251001",
            "content": [
                {"type": "text", "text": "I'll check Rome too."},
                {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"city": "Rome"}}
            ],
            "stop_reason": "tool_use",
            "stop_sequence": null,
            "usage": {"input_tokens": 472, "output_tokens": 91}
        }),
    )])
    .await;
    let model = anthropic(&server, RetryPolicy::none());
    let mut messages = tool_round_trip();
    messages[3].extra.insert("is_error".into(), json!(true));
    let request = ChatRequest::new(messages).with_tools(vec![weather_tool()]).with_max_tokens(256);
    let response = model.chat(&request).await.unwrap();

    assert_eq!(response.message.text(), "I'll check Rome too.");
    assert_eq!(
        response.message.tool_calls,
        vec![ToolCall::new("toolu_01A09q90qw90lq917835lq9", "get_weather", &json!({"city": "Rome"}))]
    );
    assert_eq!(response.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(response.usage, Usage { input_tokens: 472, output_tokens: 91 });
    assert_eq!(
        server.seen()[0].body,
        json!({
            "model": "claude-haiku-4-5",
            "max_tokens": 256,
            "system": "Be brief.",
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_abc", "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_abc", "content": "18°C, sunny", "is_error": true}]}
            ],
            "tools": [{"name": "get_weather", "description": "Current weather in a city",
                       "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
        })
    );
}

#[tokio::test]
async fn anthropic_overload_is_retried_and_bad_requests_are_reported() {
    let overloaded = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"},
                            "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"});
    let invalid = json!({"type": "error", "error": {"type": "invalid_request_error",
                         "message": "messages.0.content: Field required"}});
    let server =
        LocalServer::start(vec![Reply::json(529, overloaded).header("retry-after", "0"), Reply::json(400, invalid)])
            .await;
    let err = anthropic(&server, fast_retries(3)).chat(&ChatRequest::new(vec![Message::user("hi")])).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "anthropic returned HTTP 400: messages.0.content: Field required (invalid_request_error)"
    );
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn anthropic_rejects_non_object_tool_arguments_before_sending() {
    let server = LocalServer::start(vec![]).await;
    let call = ToolCall { id: "t1".into(), name: "f".into(), arguments: "[1, 2]".into() };
    let request = ChatRequest::new(vec![Message::user("hi"), Message::assistant_tool_calls(vec![call])]);
    let err = anthropic(&server, RetryPolicy::none()).chat(&request).await.unwrap_err();
    assert!(
        err.to_string().starts_with(
            "cannot build a request for anthropic: message 1: Anthropic needs tool call arguments to be a JSON object"
        ),
        "{err}"
    );
    assert!(server.seen().is_empty());
}
