//! `agent-memory mcp`: the MCP tools on stdin/stdout, for agents that start the server
//! themselves (Claude Desktop, IDEs, the Python `mcp` client's `stdio_client`).
//!
//! stdout carries only JSON-RPC; logs go to stderr.

use agent_memory::store::KeywordStatistics;
use rmcp::ServiceExt;

use super::{MemoryTools, Scope};
use crate::serve::config::{
    ConfigError, DEFAULT_DATABASE_URL, DEFAULT_EMBEDDER, DatabaseUrl, PostgresIndexArgs, Tenant, VectorIndexArgs,
};

/// `agent-memory mcp` flags.
#[derive(Debug, clap::Args)]
pub(crate) struct McpArgs {
    /// Database: `sqlite:PATH`, `memory` or `postgres://…` (the same as `serve`).
    #[arg(long, env = "AGENT_MEMORY_DATABASE_URL", value_name = "URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
    /// Embedder for semantic search: `default`, `none` or `provider[:model]` (as `serve`).
    #[arg(long, env = "AGENT_MEMORY_EMBEDDER", value_name = "SPEC", default_value = DEFAULT_EMBEDDER)]
    embedder: String,
    /// Keep every namespace under this tenant's label, exactly as `serve` does for an API
    /// key of that tenant (so both see the same memories); none: namespaces as given.
    #[arg(long, env = "AGENT_MEMORY_TENANT", value_name = "NAME")]
    tenant: Option<String>,
    #[command(flatten)]
    vector_index: VectorIndexArgs,
    #[command(flatten)]
    postgres_index: PostgresIndexArgs,
}

/// Serves the tools on stdio until the client closes stdin.
///
/// # Errors
///
/// A [`ConfigError`] for a bad database URL, embedder or tenant; any error opening the
/// database or speaking the protocol.
pub(crate) async fn run(args: McpArgs) -> anyhow::Result<()> {
    let database = DatabaseUrl::parse(&args.database_url)?;
    let scope = match args.tenant.as_deref() {
        Some(name) => Scope::Tenant(Tenant::new(name)?),
        None => Scope::Root,
    };
    let vector_index = args.vector_index.resolve()?;
    let postgres_index = args.postgres_index.resolve(&database)?;
    init_logging();
    // Under a tenant the namespaces are the service's, and so are the keyword statistics.
    let keyword_statistics = match scope {
        Scope::Tenant(_) => KeywordStatistics::Tenant,
        Scope::Root | Scope::FromRequest => KeywordStatistics::Store,
    };
    let store =
        crate::serve::open_plain_store(&database, &args.embedder, &vector_index, &postgres_index, keyword_statistics)
            .await?;
    let service = MemoryTools::new(store, scope)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|error| anyhow::anyhow!("mcp handshake failed: {error}"))?;
    tracing::info!(database = %database, "agent-memory mcp serving on stdio");
    service.waiting().await?;
    Ok(())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false).try_init();
}

/// Exit code 2 for configuration errors, as `serve`.
pub(crate) fn is_config_error(error: &anyhow::Error) -> bool {
    error.is::<ConfigError>()
}
