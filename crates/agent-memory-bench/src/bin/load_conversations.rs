//! `load-conversations`: the in-process conversation-search load test of `bench/load/run.sh`.
//!
//! Indexes the sessions that `bench/load/gen.py conversations` wrote into a store (any
//! `MemoryStore::open` URL, with the built-in embedder), then runs `ConversationMemory::search`
//! from `--concurrency` tasks on a multi-threaded runtime for `--seconds`, and prints one
//! JSON line with the same fields as the wrk scenarios (throughput, p50/p90/p99/max in ms).
//!
//! The service has no conversation endpoint yet on this branch, so this measures the
//! library call that endpoint will make, without HTTP and JSON.
//!
//! Run with: `load-conversations --database sqlite:/tmp/c.db --sessions s.jsonl --queries q.txt`

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agent_memory::message::Message;
use agent_memory::recall::{ConversationMemory, RecallQuery};
use agent_memory::store::NamespacePrefix;
use anyhow::{Context, Result};
use clap::Parser;
use serde::Deserialize;
use serde_json::Map;

/// Loads conversations into a store and measures conversation search under concurrency.
#[derive(Parser)]
struct Args {
    /// The store: `sqlite:PATH`, `postgres://…?schema=NAME` or `memory`.
    #[arg(long)]
    database: String,
    /// Sessions to index first (JSONL `{user, session, messages}`); skipped when absent.
    #[arg(long)]
    sessions: Option<PathBuf>,
    /// Search queries, one per line; each task cycles through them from its own offset.
    #[arg(long)]
    queries: PathBuf,
    /// Concurrent searching tasks.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// How long to search.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Users the queries are spread over (`user-000` …), as gen.py names them.
    #[arg(long, default_value_t = 100)]
    users: usize,
}

#[derive(Deserialize)]
struct Session {
    user: String,
    session: String,
    messages: Vec<serde_json::Value>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let memory = Arc::new(ConversationMemory::open(&args.database).await.context("cannot open the store")?);
    if let Some(path) = &args.sessions {
        let started = Instant::now();
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut sessions = 0;
        for line in text.lines() {
            let session: Session = serde_json::from_str(line).context("bad session line")?;
            let messages = session.messages.into_iter().map(Message::from_value).collect::<Result<Vec<_>, _>>()?;
            memory.index_conversation(&session.user, &session.session, &messages, &Map::new()).await?;
            sessions += 1;
        }
        eprintln!("indexed {sessions} sessions in {:.1} s", started.elapsed().as_secs_f64());
    }
    let chunks = memory.store().count(NamespacePrefix::root()).await?;
    let queries: Arc<Vec<String>> = Arc::new(
        std::fs::read_to_string(&args.queries)
            .with_context(|| format!("cannot read {}", args.queries.display()))?
            .lines()
            .map(str::to_owned)
            .collect(),
    );
    anyhow::ensure!(!queries.is_empty(), "no queries in {}", args.queries.display());

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.concurrency);
    for task in 0..args.concurrency {
        let (memory, queries, stop, failures) = (memory.clone(), queries.clone(), stop.clone(), failures.clone());
        let users = args.users.max(1);
        tasks.push(tokio::spawn(async move {
            let mut latencies_us: Vec<u64> = Vec::new();
            let mut position = task * 7919;
            while !stop.load(Ordering::Relaxed) {
                position += 1;
                let query = RecallQuery::new(queries[position % queries.len()].clone()).limit(5);
                let user = format!("user-{:03}", position % users);
                let began = Instant::now();
                if memory.search(&user, &query).await.is_err() {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                latencies_us.push(began.elapsed().as_micros() as u64);
            }
            latencies_us
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await?);
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1] as f64 / 1e3
    };
    println!(
        "{}",
        serde_json::json!({
            "chunks": chunks,
            "requests": latencies.len(),
            "seconds": (seconds * 100.0).round() / 100.0,
            "rps": ((latencies.len() as f64 / seconds) * 10.0).round() / 10.0,
            "p50_ms": percentile(50.0),
            "p90_ms": percentile(90.0),
            "p99_ms": percentile(99.0),
            "max_ms": percentile(100.0),
            "failures": failures.load(Ordering::Relaxed),
        })
    );
    Ok(())
}
