//! `agent-memory conversations …`: index past conversations and search them.
//!
//! * `import FILE.jsonl`: one conversation per line,
//!   `{"user_id","session_id","messages":[…],"metadata":{…}}`, with a progress bar.
//! * `search --user U QUERY`: text (the recall tool's answer) or `--json`.
//! * `search --batch FILE.jsonl`: one query per line,
//!   `{"user_id","query","limit"?,"session_id"?,"min_score"?,"date_from"?,"date_to"?}`, one
//!   JSON line of results out per query.
//! * `sessions --user U`, `delete --user U [--session S]`.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use agent_memory::embed::{EmbedderOptions, from_spec};
use agent_memory::recall::{
    ChunkingOptions, ConversationMemory, RecallError, RecallQuery, SearchResult, ToolOutputOptions, format_tool_output,
    read_conversations,
};
use agent_memory::store::SearchMode;
use anyhow::{Context, anyhow};
use serde_json::{Value, json};

use crate::outcome::{self, CommandError};
use crate::serve::config::{KeywordStatisticsArgs, VectorIndexArgs};
use crate::serve::open_store_url;

/// The database the service uses by default.
const DEFAULT_DATABASE_URL: &str = "sqlite:agent-memory.db";

/// Arguments of `agent-memory conversations`.
#[derive(Debug, clap::Args)]
pub(crate) struct ConversationsArgs {
    /// The database: `sqlite:PATH`, `memory` or `postgres://…`.
    #[arg(long, global = true, env = "AGENT_MEMORY_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    db: String,
    /// The embedder for semantic and hybrid search, as `provider[:model]` (`hash:256`,
    /// `huggingface:all-MiniLM-L6-v2`, `openai`…); use the same one to import and to
    /// search. Default: the built-in embedder; `none`: keyword (BM25) search only.
    #[arg(long, global = true, env = "AGENT_MEMORY_EMBEDDER", value_name = "NAME")]
    embedder: Option<String>,
    #[command(flatten)]
    vector_index: VectorIndexArgs,
    #[command(flatten)]
    keyword_statistics: KeywordStatisticsArgs,
    #[command(subcommand)]
    command: ConversationsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ConversationsCommand {
    /// Index conversations from a JSONL file (one conversation per line).
    Import {
        /// The JSONL file; `-` reads standard input.
        file: PathBuf,
        /// Messages (lines) per chunk.
        #[arg(long, default_value_t = ChunkingOptions::DEFAULT_CHUNK_SIZE)]
        chunk_size: usize,
        /// Lines shared by consecutive chunks.
        #[arg(long, default_value_t = ChunkingOptions::DEFAULT_CHUNK_OVERLAP)]
        chunk_overlap: usize,
        /// The most characters in one chunk; longer messages are split, never truncated.
        #[arg(long, default_value_t = ChunkingOptions::DEFAULT_MAX_CHARS)]
        max_chars: usize,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Search a user's past conversations.
    Search {
        /// Whose conversations (required unless --batch).
        #[arg(long, required_unless_present = "batch")]
        user: Option<String>,
        /// The most results.
        #[arg(long, default_value_t = RecallQuery::DEFAULT_LIMIT)]
        limit: usize,
        /// Only this session.
        #[arg(long)]
        session: Option<String>,
        /// Only conversations on or after this date (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Only conversations on or before this date (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// Only results scoring at least this.
        #[arg(long, allow_negative_numbers = true)]
        min_score: Option<f64>,
        /// Ranking: auto (hybrid with an embedder, else keyword), keyword, semantic, hybrid.
        #[arg(long, default_value = "auto")]
        mode: String,
        /// Print JSON (one object with the results) instead of the recall tool's text.
        #[arg(long)]
        json: bool,
        /// Read queries as JSONL from this file (`-`: standard input) and write one JSON
        /// line of results per query.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["user", "query", "session", "from", "to"])]
        batch: Option<PathBuf>,
        /// What to look for.
        #[arg(required_unless_present = "batch")]
        query: Option<String>,
    },
    /// List a user's indexed sessions, one per line.
    Sessions {
        /// Whose sessions.
        #[arg(long)]
        user: String,
    },
    /// Delete one session (`--session`) or all of a user's conversations; prints the count.
    Delete {
        /// Whose conversations.
        #[arg(long)]
        user: String,
        /// Only this session.
        #[arg(long)]
        session: Option<String>,
    },
}

/// Why the command failed: bad input (exit code 2) or anything else (1).
enum Failure {
    Usage(anyhow::Error),
    Runtime(anyhow::Error),
}

impl CommandError for Failure {
    fn message(&self) -> String {
        match self {
            Failure::Usage(error) | Failure::Runtime(error) => format!("{error:#}"),
        }
    }

    fn is_bad_input(&self) -> bool {
        matches!(self, Failure::Usage(_))
    }
}

impl From<RecallError> for Failure {
    fn from(error: RecallError) -> Failure {
        if error.is_invalid_input() { Failure::Usage(error.into()) } else { Failure::Runtime(error.into()) }
    }
}

pub(crate) fn run(args: ConversationsArgs) -> ExitCode {
    outcome::run_current_thread("agent-memory conversations", execute(args))
}

async fn open(args: &ConversationsArgs, chunking: Option<ChunkingOptions>) -> Result<ConversationMemory, Failure> {
    let vector_index = args.vector_index.resolve().map_err(|error| Failure::Usage(error.into()))?;
    let store =
        open_store_url(&args.db, &vector_index, args.keyword_statistics.resolve()).await.map_err(RecallError::from)?;
    let mut memory = match args.embedder.as_deref() {
        Some("none") => ConversationMemory::new(store.without_embedder()),
        _ => ConversationMemory::new(store),
    };
    if let Some(spec) = args.embedder.as_ref().filter(|spec| *spec != "none") {
        let embedder = from_spec(spec, &EmbedderOptions::new()).map_err(|err| Failure::Usage(err.into()))?;
        memory = memory.with_embedder(embedder);
    }
    if let Some(chunking) = chunking {
        memory = memory.with_chunking(chunking);
    }
    Ok(memory)
}

async fn execute(args: ConversationsArgs) -> Result<(), Failure> {
    match &args.command {
        ConversationsCommand::Import { file, chunk_size, chunk_overlap, max_chars, quiet } => {
            let chunking = ChunkingOptions::new(*chunk_size, *chunk_overlap)?.with_max_chars(*max_chars)?;
            let memory = open(&args, Some(chunking)).await?;
            import(&memory, file, *quiet).await
        }
        ConversationsCommand::Search { user, limit, session, from, to, min_score, mode, json, batch, query } => {
            let mode = parse_mode(mode)?;
            let memory = open(&args, None).await?;
            if let Some(batch) = batch {
                return search_batch(&memory, batch, *limit, mode).await;
            }
            let (Some(user), Some(text)) = (user, query) else {
                return Err(Failure::Usage(anyhow!("search needs --user and a QUERY, or --batch")));
            };
            let mut query =
                RecallQuery::new(text.clone()).limit(*limit).mode(mode).dates(from.as_deref(), to.as_deref());
            if let Some(session) = session {
                query = query.session(session.clone());
            }
            if let Some(min_score) = min_score {
                query = query.min_score(*min_score);
            }
            let results = memory.search(user, &query).await?;
            if *json {
                println!("{}", json!({"user_id": user, "query": text, "results": results_json(&results)}));
            } else {
                let output = ToolOutputOptions { return_scores: true, max_chars: None };
                println!("{}", format_tool_output(&results, output));
            }
            Ok(())
        }
        ConversationsCommand::Sessions { user } => {
            let memory = open(&args, None).await?;
            for session in memory.sessions(user).await? {
                println!("{session}");
            }
            Ok(())
        }
        ConversationsCommand::Delete { user, session } => {
            let memory = open(&args, None).await?;
            let deleted = match session {
                Some(session) => memory.delete_conversation(user, session).await?,
                None => memory.delete_user_conversations(user).await?,
            };
            println!("{}", json!({"deleted": deleted}));
            Ok(())
        }
    }
}

fn parse_mode(mode: &str) -> Result<SearchMode, Failure> {
    match mode {
        "auto" => Ok(SearchMode::Auto),
        "keyword" | "bm25" => Ok(SearchMode::Keyword),
        "semantic" => Ok(SearchMode::Semantic),
        "hybrid" => Ok(SearchMode::Hybrid),
        other => Err(Failure::Usage(anyhow!("unknown --mode {other:?} (expected auto, keyword, semantic or hybrid)"))),
    }
}

fn reader(path: &PathBuf) -> Result<Box<dyn BufRead>, Failure> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display())).map_err(Failure::Usage)?;
    Ok(Box::new(BufReader::new(file)))
}

async fn import(memory: &ConversationMemory, file: &PathBuf, quiet: bool) -> Result<(), Failure> {
    // Count lines first so the bar shows a total (not for standard input).
    let total = if file.as_os_str() == "-" {
        None
    } else {
        let lines = reader(file)?.lines().map_while(Result::ok).filter(|l| !l.trim().is_empty()).count();
        Some(lines as u64)
    };
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = total.map_or_else(indicatif::ProgressBar::no_length, indicatif::ProgressBar::new);
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} conversations, {msg} chunks [{elapsed}]")
        {
            bar.set_style(style);
        }
        bar
    };
    let (mut conversations, mut chunks) = (0u64, 0usize);
    for record in read_conversations(reader(file)?) {
        let record = record?;
        chunks += memory
            .index_conversation(&record.user_id, &record.session_id, &record.messages, &record.metadata)
            .await?
            .len();
        conversations += 1;
        bar.set_message(chunks.to_string());
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!("{}", json!({"conversations": conversations, "chunks": chunks}));
    Ok(())
}

async fn search_batch(
    memory: &ConversationMemory,
    file: &PathBuf,
    default_limit: usize,
    mode: SearchMode,
) -> Result<(), Failure> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    for (index, line) in reader(file)?.lines().enumerate() {
        let line = line.context("cannot read the batch").map_err(Failure::Runtime)?;
        if line.trim().is_empty() {
            continue;
        }
        let at = |reason: String| Failure::Usage(anyhow!("line {}: {reason}", index + 1));
        let request: Value = serde_json::from_str(&line).map_err(|err| at(format!("malformed JSON: {err}")))?;
        let text_field = |key: &str| request.get(key).and_then(Value::as_str).map(str::to_owned);
        let user = text_field("user_id").ok_or_else(|| at("a query needs a string \"user_id\"".into()))?;
        let text = text_field("query").ok_or_else(|| at("a query needs a string \"query\"".into()))?;
        let limit = match request.get("limit") {
            None | Some(Value::Null) => default_limit,
            Some(value) => value
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| at("\"limit\" must be a non-negative integer".into()))?,
        };
        let mut query = RecallQuery::new(text.clone())
            .limit(limit)
            .mode(mode)
            .dates(text_field("date_from").as_deref(), text_field("date_to").as_deref());
        if let Some(session) = text_field("session_id") {
            query = query.session(session);
        }
        if let Some(min_score) = request.get("min_score").and_then(Value::as_f64) {
            query = query.min_score(min_score);
        }
        let results = memory.search(&user, &query).await.map_err(|err| match Failure::from(err) {
            Failure::Usage(err) => at(format!("{err:#}")),
            runtime => runtime,
        })?;
        let mut answer = json!({"user_id": user, "query": text, "results": results_json(&results)});
        if let Some(id) = request.get("id") {
            answer["id"] = id.clone();
        }
        writeln!(out, "{answer}").context("cannot write the results").map_err(Failure::Runtime)?;
    }
    out.flush().context("cannot write the results").map_err(Failure::Runtime)?;
    Ok(())
}

fn results_json(results: &[SearchResult]) -> Value {
    Value::Array(
        results
            .iter()
            .map(|result| {
                let chunk = &result.chunk;
                json!({
                    "chunk_id": chunk.chunk_id,
                    "session_id": chunk.session_id,
                    "score": result.score,
                    "offset": chunk.offset,
                    "date": chunk.date,
                    "metadata": chunk.metadata,
                    "summary": chunk.summary,
                    "messages": chunk.messages.iter().map(agent_memory::message::Message::to_value).collect::<Vec<_>>(),
                    "context": result.context,
                })
            })
            .collect(),
    )
}
