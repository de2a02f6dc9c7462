//! The Anthropic Messages API client.

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

use super::http::HttpTransport;
use super::{ChatModel, ChatRequest, ChatResponse, FinishReason, LlmConfig, LlmError, Usage};
use crate::message::{Message, anthropic};

/// The API version sent in `anthropic-version`.
const API_VERSION: &str = "2023-06-01";
/// The `max_tokens` sent when neither the request nor the configuration sets one
/// (Anthropic requires it).
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// A client for Anthropic's `POST {base_url}/v1/messages`.
///
/// Messages are converted with [`crate::message::anthropic::to_anthropic`]: system
/// messages become the `system` field, tool calls `tool_use` blocks and tool results
/// `tool_result` blocks (with `is_error` for failed tools). A conversation that starts
/// with an assistant turn (what trimming or summarizing leaves when the oldest kept message
/// is an answer) gets a [`AnthropicChat::LEADING_USER_TURN`] before it, since Anthropic requires the first
/// turn to be the user's; nothing else is added or dropped.
///
/// ```
/// use agent_memory::llm::{AnthropicChat, ChatModel, LlmConfig, Provider};
///
/// let config = LlmConfig { api_key: Some("sk-ant".into()), ..LlmConfig::new(Provider::Anthropic, "claude-haiku-4-5") };
/// let model = AnthropicChat::from_config(&config)?;
/// assert_eq!(model.endpoint(), "https://api.anthropic.com/v1/messages");
/// # Ok::<(), agent_memory::llm::LlmError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AnthropicChat {
    transport: HttpTransport,
    endpoint: String,
    api_key: Option<String>,
    model: String,
    max_tokens: u32,
}

impl AnthropicChat {
    /// The user turn put before a conversation whose first turn is the assistant's
    /// (Anthropic rejects those: "first message must use the user role"). Trimming and
    /// summarizing produce them when the oldest kept message is an answer.
    pub const LEADING_USER_TURN: &str = "(earlier conversation omitted)";

    /// A client for `config`. Does not check that a key is present; [`LlmConfig::connect`]
    /// does.
    pub fn from_config(config: &LlmConfig) -> Result<AnthropicChat, LlmError> {
        let base_url = config.base_url().unwrap_or("https://api.anthropic.com").trim_end_matches('/');
        let endpoint =
            if base_url.ends_with("/v1") { format!("{base_url}/messages") } else { format!("{base_url}/v1/messages") };
        Ok(AnthropicChat {
            transport: HttpTransport::new(config.provider.name(), config.timeout, config.retry.clone())?,
            endpoint,
            api_key: config.api_key.clone(),
            model: config.model.clone(),
            max_tokens: config.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        })
    }

    /// The URL requests are sent to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The JSON body sent for `request`; fails when a message cannot be expressed in
    /// Anthropic's shape (tool call arguments that are not a JSON object).
    pub fn request_body(&self, request: &ChatRequest) -> Result<Value, LlmError> {
        let converted = anthropic::to_anthropic(&request.messages).map_err(|err| LlmError::InvalidRequest {
            provider: self.provider().to_owned(),
            message: err.to_string(),
        })?;
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model));
        body.insert("max_tokens".into(), json!(request.max_tokens.unwrap_or(self.max_tokens)));
        if let Some(system) = converted.system {
            body.insert("system".into(), json!(system));
        }
        let mut messages = converted.messages;
        if messages.first().is_some_and(|first| first["role"] == "assistant") {
            messages.insert(0, json!({"role": "user", "content": Self::LEADING_USER_TURN}));
        }
        body.insert("messages".into(), Value::Array(messages));
        if !request.tools.is_empty() {
            let tools = request
                .tools
                .iter()
                .map(
                    |tool| json!({"name": tool.name, "description": tool.description, "input_schema": tool.parameters}),
                )
                .collect();
            body.insert("tools".into(), Value::Array(tools));
        }
        if let Some(temperature) = request.temperature {
            body.insert("temperature".into(), json!(temperature));
        }
        Ok(Value::Object(body))
    }
}

#[async_trait]
impl ChatModel for AnthropicChat {
    fn provider(&self) -> &str {
        self.transport.provider()
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let body = self.request_body(request)?;
        let mut headers = HeaderMap::new();
        headers.insert("anthropic-version", HeaderValue::from_static(API_VERSION));
        if let Some(key) = &self.api_key {
            let value = HeaderValue::from_str(key).map_err(|_| {
                LlmError::NotConfigured("the anthropic API key contains characters not allowed in a header".into())
            })?;
            headers.insert("x-api-key", value);
        }
        let answer = self.transport.post_json(&self.endpoint, headers, &body).await?;
        parse_response(self.provider(), &answer)
    }
}

fn parse_response(provider: &str, answer: &Value) -> Result<ChatResponse, LlmError> {
    let invalid = |message: String| LlmError::InvalidResponse { provider: provider.to_owned(), message };
    let content = match answer.get("content") {
        Some(Value::Array(blocks)) => blocks.clone(),
        _ => return Err(invalid("the response has no content array".into())),
    };
    let mut messages = anthropic::from_anthropic(None, &[json!({"role": "assistant", "content": content})])
        .map_err(|err| invalid(format!("cannot read its content: {err}")))?;
    let message = match messages.len() {
        0 => Message::assistant(""),
        1 => messages.remove(0),
        n => return Err(invalid(format!("its content became {n} messages, expected one"))),
    };
    let usage_field = |name: &str| answer["usage"][name].as_u64().unwrap_or(0);
    let usage = Usage {
        input_tokens: usage_field("input_tokens")
            + usage_field("cache_creation_input_tokens")
            + usage_field("cache_read_input_tokens"),
        output_tokens: usage_field("output_tokens"),
    };
    let finish_reason = answer["stop_reason"].as_str().map(|reason| match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "tool_use" => FinishReason::ToolCalls,
        "max_tokens" => FinishReason::Length,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    });
    Ok(ChatResponse { message, usage, finish_reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::Provider;

    #[test]
    fn base_urls_with_or_without_v1_reach_the_messages_endpoint() {
        let endpoint = |base: &str| {
            let config = LlmConfig { base_url: Some(base.into()), ..LlmConfig::new(Provider::Anthropic, "m") };
            AnthropicChat::from_config(&config).unwrap().endpoint().to_owned()
        };
        assert_eq!(endpoint("http://127.0.0.1:9/"), "http://127.0.0.1:9/v1/messages");
        assert_eq!(endpoint("http://127.0.0.1:9/v1"), "http://127.0.0.1:9/v1/messages");
    }

    #[test]
    fn a_conversation_trimmed_to_an_answer_gets_a_user_turn_first() {
        let model = AnthropicChat::from_config(&LlmConfig::new(Provider::Anthropic, "m")).unwrap();
        let trimmed = ChatRequest::new(vec![
            Message::system("Be brief."),
            Message::assistant("It is sunny."),
            Message::user("And tomorrow?"),
        ]);
        let body = model.request_body(&trimmed).unwrap();
        assert_eq!(
            body["messages"],
            json!([
                {"role": "user", "content": AnthropicChat::LEADING_USER_TURN},
                {"role": "assistant", "content": "It is sunny."},
                {"role": "user", "content": "And tomorrow?"},
            ])
        );
        assert_eq!(body["system"], "Be brief.");

        let untouched = ChatRequest::new(vec![Message::user("Hi"), Message::assistant("Hello.")]);
        assert_eq!(
            model.request_body(&untouched).unwrap()["messages"],
            json!([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}])
        );
    }

    #[test]
    fn usage_counts_cached_input_and_empty_content_is_an_empty_answer() {
        let response = parse_response(
            "anthropic",
            &json!({"content": [], "stop_reason": "end_turn",
                    "usage": {"input_tokens": 3, "cache_read_input_tokens": 100, "output_tokens": 1}}),
        )
        .unwrap();
        assert_eq!(response.message, Message::assistant(""));
        assert_eq!(response.usage, Usage { input_tokens: 103, output_tokens: 1 });
        assert_eq!(response.finish_reason, Some(FinishReason::Stop));
    }
}
