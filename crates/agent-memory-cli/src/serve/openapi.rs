//! The OpenAPI document served at `/openapi.json`, generated from the handlers' and DTOs'
//! annotations so it cannot drift from the code.

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::context;
use super::conversations;
use super::error::ErrorBody;
use super::health::{self, HealthStatus};
use super::metrics;
use super::sessions;
use super::store;
use super::summarize;
use super::whoami::{self, WhoAmI};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "agent-memory",
        description = "The memory layer for LLM agents: a namespaced long-term store with search, \
            context utilities, chat sessions and conversation memory. Errors are `{\"code\", \"message\"}` JSON.",
    ),
    paths(
        health::healthz,
        health::readyz,
        metrics::metrics,
        whoami::whoami,
        store::put_item,
        store::get_item,
        store::delete_item,
        store::search_items,
        store::list_namespaces,
        store::batch,
        context::count,
        context::trim,
        context::fit,
        summarize::summarize,
        conversations::index_conversation,
        conversations::search_conversations,
        conversations::list_sessions,
        conversations::delete_user_conversations,
        conversations::delete_conversation,
        sessions::list_sessions,
        sessions::load_session,
        sessions::append_messages,
        sessions::replace_session,
        sessions::delete_session,
    ),
    components(schemas(ErrorBody, HealthStatus, WhoAmI)),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("api_key" = [])),
    tags(
        (name = "operations", description = "Liveness, readiness and the API description"),
        (name = "auth", description = "Who the caller is"),
        (name = "context", description = "Token counting, trimming, fitting and summarizing of chat messages"),
        (name = "conversations", description = "Past conversations, chunked per user and searched by keyword, \
            meaning or both (user ids scoped to the caller's tenant)"),
        (name = "sessions", description = "Chat threads: append, load, replace, list, delete (session ids \
            scoped to the caller's tenant)"),
        (name = "store", description = "Long-term memory: namespaced JSON items with TTL, filters and search \
            (wire-compatible with the LangGraph store API; `ttl` in minutes; namespaces scoped to the caller's tenant)"),
    )
)]
pub(crate) struct ApiDoc;

/// Declares the two ways to send a key: `Authorization: Bearer KEY` and `x-api-key: KEY`.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components
            .add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))));
    }
}

/// The OpenAPI document (no key needed).
pub(crate) async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
