//! Context utilities over HTTP: `POST /context/count` counts the tokens of messages (in the
//! OpenAI / LangChain JSON shape) or of a text for a model, saying whether the count is
//! exact, with the model's context window when it is known.

use agent_memory::message::{Message, messages_from_value};
use agent_memory::models;
use agent_memory::tokens::{ApproximateCounter, TokenCounter};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;

/// The longest model name accepted.
const MAX_MODEL_CHARS: usize = 200;

/// `POST /context/count`: give `messages` or `text`, not both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CountRequest {
    /// The model whose tokenizer counts (e.g. `gpt-4o`); without one, or for an unknown
    /// model, the count is an approximation (and says so).
    #[schema(example = "gpt-4o")]
    model: Option<String>,
    /// Chat messages in the OpenAI / LangChain JSON shape (`{"role", "content", ...}`).
    #[schema(value_type = Option<Vec<Object>>, example = json!([{"role": "user", "content": "Hello, world!"}]))]
    messages: Option<Value>,
    /// A plain text.
    text: Option<String>,
}

/// A token count.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CountResponse {
    /// The number of tokens (for messages: with the chat framing of the model's API).
    tokens: usize,
    /// Whether `tokens` is what the model's tokenizer produces (false for estimates).
    exact: bool,
    /// The model counted for, as given.
    model: Option<String>,
    /// The model's context window in tokens, when the model is known.
    context_limit: Option<usize>,
}

/// Counts the tokens of messages or of a text.
#[utoipa::path(post, path = "/context/count", tag = "context", request_body = CountRequest, responses(
    (status = 200, description = "the count", body = CountResponse),
    (status = 400, description = "invalid messages, or neither/both of messages and text", body = ErrorBody)))]
pub(crate) async fn count(ApiJson(request): ApiJson<CountRequest>) -> Result<Json<CountResponse>, ApiError> {
    if let Some(model) = &request.model
        && (model.trim().is_empty() || model.chars().count() > MAX_MODEL_CHARS)
    {
        return Err(ApiError::invalid(format!("model must have 1 to {MAX_MODEL_CHARS} characters")));
    }
    let counter: std::sync::Arc<dyn TokenCounter> = match &request.model {
        Some(model) => models::counter_for_model(model),
        None => std::sync::Arc::new(ApproximateCounter),
    };
    let count = match (request.messages, request.text) {
        (Some(messages), None) => counter.count_messages(&parse_messages(messages)?),
        (None, Some(text)) => counter.count_text(&text),
        _ => return Err(ApiError::invalid("give either messages or text")),
    };
    let context_limit = request.model.as_deref().and_then(models::get_context_limit);
    Ok(Json(CountResponse { tokens: count.tokens, exact: count.exact, model: request.model, context_limit }))
}

fn parse_messages(value: Value) -> Result<Vec<Message>, ApiError> {
    messages_from_value(value).map_err(|error| ApiError::invalid_messages(error.to_string()))
}
