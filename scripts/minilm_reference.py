#!/usr/bin/env python3
"""Reference sentence embeddings for all-MiniLM-L6-v2, computed independently of the Rust code.

Everything is done here with numpy alone: the safetensors file is parsed by hand, the
BERT uncased WordPiece tokenizer is re-implemented from vocab.txt, and the 6-layer BERT
encoder, mean pooling and L2 normalization are written out in float64. Neither candle nor
HuggingFace's tokenizers library is involved, so agreement with the Rust embedder checks
both its tokenization and its arithmetic.

Usage (the model folder comes from scripts/deps/minilm.sh):

    python3 -m venv .venv && .venv/bin/pip install numpy
    eval "$(scripts/deps/minilm.sh)"
    .venv/bin/python scripts/minilm_reference.py "$AGENT_MEMORY_TEST_MINILM" \
        > crates/agent-memory/tests/fixtures/minilm_reference.json
"""

import json
import math
import struct
import sys
import unicodedata
from pathlib import Path

import numpy as np

SENTENCES = [
    "The cat sits on the mat.",
    "A kitten is resting on a rug.",
    "Quarterly revenue grew by 12% year over year.",
    "",
    "Café déjà vu: naïve résumé, ÜBER-cool!",
    "I'm getting an auth error (401) when calling /v1/embeddings... why?",
    "東京は日本の首都です。",
    # Longer than the model's 256-token limit: checks truncation.
    " ".join(["Memory for agents means remembering what matters, forgetting what does not."] * 25),
]
MAX_SEQ_LENGTH = 256


def load_safetensors(path):
    data = Path(path).read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    dtypes = {"F32": np.float32, "I64": np.int64}
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(data[base + start : base + end], dtype=dtypes[info["dtype"]])
        tensors[name] = array.reshape(info["shape"])
    return tensors


# --- BERT uncased tokenizer (BasicTokenizer + WordpieceTokenizer) ------------------------


def is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(cp):
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def basic_tokenize(text):
    cleaned = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\t\n\r"):
            continue
        if ch in " \t\n\r" or unicodedata.category(ch) == "Zs":
            cleaned.append(" ")
        elif is_cjk(cp):
            cleaned.append(f" {ch} ")
        else:
            cleaned.append(ch)
    tokens = []
    for word in "".join(cleaned).split():
        word = unicodedata.normalize("NFD", word.lower())
        word = "".join(ch for ch in word if unicodedata.category(ch) != "Mn")
        current = ""
        for ch in word:
            if is_punctuation(ch):
                if current:
                    tokens.append(current)
                tokens.append(ch)
                current = ""
            else:
                current += ch
        if current:
            tokens.append(current)
    return tokens


def wordpiece(word, vocab, max_chars=100):
    if len(word) > max_chars:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end, found = len(word), None
        while start < end:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                found = piece
                break
            end -= 1
        if found is None:
            return ["[UNK]"]
        pieces.append(found)
        start = end
    return pieces


def tokenize(text, vocab):
    pieces = [p for word in basic_tokenize(text) for p in wordpiece(word, vocab)]
    pieces = pieces[: MAX_SEQ_LENGTH - 2]
    return [vocab["[CLS]"]] + [vocab[p] for p in pieces] + [vocab["[SEP]"]]


# --- BERT encoder ----------------------------------------------------------------------


def layer_norm(x, weight, bias, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def encode(ids, w, config):
    """The last hidden state, one row per token."""
    get = lambda name: w[name].astype(np.float64)
    linear = lambda x, name: x @ get(name + ".weight").T + get(name + ".bias")
    eps = config["layer_norm_eps"]
    heads = config["num_attention_heads"]
    n = len(ids)
    x = get("embeddings.word_embeddings.weight")[ids]
    x = x + get("embeddings.position_embeddings.weight")[:n] + get("embeddings.token_type_embeddings.weight")[0]
    x = layer_norm(x, get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"), eps)
    head_dim = x.shape[1] // heads
    for layer in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."
        split = lambda t: t.reshape(n, heads, head_dim).transpose(1, 0, 2)
        q = split(linear(x, p + "attention.self.query"))
        k = split(linear(x, p + "attention.self.key"))
        v = split(linear(x, p + "attention.self.value"))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(head_dim)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attention = scores / scores.sum(-1, keepdims=True)
        context = (attention @ v).transpose(1, 0, 2).reshape(n, heads * head_dim)
        attended = linear(context, p + "attention.output.dense")
        x = layer_norm(attended + x, get(p + "attention.output.LayerNorm.weight"), get(p + "attention.output.LayerNorm.bias"), eps)
        hidden = gelu(linear(x, p + "intermediate.dense"))
        out = linear(hidden, p + "output.dense")
        x = layer_norm(out + x, get(p + "output.LayerNorm.weight"), get(p + "output.LayerNorm.bias"), eps)
    return x


def normalize(v):
    return v / max(np.linalg.norm(v), 1e-12)


def rounded(v):
    return [float(f"{x:.8f}") for x in v]


def main():
    model_dir = Path(sys.argv[1])
    config = json.loads((model_dir / "config.json").read_text())
    vocab = {line.rstrip("\n"): i for i, line in enumerate((model_dir / "vocab.txt").open(encoding="utf-8"))}
    weights = load_safetensors(model_dir / "model.safetensors")
    cases = []
    for sentence in SENTENCES:
        ids = tokenize(sentence, vocab)
        hidden = encode(np.array(ids), weights, config)
        cases.append({"text": sentence, "token_ids": ids, "embedding": rounded(normalize(hidden.mean(0)))})
    # Other pooling modes, unnormalized, for the first sentence.
    hidden = encode(np.array(tokenize(SENTENCES[0], vocab)), weights, config)
    pooling = {"cls": rounded(hidden[0]), "max": rounded(hidden.max(0)), "mean": rounded(hidden.mean(0))}
    fixture = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "generator": "scripts/minilm_reference.py",
        "cases": cases,
        "unnormalized_pooling_of_first_case": pooling,
    }
    json.dump(fixture, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
