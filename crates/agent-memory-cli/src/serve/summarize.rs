//! `POST /context/summarize`: replaces all but the last messages with a running summary
//! written by the configured chat model ([`agent_memory::summarize::summarize_messages`] /
//! [`agent_memory::summarize::extend_summary`]).
//!
//! Without a chat model (`--chat-model`, `AGENT_MEMORY_CHAT_MODEL` or `chat_model` in the
//! config file) it answers 503 `chat_model_required`, saying how to configure one.

use agent_memory::message::messages_to_value;
use agent_memory::summarize::{LlmSummarizer, SummarizeError, SummarizeOptions, extend_summary, summarize_messages};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::AppState;
use super::conversations::parse_messages;
use super::count;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;

/// How many recent messages are kept verbatim unless told otherwise (the seed's default).
const DEFAULT_KEEP_LAST: usize = 5;

/// The summarize route (mounted behind the API-key middleware).
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/context/summarize", axum::routing::post(summarize))
}

/// `POST /context/summarize`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SummarizeRequest {
    /// The conversation (OpenAI / LangChain JSON shape).
    #[schema(value_type = Vec<Object>)]
    messages: Value,
    /// How many of the most recent messages to keep verbatim (default 5; more when the cut
    /// would separate a tool call from its results).
    #[serde(default, deserialize_with = "count::optional")]
    keep_last: Option<usize>,
    /// The running summary of earlier messages, to be extended.
    summary: Option<String>,
    /// Keep the leading system messages out of the summary (default true).
    preserve_system: Option<bool>,
}

/// The summarized conversation.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SummarizeResponse {
    /// The leading system messages, one summary message and the kept messages; the input
    /// unchanged when nothing needed summarizing.
    #[schema(value_type = Vec<Object>)]
    messages: Value,
    /// The summary written (empty when nothing was summarized).
    summary: String,
    /// How many messages were given.
    original_count: usize,
    /// How many were folded into the summary.
    summarized_count: usize,
    /// How many were kept verbatim after the summary.
    kept_count: usize,
}

/// Summarizes all but the most recent messages with the server's chat model.
#[utoipa::path(post, path = "/context/summarize", tag = "context", request_body = SummarizeRequest, responses(
    (status = 200, description = "the summarized conversation", body = SummarizeResponse),
    (status = 400, description = "invalid messages", body = ErrorBody),
    (status = 502, description = "the chat model failed", body = ErrorBody),
    (status = 503, description = "no chat model is configured", body = ErrorBody)))]
pub(crate) async fn summarize(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<SummarizeRequest>,
) -> Result<Json<SummarizeResponse>, ApiError> {
    let messages = parse_messages(request.messages)?;
    let Some(model) = state.chat_model() else {
        return Err(no_chat_model());
    };
    let summarizer = LlmSummarizer::new(model.clone());
    let options = SummarizeOptions::keep_last(request.keep_last.unwrap_or(DEFAULT_KEEP_LAST))
        .include_system(request.preserve_system.unwrap_or(true));
    let result = match request.summary.as_deref() {
        Some(existing) => extend_summary(existing, &messages, &options, &summarizer).await,
        None => summarize_messages(&messages, &options, &summarizer).await,
    }
    .map_err(|error| match error {
        SummarizeError::NotConfigured(_) => no_chat_model(),
        other => ApiError::new(StatusCode::BAD_GATEWAY, "summarization_failed", other.to_string()),
    })?;
    Ok(Json(SummarizeResponse {
        messages: messages_to_value(&result.messages),
        summary: result.summary,
        original_count: result.original_count,
        summarized_count: result.summarized_count,
        kept_count: result.kept_count,
    }))
}

fn no_chat_model() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "chat_model_required",
        "summarizing needs a chat model and this server has none: start it with --chat-model PROVIDER:MODEL \
         (for example openai:gpt-4o-mini, with OPENAI_API_KEY or OPENAI_BASE_URL set), AGENT_MEMORY_CHAT_MODEL \
         or chat_model in the config file",
    )
}
