//! Prometheus metrics at `/metrics` (OpenMetrics text): request counts and latency per
//! route, search latency per mode, embedding latency and volume per model, and the number
//! of live items.
//!
//! **Invariant:** no label carries a tenant, a namespace, a key or any other client
//! string: routes are the matched route templates, so cardinality is bounded and no
//! tenant learns anything about another from the metrics.

use std::sync::Arc;
use std::time::Instant;

use agent_memory::embed::{EmbedError, Embedder};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::AppState;
use super::error::ApiError;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabels {
    mode: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets from 0.25 ms to about 8 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The server's metrics and their registry.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: HistogramFamily<RouteLabels>,
    search_seconds: HistogramFamily<ModeLabels>,
    embed_seconds: HistogramFamily<ModelLabels>,
    embedded_texts: Family<ModelLabels, Counter>,
    items: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "agent_memory_http_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        let request_seconds =
            HistogramFamily::<RouteLabels>::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "agent_memory_http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            request_seconds.clone(),
        );
        let search_seconds =
            HistogramFamily::<ModeLabels>::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "agent_memory_store_search_duration_seconds",
            "Time of a store search (embedding the query included), by mode",
            search_seconds.clone(),
        );
        let embed_seconds =
            HistogramFamily::<ModelLabels>::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "agent_memory_embedding_duration_seconds",
            "Time of one embedder call, by model",
            embed_seconds.clone(),
        );
        let embedded_texts = Family::<ModelLabels, Counter>::default();
        registry.register("agent_memory_embedded_texts", "Texts embedded, by model", embedded_texts.clone());
        let items = Gauge::default();
        registry.register(
            "agent_memory_store_items",
            "Live items in the store, all tenants (at scrape time)",
            items.clone(),
        );
        Self { registry, requests, request_seconds, search_seconds, embed_seconds, embedded_texts, items }
    }

    /// Records one store search that took `seconds`.
    pub(crate) fn observe_search(&self, mode: &'static str, seconds: f64) {
        self.search_seconds.get_or_create(&ModeLabels { mode }).observe(seconds);
    }

    fn observe_embedding(&self, model: &str, texts: usize, seconds: f64) {
        let labels = ModelLabels { model: model.to_owned() };
        self.embed_seconds.get_or_create(&labels).observe(seconds);
        self.embedded_texts.get_or_create(&labels).inc_by(texts as u64);
    }

    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Counts and times every routed request (`route_layer`, so the route template is known).
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request.extensions().get::<MatchedPath>().map(|path| path.as_str().to_owned()).unwrap_or_default();
    let response = next.run(request).await;
    let metrics = state.metrics();
    let status = response.status().as_u16();
    metrics.requests.get_or_create(&RequestLabels { method: method.clone(), route: route.clone(), status }).inc();
    metrics.request_seconds.get_or_create(&RouteLabels { method, route }).observe(started.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`: the OpenMetrics text exposition (no key needed).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    match state.store().count(agent_memory::store::NamespacePrefix::root()).await {
        Ok(count) => {
            state.metrics().items.set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        Err(error) => tracing::warn!(%error, "cannot count items for /metrics"),
    }
    let text = state.metrics().encode().map_err(ApiError::internal)?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(response)
}

/// An embedder that reports each call's duration and size to [`Metrics`].
#[derive(Debug)]
pub(crate) struct TimedEmbedder {
    inner: Arc<dyn Embedder>,
    metrics: Arc<Metrics>,
}

impl TimedEmbedder {
    pub(crate) fn new(inner: Arc<dyn Embedder>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }
}

#[async_trait::async_trait]
impl Embedder for TimedEmbedder {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn dimensions(&self) -> usize {
        self.inner.dimensions()
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let started = Instant::now();
        let result = self.inner.embed(texts).await;
        self.metrics.observe_embedding(self.inner.model_id(), texts.len(), started.elapsed().as_secs_f64());
        result
    }
}
