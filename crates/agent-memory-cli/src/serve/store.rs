//! The store endpoints, wire-compatible with the LangGraph Platform store API, so the
//! official `langgraph-sdk` client (`client.store.put_item / get_item / delete_item /
//! search_items / list_namespaces`) works unchanged against this server:
//!
//! | method and path | body or query | answer |
//! |---|---|---|
//! | `PUT /store/items` | `{namespace, key, value, ttl?, index?}` | 200, the stored item |
//! | `GET /store/items` | `?namespace=a.b&key=k[&refresh_ttl=true]` | 200 item, or `null` when there is none |
//! | `DELETE /store/items` | `{namespace, key}` | 200 `{"deleted": bool}` |
//! | `POST /store/items/search` | `{namespace_prefix, query?, filter?, limit, offset, mode?, min_score?}` | `{"items": [...]}` |
//! | `POST /store/namespaces` | `{prefix?, suffix?, max_depth?, limit, offset}` | `{"namespaces": [[...]]}` |
//! | `POST /store/batch` | `{"ops": [{"op": "put" \| "get" \| "delete" \| "search" \| "list_namespaces", ...}]}` | `{"results": [...]}` |
//!
//! As in LangGraph, `ttl` is in **minutes** and times are RFC 3339 strings. `index` is
//! LangGraph's per-item index: absent or `null` for the server's fields (the whole value),
//! `false` for an item that no query finds (get, list and filter-only searches still do),
//! or a list of dotted field paths to index instead; anything else is a 400 with code
//! `invalid_index`. Every namespace is scoped to the caller's tenant (see `tenancy`).

use agent_memory::store::{
    Filter, Item, ItemIndex, ItemKey, MemoryStore, NamespaceListing, PutRequest, SearchHit, SearchMode, SearchQuery,
    validate_key, validate_ttl, validate_value,
};
use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::AppState;
use super::config::Tenant;
use super::count;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery};
use super::respond::JsonPage;
use super::schema::{ClientNamespace, ClientPrefix, Key};
use super::tenancy::{scope_namespace, scope_prefix, unscope};

/// The most operations one batch may carry.
pub(crate) const MAX_BATCH_OPS: usize = 100;
/// The longest search query, in characters.
pub(crate) const MAX_QUERY_CHARS: usize = 4096;
/// The most results one search or listing may return.
pub(crate) const MAX_PAGE: usize = 1000;

/// A stored item as the API returns it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ItemDto {
    /// The namespace, as the client named it.
    #[schema(example = json!(["user_123", "preferences"]))]
    namespace: Vec<String>,
    /// The key, unique within the namespace.
    key: String,
    /// The stored JSON object.
    #[schema(value_type = Object)]
    value: Map<String, Value>,
    /// When the key was first written (RFC 3339, UTC).
    #[schema(example = "2026-11-26T10:00:00.000000+00:00")]
    created_at: String,
    /// When the item was last written (RFC 3339, UTC).
    updated_at: String,
    /// When the item expires (RFC 3339, UTC); absent when it never does.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    /// Relevance (search results with a query only; higher is better).
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f64>,
}

impl ItemDto {
    fn new(tenant: &Tenant, item: Item, score: Option<f64>) -> Result<Self, ApiError> {
        Ok(Self {
            namespace: unscope(tenant, &item.namespace)?,
            key: item.key,
            value: item.value,
            created_at: rfc3339(item.created_at),
            updated_at: rfc3339(item.updated_at),
            expires_at: item.expires_at.map(rfc3339),
            score,
        })
    }

    fn from_hit(tenant: &Tenant, hit: SearchHit) -> Result<Self, ApiError> {
        Self::new(tenant, hit.item, hit.score)
    }
}

/// `PUT /store/items`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PutItemRequest {
    /// The namespace: one or more labels.
    #[schema(value_type = ClientNamespace, example = json!(["user_123", "preferences"]))]
    namespace: Vec<String>,
    /// The key within the namespace.
    #[schema(value_type = Key, example = "language")]
    key: String,
    /// The JSON object to store (at most 1 MiB).
    #[schema(value_type = Object, example = json!({"preference": "Python"}))]
    value: Value,
    /// Time to live in minutes (LangGraph's unit); absent or null for never.
    #[schema(exclusive_minimum = 0.0, maximum = 1e300)]
    ttl: Option<f64>,
    /// What the item indexes for search (LangGraph's `index`): absent or null for the
    /// server's fields (the whole value); `false` for none, so that no query finds the item
    /// (get, list and searches without a query still do); or a list of dotted field paths
    /// (`["text", "meta.title"]`) to index instead. Anything else is a 400 `invalid_index`.
    #[schema(value_type = Option<IndexSpec>, example = json!(["preference"]))]
    index: Option<Value>,
}

/// LangGraph's per-item index: `false`, or the dotted field paths to index.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub(crate) enum IndexSpec {
    /// `false`: not indexed for search.
    #[schema(value_type = bool, example = false)]
    Disabled(bool),
    /// The field paths to index instead of the server's.
    Paths(Vec<String>),
}

/// `GET /store/items` query string.
#[derive(Debug, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct GetItemQuery {
    /// The namespace: labels joined with `.` (LangGraph's form), or a JSON array of labels
    /// for labels that contain a `.`.
    #[param(example = "user_123.preferences", pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$")]
    namespace: String,
    /// The key.
    #[param(value_type = Key)]
    key: String,
    /// Push back the item's expiry (when it has a TTL).
    refresh_ttl: Option<bool>,
}

/// `DELETE /store/items`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct DeleteItemRequest {
    /// The namespace.
    #[schema(value_type = ClientNamespace)]
    namespace: Vec<String>,
    /// The key.
    #[schema(value_type = Key)]
    key: String,
}

/// The answer to a delete.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeleteItemResponse {
    /// Whether a live item was removed.
    deleted: bool,
}

/// How a search with a query ranks items.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SearchModeDto {
    /// Hybrid when the server has an embedder, keyword otherwise.
    Auto,
    /// By meaning (cosine similarity).
    Semantic,
    /// By words (normalized BM25).
    Keyword,
    /// Both, fused by reciprocal rank.
    Hybrid,
}

impl From<SearchModeDto> for SearchMode {
    fn from(mode: SearchModeDto) -> Self {
        match mode {
            SearchModeDto::Auto => SearchMode::Auto,
            SearchModeDto::Semantic => SearchMode::Semantic,
            SearchModeDto::Keyword => SearchMode::Keyword,
            SearchModeDto::Hybrid => SearchMode::Hybrid,
        }
    }
}

fn default_search_limit() -> usize {
    10
}

fn default_namespace_limit() -> usize {
    100
}

/// `POST /store/items/search`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SearchItemsRequest {
    /// Only items whose namespace starts with these labels (none: every namespace).
    #[serde(default)]
    #[schema(value_type = ClientPrefix)]
    namespace_prefix: Vec<String>,
    /// Natural-language query; without one, items come in recency order without score.
    query: Option<String>,
    /// Conditions on values: `{"field": value}` or operators `$eq $ne $gt $gte $lt $lte
    /// $in $nin $exists`, dotted paths for nested fields.
    #[schema(value_type = Option<Object>, example = json!({"lang": "en"}))]
    filter: Option<Value>,
    /// The most items to return (at most 1000).
    #[serde(default = "default_search_limit", deserialize_with = "count::required")]
    #[schema(maximum = 1000)]
    limit: usize,
    /// How many items to skip.
    #[serde(default, deserialize_with = "count::required")]
    offset: usize,
    /// Ranking for queries; `auto` by default.
    mode: Option<SearchModeDto>,
    /// Drop results scoring below this.
    min_score: Option<f64>,
    /// Accepted for LangGraph compatibility and ignored: searches never refresh TTLs.
    #[allow(dead_code)]
    refresh_ttl: Option<bool>,
}

/// The answer to a search.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SearchItemsResponse {
    /// The matching items, best first (or most recent first without a query).
    items: Vec<ItemDto>,
}

/// `POST /store/namespaces`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ListNamespacesRequest {
    /// Only namespaces starting with these labels.
    #[schema(value_type = Option<ClientPrefix>)]
    prefix: Option<Vec<String>>,
    /// Only namespaces ending with these labels.
    #[schema(value_type = Option<ClientPrefix>)]
    suffix: Option<Vec<String>>,
    /// Cut longer namespaces to this many labels (then deduplicated).
    #[serde(default, deserialize_with = "count::optional")]
    #[schema(minimum = 1)]
    max_depth: Option<usize>,
    /// The most namespaces to return (at most 1000).
    #[serde(default = "default_namespace_limit", deserialize_with = "count::required")]
    #[schema(maximum = 1000)]
    limit: usize,
    /// How many namespaces to skip.
    #[serde(default, deserialize_with = "count::required")]
    offset: usize,
}

/// The answer to a namespace listing.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ListNamespacesResponse {
    /// Namespaces holding at least one live item, in ascending order.
    #[schema(example = json!([["user_123", "preferences"]]))]
    namespaces: Vec<Vec<String>>,
}

/// One operation of a batch; `op` names it, the other fields are those of the matching
/// endpoint (`get` takes `namespace` as an array).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum BatchOp {
    /// As `PUT /store/items`; its result is the stored item.
    Put(PutItemRequest),
    /// As `GET /store/items`; its result is the item or null.
    Get(GetOp),
    /// As `DELETE /store/items`; its result is `{"deleted": bool}`.
    Delete(DeleteItemRequest),
    /// As `POST /store/items/search`; its result is `{"items": [...]}`.
    Search(SearchItemsRequest),
    /// As `POST /store/namespaces`; its result is `{"namespaces": [...]}`.
    ListNamespaces(ListNamespacesRequest),
}

/// A read inside a batch.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct GetOp {
    /// The namespace.
    #[schema(value_type = ClientNamespace)]
    namespace: Vec<String>,
    /// The key.
    #[schema(value_type = Key)]
    key: String,
    /// Push back the item's expiry (when it has a TTL).
    #[serde(default)]
    refresh_ttl: bool,
}

/// `POST /store/batch`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct BatchRequest {
    /// At most 100 operations, run in order. All are validated before any runs; they are
    /// not one transaction.
    ops: Vec<BatchOp>,
}

/// The answer to a batch.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchResponse {
    /// One result per operation, in order (`null` for a `get` that found nothing).
    #[schema(value_type = Vec<Option<Object>>)]
    results: Vec<Value>,
}

/// Stores an item (replacing any previous value of the key).
#[utoipa::path(put, path = "/store/items", tag = "store", request_body = PutItemRequest, responses(
    (status = 200, description = "the stored item", body = ItemDto),
    (status = 400, description = "invalid namespace, key, value, ttl or index", body = ErrorBody),
    (status = 413, description = "body larger than the limit", body = ErrorBody)))]
pub(crate) async fn put_item(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    ApiJson(request): ApiJson<PutItemRequest>,
) -> Result<Json<ItemDto>, ApiError> {
    let put = scoped_put(&tenant, request)?;
    let item = state.store().put_with(put).await?;
    Ok(Json(ItemDto::new(&tenant, item, None)?))
}

/// Reads an item: `null` when no live item has that key, as the LangGraph server answers
/// (both official SDKs turn it into `None` / `null`; a 404 would be an exception there).
#[utoipa::path(get, path = "/store/items", tag = "store", params(GetItemQuery), responses(
    (status = 200, description = "the item, or `null` when no live item has that key", body = Option<ItemDto>),
    (status = 400, description = "invalid namespace or key", body = ErrorBody)))]
pub(crate) async fn get_item(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(query): ApiQuery<GetItemQuery>,
) -> Result<Json<Option<ItemDto>>, ApiError> {
    let labels = parse_query_namespace(&query.namespace)?;
    let item = get_scoped(state.store(), &tenant, &labels, query.key, query.refresh_ttl.unwrap_or(false)).await?;
    Ok(Json(item))
}

/// Deletes an item.
#[utoipa::path(delete, path = "/store/items", tag = "store", request_body = DeleteItemRequest, responses(
    (status = 200, description = "whether a live item was removed", body = DeleteItemResponse),
    (status = 400, description = "invalid namespace or key", body = ErrorBody)))]
pub(crate) async fn delete_item(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    ApiJson(request): ApiJson<DeleteItemRequest>,
) -> Result<Json<DeleteItemResponse>, ApiError> {
    let namespace = scope_namespace(&tenant, &request.namespace)?;
    let deleted = state.store().delete(namespace, request.key).await?;
    Ok(Json(DeleteItemResponse { deleted }))
}

/// Searches items under a namespace prefix by query and/or filter.
#[utoipa::path(post, path = "/store/items/search", tag = "store", request_body = SearchItemsRequest, responses(
    (status = 200, description = "the matching items", body = SearchItemsResponse),
    (status = 400, description = "invalid prefix, filter, limit or query", body = ErrorBody)))]
pub(crate) async fn search_items(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    ApiJson(request): ApiJson<SearchItemsRequest>,
) -> Result<JsonPage<SearchItemsResponse>, ApiError> {
    let found = search_scoped(&state, &tenant, request).await?;
    let results = found.items.len();
    Ok(JsonPage::new(found, results))
}

/// Lists the namespaces that hold items.
#[utoipa::path(post, path = "/store/namespaces", tag = "store", request_body = ListNamespacesRequest, responses(
    (status = 200, description = "the namespaces", body = ListNamespacesResponse),
    (status = 400, description = "invalid prefix, suffix, depth or limit", body = ErrorBody)))]
pub(crate) async fn list_namespaces(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    ApiJson(request): ApiJson<ListNamespacesRequest>,
) -> Result<Json<ListNamespacesResponse>, ApiError> {
    Ok(Json(list_namespaces_scoped(state.store(), &tenant, request).await?))
}

/// Runs several operations in order; all are validated first, so an invalid one runs none.
/// Consecutive puts are written together, all or nothing.
#[utoipa::path(post, path = "/store/batch", tag = "store", request_body = BatchRequest, responses(
    (status = 200, description = "one result per operation", body = BatchResponse),
    (status = 400, description = "an invalid operation (its index is in the message)", body = ErrorBody)))]
pub(crate) async fn batch(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    ApiJson(request): ApiJson<BatchRequest>,
) -> Result<Json<BatchResponse>, ApiError> {
    if request.ops.len() > MAX_BATCH_OPS {
        return Err(ApiError::invalid(format!(
            "a batch has at most {MAX_BATCH_OPS} operations, got {}",
            request.ops.len()
        )));
    }
    let mut planned = Vec::with_capacity(request.ops.len());
    for (index, op) in request.ops.into_iter().enumerate() {
        planned.push(plan(&tenant, op).map_err(|error| error.in_batch_op(index))?);
    }
    let mut results = Vec::with_capacity(planned.len());
    // Consecutive puts are one `put_many`: one embedder call and one write, all or nothing (on
    // PostgreSQL one statement instead of one per put), so a batch cut short by the request
    // timeout never leaves half of a run of puts behind. Later operations see them, as before.
    let mut puts: Vec<PutRequest> = Vec::new();
    for (index, op) in planned.into_iter().enumerate() {
        match op {
            Planned::Put(put) => puts.push(put),
            op => {
                put_run(&state, &tenant, std::mem::take(&mut puts), index, &mut results).await?;
                let result = run_planned(&state, &tenant, op).await.map_err(|error| error.in_batch_op(index))?;
                results.push(result);
            }
        }
    }
    let end = results.len() + puts.len();
    put_run(&state, &tenant, puts, end, &mut results).await?;
    Ok(Json(BatchResponse { results }))
}

/// Writes a run of consecutive batch puts that ends before operation `end` with one
/// `put_many`, and appends their results; an error names the run's first operation.
async fn put_run(
    state: &AppState,
    tenant: &Tenant,
    puts: Vec<PutRequest>,
    end: usize,
    results: &mut Vec<Value>,
) -> Result<(), ApiError> {
    if puts.is_empty() {
        return Ok(());
    }
    let first = end - puts.len();
    let items = state.store().put_many(puts).await.map_err(|error| ApiError::from(error).in_batch_op(first))?;
    for item in items {
        results.push(to_value(ItemDto::new(tenant, item, None)?));
    }
    Ok(())
}

/// A batch operation validated and scoped, ready to run.
enum Planned {
    Put(PutRequest),
    Get { labels: Vec<String>, key: String, refresh_ttl: bool },
    Delete(ItemKey),
    Search(SearchItemsRequest),
    ListNamespaces(ListNamespacesRequest),
}

fn plan(tenant: &Tenant, op: BatchOp) -> Result<Planned, ApiError> {
    Ok(match op {
        BatchOp::Put(request) => {
            let put = scoped_put(tenant, request)?;
            validate_key(&put.key)?;
            validate_value(put.value.clone())?;
            put.ttl_seconds.map(validate_ttl).transpose()?;
            Planned::Put(put)
        }
        BatchOp::Get(get) => {
            scope_namespace(tenant, &get.namespace)?;
            validate_key(&get.key)?;
            Planned::Get { labels: get.namespace, key: get.key, refresh_ttl: get.refresh_ttl }
        }
        BatchOp::Delete(delete) => {
            let key = ItemKey::new(scope_namespace(tenant, &delete.namespace)?, delete.key)?;
            Planned::Delete(key)
        }
        BatchOp::Search(search) => {
            search_query(tenant, &search)?;
            Planned::Search(search)
        }
        BatchOp::ListNamespaces(listing) => {
            namespace_listing(tenant, &listing)?;
            Planned::ListNamespaces(listing)
        }
    })
}

async fn run_planned(state: &AppState, tenant: &Tenant, op: Planned) -> Result<Value, ApiError> {
    let store = state.store();
    let value = match op {
        Planned::Put(put) => {
            let item = store.put_with(put).await?;
            to_value(ItemDto::new(tenant, item, None)?)
        }
        Planned::Get { labels, key, refresh_ttl } => {
            match get_scoped(store, tenant, &labels, key, refresh_ttl).await? {
                Some(item) => to_value(item),
                None => Value::Null,
            }
        }
        Planned::Delete(key) => {
            let deleted = store.delete(key.namespace, key.key).await?;
            to_value(DeleteItemResponse { deleted })
        }
        Planned::Search(search) => to_value(search_scoped(state, tenant, search).await?),
        Planned::ListNamespaces(listing) => to_value(list_namespaces_scoped(store, tenant, listing).await?),
    };
    Ok(value)
}

fn to_value(value: impl Serialize) -> Value {
    // DTOs are plain data: serializing them into a `Value` cannot fail.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Converts a put to the store's request under the tenant (TTL minutes → seconds, the
/// index spec parsed and checked).
fn scoped_put(tenant: &Tenant, request: PutItemRequest) -> Result<PutRequest, ApiError> {
    let namespace = scope_namespace(tenant, &request.namespace)?;
    let ttl_seconds = match request.ttl {
        Some(minutes) if minutes.is_finite() && minutes > 0.0 => Some(minutes * 60.0),
        Some(minutes) => {
            return Err(ApiError::invalid_ttl(format!("ttl is in minutes and must be positive, got {minutes}")));
        }
        None => None,
    };
    let index = request.index.as_ref().map(ItemIndex::from_json).transpose()?.unwrap_or_default();
    Ok(PutRequest { namespace, key: request.key, value: request.value, ttl_seconds, index })
}

async fn get_scoped(
    store: &MemoryStore,
    tenant: &Tenant,
    labels: &[String],
    key: String,
    refresh_ttl: bool,
) -> Result<Option<ItemDto>, ApiError> {
    let namespace = scope_namespace(tenant, labels)?;
    let item =
        if refresh_ttl { store.get_and_refresh(namespace, key).await? } else { store.get(namespace, key).await? };
    item.map(|item| ItemDto::new(tenant, item, None)).transpose()
}

fn search_query(
    tenant: &Tenant,
    request: &SearchItemsRequest,
) -> Result<(agent_memory::store::NamespacePrefix, SearchQuery), ApiError> {
    let prefix = scope_prefix(tenant, &request.namespace_prefix)?;
    check_page(request.limit)?;
    let mut query = SearchQuery::all().limit(request.limit).offset(request.offset);
    if let Some(text) = &request.query {
        let chars = text.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(ApiError::invalid(format!("a query has at most {MAX_QUERY_CHARS} characters, got {chars}")));
        }
        query.query = Some(text.clone());
    }
    if let Some(filter) = &request.filter {
        query = query.filter(Filter::from_json(filter)?);
    }
    if let Some(mode) = request.mode {
        query = query.mode(mode.into());
    }
    if let Some(min_score) = request.min_score {
        query = query.min_score(min_score);
    }
    Ok((prefix, query))
}

async fn search_scoped(
    state: &AppState,
    tenant: &Tenant,
    request: SearchItemsRequest,
) -> Result<SearchItemsResponse, ApiError> {
    let (prefix, query) = search_query(tenant, &request)?;
    let mode = match (&query.query, request.mode) {
        (None, _) => "list",
        (Some(_), None | Some(SearchModeDto::Auto)) => "auto",
        (Some(_), Some(SearchModeDto::Semantic)) => "semantic",
        (Some(_), Some(SearchModeDto::Keyword)) => "keyword",
        (Some(_), Some(SearchModeDto::Hybrid)) => "hybrid",
    };
    let started = std::time::Instant::now();
    let hits = state.store().search(prefix, query).await?;
    state.metrics().observe_search(mode, started.elapsed().as_secs_f64());
    let items = hits.into_iter().map(|hit| ItemDto::from_hit(tenant, hit)).collect::<Result<_, _>>()?;
    Ok(SearchItemsResponse { items })
}

fn namespace_listing(tenant: &Tenant, request: &ListNamespacesRequest) -> Result<NamespaceListing, ApiError> {
    check_page(request.limit)?;
    let prefix = scope_prefix(tenant, request.prefix.as_deref().unwrap_or_default())?;
    let mut listing = NamespaceListing::all().prefix(prefix)?.limit(request.limit).offset(request.offset);
    if let Some(suffix) = &request.suffix {
        scope_prefix(tenant, suffix)?;
        listing = listing.suffix(suffix.iter().cloned());
    }
    if let Some(depth) = request.max_depth {
        if depth == 0 {
            return Err(ApiError::invalid("max_depth must be at least 1"));
        }
        // The stored namespaces carry the tenant label in front.
        listing = listing.max_depth(depth.saturating_add(1));
    }
    Ok(listing)
}

async fn list_namespaces_scoped(
    store: &MemoryStore,
    tenant: &Tenant,
    request: ListNamespacesRequest,
) -> Result<ListNamespacesResponse, ApiError> {
    let listing = namespace_listing(tenant, &request)?;
    let namespaces = store.list_namespaces(listing).await?;
    let namespaces = namespaces.iter().map(|namespace| unscope(tenant, namespace)).collect::<Result<_, _>>()?;
    Ok(ListNamespacesResponse { namespaces })
}

fn check_page(limit: usize) -> Result<(), ApiError> {
    if limit > MAX_PAGE {
        return Err(ApiError::invalid(format!("limit is at most {MAX_PAGE}, got {limit}")));
    }
    Ok(())
}

/// `a.b` → `["a", "b"]`; `["a.b","c"]` → `["a.b", "c"]`.
fn parse_query_namespace(text: &str) -> Result<Vec<String>, ApiError> {
    if text.starts_with('[') {
        return serde_json::from_str(text).map_err(|_| {
            ApiError::invalid_namespace("namespace: expected labels joined with '.' or a JSON array of strings")
        });
    }
    if text.is_empty() {
        return Ok(Vec::new());
    }
    Ok(text.split('.').map(str::to_owned).collect())
}

/// Unix seconds → `2026-11-26T10:00:00.123456+00:00` (UTC, microseconds).
pub(crate) fn rfc3339(unix_seconds: f64) -> String {
    let micros_total = (unix_seconds * 1e6).round() as i64;
    let seconds = micros_total.div_euclid(1_000_000);
    let micros = micros_total.rem_euclid(1_000_000);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}+00:00",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_unix_seconds_as_rfc3339() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(rfc3339(951_782_400.5), "2000-02-29T00:00:00.500000+00:00");
        assert_eq!(rfc3339(1_798_761_599.000_001), "2026-12-31T23:59:59.000001+00:00");
        assert_eq!(rfc3339(-1.0), "1969-12-31T23:59:59.000000+00:00");
    }

    #[test]
    fn query_namespaces_accept_dots_and_json() {
        assert_eq!(parse_query_namespace("a.b").expect("dotted"), ["a", "b"]);
        assert_eq!(parse_query_namespace(r#"["a.b","c"]"#).expect("json"), ["a.b", "c"]);
        assert_eq!(parse_query_namespace("").expect("empty"), Vec::<String>::new());
        assert!(parse_query_namespace("[1]").is_err());
    }
}
