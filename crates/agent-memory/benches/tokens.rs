//! A quick, dependency-free timing of exact counting and trimming (`cargo bench -p
//! agent-memory --bench tokens`). The comparison with the Python peers is `bench/run`;
//! this is for checking a change to `tokens` or `trim` on its own.
//!
//! Text: the file named by `AGENT_MEMORY_BENCH_TEXT` when set (e.g. `bench/inputs/corpus.txt`),
//! else 4 MiB of generated English-like text.

use std::hint::black_box;
use std::time::{Duration, Instant};

use agent_memory::message::Message;
use agent_memory::tokens::{OpenAiCounter, TokenCounter};
use agent_memory::trim::{TrimOptions, trim_message_refs, trim_messages};

/// The median of `runs` timed calls of `f`, after one warm-up call.
fn median<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    black_box(f());
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn generated_text() -> String {
    let words = [
        "the",
        "memory",
        "layer",
        "for",
        "agents",
        "keeps",
        "what",
        "matters,",
        "and",
        "don't",
        "forget",
        "its",
        "12345",
        "tokens",
        "When",
        "THE",
        "context",
        "window",
        "fills",
        "up.",
        "(see",
        "docs/trim.md)",
        "über",
        "naïve",
        "\n\n",
        "    fn",
        "main()",
        "{",
        "}",
    ];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut text = String::new();
    while text.len() < 4 << 20 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        text.push_str(words[(state % words.len() as u64) as usize]);
        text.push(' ');
    }
    text
}

fn main() {
    let text = match std::env::var("AGENT_MEMORY_BENCH_TEXT") {
        Ok(path) => std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("cannot read {path}: {error}")),
        Err(_) => generated_text(),
    };
    let mb = text.len() as f64 / 1e6;
    for counter in [OpenAiCounter::o200k_base(), OpenAiCounter::cl100k_base()] {
        let time = median(5, || counter.count_text(&text).tokens);
        println!(
            "count {:.1} MB as one text, {}: {time:.2?} ({:.1} MB/s)",
            mb,
            counter.name(),
            mb / time.as_secs_f64()
        );
        let lines: Vec<&str> = text.lines().filter(|line| !line.is_empty()).collect();
        let time = median(5, || lines.iter().map(|line| counter.count_text(line).tokens).sum::<usize>());
        println!("count {} lines one by one, {}: {time:.2?}", lines.len(), counter.name());
    }

    let mut messages = vec![Message::system("You are a helpful assistant.")];
    messages.extend(
        text.lines()
            .filter(|line| !line.is_empty())
            .take(10_000)
            .enumerate()
            .map(|(i, line)| if i % 2 == 0 { Message::user(line) } else { Message::assistant(line) }),
    );
    for (label, options) in [
        ("last 1,000", TrimOptions::last(1_000)),
        ("first 1,000", TrimOptions::first(1_000)),
        ("token 100k approximate", TrimOptions::token(100_000)),
        (
            "token 100k o200k_base",
            TrimOptions::token(100_000).with_counter(std::sync::Arc::new(OpenAiCounter::o200k_base())),
        ),
    ] {
        let owned = median(101, || trim_messages(&messages, &options).map(|kept| kept.len()));
        let refs = median(101, || trim_message_refs(&messages, &options).map(|kept| kept.len()));
        println!("trim {} messages, {label}: trim_messages {owned:.2?}, trim_message_refs {refs:.2?}", messages.len());
    }
}
