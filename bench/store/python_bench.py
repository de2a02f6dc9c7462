"""The Python side of the store benchmark: ai-infra 1.19.0's MemoryStore (memory, SQLite)
and LangGraph's InMemoryStore / SqliteStore on the same precomputed vectors as
store_bench.rs. Prints one JSON line like it.

python_bench.py STORE N VECTORS.f32 QUERIES.f32 DIMS [TIME_BUDGET_S]
STORE: ai-infra-memory | ai-infra-sqlite | langgraph-memory | langgraph-sqlite
"""
import json
import os
import random
import re
import resource
import sys
import tempfile
import time

import numpy as np

store_name, n, vectors, queries, dims = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
budget = float(sys.argv[6]) if len(sys.argv) > 6 else 60.0
docs = np.fromfile(vectors, dtype="<f4").reshape(-1, dims)
qs = np.fromfile(queries, dtype="<f4").reshape(-1, dims)
NUMBER = re.compile(r"\d+")


def lookup(text):
    row = int(NUMBER.findall(text)[-1])
    return (qs if "query" in text else docs)[row].tolist()


class Lookup:
    def embed(self, text):
        return lookup(text)


def embed_many(texts):
    return [lookup(t) for t in texts]


tmp = tempfile.mkdtemp()
ns = ("bench", "items")
index = {"dims": dims, "embed": embed_many, "fields": ["doc"]}
closers = []
if store_name == "ai-infra-memory":
    from ai_infra.llm.memory.store import MemoryStore

    store = MemoryStore()
    store._embeddings = Lookup()
elif store_name == "ai-infra-sqlite":
    from ai_infra.llm.memory.store import MemoryStore

    store = MemoryStore.sqlite(os.path.join(tmp, "ai.db"))
    store._embeddings = Lookup()
elif store_name == "langgraph-memory":
    from langgraph.store.memory import InMemoryStore

    store = InMemoryStore(index=index)
elif store_name == "langgraph-sqlite":
    # This Python's sqlite3 cannot load extensions (sqlite-vec); pysqlite3-binary can.
    import pysqlite3

    sys.modules["sqlite3"] = pysqlite3
    from langgraph.store.sqlite import SqliteStore

    manager = SqliteStore.from_conn_string(os.path.join(tmp, "lg.db"), index=index)
    store = manager.__enter__()
    closers.append(manager)
    store.setup()
else:
    sys.exit(f"unknown store {store_name}")
langgraph = store_name.startswith("langgraph")


def put(i):
    store.put(ns, f"k{i}", {"doc": f"doc {i}"})


def get(key):
    item = store.get(ns, key)
    assert item is not None


def search(q):
    if langgraph:
        hits = store.search(ns, query=f"query {q}", limit=10)
    else:
        hits = store.search(ns, f"query {q}", limit=10)
    assert len(hits) == 10, len(hits)


def timed(fn, args, budget_s):
    latencies, started = [], time.perf_counter()
    for a in args:
        t = time.perf_counter()
        fn(a)
        latencies.append((time.perf_counter() - t) * 1e6)
        if time.perf_counter() - started > budget_s:
            break
    total = time.perf_counter() - started
    latencies.sort()
    return len(latencies) / total, latencies[len(latencies) // 2], latencies


# All N items are put one at a time (neither ai-infra nor LangGraph's put has a batch form
# that embeds); the put rate is over all of them.
put_rate, put_p50, _ = timed(put, range(n), float("inf"))
rng = random.Random(7)
get_rate, get_p50, _ = timed(get, [f"k{rng.randrange(n)}" for _ in range(5000)], budget)
search(0)
search_rate, search_p50, lat = timed(search, range(200), budget)
for c in closers:
    c.__exit__(None, None, None)
print(json.dumps({
    "store": store_name,
    "n": n,
    "put_per_s": put_rate,
    "put_p50_us": put_p50,
    "get_per_s": get_rate,
    "get_p50_us": get_p50,
    "search_per_s": search_rate,
    "search_p50_us": search_p50,
    "search_p99_us": lat[int((len(lat) - 1) * 0.99)],
    "searches": len(lat),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
