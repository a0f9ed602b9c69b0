"""Benchmark TiM's LSH recall against exact cosine search on synthetic 384-dim thoughts.

    python benchmarks/bench_memory.py          # 10k, 100k, 1M: 64 buckets x 32 tables, 2 probes, shared in >= 4
    python benchmarks/bench_memory.py --sizes 100000 --buckets 128 --tables 20 --probes 1 --min-shared 1

Thoughts are clustered like sentence embeddings of a person's facts: topics (unit centres), each thought
cos ~0.7 to its topic (so ~0.5 to its topic mates). A query is a noisy copy of a stored thought (cosine
~0.85 to its source), so its exact top 5 is the source plus its nearest topic mates. Reported per size:
recall@5 of LSH against exact search, how often the source itself is in the LSH top 5, the fraction of
thoughts scored per query, and p50/p95 latency of LSH recall (bucket lookup + cosine rank) and of exact
search (one matrix-vector product over everything). A thought is scored only if it shares one of the query's
`--probes` best buckets with it in at least `--min-shared` of the tables (1 = any table: the plain union).
`--store N` also times the app's own path: N thoughts of one user in the SQLite thought store, recalled
with the tim agent's default shape.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from memory.lsh import BucketIndex, LSHParams, cosine_top_k, hash_vectors, lsh_top_k, projections  # noqa: E402

DIM = 384
TOPIC_SIZE = 100  # thoughts per topic
TOPIC_COS = 0.7  # cosine of a thought to its topic centre
QUERY_COS = 0.85  # cosine of a query to the thought it was copied from


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm."""
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def thoughts(n: int, rng: np.random.Generator) -> np.ndarray:
    """n clustered unit vectors (float32), generated in blocks to bound memory."""
    topics = unit(rng.standard_normal((max(1, n // TOPIC_SIZE), DIM), dtype=np.float32))
    out = np.empty((n, DIM), dtype=np.float32)
    noise_w = np.sqrt(1 - TOPIC_COS**2)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        centre = topics[rng.integers(0, len(topics), stop - start)]
        out[start:stop] = unit(TOPIC_COS * centre + noise_w * unit(rng.standard_normal((stop - start, DIM),
                                                                                        dtype=np.float32)))
    return out


def noisy_copies(sources: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Queries with cosine ~QUERY_COS to their sources."""
    noise = unit(rng.standard_normal(sources.shape, dtype=np.float32))
    noise = unit(noise - (noise * sources).sum(1, keepdims=True) * sources)  # orthogonal to the source
    return unit(QUERY_COS * sources + np.sqrt(1 - QUERY_COS**2) * noise)


def measure(n: int, params: LSHParams, probes: int, min_shared: int, queries: int, seed: int) -> dict[str, float]:
    """Recall@5, source hit rate, fraction scored and latencies for one size."""
    rng = np.random.default_rng(seed)
    vectors = thoughts(n, rng)
    matrices = projections(params)
    t0 = time.perf_counter()
    buckets = np.concatenate([hash_vectors(vectors[s:s + 20_000], matrices) for s in range(0, n, 20_000)])
    index = BucketIndex(buckets, params.buckets)
    build = time.perf_counter() - t0
    sources = rng.choice(n, queries, replace=False)
    qs = noisy_copies(vectors[sources], rng)
    recalls, hits, scored, lsh_ms, exact_ms = [], [], [], [], []
    for q, src in zip(qs, sources, strict=True):
        t = time.perf_counter()
        exact, _ = cosine_top_k(q, vectors, 5)
        exact_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        rows, _, n_scored = lsh_top_k(q, vectors, index, matrices, 5, probes, min_shared)
        lsh_ms.append((time.perf_counter() - t) * 1000)
        recalls.append(len(set(rows.tolist()) & set(exact.tolist())) / 5)
        hits.append(float(src in rows))
        scored.append(n_scored / n)
    return {"n": n, "buckets": params.buckets, "tables": params.tables, "probes": probes, "min_shared": min_shared,
            "recall@5": round(statistics.fmean(recalls), 4), "source_in_top5": round(statistics.fmean(hits), 4),
            "scored_fraction": round(statistics.fmean(scored), 4),
            "p50_ms": round(statistics.median(lsh_ms), 3), "p95_ms": round(float(np.percentile(lsh_ms, 95)), 3),
            "exact_p50_ms": round(statistics.median(exact_ms), 3), "build_s": round(build, 2)}


def measure_store(n: int, queries: int, seed: int) -> dict[str, float]:
    """The app's path: n thoughts of one user in the SQLite thought store, recall with the agent's defaults."""
    import tempfile

    from agents.tim import TiMConfig
    from memory.store import LSHShape, ThoughtStore
    from storage.db import Database

    config = TiMConfig()
    rng = np.random.default_rng(seed)
    vectors = thoughts(n, rng)
    with tempfile.TemporaryDirectory() as tmp:
        store = ThoughtStore(Database(f"sqlite:///{tmp}/bench.db"), embedder=None,  # type: ignore[arg-type]
                             shape=LSHShape(config.buckets, config.tables))
        t0 = time.perf_counter()
        for i, v in enumerate(vectors):
            store.add("bench", f"thought {i}", v)
        insert_ms = (time.perf_counter() - t0) * 1000 / n
        sources = rng.choice(n, queries, replace=False)
        recalls, scored, ms = [], [], []
        for q in noisy_copies(vectors[sources], rng):
            exact, _ = cosine_top_k(q, vectors, config.top_k)
            t = time.perf_counter()
            result = store.recall("bench", q, config.top_k, config.probes)
            ms.append((time.perf_counter() - t) * 1000)
            got = {int(row.text.split()[1]) for row, _ in result.thoughts}
            recalls.append(len(got & set(exact.tolist())) / config.top_k)
            scored.append(result.scored / n)
    return {"store_n": n, "buckets": config.buckets, "tables": config.tables, "probes": config.probes,
            f"recall@{config.top_k}": round(statistics.fmean(recalls), 4),
            "scored_fraction": round(statistics.fmean(scored), 4), "p50_ms": round(statistics.median(ms), 3),
            "insert_ms": round(insert_ms, 3)}


def main() -> None:
    """Run every size and print (and optionally save) one row each."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="10000,100000,1000000")
    # chosen on a sweep at 10k and 100k (buckets 32-128, tables 8-64, probes 1-2, min-shared 1-4), 100 queries:
    # 64 x 32, 2 probes, shared in >= 4 tables kept recall@5 ~0.95 while scoring ~2-3% of the thoughts
    p.add_argument("--buckets", type=int, default=64)
    p.add_argument("--tables", type=int, default=32)
    p.add_argument("--probes", type=int, default=2)
    p.add_argument("--min-shared", type=int, default=4, help="score only thoughts sharing a bucket in this many tables")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--store", type=int, default=2000, help="thoughts in the app's SQLite store test (0 = skip)")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    rows = []
    if args.store:
        rows.append(measure_store(args.store, min(args.queries, args.store), args.seed))
        print(json.dumps(rows[-1]), flush=True)
    for n in (int(s) for s in args.sizes.split(",")):
        row = measure(n, LSHParams(DIM, args.buckets, args.tables, args.seed), args.probes, args.min_shared,
                      args.queries, args.seed)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
