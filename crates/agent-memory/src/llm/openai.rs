//! The OpenAI-compatible chat-completions client.

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

use super::http::{HttpTransport, error_message};
use super::{ChatModel, ChatRequest, ChatResponse, FinishReason, LlmConfig, LlmError, Provider, ToolDefinition, Usage};
use crate::message::{Message, Role};

/// A client for any OpenAI-compatible `POST {base_url}/chat/completions` endpoint:
/// OpenAI, Ollama, vLLM, llama.cpp's server, OpenRouter, Groq, LM Studio, …
///
/// Messages go out as [`Message::to_value`] without this crate's `id` and `metadata`
/// fields; an assistant turn without text (one that only calls tools) is sent with
/// `"content": ""`, which llama.cpp's server requires. Provider fields of the answer that
/// this crate does not model (`refusal`, `reasoning_content`, …) are kept in the answer's
/// [`Message::metadata`], so they are not sent back.
///
/// ```
/// use agent_memory::llm::{ChatModel, LlmConfig, OpenAiChat, Provider};
///
/// let config = LlmConfig { base_url: Some("http://127.0.0.1:11434/v1".into()), ..LlmConfig::new(Provider::Ollama, "llama3.2") };
/// let model = OpenAiChat::from_config(&config)?;
/// assert_eq!((model.provider(), model.model()), ("ollama", "llama3.2"));
/// assert_eq!(model.endpoint(), "http://127.0.0.1:11434/v1/chat/completions");
/// # Ok::<(), agent_memory::llm::LlmError>(())
/// ```
#[derive(Debug, Clone)]
pub struct OpenAiChat {
    transport: HttpTransport,
    endpoint: String,
    api_key: Option<String>,
    model: String,
    max_tokens_field: &'static str,
    default_max_tokens: Option<u32>,
}

impl OpenAiChat {
    /// A client for `config` (any provider but Anthropic). Does not check that a key is
    /// present; [`LlmConfig::connect`] does.
    pub fn from_config(config: &LlmConfig) -> Result<OpenAiChat, LlmError> {
        let provider = config.provider.name();
        if config.provider == Provider::Anthropic {
            return Err(LlmError::NotConfigured(
                "anthropic does not speak the chat-completions format; use AnthropicChat".into(),
            ));
        }
        let base_url = config.base_url().ok_or_else(|| {
            LlmError::NotConfigured(format!("{provider} needs a base URL: set {}", config.provider.base_url_var()))
        })?;
        Ok(OpenAiChat {
            transport: HttpTransport::new(provider, config.timeout, config.retry.clone())?,
            endpoint: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            api_key: config.api_key.clone(),
            model: config.model.clone(),
            // OpenAI deprecated `max_tokens` (reasoning models reject it); other servers
            // only know `max_tokens`.
            max_tokens_field: if config.provider == Provider::OpenAi { "max_completion_tokens" } else { "max_tokens" },
            default_max_tokens: config.max_tokens,
        })
    }

    /// The URL requests are sent to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The JSON body sent for `request`.
    pub fn request_body(&self, request: &ChatRequest) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model));
        body.insert("messages".into(), Value::Array(request.messages.iter().map(wire_message).collect()));
        if !request.tools.is_empty() {
            body.insert("tools".into(), Value::Array(request.tools.iter().map(wire_tool).collect()));
        }
        if let Some(max_tokens) = request.max_tokens.or(self.default_max_tokens) {
            body.insert(self.max_tokens_field.into(), json!(max_tokens));
        }
        if let Some(temperature) = request.temperature {
            body.insert("temperature".into(), json!(temperature));
        }
        Value::Object(body)
    }
}

#[async_trait]
impl ChatModel for OpenAiChat {
    fn provider(&self) -> &str {
        self.transport.provider()
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &self.api_key {
            let value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                LlmError::NotConfigured(format!(
                    "the {} API key contains characters not allowed in a header",
                    self.provider()
                ))
            })?;
            headers.insert(AUTHORIZATION, value);
        }
        let body = self.request_body(request);
        let answer = self.transport.post_json(&self.endpoint, headers, &body).await?;
        parse_response(self.provider(), answer)
    }
}

fn wire_message(message: &Message) -> Value {
    let mut value = message.to_value();
    if let Value::Object(map) = &mut value {
        map.remove("id");
        map.remove("metadata");
        // Our marker for failed tool results (Anthropic's `is_error`); not an OpenAI field.
        map.remove("is_error");
        if message.role == Role::Assistant && map.get("content") == Some(&Value::Null) {
            map.insert("content".into(), json!(""));
        }
    }
    value
}

fn wire_tool(tool: &ToolDefinition) -> Value {
    json!({
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
    })
}

fn parse_response(provider: &str, mut answer: Value) -> Result<ChatResponse, LlmError> {
    let invalid = |message: String| LlmError::InvalidResponse { provider: provider.to_owned(), message };
    if answer.get("choices").is_none() && answer.get("error").is_some() {
        return Err(invalid(error_message(&answer.to_string(), None)));
    }
    let usage = Usage {
        input_tokens: answer["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
        output_tokens: answer["usage"]["completion_tokens"].as_u64().unwrap_or(0),
    };
    let choice = match answer.get_mut("choices").and_then(Value::as_array_mut) {
        Some(choices) if !choices.is_empty() => choices.swap_remove(0),
        _ => return Err(invalid("the response has no choices".into())),
    };
    let finish_reason = choice["finish_reason"].as_str().map(|reason| match reason {
        "stop" => FinishReason::Stop,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "length" => FinishReason::Length,
        "content_filter" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    });
    let Some(Value::Object(mut fields)) = choice.get("message").cloned() else {
        return Err(invalid("the first choice has no message object".into()));
    };
    fields.entry("role").or_insert_with(|| json!("assistant"));
    // Some servers leave out tool call ids; the tool results must name one.
    if let Some(Value::Array(calls)) = fields.get_mut("tool_calls") {
        for (index, call) in calls.iter_mut().enumerate() {
            if let Value::Object(call) = call
                && call.get("id").and_then(Value::as_str).is_none_or(str::is_empty)
            {
                call.insert("id".into(), json!(format!("call_{index}")));
            }
        }
    }
    let mut message =
        Message::from_value(Value::Object(fields)).map_err(|err| invalid(format!("cannot read its message: {err}")))?;
    if message.role != Role::Assistant {
        return Err(invalid(format!("the message's role is {}, not assistant", message.role)));
    }
    for (key, value) in std::mem::take(&mut message.extra) {
        let empty = value.is_null() || value.as_array().is_some_and(Vec::is_empty);
        if !empty {
            message.metadata.insert(key, value);
        }
    }
    Ok(ChatResponse { message, usage, finish_reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ToolCall;

    #[test]
    fn wire_messages_drop_our_fields_and_send_empty_content_for_tool_calls() {
        let call = ToolCall::new("c1", "weather", &json!({"city": "Paris"}));
        let mut assistant = Message::assistant_tool_calls(vec![call]).with_id("m2");
        assistant.metadata.insert("turn".into(), json!(2));
        let mut failed = Message::tool("c1", "error: boom");
        failed.extra.insert("is_error".into(), json!(true));
        assert_eq!(
            wire_message(&assistant),
            json!({"role": "assistant", "content": "", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]})
        );
        assert_eq!(wire_message(&failed), json!({"role": "tool", "content": "error: boom", "tool_call_id": "c1"}));
        assert_eq!(wire_message(&Message::user("hi").with_id("m1")), json!({"role": "user", "content": "hi"}));
    }

    #[test]
    fn responses_keep_unmodelled_fields_in_metadata_and_get_tool_call_ids() {
        let response = parse_response(
            "ollama",
            json!({"choices": [{"finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null, "refusal": null, "reasoning_content": "think",
                "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]}}]}),
        )
        .unwrap();
        assert_eq!(response.message.tool_calls, vec![ToolCall::new("call_0", "f", &json!({"a": 1}))]);
        assert_eq!(response.message.metadata.get("reasoning_content"), Some(&json!("think")));
        assert!(response.message.extra.is_empty());
        assert_eq!(response.usage, Usage::default());
        assert_eq!(response.finish_reason, Some(FinishReason::ToolCalls));

        let err = parse_response("openrouter", json!({"error": {"message": "No endpoints found", "code": 404}}));
        assert_eq!(err.unwrap_err().to_string(), "openrouter sent an unexpected response: No endpoints found");
        let err = parse_response("vllm", json!({"choices": []})).unwrap_err();
        assert_eq!(err.to_string(), "vllm sent an unexpected response: the response has no choices");
    }
}
