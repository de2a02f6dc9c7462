"""Writes the benchmark's vectors: N x D item vectors and 200 query vectors, float32
little-endian, from a fixed seed (clustered, so nearest neighbours are meaningful)."""
import sys

import numpy as np

n, dims, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(42)
centers = rng.standard_normal((256, dims)).astype(np.float32)
docs = centers[rng.integers(0, 256, n)] + 0.5 * rng.standard_normal((n, dims)).astype(np.float32)
queries = centers[rng.integers(0, 256, 200)] + 0.5 * rng.standard_normal((200, dims)).astype(np.float32)
docs.astype("<f4").tofile(f"{out}/vectors-{n}.f32")
queries.astype("<f4").tofile(f"{out}/queries-{n}.f32")
