//! Authentication: an API key (`Authorization: Bearer KEY` or `x-api-key: KEY`) names the
//! tenant a request acts for.
//!
//! **Invariant:** every route behind [`require_tenant`] sees exactly one [`Tenant`] in its
//! request extensions, taken from a configured key, or the local tenant when the server
//! has no keys (it then listens on loopback only, see `config`).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::config::Tenant;
use super::error::ApiError;

/// Resolves the caller's tenant and stores it in the request's extensions, or answers 401.
pub(crate) async fn require_tenant(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let tenant = authenticate(&state, request.headers())?;
    tracing::Span::current().record("tenant", tenant.as_str());
    request.extensions_mut().insert(tenant);
    Ok(next.run(request).await)
}

fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Tenant, ApiError> {
    let keys = state.api_keys();
    if keys.is_empty() {
        return Ok(Tenant::local());
    }
    let bearer = header_text(headers, header::AUTHORIZATION.as_str())?.map(|value| match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(token.trim()),
        _ => Err(ApiError::unauthorized("the authorization header must be `Bearer KEY`")),
    });
    let bearer = bearer.transpose()?;
    let api_key = header_text(headers, "x-api-key")?;
    let key = match (bearer, api_key) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::unauthorized("the bearer token and x-api-key differ: send one key"));
        }
        (Some(key), _) | (None, Some(key)) => key,
        (None, None) => {
            return Err(ApiError::unauthorized(
                "missing API key: send `Authorization: Bearer KEY` or `x-api-key: KEY`",
            ));
        }
    };
    keys.tenant_of(key).cloned().ok_or_else(|| ApiError::unauthorized("unknown API key"))
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    headers
        .get(name)
        .map(|value| value.to_str().map_err(|_| ApiError::unauthorized(format!("the {name} header is not text"))))
        .transpose()
}
