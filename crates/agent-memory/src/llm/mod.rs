//! Chat models: the [`ChatModel`] seam and its providers.
//!
//! * [`OpenAiChat`]: any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM,
//!   llama.cpp's server, OpenRouter, Groq, …) at a configurable base URL;
//! * [`AnthropicChat`]: Anthropic's Messages API;
//! * [`ScriptedChat`]: replays given responses and records the requests it saw (tests).
//!
//! [`LlmConfig`] selects a provider as the seed does (`provider = "openai"`,
//! `model = "gpt-4o-mini"`), reading keys and base URLs from the usual environment
//! variables, and [`LlmConfig::connect`] builds the client. HTTP clients retry 429 and
//! 5xx answers with exponential backoff and jitter (honouring `Retry-After`) and name the
//! provider, the HTTP status and the provider's own message in their errors.
//!
//! # Examples
//!
//! ```
//! use agent_memory::llm::{ChatModel, ChatRequest, ScriptedChat};
//! use agent_memory::message::Message;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), agent_memory::llm::LlmError> {
//! let model = ScriptedChat::new([Message::assistant("Hello, Bob.")]);
//! let response = model.chat(&ChatRequest::new(vec![Message::user("Hi, I'm Bob")])).await?;
//! assert_eq!(response.message.text(), "Hello, Bob.");
//! assert_eq!(model.requests()[0].messages, vec![Message::user("Hi, I'm Bob")]);
//! # Ok(())
//! # }
//! ```

mod anthropic;
mod config;
mod http;
mod openai;
mod scripted;

use std::fmt;
use std::ops::{Add, AddAssign};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::message::Message;

pub use anthropic::AnthropicChat;
pub use config::{LlmConfig, Provider};
pub use http::RetryPolicy;
pub use openai::OpenAiChat;
pub use scripted::ScriptedChat;

/// Why a chat model call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// No model is configured, or the configuration is incomplete; the message says how
    /// to configure one.
    #[error("no LLM configured: {0}")]
    NotConfigured(String),
    /// The provider answered with an error status.
    #[error("{provider} returned HTTP {status}: {message}")]
    Status {
        /// The provider's name (`openai`, `anthropic`, …).
        provider: String,
        /// The HTTP status code.
        status: u16,
        /// The provider's own error message (or the start of the body).
        message: String,
    },
    /// The request did not complete within the configured timeout.
    #[error("{provider} did not answer within {timeout:?}")]
    Timeout {
        /// The provider's name.
        provider: String,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// The provider could not be reached (connection refused, DNS, TLS, …).
    #[error("cannot reach {provider} at {url}: {message}")]
    Connection {
        /// The provider's name.
        provider: String,
        /// The URL that was requested.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The provider answered 2xx with a body this crate cannot read.
    #[error("{provider} sent an unexpected response: {message}")]
    InvalidResponse {
        /// The provider's name.
        provider: String,
        /// What is wrong with it.
        message: String,
    },
    /// The request cannot be expressed in the provider's format (for example tool call
    /// arguments that Anthropic does not accept).
    #[error("cannot build a request for {provider}: {message}")]
    InvalidRequest {
        /// The provider's name.
        provider: String,
        /// What is wrong with it.
        message: String,
    },
    /// A [`ScriptedChat`] was called more often than it has responses.
    #[error("the scripted model has no response left for request {request} (it was given {given})")]
    ScriptExhausted {
        /// The 1-based number of the request that found no response.
        request: usize,
        /// How many responses the script held.
        given: usize,
    },
}

impl LlmError {
    /// True for failures worth retrying: 408, 409, 429 and 5xx statuses, timeouts and
    /// connection failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Status { status, .. } => matches!(status, 408 | 409 | 429) || *status >= 500,
            LlmError::Timeout { .. } | LlmError::Connection { .. } => true,
            _ => false,
        }
    }
}

/// A tool the model may call: its name, what it does and a JSON Schema of its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDefinition {
    /// The name the model uses to call it.
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// A JSON Schema (an object schema) of the arguments.
    pub parameters: Value,
}

/// One call to a chat model: the conversation, the tools it may call and sampling options.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The conversation so far, system messages included.
    pub messages: Vec<Message>,
    /// The tools the model may call (none: a plain completion).
    pub tools: Vec<ToolDefinition>,
    /// The most tokens to generate; `None` leaves the provider's default (Anthropic, which
    /// requires a value, gets the client's default).
    pub max_tokens: Option<u32>,
    /// Sampling temperature; `None` leaves the provider's default.
    pub temperature: Option<f32>,
}

impl ChatRequest {
    /// A request with these messages, no tools and default options.
    pub fn new(messages: Vec<Message>) -> ChatRequest {
        ChatRequest { messages, tools: Vec::new(), max_tokens: None, temperature: None }
    }

    /// Sets the tools the model may call.
    pub fn with_tools(mut self, tools: Vec<ToolDefinition>) -> ChatRequest {
        self.tools = tools;
        self
    }

    /// Sets the most tokens to generate.
    pub fn with_max_tokens(mut self, max_tokens: u32) -> ChatRequest {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets the sampling temperature.
    pub fn with_temperature(mut self, temperature: f32) -> ChatRequest {
        self.temperature = Some(temperature);
        self
    }
}

/// Tokens used by one or more model calls, as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Usage {
    /// Tokens read (the prompt).
    pub input_tokens: u64,
    /// Tokens written (the completion).
    pub output_tokens: u64,
}

impl Usage {
    /// Input plus output tokens.
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

impl Add for Usage {
    type Output = Usage;

    fn add(self, other: Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens + other.input_tokens,
            output_tokens: self.output_tokens + other.output_tokens,
        }
    }
}

impl AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        *self = *self + other;
    }
}

/// Why the model stopped writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    /// It finished its answer.
    Stop,
    /// It wants the requested tool calls run.
    ToolCalls,
    /// It hit the token limit.
    Length,
    /// The provider filtered the content.
    ContentFilter,
    /// Anything else, as the provider named it.
    Other(String),
}

impl fmt::Display for FinishReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FinishReason::Stop => f.write_str("stop"),
            FinishReason::ToolCalls => f.write_str("tool_calls"),
            FinishReason::Length => f.write_str("length"),
            FinishReason::ContentFilter => f.write_str("content_filter"),
            FinishReason::Other(other) => f.write_str(other),
        }
    }
}

/// What a chat model answered: an assistant message (text and/or tool calls) and usage.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// The assistant's message; its `tool_calls` are the calls it requests.
    pub message: Message,
    /// Tokens this call used (zero when the provider does not report them).
    pub usage: Usage,
    /// Why it stopped, when the provider says.
    pub finish_reason: Option<FinishReason>,
}

impl From<Message> for ChatResponse {
    /// A response carrying `message`, zero usage and a finish reason that follows from it
    /// (tool calls or stop).
    fn from(message: Message) -> ChatResponse {
        let finish_reason = if message.tool_calls.is_empty() { FinishReason::Stop } else { FinishReason::ToolCalls };
        ChatResponse { message, usage: Usage::default(), finish_reason: Some(finish_reason) }
    }
}

/// A chat model: messages and tool definitions in, an assistant message and usage out.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// The provider's name, used in errors and logs (`openai`, `anthropic`, `scripted`, …).
    fn provider(&self) -> &str;

    /// The model's name as sent to the provider.
    fn model(&self) -> &str;

    /// Sends one request and returns the model's answer.
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError>;
}
