//! MCP (Model Context Protocol) server: the memory store as tools an agent can call,
//! built with the official Rust SDK `rmcp`.
//!
//! Two transports share one [`MemoryTools`] handler:
//! - `agent-memory mcp`: stdio (see [`stdio`]), scoped to an optional `--tenant` root;
//! - `POST /mcp` on `agent-memory serve`: streamable HTTP (see [`http_service`]), behind the
//!   same API-key middleware as the REST routes.
//!
//! Tools: `remember`, `recall_memories`, `forget` (the store), `search_past_conversations`
//! and `index_conversation` (conversation memory, as `POST /conversations/search` and
//! `POST /conversations`). `remember` takes LangGraph's per-item `index` as `PUT
//! /store/items` does (`false`, or a list of field paths; checked by `ItemIndex::from_json`).
//!
//! **Invariant:** over HTTP every namespace goes through `serve::tenancy` with the tenant
//! the API key of *that very request* names (read from the request's `http::request::Parts`,
//! never from the session), exactly as the REST store endpoints do, and every user id of
//! a conversation tool goes through `serve::tenancy::scope_id` as the REST conversation
//! endpoints do; a call without a tenant is refused, never served unscoped.

pub(crate) mod stdio;

use std::sync::Arc;

use agent_memory::store::{Filter, Item, ItemIndex, MemoryStore, Namespace, NamespacePrefix, PutRequest, SearchQuery};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::serve::config::Tenant;
use crate::serve::conversations::{self, IndexRequest, SearchRequest};
use crate::serve::error::ApiError;
use crate::serve::store::{MAX_PAGE, MAX_QUERY_CHARS, rfc3339};
use crate::serve::tenancy;

/// The namespace category under a user id, as in `MemoryStore::put_user_memory`.
const USER_CATEGORY: &str = "memories";
/// How many memories `recall_memories` returns unless told otherwise.
const DEFAULT_RECALL_LIMIT: usize = 5;

/// Where the namespaces of a call live.
#[derive(Debug, Clone)]
pub(crate) enum Scope {
    /// Namespaces as the client names them (stdio without `--tenant`).
    Root,
    /// Every namespace under this tenant's label (stdio with `--tenant`).
    Tenant(Tenant),
    /// The tenant the HTTP request's API key names (set by `serve::auth`).
    FromRequest,
}

/// The MCP tools over one [`MemoryStore`].
#[derive(Clone)]
pub(crate) struct MemoryTools {
    store: MemoryStore,
    scope: Scope,
    #[allow(dead_code, reason = "read by the code that #[tool_handler] generates")]
    tool_router: ToolRouter<Self>,
}

/// Arguments of `remember`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RememberArgs {
    /// Namespace labels, e.g. ["user_123", "preferences"]. Give this or `user_id`.
    namespace: Option<Vec<String>>,
    /// Store under the user's memories (namespace [user_id, "memories"]).
    user_id: Option<String>,
    /// Key within the namespace; writing an existing key replaces it. Defaults to a
    /// digest of the value, so remembering the same thing twice stores it once.
    key: Option<String>,
    /// The memory as free text (stored as {"text": ...}). Give this or `value`.
    text: Option<String>,
    /// The memory as a JSON object. Give this or `text`.
    value: Option<Map<String, Value>>,
    /// Forget it after this many seconds; never by default.
    ttl_seconds: Option<f64>,
    /// What a query searches in this memory (LangGraph's per-item `index`): absent or null
    /// for the whole value; `false` for nothing, so that no query recalls it (recalling
    /// without a query, by user id or namespace, still lists it); or a list of dotted field
    /// paths, e.g. ["title", "meta.topic"], to search only the text under those fields.
    #[serde(default)]
    #[schemars(schema_with = "index_schema")]
    index: Option<Value>,
}

/// The JSON schema of `remember`'s `index`: `false`, a list of field paths, or null.
fn index_schema(_generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "anyOf": [
            {"type": "boolean", "const": false},
            {"type": "array", "items": {"type": "string"}},
            {"type": "null"}
        ]
    })
}

/// Arguments of `recall_memories`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecallArgs {
    /// What to look for, in natural language; without it, the most recent memories.
    query: Option<String>,
    /// Only memories whose namespace starts with these labels.
    namespace_prefix: Option<Vec<String>>,
    /// Only this user's memories (namespace [user_id, "memories"]).
    user_id: Option<String>,
    /// Conditions on stored values: {"field": value} or operators $eq $ne $gt $gte $lt
    /// $lte $in $nin $exists; dotted paths for nested fields.
    filter: Option<Value>,
    /// The most memories to return (default 5, at most 1000).
    #[serde(default, deserialize_with = "crate::serve::count::optional")]
    limit: Option<usize>,
}

/// Arguments of `forget`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForgetArgs {
    /// Namespace labels. Give this or `user_id`.
    namespace: Option<Vec<String>>,
    /// The user whose memories (namespace [user_id, "memories"]) to forget from.
    user_id: Option<String>,
    /// The key to forget; without it, the whole namespace and everything below it.
    key: Option<String>,
}

#[tool_router]
impl MemoryTools {
    /// A handler over `store`, with namespaces scoped by `scope`.
    pub(crate) fn new(store: MemoryStore, scope: Scope) -> Self {
        Self { store, scope, tool_router: Self::tool_router() }
    }

    /// Stores a memory.
    #[tool(description = "Remember something for later: store a memory (free text or a JSON object) under a \
                          namespace or a user id; `index` chooses what a query searches in it (false: nothing, \
                          or a list of field paths). Returns the stored memory with its key.")]
    async fn remember(
        &self,
        Parameters(args): Parameters<RememberArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let scope = self.resolve(&context)?;
        let outcome = async {
            let labels = namespace_labels(args.namespace, args.user_id.as_deref())?;
            let value = match (args.text, args.value) {
                (Some(text), None) => Map::from_iter([("text".to_owned(), Value::String(text))]),
                (None, Some(value)) => value,
                _ => return Err(ApiError::invalid("give exactly one of `text` and `value`")),
            };
            let index = args.index.as_ref().map(ItemIndex::from_json).transpose()?.unwrap_or_default();
            let key = args.key.unwrap_or_else(|| content_key(&value));
            let namespace = scope.namespace(&labels)?;
            let request =
                PutRequest { namespace, key, value: Value::Object(value), ttl_seconds: args.ttl_seconds, index };
            let item = self.store.put_with(request).await?;
            scope.item_json(item, None)
        };
        respond(outcome.await)
    }

    /// Searches memories.
    #[tool(description = "Recall memories: search stored memories by meaning and keywords, optionally within a \
                          namespace prefix or a user's memories and filtered on their values; best first.")]
    async fn recall_memories(
        &self,
        Parameters(args): Parameters<RecallArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let scope = self.resolve(&context)?;
        let outcome = async {
            let labels = match (args.namespace_prefix, args.user_id) {
                (Some(_), Some(_)) => return Err(ApiError::invalid("give `namespace_prefix` or `user_id`, not both")),
                (Some(prefix), None) => prefix,
                (None, Some(user)) => vec![user, USER_CATEGORY.to_owned()],
                (None, None) => Vec::new(),
            };
            let limit = args.limit.unwrap_or(DEFAULT_RECALL_LIMIT);
            if limit > MAX_PAGE {
                return Err(ApiError::invalid(format!("limit is at most {MAX_PAGE}, got {limit}")));
            }
            let mut query = SearchQuery::all().limit(limit);
            if let Some(text) = args.query {
                let chars = text.chars().count();
                if chars > MAX_QUERY_CHARS {
                    return Err(ApiError::invalid(format!(
                        "a query has at most {MAX_QUERY_CHARS} characters, got {chars}"
                    )));
                }
                query.query = Some(text);
            }
            if let Some(filter) = &args.filter {
                query = query.filter(Filter::from_json(filter)?);
            }
            let prefix = scope.prefix(&labels)?;
            let hits = self.store.search(prefix, query).await?;
            let memories =
                hits.into_iter().map(|hit| scope.item_json(hit.item, hit.score)).collect::<Result<Vec<_>, _>>()?;
            Ok(json!({ "memories": memories }))
        };
        respond(outcome.await)
    }

    /// Deletes a memory or a namespace.
    #[tool(description = "Forget: delete one memory (namespace or user id, plus key) or, without a key, every \
                          memory in the namespace and below it.")]
    async fn forget(
        &self,
        Parameters(args): Parameters<ForgetArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let scope = self.resolve(&context)?;
        let outcome = async {
            let labels = namespace_labels(args.namespace, args.user_id.as_deref())?;
            let namespace = scope.namespace(&labels)?;
            Ok(match args.key {
                Some(key) => json!({ "deleted": u64::from(self.store.delete(namespace, key).await?) }),
                None => json!({ "deleted": self.store.delete_namespace(namespace).await? }),
            })
        };
        respond(outcome.await)
    }

    /// Searches a user's past conversations.
    #[tool(description = "Search past conversations: find what was discussed with a user before, by meaning and \
                          keywords, optionally within one session (session_id) or a date range (date_from, \
                          date_to as YYYY-MM-DD); best first, each with its context (topic, date, transcript).")]
    async fn search_past_conversations(
        &self,
        Parameters(args): Parameters<SearchRequest>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let scope = self.resolve(&context)?;
        let outcome = conversations::search_for(&self.store, scope.0.as_ref(), args).await;
        respond(outcome.map(to_json))
    }

    /// Indexes a finished conversation.
    #[tool(description = "Index a conversation so it can be searched later with search_past_conversations: the \
                          messages (OpenAI shape: role, content) of one session of a user, with optional metadata \
                          (topic, date as YYYY-MM-DD). Indexing the same session again replaces it.")]
    async fn index_conversation(
        &self,
        Parameters(args): Parameters<IndexRequest>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let scope = self.resolve(&context)?;
        let outcome = conversations::index_for(&self.store, scope.0.as_ref(), args).await;
        respond(outcome.map(to_json))
    }
}

/// A response DTO as JSON (plain data: serializing cannot fail).
fn to_json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for MemoryTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_instructions(
            "Long-term memory: `remember` stores a memory, `recall_memories` searches them, `forget` deletes them; \
             `index_conversation` stores a finished conversation and `search_past_conversations` finds what was \
             discussed before.",
        )
    }
}

impl MemoryTools {
    /// The scope of this call: fixed on stdio, the request's tenant over HTTP.
    fn resolve(&self, context: &RequestContext<RoleServer>) -> Result<ResolvedScope, ErrorData> {
        match &self.scope {
            Scope::Root => Ok(ResolvedScope(None)),
            Scope::Tenant(tenant) => Ok(ResolvedScope(Some(tenant.clone()))),
            Scope::FromRequest => context
                .extensions
                .get::<axum::http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<Tenant>())
                .map(|tenant| ResolvedScope(Some(tenant.clone())))
                .ok_or_else(|| ErrorData::internal_error("the request carries no tenant", None)),
        }
    }
}

/// The tenant a call acts for, or none (stdio without `--tenant`).
struct ResolvedScope(Option<Tenant>);

impl ResolvedScope {
    fn namespace(&self, labels: &[String]) -> Result<Namespace, ApiError> {
        match &self.0 {
            Some(tenant) => tenancy::scope_namespace(tenant, labels),
            None => Namespace::new(labels.iter().cloned()).map_err(ApiError::from),
        }
    }

    fn prefix(&self, labels: &[String]) -> Result<NamespacePrefix, ApiError> {
        match &self.0 {
            Some(tenant) => tenancy::scope_prefix(tenant, labels),
            None => NamespacePrefix::new(labels.iter().cloned()).map_err(ApiError::from),
        }
    }

    fn item_json(&self, item: Item, score: Option<f64>) -> Result<Value, ApiError> {
        let namespace = match &self.0 {
            Some(tenant) => tenancy::unscope(tenant, &item.namespace)?,
            None => item.namespace.labels().to_vec(),
        };
        let mut object = json!({
            "namespace": namespace,
            "key": item.key,
            "value": item.value,
            "created_at": rfc3339(item.created_at),
            "updated_at": rfc3339(item.updated_at),
        });
        if let Some(expires_at) = item.expires_at {
            object["expires_at"] = Value::String(rfc3339(expires_at));
        }
        if let Some(score) = score {
            object["score"] = json!(score);
        }
        Ok(object)
    }
}

/// `namespace`, or `[user_id, "memories"]`; exactly one of them.
fn namespace_labels(namespace: Option<Vec<String>>, user_id: Option<&str>) -> Result<Vec<String>, ApiError> {
    match (namespace, user_id) {
        (Some(labels), None) => Ok(labels),
        (None, Some(user)) => Ok(vec![user.to_owned(), USER_CATEGORY.to_owned()]),
        _ => Err(ApiError::invalid("give exactly one of `namespace` and `user_id`")),
    }
}

/// A stable key for a value: the first 16 hex digits of the SHA-256 of its JSON.
fn content_key(value: &Map<String, Value>) -> String {
    let digest = Sha256::digest(Value::Object(value.clone()).to_string().as_bytes());
    digest.iter().take(8).map(|byte| format!("{byte:02x}")).collect()
}

/// Bad input becomes a tool error the model can read (`code: message`); a failure of the
/// server itself becomes a protocol error.
fn respond(outcome: Result<Value, ApiError>) -> Result<CallToolResult, ErrorData> {
    match outcome {
        Ok(value) => Ok(CallToolResult::structured(value)),
        Err(error) => {
            let (code, message) = error.into_parts();
            if code == "internal" || code == "unavailable" {
                Err(ErrorData::internal_error(format!("{code}: {message}"), None))
            } else {
                Ok(CallToolResult::error(vec![ContentBlock::text(format!("{code}: {message}"))]))
            }
        }
    }
}

/// The streamable HTTP service for `/mcp`, to be mounted behind `serve::auth`.
///
/// `Host` validation (a DNS-rebinding guard for unauthenticated local servers) is off when
/// API keys are configured: the key authenticates every request.
pub(crate) fn http_service(
    store: MemoryStore,
    require_keys: bool,
) -> StreamableHttpService<MemoryTools, LocalSessionManager> {
    let mut config = StreamableHttpServerConfig::default();
    if require_keys {
        config = config.disable_allowed_hosts();
    }
    StreamableHttpService::new(
        move || Ok(MemoryTools::new(store.clone(), Scope::FromRequest)),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_keys_are_stable_and_short() {
        let value = Map::from_iter([("text".to_owned(), json!("likes tea"))]);
        assert_eq!(content_key(&value), content_key(&value.clone()));
        assert_eq!(content_key(&value).len(), 16);
        let other = Map::from_iter([("text".to_owned(), json!("likes coffee"))]);
        assert_ne!(content_key(&value), content_key(&other));
    }

    #[test]
    fn a_namespace_or_a_user_id_is_required() {
        assert_eq!(namespace_labels(None, Some("u1")).expect("user"), ["u1", "memories"]);
        assert_eq!(namespace_labels(Some(vec!["a".into()]), None).expect("ns"), ["a"]);
        let (code, _) = namespace_labels(None, None).expect_err("none").into_parts();
        assert_eq!(code, "invalid_request");
    }
}
