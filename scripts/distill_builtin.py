#!/usr/bin/env python3
"""Distills the built-in static embedding model from all-MiniLM-L6-v2 (the Model2Vec method).

1. Every WordPiece token of the teacher's vocabulary goes through the full teacher model
   as the one-token text `[CLS] token [SEP]`; its sentence embedding (the teacher's mean
   pooling over the output) becomes the token's vector.
2. PCA reduces the 384 dimensions to DIMS.
3. Zipf/SIF weighting: the vocabulary is ordered roughly by frequency, so token `i` gets
   probability p ~ 1/(i+1) and weight SIF / (SIF + p): frequent tokens count less.
4. Each row is quantized to int8 with its own float32 scale.

At run time a text's vector is the mean of its tokens' rows, L2-normalized
(crates/agent-memory/src/embed/builtin/). Only numpy is needed; the teacher runs through
the numpy BERT of scripts/minilm_reference.py, which matches the Rust candle model to 1e-4.

Usage (writes the two files that are committed):

    python3 -m venv .venv && .venv/bin/pip install numpy
    eval "$(scripts/deps/minilm.sh)"
    .venv/bin/python scripts/distill_builtin.py "$AGENT_MEMORY_TEST_MINILM" crates/agent-memory/src/embed/builtin/

Deterministic on a given machine (no randomness); another BLAS may round a few int8 values\ndifferently. The sha256 of the output is printed for the provenance notice.
"""

import hashlib
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from minilm_reference import layer_norm, load_safetensors  # noqa: E402

DIMS = 256
SIF = 1e-4
BATCH = 2048
MAGIC = b"AMSTATIC"
VERSION = 1


def erf(x):
    """Vectorized erf (Numerical Recipes' erfcc, fractional error < 1.2e-7)."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (
        0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    erfc = t * np.exp(-z * z + poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0)


def teacher_token_vectors(weights, config):
    """Mean-pooled teacher output of `[CLS] t [SEP]` for every token id t (float32)."""
    get = lambda name: weights[name]
    # One 2-D matrix product per layer (a 3-D operand would make numpy loop over rows).
    linear = lambda x, name: (x.reshape(-1, x.shape[-1]) @ get(name + ".weight").T + get(name + ".bias")).reshape(
        *x.shape[:-1], -1
    )
    eps = config["layer_norm_eps"]
    heads = config["num_attention_heads"]
    vocab_size = config["vocab_size"]
    cls_id, sep_id = 101, 102
    out = np.zeros((vocab_size, config["hidden_size"]), dtype=np.float64)
    word = get("embeddings.word_embeddings.weight")
    position = get("embeddings.position_embeddings.weight")[:3]
    token_type = get("embeddings.token_type_embeddings.weight")[0]
    for start in range(0, vocab_size, BATCH):
        ids = np.arange(start, min(start + BATCH, vocab_size))
        n = len(ids)
        seq = np.stack([np.full(n, cls_id), ids, np.full(n, sep_id)], axis=1)  # [n, 3]
        x = word[seq] + position + token_type
        x = layer_norm(x, get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"), eps)
        head_dim = x.shape[-1] // heads
        for layer in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{layer}."
            split = lambda t: t.reshape(n, 3, heads, head_dim).transpose(0, 2, 1, 3)
            q = split(linear(x, p + "attention.self.query"))
            k = split(linear(x, p + "attention.self.key"))
            v = split(linear(x, p + "attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head_dim)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            attention = scores / scores.sum(-1, keepdims=True)
            context = (attention @ v).transpose(0, 2, 1, 3).reshape(n, 3, heads * head_dim)
            attended = linear(context, p + "attention.output.dense")
            x = layer_norm(
                attended + x, get(p + "attention.output.LayerNorm.weight"), get(p + "attention.output.LayerNorm.bias"), eps
            )
            h = linear(x, p + "intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))
            x = layer_norm(
                linear(h, p + "output.dense") + x, get(p + "output.LayerNorm.weight"), get(p + "output.LayerNorm.bias"), eps
            )
        out[ids] = x.mean(1)
        print(f"distill: {ids[-1] + 1}/{vocab_size} tokens", file=sys.stderr)
    return out


def main():
    model_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    config = json.loads((model_dir / "config.json").read_text())
    weights = load_safetensors(model_dir / "model.safetensors")
    vectors = teacher_token_vectors(weights, config)

    # PCA (no whitening): center, project on the top DIMS principal axes. The sign of each
    # axis is fixed (largest loading positive) so that the output is deterministic.
    mean = vectors.mean(0)
    _, _, vt = np.linalg.svd(vectors - mean, full_matrices=False)
    axes = vt[:DIMS]
    axes *= np.sign(axes[np.arange(DIMS), np.abs(axes).argmax(1)])[:, None]
    reduced = (vectors - mean) @ axes.T

    # SIF weighting by Zipf rank.
    inv_rank = 1.0 / np.arange(1, len(reduced) + 1)
    proba = inv_rank / inv_rank.sum()
    reduced *= (SIF / (SIF + proba))[:, None]

    # int8 per row, float32 scale.
    scales = np.abs(reduced).max(1) / 127.0
    scales[scales == 0] = 1.0
    quantized = np.clip(np.round(reduced / scales[:, None]), -127, 127).astype(np.int8)

    out_dir.mkdir(parents=True, exist_ok=True)
    blob = MAGIC + struct.pack("<III", VERSION, len(quantized), DIMS) + scales.astype("<f4").tobytes() + quantized.tobytes()
    (out_dir / "minilm-static-256.bin").write_bytes(blob)
    vocab = (model_dir / "vocab.txt").read_bytes()
    (out_dir / "vocab.txt").write_bytes(vocab)
    print(
        f"distill: wrote {len(blob)} bytes, sha256 {hashlib.sha256(blob).hexdigest()}; "
        f"vocab.txt sha256 {hashlib.sha256(vocab).hexdigest()}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
