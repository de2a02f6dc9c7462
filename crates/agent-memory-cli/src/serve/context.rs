//! Context utilities over HTTP, on messages in the OpenAI / LangChain JSON shape:
//! `POST /context/count` counts tokens (saying whether the count is exact, with the model's
//! context window when it is known), `POST /context/trim` keeps the first or last messages
//! or those that fit a token budget, `POST /context/fit` fits a conversation into a budget.

use std::sync::Arc;

use agent_memory::context::{FitError, FitOptions, fit_context};
use agent_memory::message::{Message, Role, messages_from_value, messages_to_value};
use agent_memory::models;
use agent_memory::tokens::{ApproximateCounter, TokenCounter};
use agent_memory::trim::{TrimOptions, TrimStrategy, trim_messages};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::count;
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
    let counter = counter_for(request.model.as_deref())?;
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

/// The counter for `model` (approximate without one).
fn counter_for(model: Option<&str>) -> Result<Arc<dyn TokenCounter>, ApiError> {
    match model {
        Some(model) if model.trim().is_empty() || model.chars().count() > MAX_MODEL_CHARS => {
            Err(ApiError::invalid(format!("model must have 1 to {MAX_MODEL_CHARS} characters")))
        }
        Some(model) => Ok(models::counter_for_model(model)),
        None => Ok(Arc::new(ApproximateCounter)),
    }
}

/// Which messages `POST /context/trim` keeps.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TrimStrategyDto {
    /// The newest messages, up to `max_messages` (and `max_tokens` when given).
    Last,
    /// The oldest messages, up to `max_messages` (and `max_tokens` when given).
    First,
    /// The newest messages that fit in `max_tokens` (and `max_messages` when given).
    Token,
}

/// `POST /context/trim`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrimRequest {
    /// The conversation.
    #[schema(value_type = Vec<Object>)]
    messages: Value,
    /// Which messages to keep.
    strategy: TrimStrategyDto,
    /// The most messages to keep, system messages aside (required for `last` and `first`).
    #[serde(default, deserialize_with = "count::optional")]
    max_messages: Option<usize>,
    /// The most tokens the result may have (required for `token`).
    #[serde(default, deserialize_with = "count::optional")]
    max_tokens: Option<usize>,
    /// The model whose tokenizer counts (approximate without one).
    model: Option<String>,
    /// Keep every system message (default true).
    preserve_system: Option<bool>,
    /// For `last` and `token`: drop the oldest kept messages until one has this role
    /// (`user` keeps a trimmed conversation from opening with an answer, as Anthropic requires).
    #[schema(example = "user")]
    start_on: Option<String>,
}

/// The kept messages.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TrimResponse {
    /// The kept messages, in order; a tool call and its results are kept or dropped together.
    #[schema(value_type = Vec<Object>)]
    messages: Value,
    /// How many messages were given.
    original_count: usize,
    /// How many were kept.
    final_count: usize,
}

/// Trims a conversation.
#[utoipa::path(post, path = "/context/trim", tag = "context", request_body = TrimRequest, responses(
    (status = 200, description = "the kept messages", body = TrimResponse),
    (status = 400, description = "invalid messages or limits", body = ErrorBody)))]
pub(crate) async fn trim(ApiJson(request): ApiJson<TrimRequest>) -> Result<Json<TrimResponse>, ApiError> {
    let messages = parse_messages(request.messages)?;
    let strategy = match request.strategy {
        TrimStrategyDto::Last => TrimStrategy::Last,
        TrimStrategyDto::First => TrimStrategy::First,
        TrimStrategyDto::Token => TrimStrategy::Token,
    };
    let mut options = TrimOptions::new(strategy)
        .with_preserve_system(request.preserve_system.unwrap_or(true))
        .with_counter(counter_for(request.model.as_deref())?);
    options.max_messages = request.max_messages;
    options.max_tokens = request.max_tokens;
    options.start_on = match request.start_on.as_deref() {
        Some(name) => Some(Role::parse(name).map_err(|error| ApiError::invalid(format!("start_on: {error}")))?),
        None => None,
    };
    let kept = trim_messages(&messages, &options).map_err(|error| ApiError::invalid(error.to_string()))?;
    Ok(Json(TrimResponse {
        original_count: messages.len(),
        final_count: kept.len(),
        messages: messages_to_value(&kept),
    }))
}

/// `POST /context/fit`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FitRequest {
    /// The messages since the running summary.
    #[schema(value_type = Vec<Object>)]
    messages: Value,
    /// The token budget.
    #[serde(deserialize_with = "count::required")]
    max_tokens: usize,
    /// The model whose tokenizer counts (approximate without one).
    model: Option<String>,
    /// The running summary of the messages before these; it is injected as a system message.
    summary: Option<String>,
}

/// A fitted conversation.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FitResponse {
    /// The messages to send, the running summary injected.
    #[schema(value_type = Vec<Object>)]
    messages: Value,
    /// `none` (everything fitted) or `trimmed` (the oldest messages were dropped).
    action: &'static str,
    /// The tokens of `messages` as a request.
    tokens: usize,
    /// Whether `tokens` is exact.
    exact: bool,
    /// The running summary.
    summary: Option<String>,
    /// How many messages were given.
    original_count: usize,
    /// How many messages are returned (the summary message included).
    final_count: usize,
    /// How many of the given messages were folded into the summary.
    summarized_count: usize,
}

/// Fits a conversation into a token budget (dropping the oldest messages; system messages
/// and the running summary are kept).
#[utoipa::path(post, path = "/context/fit", tag = "context", request_body = FitRequest, responses(
    (status = 200, description = "the fitted conversation", body = FitResponse),
    (status = 400, description = "invalid messages, or system messages alone over the budget", body = ErrorBody)))]
pub(crate) async fn fit(ApiJson(request): ApiJson<FitRequest>) -> Result<Json<FitResponse>, ApiError> {
    let messages = parse_messages(request.messages)?;
    let mut options = FitOptions::new().with_counter(counter_for(request.model.as_deref())?);
    if let Some(summary) = request.summary {
        options = options.with_summary(summary);
    }
    let result = fit_context(&messages, request.max_tokens, &options).await.map_err(|error| match error {
        FitError::OverBudget { .. } => {
            ApiError::new(axum::http::StatusCode::BAD_REQUEST, "over_budget", error.to_string())
        }
        other => ApiError::internal(other),
    })?;
    Ok(Json(FitResponse {
        messages: messages_to_value(&result.messages),
        action: result.action.as_str(),
        tokens: result.tokens.tokens,
        exact: result.tokens.exact,
        summary: result.summary,
        original_count: result.original_count,
        final_count: result.final_count,
        summarized_count: result.summarized_count,
    }))
}
