//! `GET /whoami`: the tenant the caller's key belongs to (a cheap way to check a key).

use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::config::Tenant;
use super::error::ErrorBody;

/// The caller's identity.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WhoAmI {
    /// The tenant every request with this key acts for (`local` on a server without keys).
    #[schema(example = "acme")]
    pub(crate) tenant: String,
}

/// Names the caller's tenant.
#[utoipa::path(get, path = "/whoami", tag = "auth", responses(
    (status = 200, description = "the key is valid", body = WhoAmI),
    (status = 401, description = "missing or unknown key", body = ErrorBody)))]
pub(crate) async fn whoami(Extension(tenant): Extension<Tenant>) -> Json<WhoAmI> {
    Json(WhoAmI { tenant: tenant.as_str().to_owned() })
}
