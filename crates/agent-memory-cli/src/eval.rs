//! `agent-memory eval locomo --data DIR`: conversation-recall retrieval quality on LoCoMo.
//!
//! For each chunking (the default 10 lines with 2 shared, and one message per chunk) and
//! each ranking (BM25 keyword; semantic and hybrid for every `--embedder`), every
//! conversation is indexed in memory and every question searched; the Markdown table of
//! turn recall@k and session hit@k, per category and overall, goes to stdout (or `--out`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use agent_memory::embed::{Embedder, EmbedderOptions, from_spec};
use agent_memory::recall::eval::{DEFAULT_KS, EvalRow, evaluate, index_dataset, markdown_table};
use agent_memory::recall::locomo::LocomoDataset;
use agent_memory::recall::{ChunkingOptions, ConversationMemory, FusionWeights};
use agent_memory::store::{MemoryStore, SearchMode};
use anyhow::{Context, anyhow};

use crate::outcome::{self, Described};

/// Arguments of `agent-memory eval`.
#[derive(Debug, clap::Args)]
pub(crate) struct EvalArgs {
    #[command(subcommand)]
    command: EvalCommand,
}

#[derive(Debug, clap::Subcommand)]
enum EvalCommand {
    /// Retrieval quality of conversation recall on LoCoMo (conversations.jsonl + questions.jsonl).
    Locomo {
        /// The folder with conversations.jsonl and questions.jsonl.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// An embedder for the semantic and hybrid rows (`hash:256`,
        /// `huggingface:all-MiniLM-L6-v2`, …); repeat for several. BM25 rows need none.
        #[arg(long, value_name = "NAME")]
        embedder: Vec<String>,
        /// The most characters per chunk (lower it to the embedder's input, e.g. 1000 for
        /// all-MiniLM-L6-v2's 256 tokens, so nothing is truncated).
        #[arg(long, default_value_t = ChunkingOptions::DEFAULT_MAX_CHARS)]
        max_chars: usize,
        /// The weight of the semantic ranking in hybrid fusion (the keyword ranking has 1).
        #[arg(long, default_value_t = ConversationMemory::DEFAULT_FUSION.semantic)]
        semantic_weight: f64,
        /// Only these conversations (comma-separated ids, e.g. `conv-26,conv-41`) and their
        /// questions; all by default.
        #[arg(long, value_name = "IDS", value_delimiter = ',')]
        conversations: Vec<String>,
        /// Write the Markdown table here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

pub(crate) fn run(args: EvalArgs) -> ExitCode {
    outcome::run_current_thread("agent-memory eval", async {
        execute(args).await.map_err(|error| Described::new(&error, false))
    })
}

async fn execute(args: EvalArgs) -> anyhow::Result<()> {
    let EvalCommand::Locomo { data, embedder, max_chars, semantic_weight, conversations, out } = args.command;
    if !(semantic_weight.is_finite() && semantic_weight >= 0.0) {
        return Err(anyhow!("--semantic-weight must be a number ≥ 0"));
    }
    let mut dataset =
        LocomoDataset::load(&data).with_context(|| format!("cannot load LoCoMo from {}", data.display()))?;
    if !conversations.is_empty() {
        if let Some(unknown) = conversations.iter().find(|id| !dataset.conversations.iter().any(|c| &c.conv_id == *id))
        {
            return Err(anyhow!("--conversations: no conversation {unknown:?} in {}", data.display()));
        }
        dataset.conversations.retain(|c| conversations.contains(&c.conv_id));
        dataset.questions.retain(|q| conversations.contains(&q.conv_id));
    }
    let mut embedders: Vec<Arc<dyn Embedder>> = Vec::new();
    for spec in &embedder {
        embedders.push(from_spec(spec, &EmbedderOptions::new()).map_err(|err| anyhow!("embedder {spec:?}: {err}"))?);
    }
    let chunkings = [
        ("10/2", ChunkingOptions::default().with_max_chars(max_chars)?),
        ("1/0", ChunkingOptions::new(1, 0)?.with_max_chars(max_chars)?),
    ];
    let mut settings: Vec<(String, Vec<EvalRow>)> = Vec::new();
    let mut timings = Vec::new();
    for (chunking_name, chunking) in chunkings {
        let runs = run_setting(&dataset, None, chunking, semantic_weight, &[("bm25", SearchMode::Keyword)]).await?;
        for (mode_name, rows, seconds) in runs {
            timings.push(format!("chunks {chunking_name}, {mode_name}: {seconds:.1} s"));
            settings.push((format!("chunks {chunking_name}, {mode_name}"), rows));
        }
        for embedder in &embedders {
            let modes = [("semantic", SearchMode::Semantic), ("hybrid", SearchMode::Hybrid)];
            for (mode_name, rows, seconds) in
                run_setting(&dataset, Some(embedder.clone()), chunking, semantic_weight, &modes).await?
            {
                let name = format!("chunks {chunking_name}, {mode_name} {}", embedder.model_id());
                timings.push(format!("{name}: {seconds:.1} s"));
                settings.push((name, rows));
            }
        }
    }
    let borrowed: Vec<(&str, &[EvalRow])> =
        settings.iter().map(|(name, rows)| (name.as_str(), rows.as_slice())).collect();
    let mut report = markdown_table(&borrowed, &DEFAULT_KS);
    report.push_str(&format!(
        "\n{} questions over {} conversations; R@k = turn recall within the top-k chunks, \
         S@k = session hit@k; n = questions with evidence turns.\n\nTimes (debug build; index, counted in the first mode, + search):\n",
        dataset.questions.len(),
        dataset.conversations.len()
    ));
    for timing in timings {
        report.push_str(&format!("- {timing}\n"));
    }
    match out {
        Some(path) => std::fs::write(&path, report).with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{report}"),
    }
    Ok(())
}

/// Indexes the data set in a fresh in-memory store, then evaluates each ranking; returns
/// the rows and seconds of each (indexing time is counted in the first).
async fn run_setting(
    dataset: &LocomoDataset,
    embedder: Option<Arc<dyn Embedder>>,
    chunking: ChunkingOptions,
    semantic_weight: f64,
    modes: &[(&'static str, SearchMode)],
) -> anyhow::Result<Vec<(&'static str, Vec<EvalRow>, f64)>> {
    let mut started = Instant::now();
    let fusion = FusionWeights { semantic: semantic_weight, ..ConversationMemory::DEFAULT_FUSION };
    let mut memory = ConversationMemory::new(MemoryStore::in_memory().without_embedder())
        .with_chunking(chunking)
        .with_fusion(fusion);
    let label = embedder.as_ref().map_or_else(|| "bm25".to_owned(), |e| e.model_id().to_owned());
    if let Some(embedder) = embedder {
        memory = memory.with_embedder(embedder);
    }
    let sessions: usize = dataset.conversations.iter().map(|c| c.sessions.len()).sum();
    let bar = progress(sessions as u64, &format!("indexing ({label}, {} lines/chunk)", chunking.chunk_size()));
    index_dataset(&memory, dataset, |done| bar.set_position(done as u64)).await?;
    bar.finish_and_clear();
    let mut runs = Vec::new();
    for &(name, mode) in modes {
        let bar = progress(dataset.questions.len() as u64, &format!("searching ({name} {label})"));
        let rows =
            evaluate(&memory, &dataset.questions, mode, &DEFAULT_KS, |done| bar.set_position(done as u64)).await?;
        bar.finish_and_clear();
        runs.push((name, rows, started.elapsed().as_secs_f64()));
        started = Instant::now();
    }
    Ok(runs)
}

fn progress(total: u64, message: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} [{elapsed}]") {
        bar.set_style(style);
    }
    bar.set_message(message.to_owned());
    bar
}
