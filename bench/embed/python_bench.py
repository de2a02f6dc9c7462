"""The PyTorch side of the embedding benchmark: sentence-transformers on the CPU.

    python_bench.py MODEL_DIR SENTENCES THREADS BATCH MIN_SECONDS [VECTORS_OUT]

Loads the sentence-transformers folder MODEL_DIR offline, embeds every line of SENTENCES
with `encode(batch_size=BATCH)` (which, like agent-memory, sorts by length and pads per
batch), after an untimed warm-up on the first 2 batches, in timed passes until there are at
least 3 and MIN_SECONDS of them.
THREADS = 0 keeps torch's default; otherwise `torch.set_num_threads(THREADS)`. Prints one
JSON line; VECTORS_OUT gets the vectors as little-endian f32 rows (for the agreement check).
"""

import json
import os
import resource
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from sentence_transformers import SentenceTransformer, __version__ as st_version  # noqa: E402


def cpu_seconds() -> float:
    """User + system time of all the process's threads, from /proc (as the Rust side reads it)."""
    with open("/proc/self/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    model_dir, sentences_path, threads, batch, min_seconds = sys.argv[1:6]
    vectors_out = sys.argv[6] if len(sys.argv) > 6 else None
    threads, batch, min_seconds = int(threads), int(batch), float(min_seconds)
    if threads > 0:
        torch.set_num_threads(threads)
    with open(sentences_path, encoding="utf-8") as f:
        texts = [line.rstrip("\n") for line in f]

    start = time.perf_counter()
    model = SentenceTransformer(model_dir, device="cpu")
    load_s = time.perf_counter() - start

    def encode(some):
        with torch.inference_mode():
            return model.encode(some, batch_size=batch, convert_to_numpy=True, show_progress_bar=False)

    start = time.perf_counter()
    encode(texts[: 2 * batch])
    first_s = time.perf_counter() - start
    passes = []
    vectors = None
    cpu_start = cpu_seconds()
    began = time.perf_counter()
    while len(passes) < 3 or time.perf_counter() - began < min_seconds:
        start = time.perf_counter()
        result = encode(texts)
        passes.append(time.perf_counter() - start)
        vectors = result if vectors is None else vectors
    cpu_ms_per_sentence = (cpu_seconds() - cpu_start) * 1000 / (len(passes) * len(texts))
    if vectors_out:
        vectors.astype("<f4").tofile(vectors_out)
    median = statistics.median(passes)
    print(
        json.dumps(
            {
                "impl": f"torch ({'default threads' if threads == 0 else f'{threads} thread' + ('s' if threads > 1 else '')})",
                "sentences": len(texts),
                "batch": batch,
                "threads": torch.get_num_threads(),
                "passes": len(passes),
                "sentences_per_s": round(len(texts) / median, 1),
                "best_sentences_per_s": round(len(texts) / min(passes), 1),
                "cpu_ms_per_sentence": round(cpu_ms_per_sentence, 3),
                "load_s": round(load_s, 3),
                "warmup_s": round(first_s, 3),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "loadavg": os.getloadavg()[0],
                "dimensions": int(vectors.shape[1]),
                "versions": f"torch {torch.__version__}, sentence-transformers {st_version}",
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
