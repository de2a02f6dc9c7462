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

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use agent_memory::context::{ContextResult, FitError, FitOptions, fit_context};
use agent_memory::message::{Message, Role, parse_messages};
use agent_memory::summarize::{SummarizeError, Summarizer};
use agent_memory::tokens::{Encoding, OpenAiCounter, TokenCounter};
use agent_memory::trim::{TrimError, TrimOptions, trim_message_refs, trim_messages};

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
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
    /// Which trim API the trim workloads call: `owned` (`trim_messages`, clones the kept
    /// messages) or `refs` (`trim_message_refs`, borrows them).
    #[arg(long, value_enum, default_value_t = Api::Owned)]
    api: Api,
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

/// The trim API to call.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Api {
    /// `trim_messages`: returns clones.
    Owned,
    /// `trim_message_refs`: returns references.
    Refs,
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

/// Times one cold call, then at least `min_reps` calls and `min_seconds` in all (dropping
/// each output inside the timing, as Python frees it).
///
/// `describe` turns an output into the reported result, outside the timing; one more call
/// after the timed ones must be described the same as the first.
fn measure<T, R: PartialEq>(
    args: &Args,
    mut call: impl FnMut() -> T,
    describe: impl Fn(T) -> Result<R>,
) -> Result<Measurement<R>> {
    let start = Instant::now();
    let output = black_box(call());
    let first_s = start.elapsed().as_secs_f64();
    let result = describe(output)?;
    let mut times = Vec::new();
    while times.len() < args.max_reps && (times.len() < args.min_reps || times.iter().sum::<f64>() < args.min_seconds) {
        let start = Instant::now();
        drop(black_box(call()));
        times.push(start.elapsed().as_secs_f64());
    }
    if describe(call())? != result {
        bail!("a repeated call gave a different result");
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
        implementation: if args.api == Api::Refs { "agent-memory-refs" } else { "agent-memory" },
        version: env!("CARGO_PKG_VERSION"),
        workload,
        measurement,
        peak_rss_kb: peak_rss_kb(),
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// What a counting workload found: the total, and for per-item workloads how many items
/// and a digest of every item's count.
#[derive(PartialEq, Serialize)]
struct Counted {
    tokens: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    items: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
}

impl Counted {
    fn per_item(counts: &[usize], extra: usize) -> Counted {
        Counted {
            tokens: counts.iter().sum::<usize>() + extra,
            bytes: None,
            items: Some(counts.len()),
            digest: Some(counts_digest(counts)),
        }
    }
}

/// What a trim kept, described as `bench/peers.py` describes it.
#[derive(PartialEq, Serialize)]
struct Kept {
    kept: usize,
    /// The LangChain type of the message after the first (the system prompt).
    after_system: Option<&'static str>,
    /// Every tool result follows its call and every call has its results.
    valid: bool,
}

impl Kept {
    fn of<M: Borrow<Message>>(messages: &[M]) -> Kept {
        Kept {
            kept: messages.len(),
            after_system: messages.get(1).map(|message| langchain_type(message.borrow().role)),
            valid: valid_tool_pairs(messages),
        }
    }
}

fn langchain_type(role: Role) -> &'static str {
    match role {
        Role::System | Role::Developer => "system",
        Role::User => "human",
        Role::Assistant => "ai",
        Role::Tool => "tool",
    }
}

/// True when every tool result follows its call and every call has its result.
fn valid_tool_pairs<M: Borrow<Message>>(messages: &[M]) -> bool {
    let mut called = HashSet::new();
    let mut answered = HashSet::new();
    for message in messages.iter().map(Borrow::borrow) {
        called.extend(message.tool_calls.iter().map(|call| call.id.as_str()));
        if message.role == Role::Tool {
            match message.tool_call_id.as_deref() {
                Some(id) if called.contains(id) => answered.insert(id),
                _ => return false,
            };
        }
    }
    called == answered
}

fn encoding(args: &Args) -> Result<OpenAiCounter> {
    let encoding: Encoding = args.encoding.parse().map_err(anyhow::Error::msg)?;
    Ok(OpenAiCounter::new(encoding))
}

fn short_texts(args: &Args) -> Result<Vec<String>> {
    Ok(serde_json::from_str(&read(&args.inputs, "messages.json")?)?)
}

fn conversation(args: &Args) -> Result<Vec<Message>> {
    Ok(parse_messages(&read(&args.inputs, "conversation.json")?)?)
}

fn run(args: &Args) -> Result<()> {
    match args.workload {
        Workload::CountText => {
            let counter = encoding(args)?;
            let corpus = read(&args.inputs, "corpus.txt")?;
            let bytes = Some(corpus.len());
            let describe = |tokens| Ok(Counted { tokens, bytes, items: None, digest: None });
            print(args, measure(args, || counter.count_text(&corpus).tokens, describe)?)
        }
        Workload::CountMessages => {
            let counter = encoding(args)?;
            let texts = short_texts(args)?;
            let count = || texts.iter().map(|text| counter.count_text(text).tokens).collect::<Vec<_>>();
            print(args, measure(args, count, |counts| Ok(Counted::per_item(&counts, 0)))?)
        }
        Workload::CountChat => {
            let counter = encoding(args)?;
            let chat: Vec<Message> = short_texts(args)?.into_iter().map(Message::user).collect();
            let count = || chat.iter().map(|message| counter.count_message(message).tokens).collect::<Vec<_>>();
            let measurement = measure(args, count, |counts| Ok(Counted::per_item(&counts, counter.reply_priming())))?;
            // The messages one by one must add up to what the API says for the whole chat.
            let whole = counter.count_messages(&chat);
            if whole.tokens != measurement.result.tokens || !whole.exact {
                bail!("count_messages gave {whole}, the messages one by one {}", measurement.result.tokens);
            }
            print(args, measurement)
        }
        Workload::TrimLast => trim(args, TrimOptions::last(args.max_messages)),
        Workload::TrimTokensApprox => trim(args, TrimOptions::token(args.max_tokens)),
        Workload::TrimTokensExact => {
            trim(args, TrimOptions::token(args.max_tokens).with_counter(Arc::new(encoding(args)?)))
        }
        // FitOptions::new() counts approximately, as ai-infra's fit_context always does.
        Workload::FitTrim => fit(args, FitOptions::new()),
        Workload::FitSummarize => {
            fit(args, FitOptions::new().with_summarizer(Arc::new(FixedSummarizer)).with_keep(args.keep))
        }
    }
}

fn trim(args: &Args, options: TrimOptions) -> Result<()> {
    let messages = conversation(args)?;
    match args.api {
        Api::Owned => {
            let describe = |kept: Result<Vec<Message>, TrimError>| Ok(Kept::of(&kept?));
            print(args, measure(args, || trim_messages(&messages, &options), describe)?)
        }
        Api::Refs => {
            let describe = |kept: Result<Vec<&Message>, TrimError>| Ok(Kept::of(&kept?));
            print(args, measure(args, || trim_message_refs(&messages, &options), describe)?)
        }
    }
}

/// What fit_context returned, described as `bench/peers.py` describes it.
#[derive(PartialEq, Serialize)]
struct Fitted {
    #[serde(flatten)]
    kept: Kept,
    action: &'static str,
    tokens: usize,
}

/// Stands in for the LLM: returns the same short summary at once.
struct FixedSummarizer;

#[async_trait]
impl Summarizer for FixedSummarizer {
    async fn summarize(&self, _: &[Message], _: Option<&str>) -> Result<String, SummarizeError> {
        Ok("The user and the assistant discussed Vim and Perl documentation.".to_owned())
    }
}

fn fit(args: &Args, options: FitOptions) -> Result<()> {
    let messages = conversation(args)?;
    let describe = |fitted: Result<ContextResult, FitError>| {
        let fitted = fitted?;
        Ok(Fitted { kept: Kept::of(&fitted.messages), action: fitted.action.as_str(), tokens: fitted.tokens.tokens })
    };
    // The summarizer answers at once; a current-thread runtime drives the future.
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let call = || runtime.block_on(fit_context(&messages, args.max_tokens, &options));
    print(args, measure(args, call, describe)?)
}

fn main() -> Result<()> {
    run(&Args::parse())
}

#[cfg(test)]
mod tests {
    use agent_memory::message::ToolCall;
    use serde_json::json;

    use super::*;

    #[test]
    fn counts_digest_matches_the_python_runner() {
        // hashlib.sha256(",".join(map(str, [5, 0, 17])).encode()).hexdigest()
        assert_eq!(counts_digest(&[5, 0, 17]), "f2cf7fae2b3790460e64234b5e52c4692e785f5614ba7cf3793a9835f9a27e66");
    }

    #[test]
    fn tool_pairs_are_checked_both_ways() {
        let call = Message::assistant_tool_calls(vec![ToolCall::new("c1", "f", &json!({}))]);
        let result = Message::tool("c1", "done");
        let system = Message::system("s");
        assert!(valid_tool_pairs(&[system.clone(), call.clone(), result.clone()]));
        assert!(!valid_tool_pairs(&[system.clone(), result.clone()]), "a result without its call");
        assert!(!valid_tool_pairs(&[system.clone(), call.clone()]), "a call without its result");
        assert!(!valid_tool_pairs(&[system, result, call]), "a result before its call");
    }

    #[test]
    fn kept_names_the_message_after_the_system_prompt_as_langchain_does() {
        let messages = [Message::system("s"), Message::user("u"), Message::assistant("a")];
        let kept = Kept::of(&messages);
        assert_eq!((kept.kept, kept.after_system, kept.valid), (3, Some("human"), true));
    }
}
