//! End to end against a real OpenAI-compatible server: llama-cpp-python's server with
//! SmolLM2-135M-Instruct, both installed by `scripts/deps/llama.sh`
//! (`AGENT_MEMORY_TEST_LLAMA_PYTHON`, `AGENT_MEMORY_TEST_LLAMA_MODEL`). Runs with the
//! `e2e-llama-cpp` feature (`scripts/test` enables all features); it fails, rather than
//! skips, when the server is not installed.
//!
//! The 135M model writes poor prose, so these tests check the protocol (the server accepts
//! what the client sends, the client reads what the server answers), not the quality.

#![cfg(feature = "e2e-llama-cpp")]
#![allow(clippy::unwrap_used)] // helpers of a test may panic: that is the test failing

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_memory::agent::Agent;
use agent_memory::llm::{ChatModel, ChatRequest, LlmConfig, Provider, RetryPolicy, ToolDefinition};
use agent_memory::message::{Message, ToolCall};
use agent_memory::session::InMemorySessions;
use agent_memory::summarize::{LlmSummarizer, SummarizeOptions, summarize_messages};
use serde_json::json;

/// The server process, killed when dropped.
struct LlamaServer {
    child: Child,
    base_url: String,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set; run `eval \"$(scripts/deps/llama.sh)\"` first"))
}

async fn start_server() -> LlamaServer {
    let python = env("AGENT_MEMORY_TEST_LLAMA_PYTHON");
    let model = env("AGENT_MEMORY_TEST_LLAMA_MODEL");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(python)
        .args(["-m", "llama_cpp.server", "--model", &model, "--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--n_ctx", "2048", "--chat_format", "chatml-function-calling", "--verbose", "false"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = LlamaServer { child, base_url: format!("http://127.0.0.1:{port}/v1") };
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(90), "the llama.cpp server did not start within 90 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server
}

fn model(server: &LlamaServer) -> Arc<dyn ChatModel> {
    let config = LlmConfig {
        base_url: Some(server.base_url.clone()),
        timeout: Duration::from_secs(120),
        retry: RetryPolicy::standard(),
        max_tokens: Some(48),
        ..LlmConfig::new(Provider::OpenAiCompatible, "smollm2")
    };
    config.connect().unwrap()
}

#[tokio::test]
async fn a_real_openai_compatible_server_accepts_our_requests() {
    let server = start_server().await;
    let model = model(&server);

    // Plain text, with usage.
    let request =
        ChatRequest::new(vec![Message::system("Answer in one short sentence."), Message::user("What is Rust?")])
            .with_temperature(0.0);
    let response = model.chat(&request).await.unwrap();
    assert!(!response.message.text().trim().is_empty(), "{response:?}");
    assert!(response.message.tool_calls.is_empty());
    assert!(response.usage.input_tokens > 0 && response.usage.output_tokens > 0, "{:?}", response.usage);
    assert!(response.finish_reason.is_some());

    // A tool round trip: the assistant tool-call turn goes out with "content": "", which
    // this server requires (with null it answers HTTP 500; checked by hand with curl).
    let weather = ToolDefinition {
        name: "get_weather".into(),
        description: "Current weather in a city".into(),
        parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    };
    let request = ChatRequest::new(vec![
        Message::user("What is the weather in Paris?"),
        Message::assistant_tool_calls(vec![ToolCall::new("call_1", "get_weather", &json!({"city": "Paris"}))]),
        Message::tool("call_1", "18°C and sunny"),
    ])
    .with_tools(vec![weather])
    .with_temperature(0.0);
    let response = model.chat(&request).await.unwrap();
    assert!(!response.message.text().trim().is_empty() || !response.message.tool_calls.is_empty(), "{response:?}");

    // The agent loop and a session, end to end.
    let agent = Agent::builder(model.clone())
        .system("You are a helpful assistant.")
        .sessions(Arc::new(InMemorySessions::new()))
        .max_tokens(32)
        .temperature(0.0)
        .build()
        .unwrap();
    let first = agent.run("Hi, I'm Bob.", Some("thread_123")).await.unwrap();
    let second = agent.run("What's my name?", Some("thread_123")).await.unwrap();
    assert_eq!(first.steps, 1);
    assert_eq!(second.messages[..3], first.messages[..]);
    assert_eq!(second.messages[3], Message::user("What's my name?"));
    assert!(second.usage.input_tokens > first.usage.input_tokens);

    // Summarization through the real server.
    let conversation = vec![
        Message::user("I'm Bob and I like Rust."),
        Message::assistant("Nice to meet you, Bob."),
        Message::user("I also like tea."),
        Message::assistant("Tea is great."),
    ];
    let summarizer = LlmSummarizer::new(model).with_max_tokens(48);
    let result = summarize_messages(&conversation, &SummarizeOptions::keep_last(1), &summarizer).await.unwrap();
    assert!(!result.summary.is_empty());
    assert_eq!((result.summarized_count, result.kept_count, result.messages.len()), (3, 1, 2));
}
