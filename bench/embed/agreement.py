"""Compares the vectors of two implementations of the same model (little-endian f32 rows).

    agreement.py A.f32 B.f32 DIMS

Prints one JSON line: the largest absolute difference of any component and the lowest
cosine similarity of any pair of rows.
"""

import json
import sys

import numpy as np


def main() -> None:
    a_path, b_path, dims = sys.argv[1], sys.argv[2], int(sys.argv[3])
    a = np.fromfile(a_path, dtype="<f4").reshape(-1, dims)
    b = np.fromfile(b_path, dtype="<f4").reshape(-1, dims)
    if a.shape != b.shape:
        sys.exit(f"shapes differ: {a.shape} and {b.shape}")
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    print(json.dumps({"agreement": f"{a_path.split('/')[-1]} vs {b_path.split('/')[-1]}", "rows": a.shape[0],
                      "max_abs_diff": float(np.abs(a - b).max()), "min_cosine": float(cos.min())}))


if __name__ == "__main__":
    main()
