//! Request extractors whose rejections are our JSON errors (axum's are plain text).

use axum::extract::{FromRequest, FromRequestParts};

use super::error::ApiError;

/// A JSON body; a missing content type, bad JSON, a wrong shape or an oversized body is
/// a 4xx [`ApiError`].
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(crate) struct ApiJson<T>(pub(crate) T);

/// A query string; a malformed one is a 400 [`ApiError`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct ApiQuery<T>(pub(crate) T);
