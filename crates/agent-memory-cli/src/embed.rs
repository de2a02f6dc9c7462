//! `agent-memory embed`: texts in (one per line), JSON vectors out (one per line).

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

use agent_memory::embed::{self, CachedEmbedder, EmbedError, Embedder, EmbedderOptions};
use anyhow::Context;

/// Arguments of `agent-memory embed`.
#[derive(Debug, clap::Args)]
pub(crate) struct EmbedArgs {
    /// The embedder, as `provider[:model]`: `openai`, `openai:text-embedding-3-large`,
    /// `ollama:nomic-embed-text`, `huggingface:all-MiniLM-L6-v2`, `hash:64`… Default:
    /// $AGENT_MEMORY_EMBEDDER, else the built-in static model.
    #[arg(long, value_name = "NAME")]
    embedder: Option<String>,

    /// The provider's base URL (OpenAI-compatible servers: up to `/v1`).
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,

    /// Ask the provider for vectors of this size (where the model supports it).
    #[arg(long, value_name = "N")]
    dimensions: Option<usize>,

    /// At most this many texts per request or forward pass.
    #[arg(long, value_name = "N")]
    batch_size: Option<usize>,

    /// List the embedders and which one is the default, then exit.
    #[arg(long, conflicts_with_all = ["base_url", "dimensions", "batch_size", "input"])]
    list: bool,

    /// The texts, one per line; `-` or nothing reads standard input.
    #[arg(value_name = "FILE|-")]
    input: Option<PathBuf>,
}

/// Why the command failed: bad input or configuration (exit code 2) or anything else (1).
pub(crate) enum Failure {
    Usage(anyhow::Error),
    Runtime(anyhow::Error),
}

impl From<EmbedError> for Failure {
    fn from(error: EmbedError) -> Self {
        match error {
            EmbedError::Config(_) | EmbedError::Input(_) => Failure::Usage(error.into()),
            other => Failure::Runtime(other.into()),
        }
    }
}

/// Texts sent to the embedder at a time; vectors are printed after each chunk.
const CHUNK: usize = 256;

pub(crate) fn run(args: EmbedArgs) -> Result<(), Failure> {
    let default = default_embedder();
    if args.list {
        print!("{}", list(&default));
        return Ok(());
    }
    let spec = args.embedder.clone().unwrap_or_else(|| default.0.clone());
    let mut options = EmbedderOptions::new();
    if let Some(url) = args.base_url {
        options = options.with_base_url(url);
    }
    if let Some(dimensions) = args.dimensions {
        options = options.with_dimensions(dimensions);
    }
    if let Some(batch_size) = args.batch_size {
        options = options.with_batch_size(batch_size);
    }
    let input: Box<dyn BufRead> = match &args.input {
        None => Box::new(std::io::stdin().lock()),
        Some(path) if path.as_os_str() == "-" => Box::new(std::io::stdin().lock()),
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path)
                .with_context(|| format!("cannot open {}", path.display()))
                .map_err(Failure::Usage)?,
        )),
    };
    let embedder = if args.embedder.is_none() && default.0 == "builtin" {
        embed::default_embedder()
    } else {
        embed::from_spec(&spec, &options)?
    };
    tracing::info!(embedder = embedder.model_id(), "embedding");
    let embedder = CachedEmbedder::new(embedder, 100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Runtime)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut chunk: Vec<String> = Vec::with_capacity(CHUNK);
    let mut lines = input.lines();
    loop {
        let line = lines.next().transpose().context("cannot read the input").map_err(Failure::Usage)?;
        let done = line.is_none();
        chunk.extend(line);
        if chunk.len() == CHUNK || (done && !chunk.is_empty()) {
            let vectors = runtime.block_on(embedder.embed(&chunk))?;
            for vector in vectors {
                serde_json::to_writer(&mut out, &vector).context("cannot write").map_err(Failure::Runtime)?;
                out.write_all(b"\n").context("cannot write").map_err(Failure::Runtime)?;
            }
            out.flush().context("cannot write").map_err(Failure::Runtime)?;
            chunk.clear();
        }
        if done {
            return Ok(());
        }
    }
}

/// The default `provider[:model]` and why.
fn default_embedder() -> (String, String) {
    if let Ok(spec) = std::env::var("AGENT_MEMORY_EMBEDDER")
        && !spec.trim().is_empty()
    {
        return (spec.trim().to_owned(), "AGENT_MEMORY_EMBEDDER is set".to_owned());
    }
    ("builtin".to_owned(), "nothing configured; set AGENT_MEMORY_EMBEDDER or pass --embedder".to_owned())
}

fn list(default: &(String, String)) -> String {
    let mut text = format!("{:<18} {:<40} {:<10} {}\n", "EMBEDDER", "DEFAULT MODEL", "AVAILABLE", "KEY");
    for provider in embed::providers() {
        let key = match provider.key_env {
            [] => "-".to_owned(),
            vars => {
                let set = vars.iter().find(|v| std::env::var(v).is_ok_and(|k| !k.is_empty()));
                match set {
                    Some(var) => format!("{var} (set)"),
                    None => format!("{} (not set)", vars.join(" | ")),
                }
            }
        };
        let available = if provider.available { "yes" } else { "no (feature local-embeddings)" };
        text.push_str(&format!(
            "{:<18} {:<40} {:<10} {}\n",
            provider.name,
            provider.default_model.unwrap_or("(required)"),
            available,
            key
        ));
    }
    text.push_str(&format!("default: {} ({})\n", default.0, default.1));
    text
}
