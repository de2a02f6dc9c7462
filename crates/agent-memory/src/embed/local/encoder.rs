//! The BERT encoder's forward pass for inference on the CPU, shaped for sentence embedding
//! of short texts.
//!
//! * **No padding.** The tokens of a batch's sentences are packed one after the other: the
//!   linear layers run once on all of them (one matrix product each, through candle's
//!   `gemm` kernels), and attention runs per sentence over its own tokens only, so no work
//!   is spent on padding and no mask is needed.
//! * **No synchronisation inside a forward pass.** A caller runs each forward pass on one
//!   thread (see [`super::workers`]); parallelism comes from several batches at once. Under
//!   load (a shared 2-core machine), threads never spin waiting for each other.
//! * **Fused element-wise work.** Bias, residual, layer normalization and GELU are applied
//!   in place on plain slices, without a tensor per step.
//!
//! It computes what `candle_transformers::models::bert::BertModel` computes (absolute
//! position embeddings, post-layer-norm, GELU, ReLU or tanh-GELU) and what PyTorch
//! computes for the same weights, to float rounding.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::bert::{Config as BertConfig, HiddenAct};

/// One sentence's tokens, as the tokenizer gives them.
pub(super) struct Tokens<'a> {
    pub(super) ids: &'a [u32],
    pub(super) type_ids: &'a [u32],
}

/// A dense layer `x · Wᵀ + b`; `weight_t` holds `Wᵀ` (`[in, out]`, contiguous).
struct Dense {
    weight_t: Tensor,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

struct LayerNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Layer {
    /// Query, key and value in one product: `[hidden, 3 · hidden]`.
    qkv: Dense,
    attention_out: Dense,
    attention_norm: LayerNorm,
    intermediate: Dense,
    output: Dense,
    output_norm: LayerNorm,
}

/// The weights of a BERT encoder, ready for [`Encoder::forward`].
pub(super) struct Encoder {
    hidden: usize,
    heads: usize,
    vocab: usize,
    type_vocab: usize,
    max_positions: usize,
    eps: f32,
    activation: HiddenAct,
    word_embeddings: Vec<f32>,
    position_embeddings: Vec<f32>,
    token_type_embeddings: Vec<f32>,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
}

/// Looks tensors up by their name in a sentence-transformers file (`embeddings.…`) or a
/// HuggingFace `BertModel`/`BertFor…` one (`bert.embeddings.…`).
struct Weights(HashMap<String, Tensor>);

impl Weights {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Tensor, String> {
        let tensor = self
            .0
            .remove(name)
            .or_else(|| self.0.remove(&format!("bert.{name}")))
            .ok_or_else(|| format!("tensor `{name}` is missing"))?;
        if tensor.dims() != shape {
            return Err(format!("tensor `{name}` has shape {:?}, expected {shape:?}", tensor.dims()));
        }
        tensor.to_dtype(DType::F32).map_err(|e| format!("tensor `{name}`: {e}"))
    }

    fn vector(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
        self.take(name, shape)?.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(|e| format!("`{name}`: {e}"))
    }

    /// A dense layer from one or more `[out_i, inputs]` weights stacked along the outputs.
    fn dense(&mut self, prefixes: &[&str], outputs: usize, inputs: usize) -> Result<Dense, String> {
        let mut weights = Vec::with_capacity(prefixes.len());
        let mut bias = Vec::with_capacity(outputs * prefixes.len());
        for prefix in prefixes {
            weights.push(self.take(&format!("{prefix}.weight"), &[outputs, inputs])?);
            bias.extend(self.vector(&format!("{prefix}.bias"), &[outputs])?);
        }
        let weight_t = Tensor::cat(&weights, 0)
            .and_then(|w| w.t())
            .and_then(|w| w.contiguous())
            .map_err(|e| format!("{}: {e}", prefixes.join(", ")))?;
        Ok(Dense { weight_t, bias, inputs, outputs: outputs * prefixes.len() })
    }

    fn layer_norm(&mut self, prefix: &str, size: usize) -> Result<LayerNorm, String> {
        // Old checkpoints name the parameters gamma/beta.
        let gamma = self
            .vector(&format!("{prefix}.weight"), &[size])
            .or_else(|_| self.vector(&format!("{prefix}.gamma"), &[size]))?;
        let beta = self
            .vector(&format!("{prefix}.bias"), &[size])
            .or_else(|_| self.vector(&format!("{prefix}.beta"), &[size]))?;
        Ok(LayerNorm { gamma, beta })
    }
}

impl Encoder {
    /// Builds the encoder from the tensors of a `model.safetensors` file.
    pub(super) fn load(tensors: HashMap<String, Tensor>, config: &BertConfig) -> Result<Encoder, String> {
        let hidden = config.hidden_size;
        let heads = config.num_attention_heads;
        if heads == 0 || !hidden.is_multiple_of(heads) {
            return Err(format!("hidden size {hidden} is not a multiple of {heads} attention heads"));
        }
        let inter = config.intermediate_size;
        let mut weights = Weights(tensors);
        let word_embeddings = weights.vector("embeddings.word_embeddings.weight", &[config.vocab_size, hidden])?;
        let position_embeddings =
            weights.vector("embeddings.position_embeddings.weight", &[config.max_position_embeddings, hidden])?;
        let token_type_embeddings =
            weights.vector("embeddings.token_type_embeddings.weight", &[config.type_vocab_size, hidden])?;
        let embedding_norm = weights.layer_norm("embeddings.LayerNorm", hidden)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let attention = format!("{p}.attention.self");
            layers.push(Layer {
                qkv: weights.dense(
                    &[&format!("{attention}.query"), &format!("{attention}.key"), &format!("{attention}.value")],
                    hidden,
                    hidden,
                )?,
                attention_out: weights.dense(&[&format!("{p}.attention.output.dense")], hidden, hidden)?,
                attention_norm: weights.layer_norm(&format!("{p}.attention.output.LayerNorm"), hidden)?,
                intermediate: weights.dense(&[&format!("{p}.intermediate.dense")], inter, hidden)?,
                output: weights.dense(&[&format!("{p}.output.dense")], hidden, inter)?,
                output_norm: weights.layer_norm(&format!("{p}.output.LayerNorm"), hidden)?,
            });
        }
        Ok(Encoder {
            hidden,
            heads,
            vocab: config.vocab_size,
            type_vocab: config.type_vocab_size,
            max_positions: config.max_position_embeddings,
            eps: config.layer_norm_eps as f32,
            activation: config.hidden_act,
            word_embeddings,
            position_embeddings,
            token_type_embeddings,
            embedding_norm,
            layers,
        })
    }

    /// The width of every token vector.
    pub(super) fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// The last layer's token vectors of every sentence, packed: sentence `i` owns rows
    /// `offsets[i]..offsets[i + 1]` of the returned `[tokens, hidden]` matrix.
    pub(super) fn forward(&self, sentences: &[Tokens<'_>]) -> Result<(Vec<f32>, Vec<usize>), String> {
        let h = self.hidden;
        let mut offsets = Vec::with_capacity(sentences.len() + 1);
        offsets.push(0);
        for s in sentences {
            if s.ids.len() > self.max_positions {
                return Err(format!("{} tokens exceed the model's {} positions", s.ids.len(), self.max_positions));
            }
            offsets.push(offsets.last().copied().unwrap_or(0) + s.ids.len());
        }
        let rows = offsets.last().copied().unwrap_or(0);
        let mut x = vec![0.0f32; rows * h];
        for (s, &start) in sentences.iter().zip(&offsets) {
            for (pos, (&id, &type_id)) in s.ids.iter().zip(s.type_ids).enumerate() {
                let (id, type_id) = (id as usize, type_id as usize);
                if id >= self.vocab || type_id >= self.type_vocab {
                    return Err(format!("token id {id} (type {type_id}) is outside the model's vocabulary"));
                }
                let row = &mut x[(start + pos) * h..(start + pos + 1) * h];
                let word = &self.word_embeddings[id * h..(id + 1) * h];
                let position = &self.position_embeddings[pos * h..(pos + 1) * h];
                let kind = &self.token_type_embeddings[type_id * h..(type_id + 1) * h];
                for (i, v) in row.iter_mut().enumerate() {
                    *v = word[i] + kind[i] + position[i];
                }
            }
        }
        self.embedding_norm.apply(&mut x, self.eps);

        let mut context = vec![0.0f32; rows * h];
        let mut scores = Vec::new();
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&x, rows)?;
            self.attention(&qkv, &offsets, &mut context, &mut scores);
            let mut attended = layer.attention_out.forward(&context, rows)?;
            add_assign(&mut attended, &x);
            layer.attention_norm.apply(&mut attended, self.eps);
            let mut inner = layer.intermediate.forward(&attended, rows)?;
            activate(self.activation, &mut inner);
            x = layer.output.forward(&inner, rows)?;
            add_assign(&mut x, &attended);
            layer.output_norm.apply(&mut x, self.eps);
        }
        Ok((x, offsets))
    }

    /// Multi-head self-attention of every sentence over its own tokens; `qkv` rows are
    /// `[query | key | value]`, the result goes to `context` (`[tokens, hidden]`).
    fn attention(&self, qkv: &[f32], offsets: &[usize], context: &mut [f32], scores: &mut Vec<f32>) {
        let h = self.hidden;
        let d = h / self.heads;
        let scale = 1.0 / (d as f32).sqrt();
        for bounds in offsets.windows(2) {
            let (start, len) = (bounds[0], bounds[1] - bounds[0]);
            scores.resize(len, 0.0);
            for head in 0..self.heads {
                let (q_at, k_at, v_at) = (head * d, h + head * d, 2 * h + head * d);
                for i in 0..len {
                    let query = &qkv[(start + i) * 3 * h + q_at..][..d];
                    for (j, score) in scores.iter_mut().enumerate() {
                        let key = &qkv[(start + j) * 3 * h + k_at..][..d];
                        *score = dot(query, key) * scale;
                    }
                    softmax(scores);
                    let out = &mut context[(start + i) * h + head * d..][..d];
                    out.fill(0.0);
                    for (j, &p) in scores.iter().enumerate() {
                        let value = &qkv[(start + j) * 3 * h + v_at..][..d];
                        for (o, v) in out.iter_mut().zip(value) {
                            *o += p * v;
                        }
                    }
                }
            }
        }
    }
}

impl Dense {
    fn forward(&self, x: &[f32], rows: usize) -> Result<Vec<f32>, String> {
        let input = Tensor::from_slice(x, (rows, self.inputs), &Device::Cpu).map_err(|e| e.to_string())?;
        let mut y = input
            .matmul(&self.weight_t)
            .and_then(|y| y.flatten_all())
            .and_then(|y| y.to_vec1::<f32>())
            .map_err(|e| format!("matrix product: {e}"))?;
        for row in y.chunks_exact_mut(self.outputs) {
            add_assign(row, &self.bias);
        }
        Ok(y)
    }
}

impl LayerNorm {
    /// Normalizes every row of `x` in place (biased variance, as PyTorch).
    fn apply(&self, x: &mut [f32], eps: f32) {
        let n = self.gamma.len();
        for row in x.chunks_exact_mut(n) {
            let mean = row.iter().sum::<f32>() / n as f32;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n as f32;
            let inv = 1.0 / (var + eps).sqrt();
            for ((v, g), b) in row.iter_mut().zip(&self.gamma).zip(&self.beta) {
                *v = (*v - mean) * inv * g + b;
            }
        }
    }
}

fn add_assign(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight partial sums, so that the compiler can keep them in vector registers.
    let mut sums = [0.0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(x, y)| x * y).sum();
    for (ca, cb) in a_chunks.zip(b_chunks) {
        for k in 0..8 {
            sums[k] += ca[k] * cb[k];
        }
    }
    sums.iter().sum::<f32>() + tail
}

fn softmax(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    for s in scores.iter_mut() {
        *s /= sum;
    }
}

fn activate(activation: HiddenAct, x: &mut [f32]) {
    match activation {
        HiddenAct::Gelu => {
            for v in x.iter_mut() {
                *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
            }
        }
        HiddenAct::GeluApproximate => {
            const SQRT_2_OVER_PI: f32 = 0.797_884_6;
            for v in x.iter_mut() {
                *v = 0.5 * *v * (1.0 + (SQRT_2_OVER_PI * (*v + 0.044_715 * *v * *v * *v)).tanh());
            }
        }
        HiddenAct::Relu => {
            for v in x.iter_mut() {
                *v = v.max(0.0);
            }
        }
    }
}

/// The error function, as a rational approximation on [-4, 4] (beyond, erf is ±1 in f32):
/// the one XLA and Eigen use, within 4e-7 of `libm::erff` (a few f32 ulps). Branch-free, so that the
/// GELU loop vectorizes; `libm::erff` per element costs as much as a third of the matrix
/// products at this model size.
fn erf(x: f32) -> f32 {
    const ALPHA: [f32; 7] = [
        -2.726_142_3e-10,
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906_3e-4,
        -2.954_6e-3,
        -1.609_603_3e-2,
    ];
    const BETA: [f32; 5] = [-1.456_607_2e-5, -2.133_740_6e-4, -1.682_827e-3, -7.373_329e-3, -1.426_474e-2];
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = ALPHA.iter().fold(0.0, |acc, &c| acc * x2 + c) * x;
    let q = BETA.iter().fold(0.0, |acc, &c| acc * x2 + c);
    p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_is_within_4e_7_of_libm() {
        let worst =
            (-6000..=6000).map(|i| i as f32 / 1000.0).map(|x| (erf(x) - libm::erff(x)).abs()).fold(0.0f32, f32::max);
        assert!(worst < 4e-7, "largest error {worst}");
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erf(10.0), erf(4.0));
    }

    #[test]
    fn softmax_and_dot_are_exact_on_small_inputs() {
        let mut s = vec![0.0f32, 0.0, 0.0, 0.0];
        softmax(&mut s);
        assert_eq!(s, vec![0.25; 4]);
        let a: Vec<f32> = (0..11).map(|i| i as f32).collect();
        assert_eq!(dot(&a, &a), 385.0);
    }

    #[test]
    fn layer_norm_centres_and_scales_each_row() {
        let norm = LayerNorm { gamma: vec![1.0, 2.0], beta: vec![0.5, 0.0] };
        let mut x = vec![1.0f32, 3.0, -2.0, 0.0];
        norm.apply(&mut x, 0.0);
        assert_eq!(x, vec![-0.5, 2.0, -0.5, 2.0]);
    }
}
