//! `agent-memory serve`: the REST service over the library.
//!
//! A thin shell: handlers validate wire DTOs, call library functions and map errors to
//! JSON. [`router`] builds the whole application from an [`AppState`], so tests drive it
//! with `tower::ServiceExt::oneshot` without a socket; [`run`] adds the listener, logging
//! and graceful shutdown.
//!
//! Modules, in reading order: `config` (flags, environment, file), `error` (JSON errors),
//! `extract` (JSON/query extractors with JSON rejections), `auth` (API keys → tenant),
//! `tenancy` (tenant-scoped namespaces and ids), `store` (the LangGraph-compatible store
//! API), `conversations` (index, search, delete past conversations), `sessions` (chat
//! threads), `context` (count, trim, fit), `summarize` (`/context/summarize`),
//! `health`, `metrics`, `whoami`, `openapi`.

mod auth;
pub(crate) mod config;
mod context;
pub(crate) mod conversations;
pub(crate) mod count;
pub(crate) mod error;
mod extract;
mod health;
mod metrics;
mod openapi;
#[cfg(feature = "otel")]
mod otel;
mod respond;
mod schema;
mod sessions;
pub(crate) mod store;
mod summarize;
pub(crate) mod tenancy;
mod whoami;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub(crate) use config::{ConfigError, ServeArgs};

use agent_memory::embed::{Embedder, EmbedderOptions};
use agent_memory::llm::ChatModel;
use agent_memory::session::{InMemorySessions, SessionStore};
use agent_memory::store::{
    KeywordStatistics, MemoryBackend, MemoryStore, OpenOptions, PostgresBackend, PostgresConfig, SqliteBackend,
    SqliteOptions, StoreBackend, StoreError, StoreOptions, VectorIndexOptions,
};
use config::{ApiKeys, DatabaseUrl, Limits, LogFormat, PostgresIndexSettings, ServeConfig, VectorIndexSettings};
use error::ApiError;
use metrics::{Metrics, TimedEmbedder};

/// Everything a request handler may use; cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState {
    inner: Arc<StateInner>,
}

#[derive(Clone)]
struct StateInner {
    api_keys: ApiKeys,
    limits: Limits,
    store: MemoryStore,
    metrics: Arc<Metrics>,
    sessions: Arc<dyn SessionStore>,
    chat_model: Option<Arc<dyn ChatModel>>,
}

impl AppState {
    /// A state over `store`, with in-memory sessions and no chat model (see
    /// [`AppState::with_sessions`] and [`AppState::with_chat_model`]).
    pub(crate) fn new(api_keys: ApiKeys, limits: Limits, store: MemoryStore, metrics: Arc<Metrics>) -> Self {
        let sessions = Arc::new(InMemorySessions::new());
        Self { inner: Arc::new(StateInner { api_keys, limits, store, metrics, sessions, chat_model: None }) }
    }

    /// Keeps chat sessions in `sessions`.
    pub(crate) fn with_sessions(self, sessions: Arc<dyn SessionStore>) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        inner.sessions = sessions;
        Self { inner: Arc::new(inner) }
    }

    /// Summarizes with `model` (`/context/summarize`).
    pub(crate) fn with_chat_model(self, model: Arc<dyn ChatModel>) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        inner.chat_model = Some(model);
        Self { inner: Arc::new(inner) }
    }

    pub(crate) fn sessions(&self) -> &Arc<dyn SessionStore> {
        &self.inner.sessions
    }

    pub(crate) fn chat_model(&self) -> Option<&Arc<dyn ChatModel>> {
        self.inner.chat_model.as_ref()
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(crate) fn api_keys(&self) -> &ApiKeys {
        &self.inner.api_keys
    }

    pub(crate) fn limits(&self) -> Limits {
        self.inner.limits
    }

    pub(crate) fn store(&self) -> &MemoryStore {
        &self.inner.store
    }
}

/// The whole HTTP application.
///
/// Open routes: `/healthz`, `/readyz`, `/openapi.json`, `/metrics`. Every other route sits behind
/// [`auth::require_tenant`]. Around all of them: a body size limit, a request timeout
/// (408), panics turned into JSON 500s, JSON 404/405 fallbacks and a tracing span per
/// request.
pub(crate) fn router(state: AppState) -> Router {
    let limits = state.limits();
    let tenant_routes = Router::new()
        .route("/whoami", get(whoami::whoami))
        .route("/store/items", get(store::get_item).put(store::put_item).delete(store::delete_item))
        .route("/store/items/search", post(store::search_items))
        .route("/store/namespaces", post(store::list_namespaces))
        .route("/store/batch", post(store::batch))
        .route("/context/count", post(context::count))
        .route("/context/trim", post(context::trim))
        .route("/context/fit", post(context::fit))
        .merge(summarize::routes())
        .merge(conversations::routes())
        .merge(sessions::routes())
        .nest_service("/mcp", crate::mcp::http_service(state.store().clone(), !state.api_keys().is_empty()))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_tenant));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/metrics", get(metrics::metrics))
        .merge(tenant_routes)
        .route_layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .fallback(error::not_found_fallback)
        .method_not_allowed_fallback(error::method_not_allowed_fallback)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(middleware::from_fn_with_state(limits.request_timeout, request_timeout))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        tenant = tracing::field::Empty,
                        http.response.status_code = tracing::field::Empty,
                        otel.status_code = tracing::field::Empty,
                    )
                })
                .on_request(())
                .on_response(finish_request),
        )
        .with_state(state)
}

/// Records the response's status on the request span (`http.response.status_code`, and
/// `otel.status_code = ERROR` for a 5xx, which OpenTelemetry exports as the span's error
/// status) and logs the access line (target `access`, level info: `RUST_LOG=info,access=off`
/// turns it off).
fn finish_request<B>(response: &axum::http::Response<B>, latency: Duration, span: &tracing::Span) {
    let status = response.status().as_u16();
    // As i64: tracing-opentelemetry exports u64 fields as their Debug text.
    span.record("http.response.status_code", i64::from(status));
    if response.status().is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    tracing::info!(target: "access", status, latency_us = latency.as_micros() as u64, "finished processing request");
}

/// Answers 408 (JSON) when a request runs longer than the configured timeout.
///
/// The timeout bounds the time until the response's head is ready; a streamed body (the
/// `/mcp` GET event stream) then flows for as long as the client keeps it open.
async fn request_timeout(State(timeout): State<Duration>, request: Request, next: Next) -> Result<Response, ApiError> {
    tokio::time::timeout(timeout, next.run(request)).await.map_err(|_| {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!("the request took longer than {} s", timeout.as_secs()),
        )
    })
}

/// Resolves the configuration, opens the database, listens, and serves until SIGINT or
/// SIGTERM; in-flight requests finish before it returns.
///
/// Prints one line on stdout once listening: `listening on http://ADDR` (with the real
/// port when the configured one is 0), so scripts and tests know where to connect.
///
/// # Errors
///
/// A [`ConfigError`] for an unusable configuration (exit code 2), any other error when
/// the database cannot be opened or the address cannot be bound.
pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = ServeConfig::resolve(args)?;
    #[cfg(feature = "otel")]
    let traces = config.otel_endpoint.as_deref().map(otel::Tracing::start).transpose()?;
    #[cfg(feature = "otel")]
    init_logging(config.log_format, traces.as_ref());
    #[cfg(not(feature = "otel"))]
    init_logging(config.log_format);
    if let Some(endpoint) = &config.otel_endpoint {
        tracing::info!(%endpoint, "exporting traces over OTLP/HTTP");
    }
    let metrics = Arc::new(Metrics::new());
    let store = open_store(&config, &metrics).await?;
    warm_up_in_background(Arc::clone(store.backend()));
    // Expired items are invisible at once; the sweeper reclaims their space.
    let sweeper = store.start_sweeper(SWEEP_INTERVAL)?;
    let sessions = open_sessions(&config.database).await?;
    let mut state = AppState::new(config.api_keys.clone(), config.limits, store, metrics).with_sessions(sessions);
    if let Some(model) = config.connect_chat_model()? {
        state = state.with_chat_model(model);
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {}: {error}", config.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(
        %address,
        database = %config.database,
        embedder = %config.embedder,
        chat_model = config.chat_model.as_deref().unwrap_or("none"),
        api_keys = config.api_keys.len(),
        "agent-memory serving"
    );
    if config.api_keys.is_empty() {
        tracing::warn!("no API keys configured: every request acts as tenant `local`; listening on loopback only");
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{address}")?;
    stdout.flush()?;
    drop(stdout);
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown_signal()).await?;
    sweeper.stop();
    #[cfg(feature = "otel")]
    if let Some(traces) = traces {
        // Flushing blocks until the last batch is sent: keep it off the async workers.
        tokio::task::spawn_blocking(move || traces.shutdown()).await?;
    }
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Loads the backend's in-process indexes while the server starts listening, so that the
/// first searches find them ready rather than each waiting for the load (seconds at 100k
/// items); requests that come first are served as they would be without it.
fn warm_up_in_background(backend: Arc<dyn StoreBackend>) {
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        match backend.warm_up().await {
            Ok(()) => tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "search indexes ready"),
            Err(error) => {
                tracing::warn!(%error, "could not load the search indexes ahead: the first searches will load them")
            }
        }
    });
}

/// How often expired items are physically removed.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// The vector index settings of the served store: the configured ones, partitioned by first
/// label. Every namespace the service stores starts with its tenant's label, so each tenant
/// gets its own vector set (matrix and graph) and its searches never walk another's rows.
fn served_vector_index(config: &ServeConfig) -> VectorIndexSettings {
    VectorIndexSettings {
        options: VectorIndexOptions { partition_by_first_label: true, ..config.vector_index.options },
        explicit: config.vector_index.explicit.clone(),
    }
}

/// Opens the configured database with the configured embedder and index settings.
async fn open_store(config: &ServeConfig, metrics: &Arc<Metrics>) -> anyhow::Result<MemoryStore> {
    let store = open_database(
        &config.database,
        &served_vector_index(config),
        &config.postgres_index,
        KeywordStatistics::Tenant,
    )
    .await?
    .store;
    let options = StoreOptions { hybrid_candidates: config.hybrid_candidates, ..store.options().clone() };
    let store = store.with_options(options);
    tracing::info!(
        hybrid_candidates = config.hybrid_candidates,
        "hybrid search fuses this many results of each ranking"
    );
    Ok(match embedder_from_spec(&config.embedder)? {
        Some(embedder) => {
            tracing::info!(model = embedder.model_id(), dimensions = embedder.dimensions(), "embedder ready");
            store.with_embedder(Arc::new(TimedEmbedder::new(embedder, Arc::clone(metrics))))
        }
        None => {
            tracing::info!("no embedder: search ranks by keywords (BM25)");
            store.without_embedder()
        }
    })
}

/// Opens `database` with the embedder `spec` and the index settings, without metrics
/// (for `agent-memory mcp`, `export` and `import`).
pub(crate) async fn open_plain_store(
    database: &DatabaseUrl,
    spec: &str,
    vector_index: &VectorIndexSettings,
    postgres_index: &PostgresIndexSettings,
    keyword_statistics: KeywordStatistics,
) -> anyhow::Result<MemoryStore> {
    let store = open_database(database, vector_index, postgres_index, keyword_statistics).await?.store;
    Ok(match embedder_from_spec(spec)? {
        Some(embedder) => store.with_embedder(embedder),
        None => store.without_embedder(),
    })
}

/// A store just opened (without an embedder), and the vector index options its backend
/// runs with (`None` for PostgreSQL with its in-process vector index off).
pub(crate) struct OpenedStore {
    pub(crate) store: MemoryStore,
    pub(crate) vector_index: Option<VectorIndexOptions>,
}

/// Opens `database`; every backend gets `vector_index`'s options for its in-process vector
/// index (PostgreSQL's beside pgvector) and counts `keyword_statistics`' items in keyword
/// scores, and PostgreSQL keeps its in-process keyword and vector indexes as
/// `postgres_index` says. Logs the options the backend runs with.
pub(crate) async fn open_database(
    database: &DatabaseUrl,
    vector_index: &VectorIndexSettings,
    postgres_index: &PostgresIndexSettings,
    keyword_statistics: KeywordStatistics,
) -> anyhow::Result<OpenedStore> {
    let options = OpenOptions { vector_index: vector_index.options, keyword_statistics };
    let opened = match database {
        DatabaseUrl::Memory => Ok(in_memory_store(options)),
        DatabaseUrl::Sqlite(path) => sqlite_store(path, options)
            .await
            .map_err(|error| anyhow::anyhow!("cannot open the SQLite database {}: {error}", path.display())),
        DatabaseUrl::Postgres(url) => postgres_store(url, options, postgres_index)
            .await
            .map_err(|error| anyhow::anyhow!("cannot open the PostgreSQL database {database}: {error}")),
    }?;
    log_vector_index(opened.vector_index, vector_index);
    Ok(opened)
}

fn in_memory_store(options: OpenOptions) -> OpenedStore {
    let backend = Arc::new(MemoryBackend::with_indexes(options.vector_index, options.keyword_statistics));
    let vector_index = Some(backend.vector_index_options());
    OpenedStore { store: MemoryStore::new(backend, StoreOptions::default()), vector_index }
}

/// A store on PostgreSQL at `url` (`?schema=NAME` honoured) with the in-process indexes
/// `postgres_index` asks for.
async fn postgres_store(
    url: &str,
    options: OpenOptions,
    postgres_index: &PostgresIndexSettings,
) -> Result<OpenedStore, StoreError> {
    let config = PostgresConfig::from_url(url)
        .keyword_index(postgres_index.keyword_index)
        .vector_index(postgres_index.vector_index)
        .vector_index_options(options.vector_index)
        .keyword_statistics(options.keyword_statistics);
    let backend = Arc::new(PostgresBackend::connect(config).await?);
    tracing::info!(
        keyword_index = postgres_index.keyword_index,
        vector_index = postgres_index.vector_index,
        "postgres in-process indexes"
    );
    let vector_index = postgres_index.vector_index.then_some(options.vector_index);
    Ok(OpenedStore { store: MemoryStore::new(backend, StoreOptions::default()), vector_index })
}

async fn sqlite_store(path: &std::path::Path, options: OpenOptions) -> Result<OpenedStore, StoreError> {
    let OpenOptions { vector_index, keyword_statistics } = options;
    let options = SqliteOptions { vector_index, keyword_statistics, ..SqliteOptions::default() };
    let backend = Arc::new(SqliteBackend::open_with(path, options).await?);
    let vector_index = Some(backend.vector_index_options());
    Ok(OpenedStore { store: MemoryStore::new(backend, StoreOptions::default()), vector_index })
}

/// Opens a store by URL with [`MemoryStore::open_with`] (`memory:`, `sqlite:PATH`, a bare
/// path, `postgres://…`; the built-in embedder), every backend with `vector_index`'s
/// options and keyword scores counted as `keyword_statistics` says. For the commands that
/// take `--db`.
///
/// # Errors
///
/// [`MemoryStore::open`]'s.
pub(crate) async fn open_store_url(
    url: &str,
    vector_index: &VectorIndexSettings,
    keyword_statistics: KeywordStatistics,
) -> Result<MemoryStore, StoreError> {
    let options = OpenOptions { vector_index: vector_index.options, keyword_statistics };
    let store = MemoryStore::open_with(url, options).await?;
    log_vector_index(Some(vector_index.options), vector_index);
    Ok(store)
}

/// One log line with the options an in-process backend runs with; for PostgreSQL, a warning
/// when settings were given that it ignores.
fn log_vector_index(running: Option<VectorIndexOptions>, settings: &VectorIndexSettings) {
    match running {
        Some(options) => tracing::info!(
            vector_ann_min_vectors = options.ann_min_vectors,
            vector_exact_scope_max = options.exact_scope_max,
            vector_connectivity = options.connectivity,
            vector_ef_construction = options.expansion_add,
            vector_ef_search = options.expansion_search,
            vector_graph_precision = config::precision_name(options.graph_precision),
            "in-process vector index"
        ),
        None if !settings.explicit.is_empty() => tracing::warn!(
            ignored = %settings.explicit.join(","),
            "vector index settings were given but the store has no in-process vector index: ignored"
        ),
        None => {}
    }
}

/// The chat sessions, in the same database as the store.
pub(crate) async fn open_sessions(database: &DatabaseUrl) -> anyhow::Result<Arc<dyn SessionStore>> {
    let url = match database {
        DatabaseUrl::Memory => "memory:".to_owned(),
        DatabaseUrl::Sqlite(path) => format!("sqlite:{}", path.display()),
        DatabaseUrl::Postgres(url) => url.clone(),
    };
    agent_memory::session::open_sessions(&url)
        .await
        .map_err(|error| anyhow::anyhow!("cannot open the sessions in {database}: {error}"))
}

/// `none`: no embedder (keyword search only); otherwise a `provider[:model]` spec for
/// [`agent_memory::embed::from_spec`]: `default` (the built-in static model, offline),
/// `hash:64`, `openai:text-embedding-3-small`, `ollama:nomic-embed-text`, …; keys and base
/// URLs come from the providers' usual environment variables.
fn embedder_from_spec(spec: &str) -> Result<Option<Arc<dyn Embedder>>, ConfigError> {
    match spec.trim() {
        "none" => Ok(None),
        spec => agent_memory::embed::from_spec(spec, &EmbedderOptions::new())
            .map(Some)
            .map_err(|error| ConfigError::Embedder(error.to_string())),
    }
}

/// Logs on stderr (text or JSON, level from `RUST_LOG`, `info` by default) and, with
/// `traces`, every span exported over OpenTelemetry too.
fn init_logging(format: LogFormat, #[cfg(feature = "otel")] traces: Option<&otel::Tracing>) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let lines = match format {
        LogFormat::Text => lines.boxed(),
        LogFormat::Json => lines.json().flatten_event(true).boxed(),
    };
    let subscriber = tracing_subscriber::registry().with(filter).with(lines);
    #[cfg(feature = "otel")]
    let subscriber = subscriber.with(traces.map(otel::Tracing::layer));
    // A second initialisation (only possible in tests) keeps the first subscriber.
    let _ = subscriber.try_init();
}

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received, finishing in-flight requests"),
        () = terminate => tracing::info!("SIGTERM received, finishing in-flight requests"),
    }
}

#[cfg(test)]
mod tests;
