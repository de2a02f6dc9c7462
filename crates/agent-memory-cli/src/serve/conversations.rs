//! Conversation memory over HTTP: index finished conversations per user, search across
//! them, list and delete them ([`agent_memory::recall::ConversationMemory`] on the
//! server's store, so in the same database).
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /conversations` | `{user_id, session_id, messages, metadata?}` | `{user_id, session_id, chunk_ids}` |
//! | `POST /conversations/search` | `{user_id, query, limit?, session_id?, date_from?, date_to?, min_score?, mode?}` | `{results: [...]}` |
//! | `GET /conversations/{user_id}?limit=&offset=` | | `{user_id, sessions: [...], next_offset}` |
//! | `DELETE /conversations/{user_id}` | | `{deleted: n}` (chunks) |
//! | `DELETE /conversations/{user_id}/{session_id}` | | `{deleted: n}` (chunks) |
//!
//! Every user id is scoped to the caller's tenant (`tenancy::scope_id`): a tenant never
//! indexes into, searches, lists or deletes another tenant's conversations.

use agent_memory::message::{Message, messages_from_value, messages_to_value};
use agent_memory::recall::{ConversationMemory, RecallError, RecallQuery, SearchResult};
use agent_memory::store::{MAX_LABEL_BYTES, MemoryStore};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::AppState;
use super::config::Tenant;
use super::count;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery};
use super::respond::JsonPage;
use super::schema::Label;
use super::store::{MAX_PAGE, MAX_QUERY_CHARS, SearchModeDto, rfc3339};
use super::tenancy::{scope_id, unscope_id};

/// The most messages one request may index.
pub(crate) const MAX_MESSAGES: usize = 1000;

/// The conversation routes (mounted behind the API-key middleware).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/conversations", post(index_conversation))
        .route("/conversations/search", post(search_conversations))
        .route("/conversations/{user_id}", get(list_conversation_sessions).delete(delete_user_conversations))
        .route("/conversations/{user_id}/{session_id}", axum::routing::delete(delete_conversation))
}

/// `POST /conversations` (and the MCP tool `index_conversation`).
#[derive(Debug, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IndexRequest {
    /// Whose conversation it is.
    #[schema(value_type = Label, example = "user_123")]
    user_id: String,
    /// Which session; indexing a session again replaces its chunks.
    #[schema(value_type = Label, example = "session_001")]
    session_id: String,
    /// The conversation, in the OpenAI / LangChain JSON shape (at most 1000 messages).
    #[schema(value_type = Vec<Object>, example = json!([{"role": "user", "content": "I'm getting an auth error"}]))]
    messages: Value,
    /// Stored with every chunk; `topic` and `date` (`YYYY-MM-DD`) are shown and searched,
    /// `date` is what date ranges compare (the day of indexing without one).
    #[schema(value_type = Option<Object>, example = json!({"topic": "authentication", "date": "2025-01-15"}))]
    metadata: Option<Map<String, Value>>,
}

/// The answer to an indexing.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IndexResponse {
    /// The user, as given.
    user_id: String,
    /// The session, as given.
    session_id: String,
    /// The ids of the stored chunks, in transcript order.
    chunk_ids: Vec<String>,
}

/// `POST /conversations/search` (and the MCP tool `search_past_conversations`).
#[derive(Debug, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchRequest {
    /// Whose conversations to search.
    #[schema(value_type = Label)]
    user_id: String,
    /// What to look for (at most 4096 characters, not all blank).
    #[schema(example = "how did we fix the JWT auth error?", max_length = 4096, pattern = r"\S")]
    query: String,
    /// The most results (default 5, at most 1000).
    #[serde(default, deserialize_with = "count::optional")]
    #[schema(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Only this session.
    #[schema(value_type = Option<Label>)]
    session_id: Option<String>,
    /// Only conversations dated on or after this day (`YYYY-MM-DD`).
    #[schema(format = Date)]
    date_from: Option<String>,
    /// Only conversations dated on or before this day (`YYYY-MM-DD`).
    #[schema(format = Date)]
    date_to: Option<String>,
    /// Drop results scoring below this (on the scale of the search mode).
    min_score: Option<f64>,
    /// Ranking: `auto` (hybrid with an embedder, keyword without; the default),
    /// `semantic`, `keyword` or `hybrid`.
    #[schemars(with = "Option<String>")]
    mode: Option<SearchModeDto>,
}

/// One conversation chunk found.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConversationHit {
    /// The user, as the client names it.
    user_id: String,
    /// The session it comes from.
    session_id: String,
    /// The chunk's id.
    chunk_id: String,
    /// The position of its first transcript line in the session.
    offset: usize,
    /// Relevance, higher is better.
    score: f64,
    /// What to show a model: `[Topic: …, Date: …]`, the summary, the transcript.
    context: String,
    /// The chunk's transcript.
    text: String,
    /// The conversation's date (`YYYY-MM-DD`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    date: Option<String>,
    /// The chunk's summary, when the server writes them.
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
    /// The metadata given at indexing.
    #[schema(value_type = Object)]
    metadata: Map<String, Value>,
    /// The messages the chunk covers, whole.
    #[schema(value_type = Vec<Object>)]
    messages: Value,
    /// When the chunk was stored (RFC 3339, UTC).
    created_at: String,
}

/// The answer to a search.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SearchResponse {
    /// The chunks found, best first.
    results: Vec<ConversationHit>,
}

/// A user's indexed sessions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionsResponse {
    /// The user, as given.
    user_id: String,
    /// The ids of the user's indexed sessions, ascending: at most `limit`, after `offset`.
    sessions: Vec<String>,
    /// The `offset` of the next page; null on the last page.
    #[schema(example = 1000)]
    next_offset: Option<usize>,
}

/// `GET /conversations/{user_id}` query string.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListConversationsQuery {
    /// The most session ids to return: 1 to 10000 (1000 by default).
    #[param(minimum = 1, maximum = 10000, example = 1000)]
    limit: Option<usize>,
    /// How many session ids to skip: the previous page's `next_offset` (0 by default).
    #[param(example = 0)]
    offset: Option<usize>,
}

/// The session ids a conversation listing returns by default.
const DEFAULT_LIST_LIMIT: usize = 1000;

/// The answer to a delete.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeletedChunks {
    /// How many chunks were removed.
    deleted: u64,
}

/// Indexes one conversation session of a user (replacing an earlier indexing of it).
#[utoipa::path(post, path = "/conversations", tag = "conversations", request_body = IndexRequest, responses(
    (status = 200, description = "the stored chunks", body = IndexResponse),
    (status = 400, description = "invalid ids, messages or metadata", body = ErrorBody),
    (status = 413, description = "body larger than the limit", body = ErrorBody)))]
pub(crate) async fn index_conversation(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    ApiJson(request): ApiJson<IndexRequest>,
) -> Result<Json<IndexResponse>, ApiError> {
    Ok(Json(index_for(state.store(), Some(&tenant), request).await?))
}

/// Searches a user's past conversations (session, date and score filters apply before the
/// limit).
#[utoipa::path(post, path = "/conversations/search", tag = "conversations", request_body = SearchRequest, responses(
    (status = 200, description = "the chunks found, best first", body = SearchResponse),
    (status = 400, description = "invalid user id, query, dates, limit or mode", body = ErrorBody)))]
pub(crate) async fn search_conversations(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    ApiJson(request): ApiJson<SearchRequest>,
) -> Result<JsonPage<SearchResponse>, ApiError> {
    let found = search_for(state.store(), Some(&tenant), request).await?;
    let results = found.results.len();
    Ok(JsonPage::new(found, results))
}

/// Lists the sessions indexed for a user, one page at a time.
#[utoipa::path(get, path = "/conversations/{user_id}", tag = "conversations",
    params(("user_id" = Label, Path, description = "the user"), ListConversationsQuery),
    responses(
    (status = 200, description = "a page of the user's sessions, ascending", body = SessionsResponse),
    (status = 400, description = "invalid user id, limit or offset", body = ErrorBody)))]
pub(crate) async fn list_conversation_sessions(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(user_id): Path<String>,
    ApiQuery(query): ApiQuery<ListConversationsQuery>,
) -> Result<Json<SessionsResponse>, ApiError> {
    let user = stored_user(Some(&tenant), &user_id)?;
    let (limit, offset) = (query.limit.unwrap_or(DEFAULT_LIST_LIMIT), query.offset.unwrap_or(0));
    if !(1..=agent_memory::store::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!("limit must be 1 to {}, got {limit}", agent_memory::store::MAX_LIMIT)));
    }
    // One more than the page tells whether another follows (a full page of the largest
    // size says there may be).
    let probe = (limit + 1).min(agent_memory::store::MAX_LIMIT);
    let mut sessions = memory(state.store()).sessions_page(&user, offset, probe).await.map_err(recall_error)?;
    let more = sessions.len() > limit || (probe == limit && sessions.len() == limit);
    let next_offset = more.then(|| offset.saturating_add(limit));
    sessions.truncate(limit);
    Ok(Json(SessionsResponse { user_id, sessions, next_offset }))
}

/// Deletes every conversation of a user.
#[utoipa::path(delete, path = "/conversations/{user_id}", tag = "conversations",
    params(("user_id" = Label, Path, description = "the user")),
    responses(
    (status = 200, description = "how many chunks were removed", body = DeletedChunks),
    (status = 400, description = "invalid user id", body = ErrorBody)))]
pub(crate) async fn delete_user_conversations(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(user_id): Path<String>,
) -> Result<Json<DeletedChunks>, ApiError> {
    let user = stored_user(Some(&tenant), &user_id)?;
    let deleted = memory(state.store()).delete_user_conversations(&user).await.map_err(recall_error)?;
    Ok(Json(DeletedChunks { deleted }))
}

/// Deletes one conversation session of a user.
#[utoipa::path(delete, path = "/conversations/{user_id}/{session_id}", tag = "conversations",
    params(("user_id" = Label, Path, description = "the user"), ("session_id" = Label, Path, description = "the session")),
    responses(
    (status = 200, description = "how many chunks were removed", body = DeletedChunks),
    (status = 400, description = "invalid user or session id", body = ErrorBody)))]
pub(crate) async fn delete_conversation(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path((user_id, session_id)): Path<(String, String)>,
) -> Result<Json<DeletedChunks>, ApiError> {
    let user = stored_user(Some(&tenant), &user_id)?;
    check_label("session_id", &session_id)?;
    let deleted = memory(state.store()).delete_conversation(&user, &session_id).await.map_err(recall_error)?;
    Ok(Json(DeletedChunks { deleted }))
}

/// Conversation memory on `store` (cheap: it shares the store).
pub(crate) fn memory(store: &MemoryStore) -> ConversationMemory {
    ConversationMemory::new(store.clone())
}

/// Indexes a conversation for `owner`'s user (`None`: ids as given, for the MCP server on
/// stdio without a tenant).
pub(crate) async fn index_for(
    store: &MemoryStore,
    owner: Option<&Tenant>,
    request: IndexRequest,
) -> Result<IndexResponse, ApiError> {
    let user = stored_user(owner, &request.user_id)?;
    check_label("session_id", &request.session_id)?;
    let messages = parse_messages(request.messages)?;
    let metadata = request.metadata.unwrap_or_default();
    let chunk_ids = memory(store)
        .index_conversation(&user, &request.session_id, &messages, &metadata)
        .await
        .map_err(recall_error)?;
    Ok(IndexResponse { user_id: request.user_id, session_id: request.session_id, chunk_ids })
}

/// Searches `owner`'s user's conversations (`None`: ids as given).
pub(crate) async fn search_for(
    store: &MemoryStore,
    owner: Option<&Tenant>,
    request: SearchRequest,
) -> Result<SearchResponse, ApiError> {
    let (user, query) = recall_query(owner, request)?;
    let found = memory(store).search(&user, &query).await.map_err(recall_error)?;
    let results = found.into_iter().map(|result| ConversationHit::new(owner, result)).collect::<Result<_, _>>()?;
    Ok(SearchResponse { results })
}

/// The stored user id for the client's `user_id`: under the tenant when there is one.
fn stored_user(owner: Option<&Tenant>, user_id: &str) -> Result<String, ApiError> {
    match owner {
        Some(tenant) => scope_id(tenant, "user_id", user_id, MAX_LABEL_BYTES),
        None => {
            check_label("user_id", user_id)?;
            Ok(user_id.to_owned())
        }
    }
}

/// A session id of a conversation: one namespace label.
fn check_label(field: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > MAX_LABEL_BYTES || id.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "{field} must have 1 to {MAX_LABEL_BYTES} bytes and no control characters"
        )));
    }
    Ok(())
}

/// Validates a search request and turns it into the stored user id and the library query.
fn recall_query(owner: Option<&Tenant>, request: SearchRequest) -> Result<(String, RecallQuery), ApiError> {
    let user = stored_user(owner, &request.user_id)?;
    let chars = request.query.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(ApiError::invalid(format!("a query has at most {MAX_QUERY_CHARS} characters, got {chars}")));
    }
    let limit = request.limit.unwrap_or(RecallQuery::DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::invalid(format!("limit must be between 1 and {MAX_PAGE}, got {limit}")));
    }
    let mut query = RecallQuery::new(request.query).limit(limit);
    if let Some(session_id) = request.session_id {
        check_label("session_id", &session_id)?;
        query = query.session(session_id);
    }
    query = query.dates(request.date_from.as_deref(), request.date_to.as_deref());
    if let Some(min_score) = request.min_score {
        if !min_score.is_finite() {
            return Err(ApiError::invalid("min_score must be a finite number"));
        }
        query = query.min_score(min_score);
    }
    if let Some(mode) = request.mode {
        query = query.mode(mode.into());
    }
    Ok((user, query))
}

impl ConversationHit {
    fn new(owner: Option<&Tenant>, result: SearchResult) -> Result<Self, ApiError> {
        let chunk = result.chunk;
        let user_id = match owner {
            Some(tenant) => unscope_id(tenant, &chunk.user_id)
                .ok_or_else(|| {
                    ApiError::internal(format!("conversation search returned a user outside tenant {tenant}"))
                })?
                .to_owned(),
            None => chunk.user_id,
        };
        Ok(Self {
            user_id,
            session_id: chunk.session_id,
            chunk_id: chunk.chunk_id,
            offset: chunk.offset,
            score: result.score,
            context: result.context,
            text: chunk.text,
            date: chunk.date,
            summary: chunk.summary,
            metadata: chunk.metadata,
            messages: messages_to_value(&chunk.messages),
            created_at: rfc3339(chunk.created_at),
        })
    }
}

/// Parses chat messages (at most [`MAX_MESSAGES`]).
pub(crate) fn parse_messages(value: Value) -> Result<Vec<Message>, ApiError> {
    if let Value::Array(items) = &value
        && items.len() > MAX_MESSAGES
    {
        return Err(ApiError::invalid(format!("at most {MAX_MESSAGES} messages per request, got {}", items.len())));
    }
    messages_from_value(value).map_err(|error| ApiError::invalid_messages(error.to_string()))
}

/// Bad input is a 400, a failing embedder or summarizer a 502, the rest a 500.
pub(crate) fn recall_error(error: RecallError) -> ApiError {
    match error {
        RecallError::InvalidOptions(message) => ApiError::invalid(message),
        RecallError::Input { .. } => ApiError::invalid(error.to_string()),
        RecallError::Store(error) => error.into(),
        RecallError::Embed(_) => ApiError::new(StatusCode::BAD_GATEWAY, "embedding_failed", error.to_string()),
        RecallError::Summarize(_) => ApiError::new(StatusCode::BAD_GATEWAY, "summarization_failed", error.to_string()),
        other => ApiError::internal(other),
    }
}
