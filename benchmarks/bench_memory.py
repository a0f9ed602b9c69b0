"""Benchmark the recall the app runs: `ThoughtStore.recall` over one user's thoughts in SQL, against exact search.

    python benchmarks/bench_memory.py                           # SQLite: 10k and 100k thoughts of one user
    python benchmarks/bench_memory.py --postgres                # also a throwaway PostgreSQL (initdb / pg_ctl)
    python benchmarks/bench_memory.py --sizes 100000 --json out.json

The thoughts are synthetic 384-dim unit vectors clustered like sentence embeddings of a person's facts (topics of
100, each thought cosine ~0.7 to its topic centre); a query is a noisy copy (cosine ~0.85) of a stored thought.
Each size is stored for one user through the store (`add_many`, hashed with the tim agent's default LSH shape),
then every query goes through `ThoughtStore.recall` with the agent's defaults (probes, min_shared, exact_below,
top_k), exactly as the agent calls it. Reported: recall@k against exact cosine search over all the thoughts, the
fraction of thoughts scored, p50/p95 of warm recall (the store holds the user's arrays between calls; each call
still reads the memory's version, hashes the query, gathers the buckets, scores, and reads the top rows from SQL),
the first recall (loads the arrays) and a recall after one write (reloads them). The machine is shared, so each row
also gives the process CPU time of a recall (all threads) and the load average when it ended.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from memory.lsh import cosine_top_k  # noqa: E402

DIM = 384
TOPIC_SIZE = 100  # thoughts per topic
TOPIC_COS = 0.7  # cosine of a thought to its topic centre
QUERY_COS = 0.85  # cosine of a query to the thought it was copied from


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm."""
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def thoughts(n: int, rng: np.random.Generator) -> np.ndarray:
    """n clustered unit vectors (float32)."""
    topics = unit(rng.standard_normal((max(1, n // TOPIC_SIZE), DIM), dtype=np.float32))
    centre = topics[rng.integers(0, len(topics), n)]
    noise = unit(rng.standard_normal((n, DIM), dtype=np.float32))
    return unit(TOPIC_COS * centre + np.sqrt(1 - TOPIC_COS**2) * noise)


def noisy_copies(sources: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Queries with cosine ~QUERY_COS to their sources."""
    noise = unit(rng.standard_normal(sources.shape, dtype=np.float32))
    noise = unit(noise - (noise * sources).sum(1, keepdims=True) * sources)  # orthogonal to the source
    return unit(QUERY_COS * sources + np.sqrt(1 - QUERY_COS**2) * noise)


class NoEmbedder:
    """The store's embedder is not used: vectors are given."""

    name = "none"

    def embed(self, texts: list[str]) -> np.ndarray:
        """Never called here."""
        raise RuntimeError("the benchmark passes vectors")


def measure(url: str, n: int, queries: int, seed: int) -> dict[str, object]:
    """Store n thoughts of one user at `url`, then time and score the app's recall."""
    from agents.tim import TiMConfig
    from agents.tim.nodes import shape
    from memory.store import ThoughtStore
    from storage.db import Database

    config = TiMConfig()
    rng = np.random.default_rng(seed)
    vectors = thoughts(n, rng)
    store = ThoughtStore(Database(url), NoEmbedder())  # type: ignore[arg-type]
    user = f"bench-{n}"
    store.clear(user)
    t0 = time.perf_counter()
    for start in range(0, n, 10_000):
        chunk = vectors[start:start + 10_000]
        store.add_many(user, [f"thought {i}" for i in range(start, start + len(chunk))], chunk, shape(config))
    insert_s = time.perf_counter() - t0
    recall = lambda q: store.recall(user, q, config.top_k, config.probes, shape(config),  # noqa: E731
                                    config.min_shared, config.exact_below)
    sources = rng.choice(n, queries, replace=False)
    qs = noisy_copies(vectors[sources], rng)
    t0 = time.perf_counter()
    recall(qs[0])
    first_ms = (time.perf_counter() - t0) * 1000
    recalls, scored, ms, cpu_ms, exact_ms = [], [], [], [], []
    for q in qs:
        t = time.perf_counter()
        exact, _ = cosine_top_k(q, vectors, config.top_k)
        exact_ms.append((time.perf_counter() - t) * 1000)
        t, c = time.perf_counter(), time.process_time()
        result = recall(q)
        ms.append((time.perf_counter() - t) * 1000)
        cpu_ms.append((time.process_time() - c) * 1000)
        got = {int(row.text.split()[1]) for row, _ in result.thoughts}
        recalls.append(len(got & set(exact.tolist())) / config.top_k)
        scored.append(result.scored / n)
    store.add(user, "one more", vectors[0], shape=shape(config))
    t0 = time.perf_counter()
    recall(qs[0])
    reload_ms = (time.perf_counter() - t0) * 1000
    store.clear(user)
    return {"backend": url.split(":", 1)[0].split("+")[0], "n": n, "queries": queries,
            "shape": f"{config.buckets}x{config.tables}, probes {config.probes}, min_shared {config.min_shared}",
            f"recall@{config.top_k}": round(statistics.fmean(recalls), 4),
            "scored_fraction": round(statistics.fmean(scored), 4),
            "p50_ms": round(statistics.median(ms), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3),
            "cpu_p50_ms": round(statistics.median(cpu_ms), 3), "load_average": round(os.getloadavg()[0], 1),
            "exact_p50_ms": round(statistics.median(exact_ms), 3), "first_recall_ms": round(first_ms, 1),
            "recall_after_write_ms": round(reload_ms, 1), "insert_s": round(insert_s, 1)}


def _pg_tool(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), "")
    if not found:
        raise SystemExit(f"PostgreSQL's {name} is missing: apt-get install postgresql")
    return found


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A fresh PostgreSQL cluster on a free port (as tests/integration/test_deployments.py starts one)."""
    root = Path(tempfile.mkdtemp(prefix="ragscope-pg-bench-"))
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(root, "postgres", "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = lambda *cmd: subprocess.run([*as_postgres, *cmd], check=True, capture_output=True, text=True)  # noqa: E731
    run(_pg_tool("initdb"), "-D", str(root / "data"), "-U", "ragscope", "--auth=trust", "-E", "UTF8", "--no-sync")
    run(_pg_tool("pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log"), "-w", "-t", "60", "start", "-o",
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off")
    try:
        yield f"postgresql+psycopg://ragscope@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_postgres, _pg_tool("pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    """Run every size on SQLite (and PostgreSQL) and print one row each."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--postgres", action="store_true", help="also run on a throwaway PostgreSQL cluster")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped run still stops its PostgreSQL cluster
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            rows.append(measure(f"sqlite:///{tmp}/bench.db", n, args.queries, args.seed))
            print(json.dumps(rows[-1]), flush=True)
    if args.postgres:
        with throwaway_postgres() as url:
            for n in sizes:
                rows.append(measure(url, n, args.queries, args.seed))
                print(json.dumps(rows[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
