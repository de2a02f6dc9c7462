//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database
//! answers too). Neither needs an API key, so orchestrators can probe them.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};

/// The namespace the readiness probe reads from. It is outside every tenant: tenants'
/// namespaces start with their tenant name, which cannot contain ':'.
const READINESS_NAMESPACE: &str = "agent-memory:readyz";

/// The body of a successful probe.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HealthStatus {
    /// `ok` for liveness, `ready` for readiness.
    #[schema(example = "ok")]
    pub(crate) status: &'static str,
}

/// Liveness: answers as long as the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "the process is alive", body = HealthStatus)))]
pub(crate) async fn healthz() -> Json<HealthStatus> {
    Json(HealthStatus { status: "ok" })
}

/// Readiness: answers 200 only when the database answers a query.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "the database answers", body = HealthStatus),
    (status = 503, description = "the database does not answer", body = ErrorBody)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Json<HealthStatus>, ApiError> {
    // One indexed lookup of a key that never exists: cheap on every backend.
    match state.store().get(READINESS_NAMESPACE, "ping").await {
        Ok(_) => Ok(Json(HealthStatus { status: "ready" })),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            Err(ApiError::unavailable("the database does not answer"))
        }
    }
}
