//! Chat sessions over HTTP: the conversation threads an agent keeps its history in
//! ([`agent_memory::session::SessionStore`], in the server's database).
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /sessions` | | `{sessions: [{session_id, message_count, created_at, updated_at}]}` |
//! | `GET /sessions/{session_id}` | | `{session_id, messages}` (empty for an unknown session) |
//! | `POST /sessions/{session_id}/messages` | `{messages}` | `{session_id, appended}` |
//! | `PUT /sessions/{session_id}` | `{messages}` | `{session_id, message_count}` |
//! | `DELETE /sessions/{session_id}` | | `{deleted: bool}` |
//!
//! Session ids are scoped to the caller's tenant (`tenancy::scope_id`): a tenant never
//! sees, lists, changes or deletes another tenant's sessions.

use agent_memory::message::messages_to_value;
use agent_memory::session::{MAX_SESSION_ID_BYTES, SessionError, SessionInfo};
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
use super::extract::ApiJson;
use super::store::rfc3339;
use super::tenancy::{scope_id, unscope_id};

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

/// The caller's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionList {
    /// Every session of the caller's tenant, sorted by id.
    sessions: Vec<SessionSummary>,
}

/// The answer to a delete.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeletedSession {
    /// Whether the session existed.
    deleted: bool,
}

/// Lists the caller's sessions.
#[utoipa::path(get, path = "/sessions", tag = "sessions", responses(
    (status = 200, description = "the sessions, sorted by id", body = SessionList)))]
pub(crate) async fn list_sessions(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
) -> Result<Json<SessionList>, ApiError> {
    let all = state.sessions().list().await.map_err(session_error)?;
    let sessions = all.into_iter().filter_map(|info| SessionSummary::of_tenant(&tenant, info)).collect();
    Ok(Json(SessionList { sessions }))
}

/// Loads a session's messages.
#[utoipa::path(get, path = "/sessions/{session_id}", tag = "sessions",
    params(("session_id" = String, Path, description = "the session")),
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
    params(("session_id" = String, Path, description = "the session")),
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
    params(("session_id" = String, Path, description = "the session")),
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
    params(("session_id" = String, Path, description = "the session")),
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
    /// The client's view of `info`, or `None` when it is another tenant's.
    fn of_tenant(tenant: &Tenant, info: SessionInfo) -> Option<Self> {
        let session_id = unscope_id(tenant, &info.session_id)?.to_owned();
        Some(Self {
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

fn scoped_session(tenant: &Tenant, session_id: &str) -> Result<String, ApiError> {
    scope_id(tenant, "session_id", session_id, MAX_SESSION_ID_BYTES)
}

/// An invalid id is a 400; a failing backend a 500 (logged, never shown).
fn session_error(error: SessionError) -> ApiError {
    match error {
        SessionError::InvalidId { .. } => ApiError::invalid(error.to_string()),
        other => ApiError::internal(other),
    }
}
