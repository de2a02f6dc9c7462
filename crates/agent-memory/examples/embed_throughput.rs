//! Embedding throughput for short texts (12–17 tokens), batch 32: the built-in static
//! model and the local all-MiniLM-L6-v2.
//!
//! Run with:
//!
//! ```text
//! eval "$(scripts/deps/minilm.sh)"; unset CANDLE_NUM_THREADS
//! cargo run --release -p agent-memory --features local-embeddings --example embed_throughput
//! ```

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::path::Path;
use std::time::Instant;

use agent_memory::embed::BuiltinEmbedder;
use agent_memory::embed::local::SentenceTransformer;

fn sentences(n: usize) -> Vec<String> {
    let subjects = ["The user", "My manager", "A kitten", "The new intern", "Our team", "Caroline", "The database"];
    let verbs = ["prefers", "asked about", "is resting on", "wants to migrate", "forgot", "reviewed", "keeps"];
    let objects = [
        "dark mode in every editor",
        "the quarterly revenue report",
        "a warm rug near the window",
        "the billing service to Rust",
        "the meeting with the design team",
        "three pull requests before lunch",
        "a backup of yesterday's data",
    ];
    (0..n).map(|i| format!("{} {} {} #{i}.", subjects[i % 7], verbs[(i / 7) % 7], objects[(i / 49) % 7])).collect()
}

fn main() {
    let builtin = BuiltinEmbedder::new();
    let texts = sentences(100_000);
    builtin.embed_texts(&texts[..1000]);
    let start = Instant::now();
    for batch in texts.chunks(32) {
        std::hint::black_box(builtin.embed_texts(batch));
    }
    let secs = start.elapsed().as_secs_f64();
    println!("builtin: {:.0} sentences/s ({} sentences, batch 32, one thread)", texts.len() as f64 / secs, texts.len());

    let dir = std::env::var("AGENT_MEMORY_TEST_MINILM").expect("run `eval \"$(scripts/deps/minilm.sh)\"` first");
    let minilm = SentenceTransformer::load(Path::new(&dir)).unwrap().with_batch_size(32);
    let texts = sentences(1024);
    minilm.embed_blocking(&texts[..32]).unwrap();
    let start = Instant::now();
    minilm.embed_blocking(&texts).unwrap();
    let secs = start.elapsed().as_secs_f64();
    println!("MiniLM: {:.0} sentences/s ({} sentences, batch 32)", texts.len() as f64 / secs, texts.len());
}
