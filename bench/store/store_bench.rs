//! Store benchmark (issue 3): put, get and semantic search at N items of precomputed
//! 384-d vectors, on the in-memory and SQLite backends. One backend and size per process,
//! so the peak memory (VmHWM) is that run's. See `bench/store/README.md`; run through
//! `bench/store/run.sh`.
//!
//! `cargo bench -p agent-memory --bench store -- BACKEND N VECTORS QUERIES DIMS`
//! prints one JSON line.
//!
//! `cargo bench -p agent-memory --bench store -- ann N DIMS EF[,EF…]` is the approximate
//! search benchmark: N clustered vectors generated in process (seed 42, the clusters of
//! `gen_vectors.py`), put into an in-memory store in batches while the exact top 10 of 200
//! queries is computed on the side, then search latency and recall@10 at each `ef_search`
//! (unfiltered, and with a filter that 1% of items match); one JSON line per `ef`. The
//! graph is built by the index's background worker; the searches start once it holds every
//! item (`build_s` is the wall time from the first put to then). Environment: `ANN_MIN_VECTORS`
//! (default the library's; `max` for exact search only), `ANN_PRECISION` (`f32`, `bf16`,
//! `f16`, `i8`; default the library's), `ANN_M` and `ANN_EF_CONSTRUCTION`; `ANN_QUIET_LOAD`
//! makes the searches wait (up to `ANN_QUIET_WAIT_S`, default 1800 s) until the 1-minute
//! load average is at most that, so that a shared machine's other work does not stretch
//! the latencies. Besides the wall-clock latency, each line has the search thread's CPU
//! time per query (`search_cpu_p50_ms`), which other processes do not inflate.
//!
//! `cargo bench -p agent-memory --bench store -- ann-text ITEMS.jsonl QUERIES.txt N[,N…] EF[,EF…]`
//! compares exact search with the graph (forced on) on the built-in embedder's vectors of
//! `bench/load/gen.py`'s memories and queries: per N, the first N items go into two in-memory
//! stores (exact, graph), and each of 200 queries (prefix `["users"]`, limit 10) is timed on
//! both; recall@10 is against the exact store's keys.
//!
//! `cargo bench -p agent-memory --bench store -- ann-scope ITEMS.jsonl QUERIES.txt N USERS[,USERS…]`
//! asks where `VectorIndexOptions::exact_scope_max` should lie: the first N items of
//! `bench/load/gen.py` (100 users) regrouped so that each first label holds USERS users'
//! items, in two in-memory stores, one without a graph (every scope scanned exactly) and
//! one with a graph over every row through which every scope is searched, with the scope as
//! its predicate; 200 queries, each within one group (prefix `["gK"]`, limit 10), timed on both
//! (thread CPU), recall@10 of the graph against the scan.
//!
//! `cargo bench -p agent-memory --bench store -- fusion-depth ITEMS.jsonl QUERIES.txt N DEPTH[,DEPTH…]`
//! measures what hybrid search's fusion depth (`StoreOptions::hybrid_candidates`: how many
//! candidates each ranking gives to reciprocal-rank fusion) costs and changes: N items of
//! `bench/load/gen.py` in an in-memory store with the built-in embedder, 1,000 queries
//! (prefix `["users"]`, limit 10) at each depth, compared with fusion at depth 1,000.
//!
//! `… -- put-latency N` times single SQLite puts across the graph threshold, and
//! `… -- kernel N DIMS` the dot product against the portable loop it replaced.

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
        let (matrix, after) = match (text.find("query "), text.find("doc ")) {
            (Some(at), _) => (&self.queries, &text[at + 6..]),
            (None, Some(at)) => (&self.docs, &text[at + 4..]),
            (None, None) => return Err(EmbedError::Input(format!("no row number in {text:?}"))),
        };
        let number: usize = after
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .map_err(|_| EmbedError::Input(format!("no row number in {text:?}")))?;
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

/// `count` words `w<k>` for item (or query) `seed`, k log-uniform in 1..5000 (a few common
/// words, a long tail), deterministic.
fn words(seed: u64, count: usize) -> String {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
            format!("w{}", 5000f64.powf(unit) as u64)
        })
        .collect::<Vec<_>>()
        .join(" ")
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
    if args.first().is_some_and(|a| a == "ann") {
        return ann::run(&args[1..]).await;
    }
    if args.first().is_some_and(|a| a == "ann-text") {
        return ann::run_text(&args[1..]).await;
    }
    if args.first().is_some_and(|a| a == "ann-scope") {
        return ann::run_scope(&args[1..]).await;
    }
    if args.first().is_some_and(|a| a == "fusion-depth") {
        return ann::run_fusion_depth(&args[1..]).await;
    }
    if args.first().is_some_and(|a| a == "put-latency") {
        return put_latency(&args[1..]).await;
    }
    if args.first().is_some_and(|a| a == "kernel") {
        return kernel(&args[1..]);
    }
    let [backend, n, vectors, queries, dims] = args.as_slice() else {
        eprintln!("usage: store_bench BACKEND(memory|sqlite|postgres) N VECTORS.f32 QUERIES.f32 DIMS");
        std::process::exit(2);
    };
    let (n, dims): (usize, usize) = (n.parse().expect("N"), dims.parse().expect("DIMS"));
    let docs = read_f32(vectors);
    let queries = read_f32(queries);
    assert!(docs.len() >= n * dims, "the vector file has fewer than {n} rows");
    let query_count = queries.len() / dims;
    let embedder = Arc::new(Lookup { docs, queries, dims });
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = std::env::var("DATABASE_URL").unwrap_or_default();
    let schema = format!("bench_store_{}", std::process::id());
    let store = match backend.as_str() {
        "memory" => MemoryStore::in_memory(),
        "sqlite" => MemoryStore::sqlite(dir.path().join("bench.db")).await.expect("open"),
        "postgres" => {
            let separator = if database_url.contains('?') { '&' } else { '?' };
            MemoryStore::open(&format!("{database_url}{separator}schema={schema}")).await.expect("open (DATABASE_URL)")
        }
        other => panic!("unknown backend {other}"),
    }
    .with_embedder(embedder);
    let ns = ("bench", "items");
    let value = |i: usize| json!({"doc": format!("doc {i}"), "topic": words(i as u64, 6)});

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

    // Keyword search (BM25), limit 10, two words per query.
    let mut keyword_latency = Vec::new();
    let started = Instant::now();
    for q in 0..200u64 {
        let query = SearchQuery::text(words(1_000_000_007 + q, 2)).mode(SearchMode::Keyword).limit(10);
        let t = Instant::now();
        store.search(ns, query).await.expect("keyword search");
        keyword_latency.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let keyword_rate = 200.0 / started.elapsed().as_secs_f64();
    if backend == "postgres" {
        let (client, connection) =
            tokio_postgres::connect(&database_url, tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(connection);
        client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.expect("drop the bench schema");
    }
    for v in [&mut put_latency, &mut get_latency, &mut search_latency, &mut keyword_latency] {
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
        "keyword_per_s": keyword_rate,
        "keyword_p50_us": percentile(&keyword_latency, 0.5),
        "load": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').take(3).collect::<Vec<_>>().join(" "),
        "peak_rss_mb": peak_rss_mb(),
    });
    println!("{line}");
}

/// `put-latency N`: single puts (one call each) into a SQLite store with the built-in
/// embedder, its vector index loaded (a search every 500 puts), across the graph threshold;
/// one JSON line per 5,000 puts with their p50/p99/max latency, so a write that waits for
/// the graph shows up as a tail.
async fn put_latency(args: &[String]) {
    use agent_memory::store::{SqliteBackend, StoreOptions};
    let [n] = args else {
        eprintln!("usage: store_bench put-latency N");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N");
    let dir = tempfile::tempdir().expect("temporary directory");
    let backend = Arc::new(SqliteBackend::open(&dir.path().join("bench.db")).await.expect("open"));
    let store =
        MemoryStore::new(backend, StoreOptions::default()).with_embedder(agent_memory::embed::default_embedder());
    let words = ["tea", "coffee", "Berlin", "Lisbon", "climbing", "Rust", "piano", "sushi", "Monday", "quiet"];
    let mut window = Vec::new();
    for i in 0..n {
        if i % 500 == 0 {
            store
                .search(["users"], SearchQuery::text("coffee in Berlin").mode(SearchMode::Semantic))
                .await
                .expect("search");
        }
        let text = format!(
            "{} likes {} and {} on {} #{i}",
            words[i % 7],
            words[i % 10],
            words[(i / 10) % 10],
            words[(i / 100) % 10]
        );
        let started = Instant::now();
        store
            .put(["users", &format!("u{}", i % 100)], format!("m{i}"), json!({"text": text}), None)
            .await
            .expect("put");
        window.push(started.elapsed().as_secs_f64() * 1e3);
        if window.len() == 5000 {
            window.sort_by(f64::total_cmp);
            let line = json!({
                "backend": "sqlite", "puts_up_to": i + 1,
                "put_p50_ms": percentile(&window, 0.5), "put_p99_ms": percentile(&window, 0.99),
                "put_max_ms": window[window.len() - 1],
                "load": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').take(3).collect::<Vec<_>>().join(" "),
            });
            println!("{line}");
            window.clear();
        }
    }
}

/// The dot product as `vector::dot` computed it before runtime SIMD dispatch: eight scalar
/// lanes the compiler vectorizes for the build target (SSE2 on a baseline x86_64 build).
fn portable_dot(a: &[f32], b: &[f32]) -> f32 {
    let (a_chunks, a_tail) = a.as_chunks::<8>();
    let (b_chunks, b_tail) = b.as_chunks::<8>();
    let mut lanes = [0.0f32; 8];
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        for ((lane, x), y) in lanes.iter_mut().zip(x).zip(y) {
            *lane += x * y;
        }
    }
    let tail: f32 = a_tail.iter().zip(b_tail).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + tail
}

/// `kernel N DIMS`: nanoseconds per row of an exact scan (one query against N rows), with
/// `vector::dot` and with the portable loop it replaced, interleaved over 20 rounds (median).
fn kernel(args: &[String]) {
    let [n, dims] = args else {
        eprintln!("usage: store_bench kernel N DIMS");
        std::process::exit(2);
    };
    let (n, dims): (usize, usize) = (n.parse().expect("N"), dims.parse().expect("DIMS"));
    let matrix: Vec<f32> = (0..n * dims).map(|i| ((i * 7919 % 2003) as f32 - 1001.0) / 1001.0).collect();
    let query: Vec<f32> = (0..dims).map(|i| ((i * 104_729 % 997) as f32 - 498.0) / 498.0).collect();
    let time = |dot: &dyn Fn(&[f32], &[f32]) -> f32| {
        let started = std::time::Instant::now();
        let best = matrix.chunks_exact(dims).map(|row| dot(row, &query)).fold(f32::MIN, f32::max);
        std::hint::black_box(best);
        started.elapsed().as_secs_f64() * 1e9 / n as f64
    };
    let (mut simd, mut portable) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        simd.push(time(&|a, b| agent_memory::store::vector::dot(a, b)));
        portable.push(time(&portable_dot));
    }
    simd.sort_by(f64::total_cmp);
    portable.sort_by(f64::total_cmp);
    let line = json!({
        "kernel": "dot", "n": n, "dims": dims,
        "dispatched_ns_per_row": simd[10], "portable_ns_per_row": portable[10],
        "speedup": portable[10] / simd[10],
        "load": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').take(3).collect::<Vec<_>>().join(" "),
    });
    println!("{line}");
}

/// The approximate (HNSW) search benchmark at scale; see the crate documentation.
mod ann {
    use std::sync::{Arc, RwLock};
    use std::time::Instant;

    use agent_memory::embed::{EmbedError, Embedder};
    use agent_memory::store::{
        Filter, GraphPrecision, IndexFields, MemoryBackend, MemoryStore, PutRequest, SearchMode, SearchQuery,
        StoreOptions, VectorIndexOptions, vector,
    };
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use serde_json::json;

    const CLUSTERS: usize = 256;
    const QUERIES: usize = 200;
    /// The fusion depth that `fusion-depth` compares every other depth with.
    const REFERENCE_DEPTH: usize = 1000;
    const BATCH: usize = 10_000;
    /// Items with `bucket == 7` (1%) are the filtered search's matches.
    const BUCKETS: usize = 100;

    /// A standard normal sample (Box–Muller).
    fn normal(rng: &mut StdRng) -> f32 {
        let (u, v): (f64, f64) = (rng.random::<f64>().max(f64::MIN_POSITIVE), rng.random());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }

    /// `count` points around random centers: center + 0.5 · N(0, 1) per coordinate.
    fn points(rng: &mut StdRng, centers: &[Vec<f32>], count: usize, dims: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(count * dims);
        for _ in 0..count {
            let center = &centers[rng.random_range(0..centers.len())];
            out.extend(center.iter().map(|c| c + 0.5 * normal(rng)));
        }
        out
    }

    /// Vectors by text: `doc N` is row N - base of the current batch, `query N` query N.
    #[derive(Debug)]
    struct BatchLookup {
        dims: usize,
        batch: RwLock<(usize, Vec<f32>)>,
        queries: Vec<f32>,
    }

    #[async_trait::async_trait]
    impl Embedder for BatchLookup {
        fn model_id(&self) -> &str {
            "bench/lookup"
        }
        fn dimensions(&self) -> usize {
            self.dims
        }
        async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
            let batch = self.batch.read().map_err(|_| EmbedError::Input("poisoned".into()))?;
            texts
                .iter()
                .map(|text| {
                    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
                    let n: usize = digits.parse().map_err(|_| EmbedError::Input(format!("no number in {text:?}")))?;
                    let (matrix, row) =
                        if text.contains("query") { (&self.queries, n) } else { (&batch.1, n - batch.0) };
                    matrix
                        .get(row * self.dims..(row + 1) * self.dims)
                        .map(<[f32]>::to_vec)
                        .ok_or_else(|| EmbedError::Input(format!("row {n} out of range")))
                })
                .collect()
        }
    }

    /// The exact best 10 (score, doc number) of one query, worst last.
    #[derive(Debug, Clone, Default)]
    struct Top10(Vec<(f32, usize)>);

    impl Top10 {
        fn offer(&mut self, score: f32, doc: usize) {
            if self.0.len() == 10 && score <= self.0[9].0 {
                return;
            }
            let at = self.0.partition_point(|&(s, _)| s >= score);
            self.0.insert(at, (score, doc));
            self.0.truncate(10);
        }
    }

    fn percentile(sorted: &[f64], p: f64) -> f64 {
        sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
    }

    /// See the crate documentation (`ann-text`).
    pub(super) async fn run_text(args: &[String]) {
        let [items, queries, sizes, efs] = args else {
            eprintln!("usage: store_bench ann-text ITEMS.jsonl QUERIES.txt N[,N...] EF[,EF...]");
            std::process::exit(2);
        };
        let sizes: Vec<usize> = sizes.split(',').map(|n| n.parse().expect("N")).collect();
        let efs: Vec<usize> = efs.split(',').map(|e| e.parse().expect("EF")).collect();
        let largest = sizes.iter().copied().max().unwrap_or(0);
        let puts = read_puts(items, largest);
        let queries = read_queries(queries, QUERIES);
        let embedder = agent_memory::embed::default_embedder();
        let options = StoreOptions { index_fields: IndexFields::paths(["text"]), ..StoreOptions::default() };
        let graph_options = VectorIndexOptions { ann_min_vectors: 1, ..index_options() };
        for n in sizes {
            let exact = MemoryStore::new(
                Arc::new(MemoryBackend::with_vector_index(VectorIndexOptions::exact())),
                options.clone(),
            )
            .with_embedder(embedder.clone());
            let graph_backend = Arc::new(MemoryBackend::with_vector_index(graph_options));
            let graph = MemoryStore::new(graph_backend.clone(), options.clone()).with_embedder(embedder.clone());
            let build_started = Instant::now();
            for chunk in puts[..n].chunks(1000) {
                let requests = || {
                    chunk
                        .iter()
                        .map(|(ns, key, value)| PutRequest::new(ns.clone(), key.clone(), value.clone()))
                        .collect::<Result<Vec<_>, _>>()
                        .expect("valid")
                };
                exact.put_many(requests()).await.expect("put_many");
                graph.put_many(requests()).await.expect("put_many");
            }
            graph_backend.wait_for_vector_index();
            let build_seconds = build_started.elapsed().as_secs_f64();
            let search = |q: &str| SearchQuery::text(q).mode(SearchMode::Semantic).limit(10);
            let mut exact_latency = Vec::new();
            let mut truth = Vec::new();
            for q in &queries {
                let started = Instant::now();
                let hits = exact.search(["users"], search(q)).await.expect("search");
                exact_latency.push(started.elapsed().as_secs_f64() * 1e3);
                // The 10th best exact score: a graph hit that scores as high is as good an
                // answer as the exact one it displaced (the generated texts repeat
                // templates, so many vectors tie).
                let tenth = hits.last().map_or(f64::NEG_INFINITY, |h| h.score.unwrap_or(f64::NEG_INFINITY));
                truth.push((hits.into_iter().map(|h| h.item.key).collect::<Vec<_>>(), tenth));
            }
            exact_latency.sort_by(f64::total_cmp);
            for &ef in &efs {
                graph_backend.set_expansion_search(ef);
                let mut latency = Vec::new();
                let mut cpu = Vec::new();
                let mut found = 0usize;
                let mut found_or_tied = 0usize;
                let mut wanted = 0usize;
                for (q, (truth, tenth)) in queries.iter().zip(&truth) {
                    let (started, cpu_started) = (Instant::now(), thread_cpu_ms());
                    let hits = graph.search(["users"], search(q)).await.expect("search");
                    latency.push(started.elapsed().as_secs_f64() * 1e3);
                    cpu.push(thread_cpu_ms() - cpu_started);
                    found += hits.iter().filter(|h| truth.contains(&h.item.key)).count();
                    found_or_tied += hits
                        .iter()
                        .filter(|h| truth.contains(&h.item.key) || h.score.is_some_and(|s| s >= *tenth - 1e-6))
                        .count();
                    wanted += truth.len();
                }
                latency.sort_by(f64::total_cmp);
                let cpu_mean_ms = cpu.iter().sum::<f64>() / cpu.len().max(1) as f64;
                cpu.sort_by(f64::total_cmp);
                let line = json!({
                    "vectors": "built-in embedder, bench/load/gen.py items",
                    "n": n,
                    "ef_search": ef,
                    // This thread's CPU time per search: steadier than wall time on a busy machine.
                    "hnsw_cpu_mean_ms": cpu_mean_ms,
                    "hnsw_cpu_p50_ms": percentile(&cpu, 0.5),
                    "graph_precision": format!("{:?}", graph_options.graph_precision),
                    "exact_p50_ms": percentile(&exact_latency, 0.5),
                    "exact_p99_ms": percentile(&exact_latency, 0.99),
                    "hnsw_p50_ms": percentile(&latency, 0.5),
                    "hnsw_p99_ms": percentile(&latency, 0.99),
                    "recall_at_10": found as f64 / wanted.max(1) as f64,
                    "recall_at_10_with_ties": found_or_tied as f64 / wanted.max(1) as f64,
                    "m": graph_options.connectivity,
                    "ef_construction": graph_options.expansion_add,
                    "leading_half_graph": graph_options.leading_half_graph,
                    "build_s": build_seconds,
                    "load_now": load(),
                });
                println!("{line}");
            }
        }
    }

    /// See the crate documentation (`ann-scope`).
    pub(super) async fn run_scope(args: &[String]) {
        let [items, queries, n, groupings] = args else {
            eprintln!("usage: store_bench ann-scope ITEMS.jsonl QUERIES.txt N USERS[,USERS...]");
            std::process::exit(2);
        };
        let n: usize = n.parse().expect("N");
        let groupings: Vec<usize> = groupings.split(',').map(|g| g.parse().expect("USERS")).collect();
        let puts = read_puts(items, n);
        let queries = read_queries(queries, QUERIES);
        let embedder = agent_memory::embed::default_embedder();
        let options = StoreOptions { index_fields: IndexFields::paths(["text"]), ..StoreOptions::default() };
        for users_per_group in groupings {
            let group_of = |namespace: &[String]| {
                let user: usize = namespace[1].trim_start_matches("user-").parse().expect("user-NNN");
                format!("g{}", user / users_per_group)
            };
            let groups = 100usize.div_ceil(users_per_group);
            let scan_options = VectorIndexOptions { ann_min_vectors: usize::MAX, ..index_options() };
            let graph_options = VectorIndexOptions { ann_min_vectors: 1, exact_scope_max: 0, ..index_options() };
            let scan_backend = Arc::new(MemoryBackend::with_vector_index(scan_options));
            let graph_backend = Arc::new(MemoryBackend::with_vector_index(graph_options));
            let scan = MemoryStore::new(scan_backend.clone(), options.clone()).with_embedder(embedder.clone());
            let graph = MemoryStore::new(graph_backend.clone(), options.clone()).with_embedder(embedder.clone());
            for chunk in puts.chunks(1000) {
                let requests = || {
                    chunk
                        .iter()
                        .map(|(namespace, key, value)| {
                            let mut grouped = vec![group_of(namespace)];
                            grouped.extend(namespace[1..].iter().cloned());
                            PutRequest::new(grouped, key.clone(), value.clone())
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .expect("valid")
                };
                scan.put_many(requests()).await.expect("put_many");
                graph.put_many(requests()).await.expect("put_many");
            }
            scan_backend.wait_for_vector_index();
            graph_backend.wait_for_vector_index();
            wait_for_quiet();
            let search = |q: &str| SearchQuery::text(q).mode(SearchMode::Semantic).limit(10);
            let (mut scan_cpu, mut graph_cpu) = (Vec::new(), Vec::new());
            let (mut found, mut wanted) = (0usize, 0usize);
            for (number, q) in queries.iter().enumerate() {
                let scope = [format!("g{}", number % groups)];
                let started = thread_cpu_ms();
                let truth = scan.search(scope.clone(), search(q)).await.expect("search");
                scan_cpu.push(thread_cpu_ms() - started);
                let started = thread_cpu_ms();
                let hits = graph.search(scope, search(q)).await.expect("search");
                graph_cpu.push(thread_cpu_ms() - started);
                let keys: Vec<&str> = truth.iter().map(|hit| hit.item.key.as_str()).collect();
                found += hits.iter().filter(|hit| keys.contains(&hit.item.key.as_str())).count();
                wanted += keys.len();
            }
            let mean = |cpu: &[f64]| cpu.iter().sum::<f64>() / cpu.len().max(1) as f64;
            scan_cpu.sort_by(f64::total_cmp);
            graph_cpu.sort_by(f64::total_cmp);
            let line = json!({
                "vectors": "built-in embedder, bench/load/gen.py items",
                "n": n,
                "users_per_scope": users_per_group,
                "rows_per_scope": n / groups,
                "ef_search": graph_options.expansion_search,
                "scan_cpu_mean_ms": mean(&scan_cpu),
                "scan_cpu_p99_ms": percentile(&scan_cpu, 0.99),
                "graph_cpu_mean_ms": mean(&graph_cpu),
                "graph_cpu_p99_ms": percentile(&graph_cpu, 0.99),
                "graph_recall_at_10": found as f64 / wanted.max(1) as f64,
                "load_now": load(),
            });
            println!("{line}");
        }
    }

    /// The first `count` lines of a queries file (`bench/load/gen.py queries`).
    fn read_queries(path: &str, count: usize) -> Vec<String> {
        std::fs::read_to_string(path).expect("queries file").lines().take(count).map(str::to_owned).collect()
    }

    /// The first `n` puts of a `bench/load/gen.py items` file: (namespace, key, value).
    fn read_puts(items: &str, n: usize) -> Vec<(Vec<String>, String, serde_json::Value)> {
        let mut puts = Vec::new();
        for line in std::fs::read_to_string(items).expect("items file").lines() {
            let body: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            for op in body["ops"].as_array().into_iter().flatten().filter(|op| op["op"] == "put") {
                let namespace: Vec<String> = serde_json::from_value(op["namespace"].clone()).expect("namespace");
                let key = op["key"].as_str().expect("key").to_owned();
                puts.push((namespace, key, op["value"].clone()));
            }
        }
        assert!(puts.len() >= n, "{items} holds {} puts, fewer than {n}", puts.len());
        puts.truncate(n);
        puts
    }

    /// See the crate documentation (`fusion-depth`).
    pub(super) async fn run_fusion_depth(args: &[String]) {
        let [items, queries, n, depths] = args else {
            eprintln!("usage: store_bench fusion-depth ITEMS.jsonl QUERIES.txt N DEPTH[,DEPTH...]");
            std::process::exit(2);
        };
        let n: usize = n.parse().expect("N");
        let depths: Vec<usize> = depths.split(',').map(|d| d.parse().expect("DEPTH")).collect();
        let puts = read_puts(items, n);
        let queries = read_queries(queries, 1000);
        let embedder = agent_memory::embed::default_embedder();
        let backend = Arc::new(MemoryBackend::with_vector_index(index_options()));
        let store_with = |depth: usize| {
            let options = StoreOptions { hybrid_candidates: depth, ..StoreOptions::default() };
            MemoryStore::new(backend.clone(), options).with_embedder(embedder.clone())
        };
        let loader = store_with(100);
        for chunk in puts.chunks(1000) {
            let requests = chunk
                .iter()
                .map(|(ns, key, value)| PutRequest::new(ns.clone(), key.clone(), value.clone()))
                .collect::<Result<Vec<_>, _>>()
                .expect("valid");
            loader.put_many(requests).await.expect("put_many");
        }
        backend.wait_for_vector_index();
        let search = |q: &str| SearchQuery::text(q).mode(SearchMode::Hybrid).limit(10);
        let reference = store_with(REFERENCE_DEPTH);
        let mut truth = Vec::new();
        for q in &queries {
            let hits = reference.search(["users"], search(q)).await.expect("search");
            truth.push(hits.into_iter().map(|h| h.item.key).collect::<Vec<_>>());
        }
        for &depth in &depths {
            let store = store_with(depth);
            let (mut latency, mut cpu) = (Vec::new(), Vec::new());
            let (mut found, mut wanted, mut same_order) = (0usize, 0usize, 0usize);
            for (q, truth) in queries.iter().zip(&truth) {
                let (started, cpu_started) = (Instant::now(), thread_cpu_ms());
                let hits = store.search(["users"], search(q)).await.expect("search");
                cpu.push(thread_cpu_ms() - cpu_started);
                latency.push(started.elapsed().as_secs_f64() * 1e3);
                let keys: Vec<String> = hits.into_iter().map(|h| h.item.key).collect();
                found += keys.iter().filter(|k| truth.contains(k)).count();
                wanted += truth.len();
                same_order += usize::from(&keys == truth);
            }
            latency.sort_by(f64::total_cmp);
            cpu.sort_by(f64::total_cmp);
            let line = json!({
                "n": n,
                "queries": queries.len(),
                "depth": depth,
                "reference_depth": REFERENCE_DEPTH,
                "overlap_at_10": found as f64 / wanted.max(1) as f64,
                "same_top10_order": same_order as f64 / queries.len().max(1) as f64,
                "p50_ms": percentile(&latency, 0.5),
                "p99_ms": percentile(&latency, 0.99),
                "cpu_p50_ms": percentile(&cpu, 0.5),
                "load_now": load(),
            });
            println!("{line}");
        }
    }

    /// The index options, from the library's defaults and the environment (see the crate
    /// documentation).
    fn index_options() -> VectorIndexOptions {
        let mut options = VectorIndexOptions::default();
        let number = |name: &str| std::env::var(name).ok().map(|v| v.parse::<usize>().expect(name));
        match std::env::var("ANN_MIN_VECTORS").as_deref() {
            Ok("max") => options.ann_min_vectors = usize::MAX,
            Ok(n) => options.ann_min_vectors = n.parse().expect("ANN_MIN_VECTORS"),
            Err(_) => {}
        }
        if let Ok(precision) = std::env::var("ANN_PRECISION") {
            options.graph_precision = match precision.as_str() {
                "f32" => GraphPrecision::F32,
                "bf16" => GraphPrecision::BF16,
                "f16" => GraphPrecision::F16,
                "i8" => GraphPrecision::I8,
                other => panic!("ANN_PRECISION: {other}?"),
            };
        }
        options.connectivity = number("ANN_M").unwrap_or(options.connectivity);
        options.expansion_add = number("ANN_EF_CONSTRUCTION").unwrap_or(options.expansion_add);
        if let Ok(flag) = std::env::var("ANN_LEADING_HALF") {
            options.leading_half_graph = flag != "0";
        }
        options
    }

    fn load() -> String {
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').take(3).collect::<Vec<_>>().join(" ")
    }

    /// Waits until the 1-minute load average is at most `ANN_QUIET_LOAD` (when set), for at
    /// most `ANN_QUIET_WAIT_S` seconds.
    fn wait_for_quiet() {
        let Some(quiet) = std::env::var("ANN_QUIET_LOAD").ok().map(|v| v.parse::<f64>().expect("ANN_QUIET_LOAD"))
        else {
            return;
        };
        let wait = std::env::var("ANN_QUIET_WAIT_S").map_or(1800.0, |v| v.parse::<f64>().expect("ANN_QUIET_WAIT_S"));
        let started = Instant::now();
        let one_minute = || load().split(' ').next().and_then(|l| l.parse::<f64>().ok()).unwrap_or(0.0);
        while one_minute() > quiet && started.elapsed().as_secs_f64() < wait {
            std::thread::sleep(std::time::Duration::from_secs(5));
        }
        eprintln!("ann: searching at load {} after waiting {:.0} s", load(), started.elapsed().as_secs_f64());
    }

    /// The CPU time this thread has used, in milliseconds.
    fn thread_cpu_ms() -> f64 {
        let time = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        time.tv_sec as f64 * 1e3 + time.tv_nsec as f64 / 1e6
    }

    pub(super) async fn run(args: &[String]) {
        let [n, dims, efs] = args else {
            eprintln!("usage: store_bench ann N DIMS EF[,EF...]");
            std::process::exit(2);
        };
        let (n, dims): (usize, usize) = (n.parse().expect("N"), dims.parse().expect("DIMS"));
        let efs: Vec<usize> = efs.split(',').map(|e| e.parse().expect("EF")).collect();
        let load_before = load();
        let mut rng = StdRng::seed_from_u64(42);
        let centers: Vec<Vec<f32>> = (0..CLUSTERS).map(|_| (0..dims).map(|_| normal(&mut rng)).collect()).collect();
        let queries = points(&mut rng, &centers, QUERIES, dims);
        let lookup = Arc::new(BatchLookup { dims, batch: RwLock::new((0, Vec::new())), queries: queries.clone() });
        let index_options = index_options();
        let backend = Arc::new(MemoryBackend::with_vector_index(index_options));
        let options = StoreOptions { index_fields: IndexFields::paths(["doc"]), ..StoreOptions::default() };
        let store = MemoryStore::new(backend.clone(), options).with_embedder(lookup.clone());
        let ns = ("bench", "items");

        // Build: batches of 10k; the exact top 10 of every query (all, and bucket 7 only)
        // is kept up to date on the side (not timed).
        let mut exact = vec![Top10::default(); QUERIES];
        let mut exact_filtered = vec![Top10::default(); QUERIES];
        let mut put_seconds = 0.0;
        let mut truth_seconds = 0.0;
        let mut base = 0;
        let build_started = Instant::now();
        while base < n {
            let count = BATCH.min(n - base);
            let batch = points(&mut rng, &centers, count, dims);
            let norms: Vec<f32> = batch.chunks_exact(dims).map(vector::norm).collect();
            let truth_started = Instant::now();
            std::thread::scope(|scope| {
                for (part, (tops, tops_filtered)) in
                    exact.chunks_mut(QUERIES / 2).zip(exact_filtered.chunks_mut(QUERIES / 2)).enumerate()
                {
                    let (batch, norms, queries) = (&batch, &norms, &queries);
                    scope.spawn(move || {
                        for (j, (top, top_filtered)) in tops.iter_mut().zip(tops_filtered.iter_mut()).enumerate() {
                            let q = &queries[(part * (QUERIES / 2) + j) * dims..][..dims];
                            let qn = vector::norm(q);
                            for (i, row) in batch.chunks_exact(dims).enumerate() {
                                let score = vector::cosine(row, norms[i], q, qn);
                                top.offer(score, base + i);
                                if (base + i) % BUCKETS == 7 {
                                    top_filtered.offer(score, base + i);
                                }
                            }
                        }
                    });
                }
            });
            truth_seconds += truth_started.elapsed().as_secs_f64();
            *lookup.batch.write().expect("lock") = (base, batch);
            let writes = (base..base + count)
                .map(|i| {
                    PutRequest::new(ns, format!("k{i}"), json!({"doc": format!("doc {i}"), "bucket": i % BUCKETS}))
                })
                .collect::<Result<Vec<_>, _>>()
                .expect("valid");
            let started = Instant::now();
            store.put_many(writes).await.expect("put_many");
            put_seconds += started.elapsed().as_secs_f64();
            base += count;
        }
        backend.wait_for_vector_index();
        let build_seconds = build_started.elapsed().as_secs_f64();
        let build_rss = super::peak_rss_mb();
        let load_after_build = load();
        wait_for_quiet();

        let filter = Filter::from_json(&json!({"bucket": 7})).expect("filter");
        for ef in efs {
            backend.set_expansion_search(ef);
            for (label, filtered, truth) in [("all", false, &exact), ("bucket=7 (1%)", true, &exact_filtered)] {
                let mut latency = Vec::with_capacity(QUERIES);
                let mut cpu = Vec::with_capacity(QUERIES);
                let load_at_search = load();
                let mut found = 0usize;
                for (q, truth) in truth.iter().enumerate() {
                    let mut query = SearchQuery::text(format!("query {q}")).mode(SearchMode::Semantic).limit(10);
                    if filtered {
                        query = query.filter(filter.clone());
                    }
                    let (started, cpu_started) = (Instant::now(), thread_cpu_ms());
                    let hits = store.search(ns, query).await.expect("search");
                    latency.push(started.elapsed().as_secs_f64() * 1e3);
                    cpu.push(thread_cpu_ms() - cpu_started);
                    assert_eq!(hits.len(), 10);
                    found +=
                        hits.iter().filter(|h| truth.0.iter().any(|&(_, doc)| h.item.key == format!("k{doc}"))).count();
                }
                latency.sort_by(f64::total_cmp);
                cpu.sort_by(f64::total_cmp);
                let line = json!({
                    "store": if index_options.ann_min_vectors <= n { "agent-memory memory (HNSW)" } else { "agent-memory memory (exact)" },
                    "n": n,
                    "dims": dims,
                    "search": label,
                    "ef_search": ef,
                    "ann_min_vectors": index_options.ann_min_vectors,
                    "graph_precision": format!("{:?}", index_options.graph_precision),
                    "m": index_options.connectivity,
                    "ef_construction": index_options.expansion_add,
                    "build_s": build_seconds,
                    "truth_s": truth_seconds,
                    "put_s": put_seconds,
                    "put_batch_per_s": n as f64 / put_seconds,
                    "search_p50_ms": percentile(&latency, 0.5),
                    "search_p99_ms": percentile(&latency, 0.99),
                    "search_cpu_p50_ms": percentile(&cpu, 0.5),
                    "search_cpu_p99_ms": percentile(&cpu, 0.99),
                    "recall_at_10": found as f64 / (10 * QUERIES) as f64,
                    "peak_rss_mb_after_build": build_rss,
                    "load_at_search": load_at_search,
                    "peak_rss_mb": super::peak_rss_mb(),
                    "load_before": load_before,
                    "load_after_build": load_after_build,
                    "load_now": load(),
                });
                println!("{line}");
            }
        }
    }
}
