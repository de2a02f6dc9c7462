//! `agent-memory-bench`: the Rust side of the `bench/` harness.
//!
//! Times one workload of the agent-memory library on the inputs that `bench/gen_inputs.py`
//! wrote and prints one JSON object, with the same fields as the Python peers' runner
//! (`bench/peers.py`): the first (cold) call, the median and fastest of the timed calls,
//! the workload's result and the process's peak resident set. Reading and parsing the
//! inputs is not timed, for either side.
//!
//! Run it through `bench/run`, which builds it in release mode and compares it with the
//! peers; by hand: `agent-memory-bench count-text --inputs bench/inputs`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Times one agent-memory workload on the bench/ inputs and prints JSON.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// What to time.
    workload: Workload,
    /// The folder `bench/gen_inputs.py` wrote.
    #[arg(long)]
    inputs: PathBuf,
    /// The OpenAI encoding for counting workloads: o200k_base or cl100k_base.
    #[arg(long, default_value = "o200k_base")]
    encoding: String,
    /// Messages to keep (trim-last), not counting the system message.
    #[arg(long, default_value_t = 1000)]
    max_messages: usize,
    /// Token budget (trim-tokens-*, fit-*).
    #[arg(long, default_value_t = 100_000)]
    max_tokens: usize,
    /// Messages kept verbatim when summarizing (fit-summarize).
    #[arg(long, default_value_t = 10)]
    keep: usize,
    /// Timed calls at least.
    #[arg(long, default_value_t = 3)]
    min_reps: usize,
    /// Seconds of timed calls at least (within --max-reps).
    #[arg(long, default_value_t = 1.0)]
    min_seconds: f64,
    /// Timed calls at most.
    #[arg(long, default_value_t = 10_000)]
    max_reps: usize,
}

/// The workloads, named as in `bench/peers.py`.
#[derive(Clone, Copy, ValueEnum)]
enum Workload {
    /// Count the tokens of the whole corpus as one text.
    CountText,
    /// Count the tokens of each of the short messages, as plain text.
    CountMessages,
    /// Count the short messages as one chat of user messages, with OpenAI's framing.
    CountChat,
    /// Keep the last --max-messages messages of the conversation (and its system message).
    TrimLast,
    /// Keep the newest messages that fit --max-tokens, by the approximate counter.
    TrimTokensApprox,
    /// Keep the newest messages that fit --max-tokens, by exact counting for gpt-4o.
    TrimTokensExact,
    /// fit_context over budget without summarizing: trims.
    FitTrim,
    /// fit_context over budget with a summarizer that answers at once.
    FitSummarize,
}

/// One timed workload, as printed.
#[derive(Serialize)]
struct Report<R> {
    #[serde(rename = "impl")]
    implementation: &'static str,
    version: &'static str,
    workload: String,
    #[serde(flatten)]
    measurement: Measurement<R>,
    peak_rss_kb: u64,
}

#[derive(Serialize)]
struct Measurement<R> {
    first_s: f64,
    median_s: f64,
    min_s: f64,
    reps: usize,
    result: R,
}

/// Times one cold call, then at least `min_reps` calls and `min_seconds` in all, and
/// checks that every call gives the same result.
fn measure<R: PartialEq>(args: &Args, mut call: impl FnMut() -> R) -> Result<Measurement<R>> {
    let start = Instant::now();
    let result = black_box(call());
    let first_s = start.elapsed().as_secs_f64();
    let mut times = Vec::new();
    while times.len() < args.max_reps && (times.len() < args.min_reps || times.iter().sum::<f64>() < args.min_seconds) {
        let start = Instant::now();
        let again = black_box(call());
        times.push(start.elapsed().as_secs_f64());
        if again != result {
            bail!("a repeated call gave a different result");
        }
    }
    times.sort_by(f64::total_cmp);
    let median_s = match times.len() {
        0 => first_s,
        n if n % 2 == 1 => times[n / 2],
        n => (times[n / 2 - 1] + times[n / 2]) / 2.0,
    };
    Ok(Measurement { first_s, median_s, min_s: times.first().copied().unwrap_or(first_s), reps: times.len(), result })
}

/// The process's peak resident set in KiB (`VmHWM`), as the Python runner reads it.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| line.strip_prefix("VmHWM:")?.trim().strip_suffix("kB")?.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// sha256 of the counts written as decimal numbers joined by commas (as `bench/peers.py`).
fn counts_digest(counts: &[usize]) -> String {
    let joined: Vec<String> = counts.iter().map(usize::to_string).collect();
    Sha256::digest(joined.join(",").as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn read(inputs: &Path, name: &str) -> Result<String> {
    let path = inputs.join(name);
    std::fs::read_to_string(&path).with_context(|| format!("cannot read {} (run bench/run first)", path.display()))
}

fn print<R: Serialize>(args: &Args, measurement: Measurement<R>) -> Result<()> {
    let workload = args.workload.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default();
    let report = Report {
        implementation: "agent-memory",
        version: env!("CARGO_PKG_VERSION"),
        workload,
        measurement,
        peak_rss_kb: peak_rss_kb(),
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    run(&args)
}

#[expect(dead_code, reason = "wired to the agent-memory API as soon as tokens, trim and context land")]
fn run_workload(args: &Args) -> Result<()> {
    let corpus = read(&args.inputs, "corpus.txt")?;
    let counts = [corpus.len()];
    print(args, measure(args, || counts_digest(&counts))?)
}

fn run(args: &Args) -> Result<()> {
    read(&args.inputs, "manifest.json")?;
    bail!("the agent-memory API for this workload has not landed yet")
}
