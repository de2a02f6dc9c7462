//! Local BERT-family sentence-transformers models (all-MiniLM-L6-v2, bge-small-en-v1.5,
//! e5-small-v2, …) run in-process with candle on the CPU.
//!
//! A model is a sentence-transformers folder: `config.json`, `model.safetensors`,
//! `tokenizer.json`, and optionally `modules.json`, `1_Pooling/config.json` and
//! `sentence_bert_config.json`, which decide the pooling, the normalization and the
//! longest input, as in Python. [`resolve_model_dir`] finds such a folder by name in the
//! HuggingFace cache; nothing is ever downloaded.

mod resolve;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use candle_core::{D, DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use serde::Deserialize;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

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
/// Texts are tokenized, sorted by length and run in batches (32 by default) so that little
/// padding is computed; candle spreads each batch's matrix products over the CPU's cores
/// (`CANDLE_NUM_THREADS` caps them). The async [`Embedder::embed`] runs on tokio's blocking
/// pool, so it never stalls the runtime.
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
    batch_size: usize,
}

struct Inner {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
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
        let pad_id = tokenizer.token_to_id("[PAD]").unwrap_or(config.pad_token_id as u32);
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id,
            pad_token: "[PAD]".to_owned(),
            ..PaddingParams::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max_seq_length, ..TruncationParams::default() }))
            .map_err(|e| model_error(dir, "tokenizer truncation", e))?;

        let device = Device::Cpu;
        let weights_path = dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path).map_err(|e| model_error(dir, "cannot read model.safetensors", e))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|e| model_error(dir, "invalid model.safetensors", e))?;
        let model = BertModel::load(vb, &config).map_err(|e| model_error(dir, "cannot build the BERT model", e))?;

        let dimensions = config.hidden_size * pooling.len();
        let model_id = format!("local/{}", model_name(dir));
        tracing::debug!(%model_id, dimensions, ?pooling, normalize, max_seq_length, "loaded local embedding model");
        Ok(SentenceTransformer {
            inner: Arc::new(Inner {
                model,
                tokenizer,
                device,
                pooling,
                normalize,
                max_seq_length,
                dimensions,
                model_id,
            }),
            batch_size: 32,
        })
    }

    /// At most `batch_size` texts per forward pass (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> SentenceTransformer {
        self.batch_size = batch_size.max(1);
        self
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

    /// Embeds `texts` on the calling thread.
    ///
    /// # Errors
    ///
    /// [`EmbedError::Model`] when tokenization or the forward pass fails.
    pub fn embed_blocking<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let inner = &self.inner;
        // Sort by length so that each batch pads little; restore the order at the end.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(texts[i].as_ref().len()));
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(self.batch_size) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i].as_ref()).collect();
            let vectors =
                inner.embed_batch(&batch).map_err(|e| EmbedError::Model(format!("{}: {e}", inner.model_id)))?;
            for (&i, vector) in chunk.iter().zip(vectors) {
                out[i] = vector;
            }
        }
        Ok(out)
    }
}

impl Inner {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        let encodings = self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| format!("tokenizer: {e}"))?;
        let batch = encodings.len();
        let len = encodings.first().map_or(0, |e| e.get_ids().len());
        let flat = |get: fn(&tokenizers::Encoding) -> &[u32]| -> Vec<u32> {
            encodings.iter().flat_map(|e| get(e).iter().copied()).collect()
        };
        let tensor = |data: Vec<u32>| Tensor::from_vec(data, (batch, len), &self.device).map_err(|e| e.to_string());
        let ids = tensor(flat(tokenizers::Encoding::get_ids))?;
        let type_ids = tensor(flat(tokenizers::Encoding::get_type_ids))?;
        let mask = tensor(flat(tokenizers::Encoding::get_attention_mask))?;
        let hidden = self.model.forward(&ids, &type_ids, Some(&mask)).map_err(|e| format!("forward pass: {e}"))?;
        let pooled = self.pool(&hidden, &mask).map_err(|e| format!("pooling: {e}"))?;
        pooled.to_vec2::<f32>().map_err(|e| e.to_string())
    }

    fn pool(&self, hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // [batch, len, 1]
        let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?; // [batch, 1]
        let summed = || hidden.broadcast_mul(&mask)?.sum(1);
        let mut parts = Vec::with_capacity(self.pooling.len());
        for mode in &self.pooling {
            parts.push(match mode {
                Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
                Pooling::Max => {
                    // Padding positions get -1e9, as in sentence-transformers.
                    let penalty = ((&mask - 1.0)? * 1e9)?;
                    hidden.broadcast_add(&penalty)?.max(1)?
                }
                Pooling::Mean => summed()?.broadcast_div(&counts)?,
                Pooling::MeanSqrtLen => summed()?.broadcast_div(&counts.sqrt()?)?,
            });
        }
        let pooled = if parts.len() == 1 { parts.remove(0) } else { Tensor::cat(&parts, 1)? };
        if !self.normalize {
            return Ok(pooled);
        }
        let norms = pooled.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
        pooled.broadcast_div(&norms)
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
