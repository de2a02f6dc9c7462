//! Embedding benchmark (issue 4): sentences per second for short texts at batch 32, for the
//! built-in static model and the local all-MiniLM-L6-v2 (candle). One implementation per
//! process, so the peak memory (VmHWM) is that run's. See `bench/embed/README.md`; run
//! through `bench/embed/run.sh`, which runs the PyTorch side beside it.
//!
//! `cargo bench -p agent-memory --features local-embeddings --bench embed -- IMPL SENTENCES
//! BATCH MIN_SECONDS [MODEL_DIR] [VECTORS_OUT]` prints one JSON line. IMPL is `builtin` or
//! `minilm` (which needs MODEL_DIR). Like the Python side: an untimed warm-up on the first
//! two batches, then timed passes over all the sentences until there are at least 3 and
//! MIN_SECONDS of them; the rate is over the median pass.

use std::path::Path;
use std::time::Instant;

use agent_memory::embed::BuiltinEmbedder;
use agent_memory::embed::local::SentenceTransformer;
use serde_json::json;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// User + system time of all the process's threads, from `/proc/self/stat` (clock ticks of
/// 1/100 s, the Linux default; the Python side reads the same file).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

fn write_f32(path: &str, vectors: &[Vec<f32>]) {
    let bytes: Vec<u8> = vectors.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
}

/// An untimed warm-up on the first `warmup` texts, then timed passes over all of them until
/// at least 3 and `min_seconds` of them. Returns the first pass's vectors, the warm-up
/// time, the sorted pass times and the CPU seconds of the timed passes.
fn time_passes(
    min_seconds: f64,
    warmup: usize,
    mut pass: impl FnMut(Option<usize>) -> Vec<Vec<f32>>,
) -> (Vec<Vec<f32>>, f64, Vec<f64>, f64) {
    let start = Instant::now();
    std::hint::black_box(pass(Some(warmup)));
    let first = start.elapsed().as_secs_f64();
    let mut passes = Vec::new();
    let mut vectors = None;
    let cpu_start = cpu_seconds();
    let began = Instant::now();
    while passes.len() < 3 || began.elapsed().as_secs_f64() < min_seconds {
        let start = Instant::now();
        let result = std::hint::black_box(pass(None));
        passes.push(start.elapsed().as_secs_f64());
        vectors.get_or_insert(result);
    }
    let vectors = vectors.unwrap_or_default();
    let cpu = cpu_seconds() - cpu_start;
    passes.sort_by(f64::total_cmp);
    (vectors, first, passes, cpu)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [implementation, sentences, batch, min_seconds, rest @ ..] = args.as_slice() else {
        panic!("usage: embed IMPL SENTENCES BATCH MIN_SECONDS [MODEL_DIR] [VECTORS_OUT]");
    };
    let batch: usize = batch.parse().expect("BATCH is a number");
    let min_seconds: f64 = min_seconds.parse().expect("MIN_SECONDS is a number");
    let text = std::fs::read_to_string(sentences).unwrap_or_else(|e| panic!("cannot read {sentences}: {e}"));
    let texts: Vec<&str> = text.lines().collect();

    let load_start = Instant::now();
    let (label, threads, (vectors, first, passes, cpu)) = match implementation.as_str() {
        "builtin" => {
            let model = BuiltinEmbedder::new();
            let load = load_start.elapsed().as_secs_f64();
            let timed = time_passes(min_seconds, 2 * batch, |n| {
                texts[..n.unwrap_or(texts.len()).min(texts.len())]
                    .chunks(batch)
                    .flat_map(|b| model.embed_texts(b))
                    .collect()
            });
            (("built-in static model", load), 1, timed)
        }
        "minilm" => {
            let dir = rest.first().expect("minilm needs MODEL_DIR");
            let model = SentenceTransformer::load(Path::new(dir)).expect("the model loads").with_batch_size(batch);
            let load = load_start.elapsed().as_secs_f64();
            let threads = model.threads();
            let timed = time_passes(min_seconds, 2 * batch, |n| {
                model.embed_blocking(&texts[..n.unwrap_or(texts.len()).min(texts.len())]).expect("embedding works")
            });
            (("agent-memory all-MiniLM-L6-v2 (own encoder, candle gemm)", load), threads, timed)
        }
        other => panic!("unknown IMPL {other:?} (builtin or minilm)"),
    };
    let vectors_out = if implementation == "minilm" { rest.get(1) } else { rest.first() };
    if let Some(path) = vectors_out {
        write_f32(path, &vectors);
    }
    let median = passes[passes.len() / 2];
    let per_s = |secs: f64| (texts.len() as f64 / secs * 10.0).round() / 10.0;
    println!(
        "{}",
        json!({
            "impl": label.0,
            "sentences": texts.len(),
            "batch": batch,
            "threads": threads,
            "passes": passes.len(),
            "sentences_per_s": per_s(median),
            "best_sentences_per_s": per_s(passes[0]),
            "cpu_ms_per_sentence": (cpu * 1000.0 / (passes.len() * texts.len()) as f64 * 1000.0).round() / 1000.0,
            "load_s": (label.1 * 1000.0).round() / 1000.0,
            "warmup_s": (first * 1000.0).round() / 1000.0,
            "peak_rss_mb": (peak_rss_mb() * 10.0).round() / 10.0,
            "loadavg": loadavg(),
            "dimensions": vectors.first().map_or(0, Vec::len),
        })
    );
}
