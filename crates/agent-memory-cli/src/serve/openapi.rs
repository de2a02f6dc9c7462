//! The OpenAPI document served at `/openapi.json`, generated from the handlers' and DTOs'
//! annotations so it cannot drift from the code.

use axum::Json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
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
        conversations::list_conversation_sessions,
        conversations::delete_user_conversations,
        conversations::delete_conversation,
        sessions::list_sessions,
        sessions::load_session,
        sessions::append_messages,
        sessions::replace_session,
        sessions::delete_session,
    ),
    components(schemas(ErrorBody, HealthStatus, WhoAmI)),
    modifiers(&SecuritySchemes, &CommonResponses),
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

/// The routes that answer without a key (the router's open routes, but `/openapi.json`,
/// which the document does not describe).
const OPEN_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// What every route may answer besides its own responses, so that the document lists every
/// status the server sends: the open routes need no key (`security: []`); every other
/// route may answer 401 (no key, an unknown key, two different keys); every route with a
/// JSON body 413 (over the body limit), 415 (not `application/json`) and 422 (JSON of the
/// wrong shape: a missing or unknown field, a wrong type).
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                if OPEN_PATHS.contains(&path.as_str()) {
                    operation.security = Some(Vec::new());
                    continue;
                }
                add_error(operation, "401", "no API key, an unknown one, or two different ones");
                if operation.request_body.is_some() {
                    add_error(operation, "413", "body larger than the limit");
                    add_error(operation, "415", "the body is not sent as `application/json`");
                    add_error(operation, "422", "JSON of the wrong shape: a missing or unknown field, a wrong type");
                }
            }
        }
    }
}

/// Adds an [`ErrorBody`] response for `status` unless the operation documents its own.
fn add_error(operation: &mut Operation, status: &str, description: &str) {
    let body = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
    let response = ResponseBuilder::new().description(description).content("application/json", body).build();
    operation.responses.responses.entry(status.to_owned()).or_insert_with(|| response.into());
}

/// The OpenAPI document (no key needed).
pub(crate) async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
