//! Local BERT-family sentence-transformers models (all-MiniLM-L6-v2, bge-small-en-v1.5,
//! e5-small-v2, …) run in-process with candle on the CPU.
//!
//! A model is a sentence-transformers folder: `config.json`, `model.safetensors`,
//! `tokenizer.json`, and optionally `modules.json`, `1_Pooling/config.json` and
//! `sentence_bert_config.json`, which decide the pooling, the normalization and the
//! longest input, as in Python. [`resolve_model_dir`] finds such a folder by name in the
//! HuggingFace cache; nothing is ever downloaded.
//!
//! The forward pass is this crate's own (`encoder.rs`): a batch's tokens are packed without
//! padding, the linear layers are single matrix products through candle's `gemm` kernels,
//! and worker threads (one per core) each run whole batches, so they never wait for each
//! other. On 2 shared cores it costs about 7 ms of CPU per short sentence, like PyTorch at
//! one thread, and keeps that under load where PyTorch's default threads spin
//! (`bench/embed/README.md`). `CANDLE_NUM_THREADS` has no effect on it; use
//! [`SentenceTransformer::with_threads`].

mod encoder;
mod resolve;
mod workers;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use candle_core::Device;
use candle_transformers::models::bert::Config as BertConfig;
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationParams};

use encoder::{Encoder, Tokens};
use workers::Workers;

pub use resolve::resolve_model_dir;
pub(crate) use resolve::resolve_model_dir_with_env;

use super::{EmbedError, Embedder};

/// How token vectors become one sentence vector (`1_Pooling/config.json`). Several modes
/// are concatenated in sentence-transformers' order: CLS, max, mean, mean/√len.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pooling {
    /// The first token's vector.
    Cls,
    /// The element-wise maximum over real tokens.
    Max,
    /// The mean over real tokens.
    Mean,
    /// The sum over real tokens divided by the square root of their count.
    MeanSqrtLen,
}

#[derive(Debug, Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

#[derive(Debug, Deserialize)]
struct ModuleEntry {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

/// A sentence-transformers BERT model loaded in memory.
///
/// Texts are sorted by length and run in batches (32 by default) through a BERT forward
/// pass that packs the batch's tokens without padding (see [`SentenceTransformer::embed_blocking`]).
/// Batches run in parallel on [`SentenceTransformer::threads`] worker threads (one per
/// core by default), each batch on one thread from start to end, so that threads never
/// wait for each other inside a forward pass: on a loaded machine this keeps the speed
/// proportional to the CPU time it gets. The async [`Embedder::embed`] runs on tokio's
/// blocking pool, so it never stalls the runtime.
///
/// ```no_run
/// use agent_memory::embed::local::{resolve_model_dir, SentenceTransformer};
///
/// let model = SentenceTransformer::load(&resolve_model_dir("all-MiniLM-L6-v2")?)?;
/// let vectors = model.embed_blocking(&["The cat sits on the mat.", "A kitten rests on a rug."])?;
/// assert_eq!(vectors[0].len(), 384);
/// # Ok::<(), agent_memory::embed::EmbedError>(())
/// ```
#[derive(Clone)]
pub struct SentenceTransformer {
    inner: Arc<Inner>,
    workers: Arc<Workers>,
    batch_size: usize,
}

struct Inner {
    encoder: Encoder,
    tokenizer: Tokenizer,
    pooling: Vec<Pooling>,
    normalize: bool,
    max_seq_length: usize,
    dimensions: usize,
    model_id: String,
}

impl fmt::Debug for SentenceTransformer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentenceTransformer")
            .field("model_id", &self.inner.model_id)
            .field("dimensions", &self.inner.dimensions)
            .field("pooling", &self.inner.pooling)
            .field("normalize", &self.inner.normalize)
            .field("max_seq_length", &self.inner.max_seq_length)
            .field("batch_size", &self.batch_size)
            .field("threads", &self.workers.len())
            .finish()
    }
}

fn model_error(dir: &Path, what: &str, e: impl fmt::Display) -> EmbedError {
    EmbedError::Model(format!("{}: {what}: {e}", dir.display()))
}

fn read_json<T: serde::de::DeserializeOwned>(dir: &Path, file: &str) -> Result<Option<T>, EmbedError> {
    let path = dir.join(file);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| model_error(dir, &format!("cannot read {file}"), e))?;
    serde_json::from_str(&text).map(Some).map_err(|e| model_error(dir, &format!("invalid {file}"), e))
}

impl SentenceTransformer {
    /// Loads the model in `dir` (see the module documentation for the files it reads).
    ///
    /// The model id is `local/<folder name>`, where the folder name of a HuggingFace cache
    /// snapshot is the repository's name (`local/all-MiniLM-L6-v2`).
    ///
    /// # Errors
    ///
    /// [`EmbedError::Model`] when a file is missing or malformed, the architecture is not
    /// BERT, or the pooling mode is one this crate does not implement.
    pub fn load(dir: &Path) -> Result<SentenceTransformer, EmbedError> {
        let config: BertConfig = read_json(dir, "config.json")?
            .ok_or_else(|| model_error(dir, "not a model folder", "config.json is missing"))?;
        let raw_config: serde_json::Value = read_json(dir, "config.json")?.unwrap_or_default();
        if let Some(model_type) = raw_config.get("model_type").and_then(|t| t.as_str())
            && model_type != "bert"
        {
            return Err(model_error(dir, "unsupported architecture", format!("`{model_type}` (only BERT is)")));
        }

        let modules: Vec<ModuleEntry> = read_json(dir, "modules.json")?.unwrap_or_default();
        let pooling_dir = modules
            .iter()
            .find(|m| m.kind.ends_with("models.Pooling"))
            .map_or_else(|| "1_Pooling".to_owned(), |m| m.path.clone());
        let pooling = match read_json::<PoolingConfig>(dir, &format!("{pooling_dir}/config.json"))? {
            Some(config) => pooling_modes(&config).map_err(|e| model_error(dir, "pooling", e))?,
            None => vec![Pooling::Mean],
        };
        let normalize = modules.iter().any(|m| m.kind.ends_with("models.Normalize"));
        let max_seq_length = read_json::<SentenceBertConfig>(dir, "sentence_bert_config.json")?
            .and_then(|c| c.max_seq_length)
            .unwrap_or(512)
            .min(config.max_position_embeddings);

        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| model_error(dir, "cannot load tokenizer.json", e))?;
        // The encoder packs sentences without padding.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max_seq_length, ..TruncationParams::default() }))
            .map_err(|e| model_error(dir, "tokenizer truncation", e))?;

        let weights = std::fs::read(dir.join("model.safetensors"))
            .map_err(|e| model_error(dir, "cannot read model.safetensors", e))?;
        let tensors = candle_core::safetensors::load_buffer(&weights, &Device::Cpu)
            .map_err(|e| model_error(dir, "invalid model.safetensors", e))?;
        drop(weights);
        let encoder =
            Encoder::load(tensors, &config).map_err(|e| model_error(dir, "cannot build the BERT model", e))?;

        let dimensions = config.hidden_size * pooling.len();
        let model_id = format!("local/{}", model_name(dir));
        tracing::debug!(%model_id, dimensions, ?pooling, normalize, max_seq_length, "loaded local embedding model");
        Ok(SentenceTransformer {
            inner: Arc::new(Inner { encoder, tokenizer, pooling, normalize, max_seq_length, dimensions, model_id }),
            workers: Arc::new(Workers::new(default_threads())),
            batch_size: 32,
        })
    }

    /// At most `batch_size` texts per forward pass (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> SentenceTransformer {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Runs batches on `threads` worker threads (at least 1). The default is one per core
    /// available to the process ([`std::thread::available_parallelism`]).
    pub fn with_threads(mut self, threads: usize) -> SentenceTransformer {
        self.workers = Arc::new(Workers::new(threads.max(1)));
        self
    }

    /// How many worker threads run batches.
    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    /// The pooling modes read from the model folder.
    pub fn pooling(&self) -> &[Pooling] {
        &self.inner.pooling
    }

    /// Whether vectors are L2-normalized (a `Normalize` module in `modules.json`).
    pub fn normalizes(&self) -> bool {
        self.inner.normalize
    }

    /// The longest input in tokens; longer texts are truncated.
    pub fn max_seq_length(&self) -> usize {
        self.inner.max_seq_length
    }

    /// Embeds `texts`, blocking the calling thread until all are done.
    ///
    /// Texts are sorted by length (so that a batch holds texts of similar length) and cut
    /// into batches of at most [`with_batch_size`](Self::with_batch_size) texts, smaller
    /// when there are too few texts to give every worker thread one; each worker takes the
    /// next batch until none is left. Texts longer than
    /// [`max_seq_length`](Self::max_seq_length) tokens are truncated.
    ///
    /// # Errors
    ///
    /// [`EmbedError::Model`] when tokenization or the forward pass fails.
    pub fn embed_blocking<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let texts: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
        let per_worker = texts.len().div_ceil(self.workers.len()).max(1);
        let batches: Vec<&[usize]> = order.chunks(self.batch_size.min(per_worker)).collect();
        let inner = &self.inner;
        let done = self
            .workers
            .run(batches.len(), |b| {
                let batch: Vec<&str> = batches[b].iter().map(|&i| texts[i]).collect();
                inner.embed_batch(&batch)
            })
            .map_err(|e| EmbedError::Model(format!("{}: {e}", inner.model_id)))?;
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for (b, vectors) in done {
            for (&i, vector) in batches[b].iter().zip(vectors) {
                out[i] = vector;
            }
        }
        Ok(out)
    }
}

/// One worker per core the process may use.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

impl Inner {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        let encodings = texts
            .iter()
            .map(|&text| self.tokenizer.encode(text, true))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("tokenizer: {e}"))?;
        let tokens: Vec<Tokens<'_>> =
            encodings.iter().map(|e| Tokens { ids: e.get_ids(), type_ids: e.get_type_ids() }).collect();
        let (hidden, offsets) = self.encoder.forward(&tokens).map_err(|e| format!("forward pass: {e}"))?;
        let width = self.encoder.hidden_size();
        Ok(offsets.windows(2).map(|rows| self.pool(&hidden[rows[0] * width..rows[1] * width], width)).collect())
    }

    /// One sentence's vector from its token vectors (`tokens`: `[len, width]`, no padding).
    fn pool(&self, tokens: &[f32], width: usize) -> Vec<f32> {
        let len = tokens.len() / width;
        let mut pooled = Vec::with_capacity(width * self.pooling.len());
        for mode in &self.pooling {
            let start = pooled.len();
            match mode {
                Pooling::Cls => pooled.extend_from_slice(tokens.get(..width).unwrap_or(&vec![0.0; width])),
                Pooling::Max if len > 0 => {
                    pooled.extend_from_slice(&tokens[..width]);
                    for row in tokens.chunks_exact(width).skip(1) {
                        for (m, v) in pooled[start..].iter_mut().zip(row) {
                            *m = m.max(*v);
                        }
                    }
                }
                Pooling::Max => pooled.resize(start + width, 0.0),
                Pooling::Mean | Pooling::MeanSqrtLen => {
                    pooled.resize(start + width, 0.0);
                    for row in tokens.chunks_exact(width) {
                        for (s, v) in pooled[start..].iter_mut().zip(row) {
                            *s += v;
                        }
                    }
                    let divisor = if *mode == Pooling::Mean { len as f32 } else { (len as f32).sqrt() };
                    for s in &mut pooled[start..] {
                        *s /= divisor.max(1e-9);
                    }
                }
            }
        }
        if self.normalize {
            let norm = pooled.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            for v in &mut pooled {
                *v /= norm;
            }
        }
        pooled
    }
}

fn pooling_modes(config: &PoolingConfig) -> Result<Vec<Pooling>, String> {
    if config.pooling_mode_weightedmean_tokens || config.pooling_mode_lasttoken {
        return Err("weighted-mean and last-token pooling are not supported".to_owned());
    }
    let modes: Vec<Pooling> = [
        (config.pooling_mode_cls_token, Pooling::Cls),
        (config.pooling_mode_max_tokens, Pooling::Max),
        (config.pooling_mode_mean_tokens, Pooling::Mean),
        (config.pooling_mode_mean_sqrt_len_tokens, Pooling::MeanSqrtLen),
    ]
    .into_iter()
    .filter_map(|(on, mode)| on.then_some(mode))
    .collect();
    if modes.is_empty() {
        return Err("1_Pooling/config.json enables no pooling mode".to_owned());
    }
    Ok(modes)
}

/// `all-MiniLM-L6-v2` for both `…/all-MiniLM-L6-v2` and
/// `…/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/<rev>`.
fn model_name(dir: &Path) -> String {
    let components: Vec<String> =
        dir.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).filter(|c| c != ".").collect();
    let n = components.len();
    if n >= 3
        && components[n - 2] == "snapshots"
        && let Some(repo) = components[n - 3].strip_prefix("models--")
    {
        return repo.rsplit("--").next().unwrap_or(repo).to_owned();
    }
    components.last().cloned().unwrap_or_else(|| "model".to_owned())
}

#[async_trait::async_trait]
impl Embedder for SentenceTransformer {
    fn model_id(&self) -> &str {
        &self.inner.model_id
    }

    fn dimensions(&self) -> usize {
        self.inner.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let this = self.clone();
                let texts = texts.to_vec();
                handle.spawn_blocking(move || this.embed_blocking(&texts)).await.map_err(|e| {
                    EmbedError::Model(format!("{}: the embedding task failed: {e}", self.inner.model_id))
                })?
            }
            Err(_) => self.embed_blocking(texts),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pooling_modes_follow_sentence_transformers_order() {
        let config = |cls, max, mean, sqrt| PoolingConfig {
            pooling_mode_cls_token: cls,
            pooling_mode_max_tokens: max,
            pooling_mode_mean_tokens: mean,
            pooling_mode_mean_sqrt_len_tokens: sqrt,
            pooling_mode_weightedmean_tokens: false,
            pooling_mode_lasttoken: false,
        };
        assert_eq!(pooling_modes(&config(false, false, true, false)), Ok(vec![Pooling::Mean]));
        assert_eq!(pooling_modes(&config(true, false, false, false)), Ok(vec![Pooling::Cls]));
        assert_eq!(pooling_modes(&config(true, true, true, true)).map(|m| m.len()), Ok(4));
        assert!(pooling_modes(&config(false, false, false, false)).is_err());
    }

    #[test]
    fn model_names_from_folders_and_hub_snapshots() {
        assert_eq!(model_name(Path::new("/m/all-MiniLM-L6-v2")), "all-MiniLM-L6-v2");
        assert_eq!(
            model_name(Path::new("/hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/abc")),
            "all-MiniLM-L6-v2"
        );
        assert_eq!(model_name(Path::new("/hub/models--BAAI--bge-small-en-v1.5/snapshots/1")), "bge-small-en-v1.5");
    }
}
