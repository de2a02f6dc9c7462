//! JSON errors: every failure leaves the server as `{"code": "...", "message": "..."}`.
//!
//! `code` is stable (clients branch on it); `message` is for people and may change.
//! Everything a client can cause is a 4xx; only a fault of the server itself (a backend
//! that is down, a bug) is a 5xx, and its message never leaks internals beyond one line.

use agent_memory::store::StoreError;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// A stable, machine-readable code such as `not_found` or `invalid_request`.
    #[schema(example = "invalid_request")]
    pub(crate) code: &'static str,
    /// What went wrong, in words a person can act on.
    #[schema(example = "namespace must not be empty")]
    pub(crate) message: String,
}

/// An error on its way to becoming an HTTP response.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    /// 400: the request is well-formed JSON but its content is not acceptable.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 400: a namespace or prefix the store cannot hold.
    pub(crate) fn invalid_namespace(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_namespace", message)
    }

    /// 400: chat messages that do not parse (unknown role, missing content, …).
    pub(crate) fn invalid_messages(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_messages", message)
    }

    /// 400: a time-to-live that is not a positive number.
    pub(crate) fn invalid_ttl(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_ttl", message)
    }

    /// The same error, its message naming the batch operation (0-based) it came from.
    pub(crate) fn in_batch_op(self, index: usize) -> Self {
        Self { message: format!("ops[{index}]: {}", self.message), ..self }
    }

    /// 404: the thing asked for does not exist (for this tenant).
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 401: no credentials, or credentials that match no configured key.
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 503: a dependency of the server (the database) does not answer.
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 500: a fault of the server. The message is logged, the client sees a generic one.
    pub(crate) fn internal(message: impl std::fmt::Display) -> Self {
        tracing::error!(error = %message, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal server error")
    }
}

impl ApiError {
    /// `(code, message)`: for assertions, and for the MCP tools' error texts.
    pub(crate) fn into_parts(self) -> (&'static str, String) {
        (self.code, self.message)
    }
}

impl From<StoreError> for ApiError {
    /// Bad input is a 400 with a code per kind; a failing embedder is a 502 (its message is
    /// the provider's); a failing database or a misconfigured server is a 500 (logged,
    /// never shown).
    fn from(error: StoreError) -> Self {
        let code = match &error {
            StoreError::InvalidNamespace(_) => "invalid_namespace",
            StoreError::InvalidKey(_) => "invalid_key",
            StoreError::InvalidValue(_) => "invalid_value",
            StoreError::InvalidTtl(_) => "invalid_ttl",
            StoreError::InvalidFilter(_) => "invalid_filter",
            StoreError::InvalidIndex(_) => "invalid_index",
            StoreError::InvalidRequest(_) => "invalid_request",
            StoreError::EmbedderRequired(_) => "embedder_required",
            StoreError::Embed(_) => {
                return Self::new(StatusCode::BAD_GATEWAY, "embedding_failed", error.to_string());
            }
            _ => return Self::internal(error),
        };
        Self::new(StatusCode::BAD_REQUEST, code, error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { code: self.code, message: self.message };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let code = match rejection {
            JsonRejection::JsonDataError(_) => "invalid_request",
            JsonRejection::JsonSyntaxError(_) => "invalid_json",
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            JsonRejection::BytesRejection(_) if status == StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            _ => "invalid_request",
        };
        // A body that could not be read is the client's doing (too large, cut off), never
        // a server fault: keep it in the 4xx range.
        let status = if status.is_server_error() { StatusCode::BAD_REQUEST } else { status };
        Self::new(status, code, rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", rejection.body_text())
    }
}

/// The answer to a path that no route serves.
pub(crate) async fn not_found_fallback() -> ApiError {
    ApiError::not_found("no such endpoint; see /openapi.json")
}

/// The answer to a known path called with the wrong method.
pub(crate) async fn method_not_allowed_fallback() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this endpoint")
}

/// Turns a panic inside a handler into a JSON 500 instead of a dropped connection.
pub(crate) fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal("a request handler panicked").into_response()
}
