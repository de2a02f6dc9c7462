//! Chat sessions over HTTP: the conversation threads an agent keeps its history in
//! ([`agent_memory::session::SessionStore`], in the server's database).
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /sessions?prefix=&after=&limit=` | | `{sessions: [{session_id, message_count, created_at, updated_at}], next_after}` |
//! | `GET /sessions/{session_id}` | | `{session_id, messages}` (empty for an unknown session) |
//! | `POST /sessions/{session_id}/messages` | `{messages}` | `{session_id, appended}` |
//! | `PUT /sessions/{session_id}` | `{messages}` | `{session_id, message_count}` |
//! | `DELETE /sessions/{session_id}` | | `{deleted: bool}` |
//!
//! Session ids are scoped to the caller's tenant (`tenancy::scope_id`): a tenant never
//! sees, lists, changes or deletes another tenant's sessions. A listing reads one page of
//! the tenant's own id range (`SessionStore::list_page` with the prefix `TENANT/`), so it
//! costs what it returns, however many sessions other tenants keep.

use agent_memory::message::messages_to_value;
use agent_memory::session::{MAX_SESSION_ID_BYTES, SessionError, SessionInfo, SessionListQuery};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::AppState;
use super::config::Tenant;
use super::conversations::parse_messages;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery};
use super::schema::Label;
use super::store::rfc3339;
use super::tenancy::{scope_id, scope_id_prefix, unscope_id};

/// How many sessions a listing returns when the client does not say.
const DEFAULT_LIST_LIMIT: usize = 100;

/// The session routes (mounted behind the API-key middleware).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/sessions", get(list_sessions))
        .route("/sessions/{session_id}", get(load_session).put(replace_session).delete(delete_session))
        .route("/sessions/{session_id}/messages", post(append_messages))
}

/// Messages to append or to store.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MessagesRequest {
    /// Chat messages in the OpenAI / LangChain JSON shape (at most 1000); `id`, `metadata`
    /// and unknown fields are kept.
    #[schema(value_type = Vec<Object>, example = json!([{"role": "user", "content": "Hi, I'm Bob"}]))]
    messages: Value,
}

/// The answer to an append.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AppendResponse {
    /// The session, as given.
    session_id: String,
    /// How many messages were added to its end.
    appended: usize,
}

/// The answer to a replace.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReplaceResponse {
    /// The session, as given.
    session_id: String,
    /// How many messages it holds now.
    message_count: usize,
}

/// A session's messages.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionMessages {
    /// The session, as given.
    session_id: String,
    /// Its messages in order (none for an unknown session).
    #[schema(value_type = Vec<Object>)]
    messages: Value,
}

/// What the listing says about one session.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionSummary {
    /// The session's id.
    session_id: String,
    /// How many messages it holds.
    message_count: usize,
    /// When its first messages were stored (RFC 3339, UTC).
    created_at: String,
    /// When it last changed (RFC 3339, UTC).
    updated_at: String,
}

/// `GET /sessions` query string.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListSessionsQuery {
    /// Only sessions whose id starts with this, byte for byte (all by default).
    #[param(example = "thread_", pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    prefix: Option<String>,
    /// Only sessions whose id comes after this one (bytewise): the previous page's
    /// `next_after`.
    #[param(value_type = Option<Label>)]
    after: Option<String>,
    /// The most sessions to return: 1 to 1000 (100 by default).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    limit: Option<usize>,
}

/// One page of the caller's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionList {
    /// The caller's sessions (those starting with `prefix`, after `after`), sorted by id:
    /// at most `limit`.
    sessions: Vec<SessionSummary>,
    /// Where the next page starts (pass it as `after`); null on the last page.
    #[schema(example = "thread_042")]
    next_after: Option<String>,
}

/// The answer to a delete.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeletedSession {
    /// Whether the session existed.
    deleted: bool,
}

/// Lists the caller's sessions, one page at a time.
#[utoipa::path(get, path = "/sessions", tag = "sessions", params(ListSessionsQuery), responses(
    (status = 200, description = "a page of the sessions, sorted by id", body = SessionList),
    (status = 400, description = "invalid prefix, after or limit", body = ErrorBody)))]
pub(crate) async fn list_sessions(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(query): ApiQuery<ListSessionsQuery>,
) -> Result<Json<SessionList>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIST_LIMIT);
    let prefix = scope_id_prefix(&tenant, "prefix", query.prefix.as_deref().unwrap_or(""), MAX_SESSION_ID_BYTES)?;
    let mut listing = SessionListQuery::new(limit).and_then(|q| q.with_prefix(prefix)).map_err(session_error)?;
    if let Some(after) = &query.after {
        let after = scope_id(&tenant, "after", after, MAX_SESSION_ID_BYTES)?;
        listing = listing.with_after(after).map_err(session_error)?;
    }
    let page = state.sessions().list_page(&listing).await.map_err(session_error)?;
    let sessions =
        page.sessions.into_iter().map(|info| SessionSummary::of_tenant(&tenant, info)).collect::<Result<_, _>>()?;
    let next_after = page.next_after.as_deref().map(|id| own_id(&tenant, id)).transpose()?;
    Ok(Json(SessionList { sessions, next_after }))
}

/// Loads a session's messages.
#[utoipa::path(get, path = "/sessions/{session_id}", tag = "sessions",
    params(("session_id" = Label, Path, description = "the session")),
    responses(
    (status = 200, description = "the messages, in order", body = SessionMessages),
    (status = 400, description = "invalid session id", body = ErrorBody)))]
pub(crate) async fn load_session(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(session_id): Path<String>,
) -> Result<Json<SessionMessages>, ApiError> {
    let scoped = scoped_session(&tenant, &session_id)?;
    let messages = state.sessions().load(&scoped).await.map_err(session_error)?;
    Ok(Json(SessionMessages { session_id, messages: messages_to_value(&messages) }))
}

/// Appends messages to a session (creating it).
#[utoipa::path(post, path = "/sessions/{session_id}/messages", tag = "sessions", request_body = MessagesRequest,
    params(("session_id" = Label, Path, description = "the session")),
    responses(
    (status = 200, description = "the messages were appended", body = AppendResponse),
    (status = 400, description = "invalid session id or messages", body = ErrorBody),
    (status = 413, description = "body larger than the limit", body = ErrorBody)))]
pub(crate) async fn append_messages(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(session_id): Path<String>,
    ApiJson(request): ApiJson<MessagesRequest>,
) -> Result<Json<AppendResponse>, ApiError> {
    let scoped = scoped_session(&tenant, &session_id)?;
    let messages = parse_messages(request.messages)?;
    state.sessions().append(&scoped, &messages).await.map_err(session_error)?;
    Ok(Json(AppendResponse { session_id, appended: messages.len() }))
}

/// Replaces a session's messages (for example with a summarized history).
#[utoipa::path(put, path = "/sessions/{session_id}", tag = "sessions", request_body = MessagesRequest,
    params(("session_id" = Label, Path, description = "the session")),
    responses(
    (status = 200, description = "the session now holds these messages", body = ReplaceResponse),
    (status = 400, description = "invalid session id or messages", body = ErrorBody),
    (status = 413, description = "body larger than the limit", body = ErrorBody)))]
pub(crate) async fn replace_session(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(session_id): Path<String>,
    ApiJson(request): ApiJson<MessagesRequest>,
) -> Result<Json<ReplaceResponse>, ApiError> {
    let scoped = scoped_session(&tenant, &session_id)?;
    let messages = parse_messages(request.messages)?;
    state.sessions().replace(&scoped, &messages).await.map_err(session_error)?;
    Ok(Json(ReplaceResponse { session_id, message_count: messages.len() }))
}

/// Deletes a session.
#[utoipa::path(delete, path = "/sessions/{session_id}", tag = "sessions",
    params(("session_id" = Label, Path, description = "the session")),
    responses(
    (status = 200, description = "whether the session existed", body = DeletedSession),
    (status = 400, description = "invalid session id", body = ErrorBody)))]
pub(crate) async fn delete_session(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(session_id): Path<String>,
) -> Result<Json<DeletedSession>, ApiError> {
    let scoped = scoped_session(&tenant, &session_id)?;
    let deleted = state.sessions().delete(&scoped).await.map_err(session_error)?;
    Ok(Json(DeletedSession { deleted }))
}

impl SessionSummary {
    /// The client's view of `info`, one of the tenant's sessions.
    fn of_tenant(tenant: &Tenant, info: SessionInfo) -> Result<Self, ApiError> {
        let session_id = own_id(tenant, &info.session_id)?;
        Ok(Self {
            session_id,
            message_count: info.message_count,
            created_at: rfc3339(unix_seconds(info.created_at)),
            updated_at: rfc3339(unix_seconds(info.updated_at)),
        })
    }
}

fn unix_seconds(time: std::time::SystemTime) -> f64 {
    time.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The client's view of a stored id the tenant's prefix selected; another tenant's would
/// be a scoping bug, answered as an internal error (logged, never shown).
fn own_id(tenant: &Tenant, stored: &str) -> Result<String, ApiError> {
    unscope_id(tenant, stored)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::internal(format!("the session listing returned {stored:?} outside tenant {tenant}")))
}

fn scoped_session(tenant: &Tenant, session_id: &str) -> Result<String, ApiError> {
    scope_id(tenant, "session_id", session_id, MAX_SESSION_ID_BYTES)
}

/// An invalid id or listing is a 400; a failing backend a 500 (logged, never shown).
fn session_error(error: SessionError) -> ApiError {
    match error {
        SessionError::InvalidId { .. } => ApiError::invalid(error.to_string()),
        // The query string's own words: `limit must be 1 to 1000, got 0`.
        SessionError::InvalidQuery(message) => ApiError::invalid(message),
        other => ApiError::internal(other),
    }
}
