//! `agent-memory store …`: the long-term store from the command line.
//!
//! Namespaces are JSON arrays of labels (`'["user_123","prefs"]'`) or a bare word (one
//! label). Output is JSON on stdout; errors go to stderr with exit code 2.

use std::process::ExitCode;

use agent_memory::store::{
    Filter, ItemIndex, Namespace, NamespaceListing, NamespacePrefix, Page, PutRequest, SearchMode, SearchQuery,
    StoreError, resolve_embedder_spec,
};
use serde_json::{Value, json};

use crate::outcome::{self, CommandError};
use crate::serve::config::{KeywordStatisticsArgs, VectorIndexArgs};
use crate::serve::open_store_url;

/// The database the service uses by default.
const DEFAULT_DATABASE_URL: &str = "sqlite:agent-memory.db";

/// Arguments of `agent-memory store`.
#[derive(Debug, clap::Args)]
pub(crate) struct StoreArgs {
    /// The database: `sqlite:PATH`, `memory` or `postgres://…`.
    #[arg(long, global = true, env = "AGENT_MEMORY_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    db: String,
    /// Embedding provider for semantic search (`openai`, `ollama`, `hash`, …, or
    /// `provider:model`); default: the built-in model; `none` for keyword search only.
    #[arg(long, global = true, env = "AGENT_MEMORY_EMBEDDING_PROVIDER")]
    embedding_provider: Option<String>,
    /// Embedding model of that provider.
    #[arg(long, global = true, env = "AGENT_MEMORY_EMBEDDING_MODEL")]
    embedding_model: Option<String>,
    #[command(flatten)]
    vector_index: VectorIndexArgs,
    #[command(flatten)]
    keyword_statistics: KeywordStatisticsArgs,
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Debug, clap::Subcommand)]
enum StoreCommand {
    /// Store a JSON object under NS/KEY; prints the stored item.
    Put {
        /// Namespace: a JSON array of labels or a bare word.
        namespace: String,
        /// Key.
        key: String,
        /// The value: a JSON object.
        value: String,
        /// Expire after this many seconds (> 0).
        #[arg(long, allow_negative_numbers = true)]
        ttl: Option<f64>,
        /// Index this dotted JSON path of the value for search instead of the store's fields
        /// (repeat for several: `--index title --index tags[*]`).
        #[arg(long = "index", value_name = "PATH", conflicts_with = "no_index")]
        index: Vec<String>,
        /// Do not index the item for search: `get`, `list` and filters find it, a query
        /// does not.
        #[arg(long)]
        no_index: bool,
    },
    /// Print the item at NS/KEY, or `null`.
    Get {
        /// Namespace.
        namespace: String,
        /// Key.
        key: String,
    },
    /// Delete NS/KEY; prints `{"deleted": true|false}`.
    Delete {
        /// Namespace.
        namespace: String,
        /// Key.
        key: String,
    },
    /// List the items of NS, most recently updated first.
    List {
        /// Namespace.
        namespace: String,
        /// The most items.
        #[arg(long)]
        limit: Option<usize>,
        /// Items to skip.
        #[arg(long, default_value_t = 0)]
        offset: usize,
    },
    /// Search under a namespace prefix, by query and/or filter.
    Search {
        /// Namespace prefix (`[]` for everything).
        namespace_prefix: String,
        /// What to search for; without it, items matching the filter in recency order.
        query: Option<String>,
        /// A filter such as `{"age": {"$gt": 9}}`.
        #[arg(long)]
        filter: Option<String>,
        /// The most results.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Results to skip.
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Drop results scoring below this.
        #[arg(long, allow_negative_numbers = true)]
        min_score: Option<f64>,
        /// auto (hybrid with an embedder, keyword without), keyword, semantic or hybrid.
        #[arg(long, value_enum, default_value_t = ModeArg::Auto)]
        mode: ModeArg,
    },
    /// List namespaces holding items.
    Namespaces {
        /// Only under this prefix.
        #[arg(long)]
        prefix: Option<String>,
        /// Only ending with these labels (JSON array or bare word).
        #[arg(long)]
        suffix: Option<String>,
        /// Cut namespaces to this many labels.
        #[arg(long)]
        max_depth: Option<usize>,
        /// The most namespaces.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Namespaces to skip.
        #[arg(long, default_value_t = 0)]
        offset: usize,
    },
    /// Count the live items under a namespace prefix.
    Count {
        /// Namespace prefix (`[]` for everything).
        namespace_prefix: String,
    },
    /// Remove expired items; prints `{"purged": N}`.
    Purge,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Auto,
    Keyword,
    Semantic,
    Hybrid,
}

impl From<ModeArg> for SearchMode {
    fn from(mode: ModeArg) -> SearchMode {
        match mode {
            ModeArg::Auto => SearchMode::Auto,
            ModeArg::Keyword => SearchMode::Keyword,
            ModeArg::Semantic => SearchMode::Semantic,
            ModeArg::Hybrid => SearchMode::Hybrid,
        }
    }
}

/// Runs a store command: JSON on stdout, or the error on stderr with exit code 2.
pub(crate) fn run(args: StoreArgs) -> ExitCode {
    outcome::run_current_thread("agent-memory", async { execute(args).await.map(|output| println!("{output}")) })
}

/// Every store error is reported with exit code 2, as the `store` commands document.
impl CommandError for StoreError {
    fn message(&self) -> String {
        self.to_string()
    }

    fn is_bad_input(&self) -> bool {
        true
    }
}

async fn execute(args: StoreArgs) -> Result<Value, StoreError> {
    let vector_index = args.vector_index.resolve().map_err(|error| StoreError::Config(error.to_string()))?;
    let mut store = open_store_url(&args.db, &vector_index, args.keyword_statistics.resolve()).await?;
    match (args.embedding_provider.as_deref(), args.embedding_model.as_deref()) {
        (None, None) => {}
        (Some("none"), _) => store = store.without_embedder(),
        (Some(spec), None) => store = store.with_embedder(resolve_embedder_spec(spec)?),
        (provider, model) => {
            store = store.with_embedding_provider(provider.unwrap_or("builtin"), model)?;
        }
    }
    let output = match args.command {
        StoreCommand::Put { namespace, key, value, ttl, index, no_index } => {
            let value: Value = serde_json::from_str(&value)
                .map_err(|e| StoreError::InvalidValue(format!("the value is not valid JSON: {e}")))?;
            let index = match (no_index, index.is_empty()) {
                (true, _) => ItemIndex::Disabled,
                (false, true) => ItemIndex::StoreDefault,
                (false, false) => ItemIndex::Paths(index),
            };
            let request = PutRequest { namespace: Namespace::parse(&namespace)?, key, value, ttl_seconds: ttl, index };
            to_json(&store.put_with(request).await?)
        }
        StoreCommand::Get { namespace, key } => to_json(&store.get(Namespace::parse(&namespace)?, key).await?),
        StoreCommand::Delete { namespace, key } => {
            json!({"deleted": store.delete(Namespace::parse(&namespace)?, key).await?})
        }
        StoreCommand::List { namespace, limit, offset } => {
            to_json(&store.list(Namespace::parse(&namespace)?, Page { offset, limit }).await?)
        }
        StoreCommand::Search { namespace_prefix, query, filter, limit, offset, min_score, mode } => {
            let mut search = SearchQuery { query, limit, offset, min_score, mode: mode.into(), ..SearchQuery::all() };
            if let Some(filter) = filter {
                let filter: Value = serde_json::from_str(&filter)
                    .map_err(|e| StoreError::InvalidFilter(format!("the filter is not valid JSON: {e}")))?;
                search.filter = Filter::from_json(&filter)?;
            }
            to_json(&store.search(NamespacePrefix::parse(&namespace_prefix)?, search).await?)
        }
        StoreCommand::Namespaces { prefix, suffix, max_depth, limit, offset } => {
            let mut listing = NamespaceListing::all().limit(limit).offset(offset);
            if let Some(prefix) = prefix {
                listing = listing.prefix(NamespacePrefix::parse(&prefix)?)?;
            }
            if let Some(suffix) = suffix {
                listing = listing.suffix(NamespacePrefix::parse(&suffix)?.labels().to_vec());
            }
            listing.max_depth = max_depth;
            to_json(&store.list_namespaces(listing).await?)
        }
        StoreCommand::Count { namespace_prefix } => {
            json!(store.count(NamespacePrefix::parse(&namespace_prefix)?).await?)
        }
        StoreCommand::Purge => json!({"purged": store.purge_expired().await?}),
    };
    Ok(output)
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    // Items, hits and namespaces contain only JSON-representable data.
    serde_json::to_value(value).unwrap_or(Value::Null)
}
