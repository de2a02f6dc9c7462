//! Store benchmark (issue 3): put, get and semantic search at N items of precomputed
//! 384-d vectors, on the in-memory and SQLite backends. One backend and size per process,
//! so the peak memory (VmHWM) is that run's. See `bench/store/README.md`; run through
//! `bench/store/run.sh`.
//!
//! `cargo bench -p agent-memory --bench store -- BACKEND N VECTORS QUERIES DIMS`
//! prints one JSON line.

use std::sync::Arc;
use std::time::Instant;

use agent_memory::embed::{EmbedError, Embedder};
use agent_memory::store::{MemoryStore, PutRequest, SearchMode, SearchQuery};
use serde_json::json;

/// Returns precomputed vectors: `doc N` is row N of the item matrix, `query N` row N of
/// the query matrix, so no embedding is measured.
#[derive(Debug)]
struct Lookup {
    docs: Vec<f32>,
    queries: Vec<f32>,
    dims: usize,
}

impl Lookup {
    fn row(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let number: usize = text
            .chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .map_err(|_| EmbedError::Input(format!("no row number in {text:?}")))?;
        let matrix = if text.contains("query") { &self.queries } else { &self.docs };
        matrix
            .get(number * self.dims..(number + 1) * self.dims)
            .map(<[f32]>::to_vec)
            .ok_or_else(|| EmbedError::Input(format!("row {number} out of range")))
    }
}

#[async_trait::async_trait]
impl Embedder for Lookup {
    fn model_id(&self) -> &str {
        "bench/lookup"
    }
    fn dimensions(&self) -> usize {
        self.dims
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        texts.iter().map(|t| self.row(t)).collect()
    }
}

fn read_f32(path: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [backend, n, vectors, queries, dims] = args.as_slice() else {
        eprintln!("usage: store_bench BACKEND(memory|sqlite) N VECTORS.f32 QUERIES.f32 DIMS");
        std::process::exit(2);
    };
    let (n, dims): (usize, usize) = (n.parse().expect("N"), dims.parse().expect("DIMS"));
    let docs = read_f32(vectors);
    let queries = read_f32(queries);
    assert!(docs.len() >= n * dims, "the vector file has fewer than {n} rows");
    let query_count = queries.len() / dims;
    let embedder = Arc::new(Lookup { docs, queries, dims });
    let dir = tempfile::tempdir().expect("temp dir");
    let store = match backend.as_str() {
        "memory" => MemoryStore::in_memory(),
        "sqlite" => MemoryStore::sqlite(dir.path().join("bench.db")).await.expect("open"),
        other => panic!("unknown backend {other}"),
    }
    .with_embedder(embedder);
    let ns = ("bench", "items");
    let value = |i: usize| json!({"doc": format!("doc {i}")});

    // Puts one at a time (each one call, one transaction), then batches of 1,000 for the rest.
    let single = n.min(2_000);
    let mut put_latency = Vec::with_capacity(single);
    let started = Instant::now();
    for i in 0..single {
        let t = Instant::now();
        store.put(ns, format!("k{i}"), value(i), None).await.expect("put");
        put_latency.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let single_rate = single as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut i = single;
    while i < n {
        let end = (i + 1_000).min(n);
        let batch = (i..end).map(|j| PutRequest::new(ns, format!("k{j}"), value(j)).expect("ns")).collect();
        store.put_many(batch).await.expect("put_many");
        i = end;
    }
    let batch_rate = if n > single { (n - single) as f64 / started.elapsed().as_secs_f64() } else { 0.0 };

    // Gets of random keys.
    let mut get_latency = Vec::new();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let started = Instant::now();
    for _ in 0..5_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let key = format!("k{}", state as usize % n);
        let t = Instant::now();
        store.get(ns, key).await.expect("get").expect("present");
        get_latency.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let get_rate = 5_000.0 / started.elapsed().as_secs_f64();

    // Semantic search, limit 10 (the first search also loads the SQLite index: warm up).
    store.search(ns, SearchQuery::text("query 0").mode(SearchMode::Semantic)).await.expect("search");
    let mut search_latency = Vec::new();
    let rounds = query_count.min(200);
    let started = Instant::now();
    for q in 0..rounds {
        let query = SearchQuery::text(format!("query {q}")).mode(SearchMode::Semantic).limit(10);
        let t = Instant::now();
        let hits = store.search(ns, query).await.expect("search");
        search_latency.push(t.elapsed().as_secs_f64() * 1e6);
        assert_eq!(hits.len(), 10);
    }
    let search_rate = rounds as f64 / started.elapsed().as_secs_f64();
    for v in [&mut put_latency, &mut get_latency, &mut search_latency] {
        v.sort_by(f64::total_cmp);
    }
    let line = json!({
        "store": format!("agent-memory {backend}"),
        "n": n,
        "put_per_s": single_rate,
        "put_p50_us": percentile(&put_latency, 0.5),
        "put_batch_per_s": batch_rate,
        "get_per_s": get_rate,
        "get_p50_us": percentile(&get_latency, 0.5),
        "search_per_s": search_rate,
        "search_p50_us": percentile(&search_latency, 0.5),
        "search_p99_us": percentile(&search_latency, 0.99),
        "peak_rss_mb": peak_rss_mb(),
    });
    println!("{line}");
}
