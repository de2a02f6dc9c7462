"""Fills an agent-memory SQLite database with N items (random unit 384-d vectors, written
directly as the store keeps them: little-endian f32 BLOBs) and S sessions of M messages,
from a fixed seed. The schema must exist already (run.sh creates it with the binary).

    python3 bench/transfer/gen_db.py DB N S M
"""
import array
import json
import math
import random
import sqlite3
import sys

path, n, sessions, messages = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
DIMS = 384
MODEL = "bench/random@384"
rng = random.Random(42)
db = sqlite3.connect(path)
t0 = 1_700_000_000.0


def vector():
    v = [rng.random() - 0.5 for _ in range(DIMS)]
    norm = math.sqrt(sum(x * x for x in v))
    return array.array("f", (x / norm for x in v)).tobytes()  # native order: x86/arm little-endian


with db:
    rows = []
    for i in range(n):
        ns = f"user_{i % 1000:04d}\x1fmemories"
        text = f"memory {i}: the user mentioned topic {rng.randrange(5000)} and detail {rng.randrange(5000)}"
        value = json.dumps({"text": text, "n": i})
        rows.append((ns, f"k{i:07d}", value, text, t0 + i, t0 + i, vector(), MODEL, DIMS))
        if len(rows) == 10_000:
            db.executemany(
                "INSERT INTO store_items (namespace, key, value, text, created_at, updated_at, embedding, "
                "embedding_model, embedding_dims) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            rows.clear()
    db.executemany(
        "INSERT INTO store_items (namespace, key, value, text, created_at, updated_at, embedding, "
        "embedding_model, embedding_dims) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    for s in range(sessions):
        sid = f"thread_{s:06d}"
        db.execute(
            "INSERT INTO session_threads (session_id, message_count, created_at, updated_at) VALUES (?, ?, ?, ?)",
            (sid, messages, t0 + s, t0 + s + 0.5),
        )
        db.executemany(
            "INSERT INTO session_messages (session_id, seq, message) VALUES (?, ?, ?)",
            [
                (sid, m, json.dumps({"role": "user" if m % 2 == 0 else "assistant", "content": f"message {m} of {sid}"}))
                for m in range(messages)
            ],
        )
    db.execute("UPDATE store_changes SET counter = counter + 1")
print(f"{path}: {n} items x {DIMS}-d, {sessions} sessions x {messages} messages")
