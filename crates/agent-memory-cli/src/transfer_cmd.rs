//! `agent-memory export` and `agent-memory import`: the versioned JSONL dump of a database's
//! items, conversations and sessions (`agent_memory::transfer`).
//!
//! Export writes the dump to `--out FILE` or stdout (every item and session, or with
//! `--namespace-prefix NS` the items under NS only), reading the database one page at a time,
//! with a progress bar on stderr, and a one-line JSON summary to stderr;
//! import reads a file or stdin (copied to an anonymous temporary file first: the import
//! reads its input twice, once to check and once to write), shows a progress bar on stderr
//! while it re-embeds (both bars only when stderr is a terminal), and prints its summary as JSON on stdout. Exit codes: 2 for bad input (a malformed dump, an
//! unusable `--db` or `--embedder`), 1 for a failing database or embedder.

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;

use agent_memory::store::{KeywordStatistics, MemoryStore, NamespacePrefix};
use agent_memory::transfer::{ExportOptions, TransferError, export_dump_with, import_dump};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::serve::config::{
    ConfigError, DEFAULT_DATABASE_URL, DEFAULT_EMBEDDER, DatabaseUrl, PostgresIndexSettings, VectorIndexSettings,
};

/// `agent-memory export` flags.
#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    /// Database: `sqlite:PATH`, `memory` or `postgres://…[?schema=NAME]` (as `serve`).
    #[arg(long, env = "AGENT_MEMORY_DATABASE_URL", value_name = "URL", default_value = DEFAULT_DATABASE_URL)]
    db: String,
    /// The embedder whose identity the dump records: `default`, `none` or
    /// `provider[:model]` (as `serve`); vectors are exported as stored.
    #[arg(long, env = "AGENT_MEMORY_EMBEDDER", value_name = "SPEC", default_value = DEFAULT_EMBEDDER)]
    embedder: String,
    /// Where to write the dump; `-` for stdout.
    #[arg(long, value_name = "FILE", default_value = "-")]
    out: String,
    /// Only the items whose namespace starts with this prefix (a JSON array of labels, or
    /// a bare word for one label), conversation chunks included; sessions are not
    /// namespaced, so such a partial dump leaves them out.
    #[arg(long, value_name = "NS")]
    namespace_prefix: Option<String>,
}

/// `agent-memory import` flags.
#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// Database: `sqlite:PATH`, `memory` or `postgres://…[?schema=NAME]` (as `serve`).
    #[arg(long, env = "AGENT_MEMORY_DATABASE_URL", value_name = "URL", default_value = DEFAULT_DATABASE_URL)]
    db: String,
    /// The importing embedder: vectors it made are reused, everything else is embedded
    /// again with it. `default`, `none` (keep the dump's vectors) or `provider[:model]`.
    #[arg(long, env = "AGENT_MEMORY_EMBEDDER", value_name = "SPEC", default_value = DEFAULT_EMBEDDER)]
    embedder: String,
    /// The dump to read; `-` for stdin.
    #[arg(value_name = "FILE|-")]
    input: String,
}

/// Runs `agent-memory export`.
pub(crate) fn export(args: ExportArgs) -> ExitCode {
    finish("export", runtime().and_then(|runtime| runtime.block_on(run_export(args))))
}

/// Runs `agent-memory import`.
pub(crate) fn import(args: ImportArgs) -> ExitCode {
    finish("import", runtime().and_then(|runtime| runtime.block_on(run_import(args))))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| anyhow::anyhow!("cannot start the async runtime: {error}"))
}

async fn run_export(args: ExportArgs) -> anyhow::Result<()> {
    let database = DatabaseUrl::parse(&args.db)?;
    let mut options = ExportOptions::default();
    if let Some(prefix) = &args.namespace_prefix {
        let prefix =
            NamespacePrefix::parse(prefix).map_err(|error| BadInput(format!("--namespace-prefix: {error}")))?;
        options = options.namespace_prefix(prefix);
    }
    let store = open_store(&database, &args.embedder).await?;
    let sessions = match args.namespace_prefix {
        Some(_) => None,
        None => Some(crate::serve::open_sessions(&database).await?),
    };
    let mut out: Box<dyn Write> = if args.out == "-" {
        Box::new(BufWriter::new(std::io::stdout().lock()))
    } else {
        let path = PathBuf::from(&args.out);
        let file = File::create(&path).map_err(|error| anyhow::anyhow!("cannot create {}: {error}", path.display()))?;
        Box::new(BufWriter::new(file))
    };
    let bar = TerminalBar::new("exporting {bar:40} {pos}/{len} items ({eta} left)");
    let progress = |done: u64, total: u64| bar.show(done, total);
    let summary = export_dump_with(&store, sessions.as_deref(), &mut out, &options, &progress).await?;
    out.flush()?;
    bar.finish();
    let line = json!({"items": summary.items, "conversation_chunks": summary.conversation_chunks, "sessions": summary.sessions});
    eprintln!("{line}");
    Ok(())
}

/// The store at `database` with the default index settings (a dump moves items; it never
/// searches them).
async fn open_store(database: &DatabaseUrl, embedder: &str) -> anyhow::Result<MemoryStore> {
    let vector_index = VectorIndexSettings::defaults();
    let postgres = PostgresIndexSettings::defaults();
    crate::serve::open_plain_store(database, embedder, &vector_index, &postgres, KeywordStatistics::Store).await
}

/// A progress bar on stderr, created on the first report; drawn only when stderr is a
/// terminal (indicatif hides it otherwise, and when `TERM` is unset or `dumb`), so
/// nothing but the summary reaches a pipe or a log file.
struct TerminalBar {
    template: &'static str,
    bar: OnceLock<ProgressBar>,
}

impl TerminalBar {
    fn new(template: &'static str) -> TerminalBar {
        TerminalBar { template, bar: OnceLock::new() }
    }

    fn show(&self, done: u64, total: u64) {
        let bar = self.bar.get_or_init(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(self.template) {
                bar.set_style(style);
            }
            bar
        });
        bar.set_length(total.max(done));
        bar.set_position(done);
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}

async fn run_import(args: ImportArgs) -> anyhow::Result<()> {
    let database = DatabaseUrl::parse(&args.db)?;
    let input = if args.input == "-" {
        let mut spool = tempfile::tempfile()
            .map_err(|error| anyhow::anyhow!("cannot create a temporary file for standard input: {error}"))?;
        std::io::copy(&mut std::io::stdin().lock(), &mut spool)
            .map_err(|error| anyhow::anyhow!("cannot copy standard input to a temporary file: {error}"))?;
        spool.rewind()?;
        BufReader::new(spool)
    } else {
        let path = PathBuf::from(&args.input);
        let file = File::open(&path).map_err(|error| BadInput(format!("cannot open {}: {error}", path.display())))?;
        BufReader::new(file)
    };
    let store = open_store(&database, &args.embedder).await?;
    let sessions = crate::serve::open_sessions(&database).await?;
    let bar = TerminalBar::new("re-embedding {bar:40} {pos}/{len} items ({eta} left)");
    let progress = |done: usize, total: usize| bar.show(done as u64, total as u64);
    let summary = import_dump(&store, Some(sessions.as_ref()), input, &progress).await?;
    bar.finish();
    let line = json!({
        "items": summary.items,
        "conversation_chunks": summary.conversation_chunks,
        "sessions": summary.sessions,
        "vectors_reused": summary.vectors_reused,
        "vectors_embedded": summary.vectors_embedded,
        "source_embedder": summary.source_embedder.map(|e| json!({"model": e.model, "dimensions": e.dimensions})),
    });
    println!("{line}");
    Ok(())
}

/// A flag or the dump to import is unusable: the user must fix the command line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BadInput(String);

/// Prints an error on one line; exit code 2 for input the user must fix.
fn finish(command: &str, result: anyhow::Result<()>) -> ExitCode {
    let Err(error) = result else { return ExitCode::SUCCESS };
    eprintln!("agent-memory {command}: {error:#}");
    let bad_input = error.is::<ConfigError>()
        || error.is::<BadInput>()
        || matches!(
            error.downcast_ref::<TransferError>(),
            Some(TransferError::Malformed { .. } | TransferError::SessionsNotAccepted(_))
        );
    if bad_input { ExitCode::from(crate::EXIT_BAD_INPUT) } else { ExitCode::FAILURE }
}
