//! Serve configuration: command-line flags, then environment variables, then an optional
//! TOML file, then built-in defaults (first one set wins).
//!
//! ```toml
//! # agent-memory.toml: every field is optional
//! listen = "127.0.0.1:8080"
//! database_url = "sqlite:agent-memory.db"   # or "memory", or "postgres://user@host/db"
//! embedder = "default"                       # or "none", "hash:64", "openai:text-embedding-3-small"
//! chat_model = "openai:gpt-4o-mini"             # for /context/summarize; none by default
//! max_body_bytes = 1048576
//! request_timeout_secs = 30
//! log_format = "text"                        # or "json"
//! otel_endpoint = "http://127.0.0.1:4318"     # OTLP/HTTP collector for traces; none by default
//! hybrid_candidates = 100                     # per ranking, fused by a hybrid search; lower: faster
//!
//! [[api_keys]]
//! tenant = "acme"
//! key = "a-long-random-secret"
//!
//! [vector_index]                              # the in-process vector index (every backend)
//! ann_min_vectors = 10000                     # vectors of one model from which the HNSW graph is built
//! exact_scope_max = 20000                     # scopes with at most this many rows are scanned exactly
//! connectivity = 16                           # HNSW M, 2 to 256
//! ef_construction = 320
//! ef_search = 96                              # lower: faster, lower recall
//! graph_precision = "i8"                      # or "f32", "bf16", "f16"
//!
//! [postgres]                                  # a postgres:// database only (an error otherwise)
//! keyword_index = true                        # false: keyword search ranks in SQL only
//! vector_index = true                         # false: semantic search ranks with pgvector only
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use agent_memory::llm::{ChatModel, LlmConfig, Provider};
use agent_memory::store::{GraphPrecision, KeywordStatistics, MAX_LIMIT, StoreOptions, VectorIndexOptions};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Where the server listens unless told otherwise: loopback only, so that a server
/// started without keys is never reachable from another machine.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The embedded default database: a SQLite file in the working directory.
pub(crate) const DEFAULT_DATABASE_URL: &str = "sqlite:agent-memory.db";
/// The embedder used unless told otherwise: the library's built-in local one.
pub(crate) const DEFAULT_EMBEDDER: &str = "default";
/// The largest request body accepted (1 MiB).
pub(crate) const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long one request may take before the server answers 408.
pub(crate) const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;
/// The shortest API key accepted: shorter ones are guessable.
const MIN_KEY_LEN: usize = 16;
/// The largest HNSW connectivity (M) accepted: each node keeps up to 2·M neighbours on the
/// base layer (8 bytes each), so M = 256 already costs 4 KiB per vector.
const MAX_CONNECTIVITY: usize = 256;

/// `agent-memory serve` flags. Every flag also reads an `AGENT_MEMORY_*` environment
/// variable, and falls back to the config file, then to the default shown.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct ServeArgs {
    /// TOML configuration file; flags and environment variables override its fields.
    #[arg(long, env = "AGENT_MEMORY_CONFIG", value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    /// Address and port to listen on [default: 127.0.0.1:8080]. Port 0 picks a free port.
    #[arg(long, env = "AGENT_MEMORY_LISTEN", value_name = "ADDR")]
    pub(crate) listen: Option<String>,
    /// Database: `sqlite:PATH`, `memory` or `postgres://…[?schema=NAME]`
    /// [default: sqlite:agent-memory.db]. Several servers may share one PostgreSQL database.
    #[arg(long, env = "AGENT_MEMORY_DATABASE_URL", value_name = "URL")]
    pub(crate) database_url: Option<String>,
    /// Embedder for semantic search: `default` (the built-in static model, offline), `none`
    /// (keyword search only) or `provider[:model]` such as `openai:text-embedding-3-small`
    /// (see `agent-memory embed --list`).
    #[arg(long, env = "AGENT_MEMORY_EMBEDDER", value_name = "SPEC")]
    pub(crate) embedder: Option<String>,
    /// Chat model for `/context/summarize`, as `provider:model` (`openai:gpt-4o-mini`,
    /// `anthropic:claude-haiku-4-5`, `ollama:llama3.2`, …); keys and base URLs come from the
    /// providers' usual environment variables (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, …).
    /// None by default: summarizing then answers 503.
    #[arg(long, env = "AGENT_MEMORY_CHAT_MODEL", value_name = "SPEC")]
    pub(crate) chat_model: Option<String>,
    /// API key bound to a tenant, as `TENANT:KEY`; repeat the flag (or separate with commas
    /// in the environment variable) for several. Prefer the environment or the config file:
    /// flags are visible to other local users.
    #[arg(
        long = "api-key",
        env = "AGENT_MEMORY_API_KEYS",
        value_name = "TENANT:KEY",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub(crate) api_keys: Vec<String>,
    /// Largest accepted request body in bytes [default: 1048576].
    #[arg(long, env = "AGENT_MEMORY_MAX_BODY_BYTES", value_name = "BYTES")]
    pub(crate) max_body_bytes: Option<usize>,
    /// Seconds a request may run before it is answered with 408 [default: 30].
    #[arg(long, env = "AGENT_MEMORY_REQUEST_TIMEOUT_SECS", value_name = "SECS")]
    pub(crate) request_timeout_secs: Option<u64>,
    /// Log format on stderr [default: text]. The level comes from `RUST_LOG` (default `info`).
    #[arg(long, env = "AGENT_MEMORY_LOG_FORMAT", value_enum)]
    pub(crate) log_format: Option<LogFormat>,
    /// Export request traces over OpenTelemetry (OTLP/HTTP, protobuf) to this collector,
    /// e.g. `http://127.0.0.1:4318` (`/v1/traces` is appended); none by default.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    pub(crate) otel_endpoint: Option<String>,
    /// Candidates each ranking (semantic and keyword) hands to a hybrid search's fusion, 1 to
    /// 10000 (at least the page asked for); fewer is faster and follows the full rankings
    /// less closely [default: 100].
    #[arg(long, env = "AGENT_MEMORY_HYBRID_CANDIDATES", value_name = "N")]
    pub(crate) hybrid_candidates: Option<usize>,
    #[command(flatten)]
    pub(crate) vector_index: VectorIndexArgs,
    #[command(flatten)]
    pub(crate) postgres_index: PostgresIndexArgs,
}

/// The in-process vector index's settings (every backend's, PostgreSQL's beside pgvector), shared by `serve`
/// and every command that opens a store. Each flag also reads an `AGENT_MEMORY_VECTOR_*`
/// environment variable; `serve` then falls back to its config file's `[vector_index]`
/// table, then to the library's defaults ([`VectorIndexOptions::default`]).
#[derive(Debug, Default, Clone, clap::Args)]
#[command(next_help_heading = "In-process vector index (every backend)")]
pub(crate) struct VectorIndexArgs {
    /// Vectors of one model from which an HNSW graph is built; below, every search is an
    /// exact scan [default: 10000].
    #[arg(
        id = "vector_ann_min_vectors",
        long = "vector-ann-min-vectors",
        env = "AGENT_MEMORY_VECTOR_ANN_MIN_VECTORS",
        value_name = "N",
        global = true
    )]
    pub(crate) ann_min_vectors: Option<usize>,
    /// Scopes (a namespace or prefix) with at most this many rows are scanned exactly, even
    /// when a graph exists [default: 20000].
    #[arg(
        id = "vector_exact_scope_max",
        long = "vector-exact-scope-max",
        env = "AGENT_MEMORY_VECTOR_EXACT_SCOPE_MAX",
        value_name = "N",
        global = true
    )]
    pub(crate) exact_scope_max: Option<usize>,
    /// HNSW connectivity (M): edges per node, 2 to 256 [default: 16].
    #[arg(
        id = "vector_connectivity",
        long = "vector-connectivity",
        env = "AGENT_MEMORY_VECTOR_CONNECTIVITY",
        value_name = "M",
        global = true
    )]
    pub(crate) connectivity: Option<usize>,
    /// HNSW ef_construction: candidates considered while adding a vector [default: 320].
    #[arg(
        id = "vector_ef_construction",
        long = "vector-ef-construction",
        env = "AGENT_MEMORY_VECTOR_EF_CONSTRUCTION",
        value_name = "EF",
        global = true
    )]
    pub(crate) ef_construction: Option<usize>,
    /// HNSW ef_search: candidates kept while searching (at least the number wanted); lower
    /// is faster with lower recall [default: 96].
    #[arg(
        id = "vector_ef_search",
        long = "vector-ef-search",
        env = "AGENT_MEMORY_VECTOR_EF_SEARCH",
        value_name = "EF",
        global = true
    )]
    pub(crate) ef_search: Option<usize>,
    /// Precision of the graph's own copy of the vectors (results are re-scored in f32)
    /// [default: i8].
    #[arg(
        id = "vector_graph_precision",
        long = "vector-graph-precision",
        env = "AGENT_MEMORY_VECTOR_GRAPH_PRECISION",
        value_name = "PRECISION",
        value_enum,
        ignore_case = true,
        global = true
    )]
    pub(crate) graph_precision: Option<Precision>,
}

/// Which items keyword scores count, for the commands that open a store by `--db` (`serve`
/// counts per tenant, always: its namespaces start with the tenant).
#[derive(Debug, Default, Clone, clap::Args)]
pub(crate) struct KeywordStatisticsArgs {
    /// Which items keyword (BM25) scores count: `store` (every item) or `tenant` (the items
    /// of the searched namespace's tenant, its first label up to the first `/`, as `serve`
    /// counts them: use it on a database that `serve` writes) [default: store].
    #[arg(
        long = "keyword-statistics",
        env = "AGENT_MEMORY_KEYWORD_STATISTICS",
        value_enum,
        value_name = "ITEMS",
        global = true
    )]
    pub(crate) keyword_statistics: Option<StatisticsArg>,
}

impl KeywordStatisticsArgs {
    /// The statistics asked for, or the library's default.
    pub(crate) fn resolve(&self) -> KeywordStatistics {
        match self.keyword_statistics {
            Some(StatisticsArg::Tenant) => KeywordStatistics::Tenant,
            Some(StatisticsArg::Store) | None => KeywordStatistics::Store,
        }
    }
}

/// [`KeywordStatistics`] as flags spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StatisticsArg {
    /// Every item in the store.
    Store,
    /// The searched namespace's tenant's items.
    Tenant,
}

/// [`GraphPrecision`] as flags and config files spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Precision {
    /// 32-bit floats.
    F32,
    /// bfloat16.
    Bf16,
    /// IEEE half precision.
    F16,
    /// 8-bit integers.
    I8,
}

impl Precision {
    fn graph_precision(self) -> GraphPrecision {
        match self {
            Precision::F32 => GraphPrecision::F32,
            Precision::Bf16 => GraphPrecision::BF16,
            Precision::F16 => GraphPrecision::F16,
            Precision::I8 => GraphPrecision::I8,
        }
    }
}

/// The config file's `[vector_index]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileVectorIndex {
    ann_min_vectors: Option<usize>,
    exact_scope_max: Option<usize>,
    connectivity: Option<usize>,
    ef_construction: Option<usize>,
    ef_search: Option<usize>,
    graph_precision: Option<Precision>,
}

/// The resolved vector index settings: the options in-process backends open with, and which
/// of them were set (by flag, environment or file) rather than defaulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VectorIndexSettings {
    pub(crate) options: VectorIndexOptions,
    /// The config file names of the explicitly set fields, in declaration order.
    pub(crate) explicit: Vec<&'static str>,
}

impl VectorIndexSettings {
    /// The library's defaults, none set explicitly (for commands that never search).
    pub(crate) fn defaults() -> VectorIndexSettings {
        VectorIndexSettings { options: VectorIndexOptions::default(), explicit: Vec::new() }
    }
}

impl VectorIndexArgs {
    /// Flags and environment over the defaults (commands without a config file).
    pub(crate) fn resolve(&self) -> Result<VectorIndexSettings, ConfigError> {
        self.resolve_over(&FileVectorIndex::default())
    }

    /// Flags and environment over `file` over the defaults, validated.
    fn resolve_over(&self, file: &FileVectorIndex) -> Result<VectorIndexSettings, ConfigError> {
        let defaults = VectorIndexOptions::default();
        let mut explicit = Vec::new();
        let mut pick = |name: &'static str, flag: Option<usize>, file: Option<usize>, default: usize| {
            let value = flag.or(file);
            if value.is_some() {
                explicit.push(name);
            }
            value.unwrap_or(default)
        };
        let ann_min_vectors =
            pick("ann_min_vectors", self.ann_min_vectors, file.ann_min_vectors, defaults.ann_min_vectors);
        let exact_scope_max =
            pick("exact_scope_max", self.exact_scope_max, file.exact_scope_max, defaults.exact_scope_max);
        let connectivity = pick("connectivity", self.connectivity, file.connectivity, defaults.connectivity);
        let expansion_add = pick("ef_construction", self.ef_construction, file.ef_construction, defaults.expansion_add);
        let expansion_search = pick("ef_search", self.ef_search, file.ef_search, defaults.expansion_search);
        let graph_precision = match self.graph_precision.or(file.graph_precision) {
            Some(precision) => {
                explicit.push("graph_precision");
                precision.graph_precision()
            }
            None => defaults.graph_precision,
        };
        if ann_min_vectors == 0 {
            return Err(ConfigError::VectorIndex(
                "ann_min_vectors 0: use 1 or more (1 builds the graph from the first vector)".to_owned(),
            ));
        }
        if !(2..=MAX_CONNECTIVITY).contains(&connectivity) {
            return Err(ConfigError::VectorIndex(format!(
                "connectivity (M) {connectivity}: use 2 to {MAX_CONNECTIVITY} ({} by default)",
                defaults.connectivity
            )));
        }
        if expansion_add == 0 {
            return Err(ConfigError::VectorIndex(format!(
                "ef_construction 0: use 1 or more ({} by default)",
                defaults.expansion_add
            )));
        }
        if expansion_search == 0 {
            return Err(ConfigError::VectorIndex(format!(
                "ef_search 0: use 1 or more ({} by default)",
                defaults.expansion_search
            )));
        }
        let options = VectorIndexOptions {
            ann_min_vectors,
            exact_scope_max,
            connectivity,
            expansion_add,
            expansion_search,
            graph_precision,
            // The built-in model's half-width graph: no setting (the library's option).
            leading_half_graph: defaults.leading_half_graph,
            // `serve` partitions by tenant itself (`open_store`); the other commands do not.
            partition_by_first_label: defaults.partition_by_first_label,
        };
        Ok(VectorIndexSettings { options, explicit })
    }
}

/// Whether a PostgreSQL database's searches rank in this process's own indexes (the
/// default) or in SQL only. Each index costs memory in every process (measured about
/// 1.1 KB per item for the keyword index and 2.2 KB per item at 256 dimensions for the
/// vector index) and one full read of the table on the first search; an operator running
/// many processes on one big database turns them off. Each flag also reads an
/// `AGENT_MEMORY_POSTGRES_*` environment variable; `serve` then falls back to its config
/// file's `[postgres]` table, then to on. Setting either with another database is an error.
#[derive(Debug, Default, Clone, clap::Args)]
#[command(next_help_heading = "PostgreSQL in-process indexes")]
pub(crate) struct PostgresIndexArgs {
    /// Rank keyword search (and hybrid search's keyword half) in an in-process index of the
    /// database's items; `false`: in SQL only, keeping no index in this process [default: true].
    #[arg(
        id = "postgres_keyword_index",
        long = "postgres-keyword-index",
        env = "AGENT_MEMORY_POSTGRES_KEYWORD_INDEX",
        value_name = "BOOL",
        global = true
    )]
    pub(crate) keyword_index: Option<bool>,
    /// Rank semantic search (and hybrid search's semantic half) in an in-process vector index
    /// of the database's vectors; `false`: with pgvector in SQL only, keeping no vectors in
    /// this process [default: true].
    #[arg(
        id = "postgres_vector_index",
        long = "postgres-vector-index",
        env = "AGENT_MEMORY_POSTGRES_VECTOR_INDEX",
        value_name = "BOOL",
        global = true
    )]
    pub(crate) vector_index: Option<bool>,
}

/// The config file's `[postgres]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePostgres {
    keyword_index: Option<bool>,
    vector_index: Option<bool>,
}

/// The resolved PostgreSQL index settings, and which of them were set (by flag, environment
/// or file) rather than defaulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PostgresIndexSettings {
    /// Keep the in-process keyword index ([`agent_memory::store::PostgresConfig::keyword_index`]).
    pub(crate) keyword_index: bool,
    /// Keep the in-process vector index ([`agent_memory::store::PostgresConfig::vector_index`]).
    pub(crate) vector_index: bool,
    /// The config file names of the explicitly set fields, in declaration order.
    pub(crate) explicit: Vec<&'static str>,
}

impl PostgresIndexSettings {
    /// Both indexes on, none set explicitly (the library's defaults).
    pub(crate) fn defaults() -> PostgresIndexSettings {
        PostgresIndexSettings { keyword_index: true, vector_index: true, explicit: Vec::new() }
    }
}

impl PostgresIndexArgs {
    /// Flags and environment over the defaults (commands without a config file), for
    /// `database`.
    pub(crate) fn resolve(&self, database: &DatabaseUrl) -> Result<PostgresIndexSettings, ConfigError> {
        self.resolve_over(&FilePostgres::default(), database)
    }

    /// Flags and environment over `file` over the defaults; an error when anything is set
    /// and `database` is not PostgreSQL.
    fn resolve_over(&self, file: &FilePostgres, database: &DatabaseUrl) -> Result<PostgresIndexSettings, ConfigError> {
        let mut explicit = Vec::new();
        let mut pick = |name: &'static str, flag: Option<bool>, file: Option<bool>| {
            let value = flag.or(file);
            if value.is_some() {
                explicit.push(name);
            }
            value.unwrap_or(true)
        };
        let keyword_index = pick("keyword_index", self.keyword_index, file.keyword_index);
        let vector_index = pick("vector_index", self.vector_index, file.vector_index);
        if !explicit.is_empty() && !matches!(database, DatabaseUrl::Postgres(_)) {
            return Err(ConfigError::PostgresOnly { settings: explicit.join(" and "), database: database.to_string() });
        }
        Ok(PostgresIndexSettings { keyword_index, vector_index, explicit })
    }
}

/// `f32`, `bf16`, `f16` or `i8`: how flags and config files spell `precision`.
pub(crate) fn precision_name(precision: GraphPrecision) -> &'static str {
    match precision {
        GraphPrecision::F32 => "f32",
        GraphPrecision::BF16 => "bf16",
        GraphPrecision::F16 => "f16",
        GraphPrecision::I8 => "i8",
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event.
    Json,
}

/// The config file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database_url: Option<String>,
    embedder: Option<String>,
    chat_model: Option<String>,
    max_body_bytes: Option<usize>,
    request_timeout_secs: Option<u64>,
    log_format: Option<LogFormat>,
    otel_endpoint: Option<String>,
    hybrid_candidates: Option<usize>,
    #[serde(default)]
    api_keys: Vec<FileApiKey>,
    #[serde(default)]
    vector_index: FileVectorIndex,
    #[serde(default)]
    postgres: FilePostgres,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileApiKey {
    tenant: String,
    key: String,
}

/// Why the configuration cannot be used. Each message says what to change.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("invalid listen address {0:?}: expected HOST:PORT such as 127.0.0.1:8080")]
    Listen(String),
    #[error("invalid database url {0:?}: expected sqlite:PATH, memory or postgres://…")]
    DatabaseUrl(String),
    #[error("invalid embedder: {0}")]
    Embedder(String),
    #[error("invalid OpenTelemetry endpoint {0}")]
    OtelEndpoint(String),
    #[error("invalid chat model {0}")]
    ChatModel(String),
    #[error("invalid api key {0}")]
    ApiKey(String),
    #[error("invalid vector index setting {0}")]
    VectorIndex(String),
    #[error(
        "the postgres setting {settings} applies to PostgreSQL databases only, and the database is {database}: \
         remove it (--postgres-*, AGENT_MEMORY_POSTGRES_* or [postgres] in the config file) or use a postgres:// \
         database url"
    )]
    PostgresOnly { settings: String, database: String },
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    #[error("invalid hybrid_candidates {value}: use 1 to {max} ({default} by default)")]
    HybridCandidates { value: usize, max: usize, default: usize },
    #[error(
        "refusing to listen on {0} without API keys: anyone who can reach it could read every memory; \
         configure keys (--api-key TENANT:KEY, AGENT_MEMORY_API_KEYS or [[api_keys]] in the config file) \
         or listen on a loopback address such as 127.0.0.1"
    )]
    ExposedWithoutKeys(SocketAddr),
}

/// Which database backs the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DatabaseUrl {
    /// A SQLite file (created when missing).
    Sqlite(PathBuf),
    /// Nothing persisted: for tests and trials.
    Memory,
    /// A PostgreSQL connection string, kept as given.
    Postgres(String),
}

impl DatabaseUrl {
    pub(crate) fn parse(url: &str) -> Result<Self, ConfigError> {
        if url == "memory" || url == "memory:" {
            return Ok(Self::Memory);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(ConfigError::DatabaseUrl(url.to_owned()));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        Err(ConfigError::DatabaseUrl(url.to_owned()))
    }
}

impl fmt::Display for DatabaseUrl {
    /// Shown in logs: never prints a PostgreSQL password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Self::Memory => f.write_str("memory"),
            Self::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((userinfo, host)) = rest.split_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// A tenant: the owner of every namespace reached through one API key.
///
/// **Invariant:** 1 to 64 characters from `[A-Za-z0-9_-]`, so it can never contain the
/// namespace separator or collide with another tenant's prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Tenant(String);

impl Tenant {
    /// The tenant of a server without keys (loopback only).
    pub(crate) fn local() -> Self {
        Self("local".to_owned())
    }

    pub(crate) fn new(name: &str) -> Result<Self, ConfigError> {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if name.is_empty() || name.len() > 64 || !name.chars().all(valid_char) {
            return Err(ConfigError::ApiKey(format!(
                "tenant {name:?}: use 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'"
            )));
        }
        Ok(Self(name.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The configured API keys, each bound to one tenant. Only SHA-256 digests are kept, so
/// a key never sits in memory longer than parsing takes, and a lookup compares digests.
#[derive(Clone, Default)]
pub(crate) struct ApiKeys {
    by_digest: HashMap<[u8; 32], Tenant>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys").field("count", &self.by_digest.len()).finish()
    }
}

impl ApiKeys {
    /// Adds `key` for `tenant`; a key may belong to one tenant only.
    pub(crate) fn insert(&mut self, tenant: Tenant, key: &str) -> Result<(), ConfigError> {
        if key.len() < MIN_KEY_LEN {
            return Err(ConfigError::ApiKey(format!(
                "for tenant {tenant}: keys must have at least {MIN_KEY_LEN} characters"
            )));
        }
        if key.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',') {
            return Err(ConfigError::ApiKey(format!(
                "for tenant {tenant}: keys must not contain whitespace, control characters or commas"
            )));
        }
        match self.by_digest.insert(digest(key), tenant.clone()) {
            Some(previous) if previous != tenant => Err(ConfigError::ApiKey(format!(
                "bound to two tenants ({previous} and {tenant}): give each tenant its own key"
            ))),
            _ => Ok(()),
        }
    }

    /// Parses `TENANT:KEY`.
    pub(crate) fn insert_pair(&mut self, pair: &str) -> Result<(), ConfigError> {
        let Some((tenant, key)) = pair.split_once(':') else {
            return Err(ConfigError::ApiKey("entry: expected TENANT:KEY".to_owned()));
        };
        self.insert(Tenant::new(tenant.trim())?, key.trim())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_digest.len()
    }

    /// The tenant `key` belongs to, if any.
    pub(crate) fn tenant_of(&self, key: &str) -> Option<&Tenant> {
        self.by_digest.get(&digest(key))
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Limits on what one request may carry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_body_bytes: usize,
    pub(crate) request_timeout: Duration,
}

/// The resolved configuration the server runs with.
#[derive(Debug, Clone)]
pub(crate) struct ServeConfig {
    pub(crate) listen: SocketAddr,
    pub(crate) database: DatabaseUrl,
    pub(crate) embedder: String,
    pub(crate) chat_model: Option<String>,
    pub(crate) api_keys: ApiKeys,
    pub(crate) limits: Limits,
    pub(crate) log_format: LogFormat,
    pub(crate) otel_endpoint: Option<String>,
    /// [`agent_memory::store::StoreOptions::hybrid_candidates`].
    pub(crate) hybrid_candidates: usize,
    pub(crate) vector_index: VectorIndexSettings,
    pub(crate) postgres_index: PostgresIndexSettings,
}

impl ServeConfig {
    /// Resolves flags and environment (already merged by clap) over the config file over
    /// the defaults, and validates the result.
    pub(crate) fn resolve(args: ServeArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let listen_text = args.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = parse_listen(&listen_text)?;
        let database = DatabaseUrl::parse(
            args.database_url.as_deref().or(file.database_url.as_deref()).unwrap_or(DEFAULT_DATABASE_URL),
        )?;
        let mut api_keys = ApiKeys::default();
        if args.api_keys.is_empty() {
            for entry in &file.api_keys {
                api_keys.insert(Tenant::new(&entry.tenant)?, &entry.key)?;
            }
        } else {
            for pair in args.api_keys.iter().filter(|pair| !pair.trim().is_empty()) {
                api_keys.insert_pair(pair)?;
            }
        }
        let max_body_bytes = args.max_body_bytes.or(file.max_body_bytes).unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if max_body_bytes == 0 {
            return Err(ConfigError::Zero("max_body_bytes"));
        }
        let timeout_secs =
            args.request_timeout_secs.or(file.request_timeout_secs).unwrap_or(DEFAULT_REQUEST_TIMEOUT_SECS);
        if timeout_secs == 0 {
            return Err(ConfigError::Zero("request_timeout_secs"));
        }
        let default_candidates = StoreOptions::default().hybrid_candidates;
        let hybrid_candidates = args.hybrid_candidates.or(file.hybrid_candidates).unwrap_or(default_candidates);
        if !(1..=MAX_LIMIT).contains(&hybrid_candidates) {
            return Err(ConfigError::HybridCandidates {
                value: hybrid_candidates,
                max: MAX_LIMIT,
                default: default_candidates,
            });
        }
        let config = Self {
            listen,
            embedder: args.embedder.or(file.embedder).unwrap_or_else(|| DEFAULT_EMBEDDER.to_owned()),
            chat_model: args.chat_model.or(file.chat_model).filter(|model| !model.is_empty()),
            api_keys,
            limits: Limits { max_body_bytes, request_timeout: Duration::from_secs(timeout_secs) },
            log_format: args.log_format.or(file.log_format).unwrap_or(LogFormat::Text),
            otel_endpoint: check_otel_endpoint(args.otel_endpoint.or(file.otel_endpoint))?,
            hybrid_candidates,
            vector_index: args.vector_index.resolve_over(&file.vector_index)?,
            postgres_index: args.postgres_index.resolve_over(&file.postgres, &database)?,
            database,
        };
        config.check_exposure()?;
        Ok(config)
    }

    /// The configured chat model's client, or `None` when none is configured.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ChatModel`] for a spec that is not `provider:model` (or
    /// `provider/model`), an unknown provider, or a provider missing its key or URL.
    pub(crate) fn connect_chat_model(&self) -> Result<Option<Arc<dyn ChatModel>>, ConfigError> {
        let Some(spec) = self.chat_model.as_deref() else { return Ok(None) };
        let Some((provider, model)) = spec.split_once([':', '/']) else {
            return Err(ConfigError::ChatModel(format!(
                "{spec:?}: expected PROVIDER:MODEL such as openai:gpt-4o-mini"
            )));
        };
        let provider = Provider::parse(provider.trim()).map_err(|error| ConfigError::ChatModel(error.to_string()))?;
        LlmConfig::from_env(provider, model.trim())
            .connect()
            .map(Some)
            .map_err(|error| ConfigError::ChatModel(format!("{spec:?}: {error}")))
    }

    /// A server without keys answers every request as one tenant: it may only be
    /// reachable from this machine.
    fn check_exposure(&self) -> Result<(), ConfigError> {
        if self.api_keys.is_empty() && !self.listen.ip().is_loopback() {
            return Err(ConfigError::ExposedWithoutKeys(self.listen));
        }
        Ok(())
    }
}

/// An `http://` or `https://` URL, and a build that can export traces.
fn check_otel_endpoint(endpoint: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(endpoint) = endpoint.filter(|e| !e.trim().is_empty()) else { return Ok(None) };
    if !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
        return Err(ConfigError::OtelEndpoint(format!("{endpoint:?}: expected an http:// or https:// URL")));
    }
    if cfg!(not(feature = "otel")) {
        return Err(ConfigError::OtelEndpoint(format!(
            "{endpoint:?}: this build has no OpenTelemetry support (cargo feature `otel`)"
        )));
    }
    Ok(Some(endpoint))
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile { path: path.to_owned(), source })?;
    toml::from_str(&text)
        .map_err(|error| ConfigError::ParseFile { path: path.to_owned(), message: error.message().to_owned() })
}

/// Accepts `HOST:PORT` with an IP address, or `localhost:PORT`.
fn parse_listen(text: &str) -> Result<SocketAddr, ConfigError> {
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    if let Some(port) = text.strip_prefix("localhost:")
        && let Ok(port) = port.parse::<u16>()
    {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    Err(ConfigError::Listen(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn resolve(args: ServeArgs) -> Result<ServeConfig, ConfigError> {
        ServeConfig::resolve(args)
    }

    #[test]
    fn defaults_are_the_embedded_loopback_server() {
        let config = resolve(ServeArgs::default()).expect("defaults are valid");
        assert_eq!(config.listen, "127.0.0.1:8080".parse::<SocketAddr>().expect("address"));
        assert_eq!(config.database, DatabaseUrl::Sqlite(PathBuf::from("agent-memory.db")));
        assert_eq!(config.embedder, "default");
        assert_eq!(config.chat_model, None);
        assert!(config.api_keys.is_empty());
        assert_eq!(config.limits.max_body_bytes, 1024 * 1024);
        assert_eq!(config.limits.request_timeout, Duration::from_secs(30));
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.hybrid_candidates, StoreOptions::default().hybrid_candidates);
    }

    #[test]
    fn hybrid_candidates_come_from_the_flag_or_the_file_and_are_bounded() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(file, "hybrid_candidates = 40").expect("write");
        let from_file = ServeArgs { config: Some(file.path().to_owned()), ..ServeArgs::default() };
        assert_eq!(resolve(from_file).expect("valid").hybrid_candidates, 40);
        let flag =
            ServeArgs { config: Some(file.path().to_owned()), hybrid_candidates: Some(25), ..ServeArgs::default() };
        assert_eq!(resolve(flag).expect("valid").hybrid_candidates, 25);
        for bad in [0, 10_001] {
            let args = ServeArgs { hybrid_candidates: Some(bad), ..ServeArgs::default() };
            let message = resolve(args).expect_err("out of range").to_string();
            assert_eq!(message, format!("invalid hybrid_candidates {bad}: use 1 to 10000 (100 by default)"));
        }
    }

    #[test]
    fn refuses_a_public_address_without_keys() {
        let args = ServeArgs { listen: Some("0.0.0.0:8080".into()), ..ServeArgs::default() };
        let error = resolve(args).expect_err("must refuse");
        assert!(matches!(error, ConfigError::ExposedWithoutKeys(_)));
        assert!(error.to_string().starts_with("refusing to listen on 0.0.0.0:8080 without API keys"));
    }

    #[test]
    fn accepts_a_public_address_with_keys() {
        let args = ServeArgs {
            listen: Some("0.0.0.0:9000".into()),
            api_keys: vec!["acme:0123456789abcdef".into()],
            ..ServeArgs::default()
        };
        let config = resolve(args).expect("keys make it safe");
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.api_keys.tenant_of("0123456789abcdef"), Some(&Tenant::new("acme").expect("tenant")));
        assert_eq!(config.api_keys.tenant_of("0123456789abcdeX"), None);
    }

    #[test]
    fn ipv6_loopback_and_localhost_are_loopback() {
        for listen in ["[::1]:8080", "localhost:8080"] {
            let args = ServeArgs { listen: Some(listen.into()), ..ServeArgs::default() };
            assert!(resolve(args).expect("loopback").listen.ip().is_loopback(), "{listen}");
        }
    }

    #[test]
    fn rejects_bad_keys_and_tenants() {
        let cases = [
            ("acme:short", "invalid api key for tenant acme: keys must have at least 16 characters"),
            ("no-colon-here-at-all", "invalid api key entry: expected TENANT:KEY"),
            ("a/b:0123456789abcdef", "invalid api key tenant \"a/b\": use 1 to 64 characters"),
            (":0123456789abcdef", "invalid api key tenant \"\": use 1 to 64 characters"),
        ];
        for (pair, expected) in cases {
            let args = ServeArgs { api_keys: vec![pair.into()], ..ServeArgs::default() };
            let message = resolve(args).expect_err(pair).to_string();
            assert!(message.starts_with(expected), "{pair}: {message}");
        }
        let args = ServeArgs {
            api_keys: vec!["a:0123456789abcdef".into(), "b:0123456789abcdef".into()],
            ..ServeArgs::default()
        };
        assert_eq!(
            resolve(args).expect_err("shared key").to_string(),
            "invalid api key bound to two tenants (a and b): give each tenant its own key"
        );
    }

    #[test]
    fn parses_database_urls() {
        assert_eq!(DatabaseUrl::parse("sqlite:/tmp/x.db").expect("url"), DatabaseUrl::Sqlite("/tmp/x.db".into()));
        assert_eq!(DatabaseUrl::parse("sqlite://rel.db").expect("url"), DatabaseUrl::Sqlite("rel.db".into()));
        assert_eq!(DatabaseUrl::parse("memory").expect("url"), DatabaseUrl::Memory);
        assert_eq!(
            DatabaseUrl::parse("postgresql://u:p@h/db").expect("url"),
            DatabaseUrl::Postgres("postgresql://u:p@h/db".into())
        );
        for bad in ["", "sqlite:", "mysql://h/db", "agent-memory.db"] {
            assert!(DatabaseUrl::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            DatabaseUrl::Postgres("postgres://u:secret@h:5432/db".into()).to_string(),
            "postgres://u:***@h:5432/db"
        );
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(
            file,
            r#"
listen = "127.0.0.1:7000"
database_url = "memory"
max_body_bytes = 2048
log_format = "json"

[[api_keys]]
tenant = "filetenant"
key = "file-key-0123456789"
"#
        )
        .expect("write");
        let args = ServeArgs {
            config: Some(file.path().to_owned()),
            listen: Some("127.0.0.1:7001".into()),
            ..ServeArgs::default()
        };
        let config = resolve(args).expect("valid");
        assert_eq!(config.listen.port(), 7001);
        assert_eq!(config.database, DatabaseUrl::Memory);
        assert_eq!(config.limits.max_body_bytes, 2048);
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.api_keys.tenant_of("file-key-0123456789").map(Tenant::as_str), Some("filetenant"));
    }

    #[test]
    fn unknown_file_fields_are_errors() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(file, "lsiten = \"127.0.0.1:1\"").expect("write");
        let args = ServeArgs { config: Some(file.path().to_owned()), ..ServeArgs::default() };
        let message = resolve(args).expect_err("typo").to_string();
        assert!(message.contains("unknown field `lsiten`"), "{message}");
    }

    #[test]
    fn chat_models_and_otel_endpoints_are_checked() {
        let with = |chat_model: &str| {
            let args = ServeArgs { chat_model: Some(chat_model.to_owned()), ..ServeArgs::default() };
            resolve(args).expect("valid config").connect_chat_model()
        };
        let message = with("gpt-4o-mini").err().expect("no provider").to_string();
        assert_eq!(message, "invalid chat model \"gpt-4o-mini\": expected PROVIDER:MODEL such as openai:gpt-4o-mini");
        let message = with("skynet:t-800").err().expect("unknown provider").to_string();
        assert!(
            message.starts_with("invalid chat model no LLM configured: unknown LLM provider \"skynet\""),
            "{message}"
        );
        let model = with("ollama/llama3.2:1b").expect("ollama needs no key").expect("configured");
        assert_eq!(model.model(), "llama3.2:1b");
        assert!(resolve(ServeArgs::default()).expect("defaults").connect_chat_model().expect("none").is_none());

        let otel = |endpoint: &str| {
            resolve(ServeArgs { otel_endpoint: Some(endpoint.to_owned()), ..ServeArgs::default() })
                .map(|config| config.otel_endpoint)
        };
        assert_eq!(otel("").expect("empty is none"), None);
        let message = otel("collector:4318").expect_err("no scheme").to_string();
        assert_eq!(message, "invalid OpenTelemetry endpoint \"collector:4318\": expected an http:// or https:// URL");
        if cfg!(feature = "otel") {
            assert_eq!(otel("http://127.0.0.1:4318").expect("valid"), Some("http://127.0.0.1:4318".to_owned()));
        }
    }

    fn vector_index_of(args: ServeArgs) -> Result<VectorIndexOptions, ConfigError> {
        resolve(args).map(|config| config.vector_index.options)
    }

    fn with_vector_flags(vector_index: VectorIndexArgs) -> ServeArgs {
        ServeArgs { vector_index, ..ServeArgs::default() }
    }

    #[test]
    fn vector_index_defaults_are_the_librarys() {
        let config = resolve(ServeArgs::default()).expect("defaults");
        assert_eq!(config.vector_index.options, VectorIndexOptions::default());
        assert!(config.vector_index.explicit.is_empty());
    }

    #[test]
    fn vector_index_flags_override_the_file_table_which_overrides_defaults() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(
            file,
            r#"
[vector_index]
ann_min_vectors = 5000
connectivity = 24
ef_search = 96
graph_precision = "bf16"
"#
        )
        .expect("write");
        let flags = VectorIndexArgs {
            ef_search: Some(64),
            exact_scope_max: Some(0),
            graph_precision: Some(Precision::F32),
            ..VectorIndexArgs::default()
        };
        let args = ServeArgs { config: Some(file.path().to_owned()), ..with_vector_flags(flags) };
        let config = resolve(args).expect("valid");
        let expected = VectorIndexOptions {
            ann_min_vectors: 5000,
            exact_scope_max: 0,
            connectivity: 24,
            expansion_add: VectorIndexOptions::default().expansion_add,
            expansion_search: 64,
            graph_precision: GraphPrecision::F32,
            leading_half_graph: true,
            partition_by_first_label: false,
        };
        assert_eq!(config.vector_index.options, expected);
        assert_eq!(
            config.vector_index.explicit,
            ["ann_min_vectors", "exact_scope_max", "connectivity", "ef_search", "graph_precision"]
        );
    }

    #[test]
    fn vector_index_flags_parse_and_name_their_environment_variables() {
        use clap::Parser as _;

        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            vector_index: VectorIndexArgs,
        }
        let cli = Cli::try_parse_from(["serve", "--vector-ef-search", "16", "--vector-graph-precision", "F16"])
            .expect("flags parse");
        assert_eq!(cli.vector_index.ef_search, Some(16));
        assert_eq!(cli.vector_index.graph_precision, Some(Precision::F16));
        let command = <Cli as clap::CommandFactory>::command();
        let envs: Vec<String> = command
            .get_arguments()
            .filter_map(|arg| arg.get_env().map(|env| env.to_string_lossy().into_owned()))
            .collect();
        assert_eq!(
            envs,
            [
                "AGENT_MEMORY_VECTOR_ANN_MIN_VECTORS",
                "AGENT_MEMORY_VECTOR_EXACT_SCOPE_MAX",
                "AGENT_MEMORY_VECTOR_CONNECTIVITY",
                "AGENT_MEMORY_VECTOR_EF_CONSTRUCTION",
                "AGENT_MEMORY_VECTOR_EF_SEARCH",
                "AGENT_MEMORY_VECTOR_GRAPH_PRECISION",
            ]
        );
        let error = Cli::try_parse_from(["serve", "--vector-graph-precision", "f8"]).err().expect("unknown precision");
        assert!(error.to_string().contains("invalid value 'f8' for '--vector-graph-precision <PRECISION>'"), "{error}");
    }

    #[test]
    fn bad_vector_index_values_are_clear_errors() {
        let cases = [
            (
                VectorIndexArgs { ef_search: Some(0), ..VectorIndexArgs::default() },
                "invalid vector index setting ef_search 0: use 1 or more (96 by default)",
            ),
            (
                VectorIndexArgs { ef_construction: Some(0), ..VectorIndexArgs::default() },
                "invalid vector index setting ef_construction 0: use 1 or more (320 by default)",
            ),
            (
                VectorIndexArgs { connectivity: Some(1), ..VectorIndexArgs::default() },
                "invalid vector index setting connectivity (M) 1: use 2 to 256 (16 by default)",
            ),
            (
                VectorIndexArgs { connectivity: Some(257), ..VectorIndexArgs::default() },
                "invalid vector index setting connectivity (M) 257: use 2 to 256 (16 by default)",
            ),
            (
                VectorIndexArgs { ann_min_vectors: Some(0), ..VectorIndexArgs::default() },
                "invalid vector index setting ann_min_vectors 0: use 1 or more (1 builds the graph from the first vector)",
            ),
        ];
        for (flags, expected) in cases {
            assert_eq!(vector_index_of(with_vector_flags(flags)).expect_err(expected).to_string(), expected);
        }
        let edges = VectorIndexArgs {
            ann_min_vectors: Some(1),
            connectivity: Some(2),
            ef_construction: Some(1),
            ef_search: Some(1),
            ..VectorIndexArgs::default()
        };
        let options = vector_index_of(with_vector_flags(edges)).expect("the smallest valid values");
        assert_eq!((options.ann_min_vectors, options.connectivity, options.expansion_search), (1, 2, 1));
    }

    #[test]
    fn bad_vector_index_file_values_are_errors() {
        for (table, expected) in [
            ("graph_precision = \"f8\"", "unknown variant `f8`, expected one of `f32`, `bf16`, `f16`, `i8`"),
            ("ef_serach = 64", "unknown field `ef_serach`"),
            ("ef_search = -1", "invalid value: integer `-1`, expected usize"),
            ("ef_search = 0", "invalid vector index setting ef_search 0: use 1 or more (96 by default)"),
        ] {
            let mut file = tempfile::NamedTempFile::new().expect("temp file");
            writeln!(file, "[vector_index]\n{table}").expect("write");
            let args = ServeArgs { config: Some(file.path().to_owned()), ..ServeArgs::default() };
            let message = resolve(args).expect_err(table).to_string();
            assert!(message.contains(expected), "{table}: {message}");
        }
    }

    const PG_URL: &str = "postgres://u:secret@db.internal/agents?schema=team_a";

    fn postgres_index_of(args: ServeArgs) -> Result<PostgresIndexSettings, ConfigError> {
        resolve(args).map(|config| config.postgres_index)
    }

    fn on_postgres(postgres_index: PostgresIndexArgs) -> ServeArgs {
        ServeArgs { database_url: Some(PG_URL.to_owned()), postgres_index, ..ServeArgs::default() }
    }

    #[test]
    fn postgres_indexes_are_on_by_default() {
        assert_eq!(postgres_index_of(ServeArgs::default()).expect("defaults"), PostgresIndexSettings::defaults());
        let settings = postgres_index_of(on_postgres(PostgresIndexArgs::default())).expect("valid");
        assert_eq!(settings, PostgresIndexSettings { keyword_index: true, vector_index: true, explicit: vec![] });
    }

    #[test]
    fn postgres_index_flags_override_the_file_table_which_overrides_defaults() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(file, "database_url = \"{PG_URL}\"\n\n[postgres]\nkeyword_index = false\nvector_index = false")
            .expect("write");
        let from_file = ServeArgs { config: Some(file.path().to_owned()), ..ServeArgs::default() };
        assert_eq!(
            postgres_index_of(from_file).expect("valid"),
            PostgresIndexSettings {
                keyword_index: false,
                vector_index: false,
                explicit: vec!["keyword_index", "vector_index"]
            }
        );
        let flag = PostgresIndexArgs { vector_index: Some(true), ..PostgresIndexArgs::default() };
        let args = ServeArgs { config: Some(file.path().to_owned()), postgres_index: flag, ..ServeArgs::default() };
        let config = resolve(args).expect("valid");
        assert_eq!((config.postgres_index.keyword_index, config.postgres_index.vector_index), (false, true));
        assert_eq!(config.database, DatabaseUrl::Postgres(PG_URL.to_owned()));

        let flag = PostgresIndexArgs { keyword_index: Some(false), ..PostgresIndexArgs::default() };
        let settings = postgres_index_of(on_postgres(flag)).expect("valid");
        assert_eq!(
            settings,
            PostgresIndexSettings { keyword_index: false, vector_index: true, explicit: vec!["keyword_index"] }
        );
    }

    #[test]
    fn postgres_index_settings_with_another_database_are_errors() {
        let both = PostgresIndexArgs { keyword_index: Some(false), vector_index: Some(true) };
        let args = ServeArgs { postgres_index: both.clone(), ..ServeArgs::default() };
        assert_eq!(
            postgres_index_of(args).expect_err("sqlite").to_string(),
            "the postgres setting keyword_index and vector_index applies to PostgreSQL databases only, and the \
             database is sqlite:agent-memory.db: remove it (--postgres-*, AGENT_MEMORY_POSTGRES_* or [postgres] in \
             the config file) or use a postgres:// database url"
        );
        assert!(matches!(both.resolve(&DatabaseUrl::Memory), Err(ConfigError::PostgresOnly { .. })));
        let settings = both.resolve(&DatabaseUrl::Postgres(PG_URL.to_owned())).expect("postgres");
        assert_eq!((settings.keyword_index, settings.vector_index), (false, true));

        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(file, "database_url = \"memory\"\n[postgres]\nvector_index = true").expect("write");
        let args = ServeArgs { config: Some(file.path().to_owned()), ..ServeArgs::default() };
        let message = postgres_index_of(args).expect_err("memory").to_string();
        assert!(
            message.starts_with(
                "the postgres setting vector_index applies to PostgreSQL databases only, and the database is memory:"
            ),
            "{message}"
        );
    }

    #[test]
    fn postgres_index_flags_parse_and_name_their_environment_variables() {
        use clap::Parser as _;

        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            postgres_index: PostgresIndexArgs,
        }
        let cli =
            Cli::try_parse_from(["serve", "--postgres-keyword-index", "false", "--postgres-vector-index", "true"])
                .expect("flags parse");
        assert_eq!((cli.postgres_index.keyword_index, cli.postgres_index.vector_index), (Some(false), Some(true)));
        let cli = Cli::try_parse_from(["serve"]).expect("no flags");
        assert_eq!((cli.postgres_index.keyword_index, cli.postgres_index.vector_index), (None, None));
        let command = <Cli as clap::CommandFactory>::command();
        let envs: Vec<String> = command
            .get_arguments()
            .filter_map(|arg| arg.get_env().map(|env| env.to_string_lossy().into_owned()))
            .collect();
        assert_eq!(envs, ["AGENT_MEMORY_POSTGRES_KEYWORD_INDEX", "AGENT_MEMORY_POSTGRES_VECTOR_INDEX"]);
        let error = Cli::try_parse_from(["serve", "--postgres-vector-index", "off"]).err().expect("not a bool");
        assert!(error.to_string().contains("invalid value 'off' for '--postgres-vector-index <BOOL>'"), "{error}");
    }

    #[test]
    fn bad_postgres_file_values_are_errors() {
        for (table, expected) in [
            ("keyword_index = \"off\"", "invalid type: string \"off\", expected a boolean"),
            ("vector_index = 0", "invalid type: integer `0`, expected a boolean"),
            ("keyword_indexes = false", "unknown field `keyword_indexes`, expected `keyword_index` or `vector_index`"),
        ] {
            let mut file = tempfile::NamedTempFile::new().expect("temp file");
            writeln!(file, "database_url = \"{PG_URL}\"\n[postgres]\n{table}").expect("write");
            let args = ServeArgs { config: Some(file.path().to_owned()), ..ServeArgs::default() };
            let message = resolve(args).expect_err(table).to_string();
            assert!(message.contains(expected), "{table}: {message}");
        }
    }
}
