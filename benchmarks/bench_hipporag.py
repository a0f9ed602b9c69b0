"""Benchmark the HippoRAG index on the multi-hop subsets: recall@2/@5 against dense retrieval, plus timings.

    python benchmarks/bench_hipporag.py                      # both datasets, cold indexing
    python benchmarks/bench_hipporag.py --cache-dir /tmp/hb  # reuse OpenIE results between runs
    python benchmarks/bench_hipporag.py --precision fp32     # the embedder in fp32 (default: auto)

Variants: dense (MiniLM cosine of "title\\ntext" vs question), hipporag (passage nodes), hipporag1
(phrase nodes only, passages scored by summed phrase PPR), hipporag+dense (passage nodes seeded with
min-max dense scores x 0.05). All variants share one graph and one spaCy NER pass per question.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval.embedder import load_embedder  # noqa: E402
from retrieval.hipporag.index import HippoRAGIndex  # noqa: E402
from retrieval.hipporag.openie import ExtractionCache, SpacyExtractor  # noqa: E402
from retrieval.hipporag.ppr import personalized_pagerank, transition_matrix  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "multihop"


class MemoEmbedder:
    """Wraps an embedder with a text -> vector memo (so a second index over the same phrases is cheap)."""

    def __init__(self, inner, path: Path | None = None) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.memo: dict[str, np.ndarray] = {}
        self.path = path
        if path and path.exists():
            data = np.load(path)
            self.memo = dict(zip(json.loads(str(data["texts"])), data["vectors"]))

    def save(self) -> None:
        """Persist the memo (only with --cache-dir)."""
        if self.path:
            texts = list(self.memo)
            vectors = np.stack([self.memo[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
            np.savez(self.path, texts=json.dumps(texts), vectors=vectors)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts not seen before, then stack the memoised rows."""
        todo = list(dict.fromkeys(t for t in texts if t not in self.memo))
        if todo:
            for t, v in zip(todo, self.inner.embed(todo)):
                self.memo[t] = v
        return np.stack([self.memo[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSON-lines file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def recall(ranked: list[str], gold: list[str], k: int) -> float:
    """|gold ∩ top-k| / |gold|."""
    return len(set(ranked[:k]) & set(gold)) / max(len(gold), 1)


def synthetic_ppr_ms(n_nodes: int = 200_000, n_edges: int = 1_000_000, repeats: int = 5) -> tuple[float, float, float]:
    """(transition build s, mean PPR wall ms, mean PPR CPU ms) on a random undirected weighted graph with n_edges edges."""
    rng = np.random.default_rng(0)
    rows = rng.integers(0, n_nodes, n_edges)
    cols = rng.integers(0, n_nodes, n_edges)
    w = rng.random(n_edges)
    a = sp.coo_matrix((np.concatenate([w, w]), (np.concatenate([rows, cols]), np.concatenate([cols, rows]))),
                      shape=(n_nodes, n_nodes)).tocsr()
    t = time.perf_counter()
    m = transition_matrix(a)
    build = time.perf_counter() - t
    reset = np.zeros(n_nodes)
    reset[rng.integers(0, n_nodes, 5)] = 1.0
    times, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.thread_time()
        personalized_pagerank(m, reset, damping=0.5)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.thread_time() - c) * 1000)
    return build, statistics.mean(times), statistics.mean(cpu)


def run_dataset(name: str, folder: Path, embedder: MemoEmbedder, extractor: SpacyExtractor,
                cache_dir: Path | None, limit: int | None, link_top_k: int, dense_weight: float = 0.05) -> dict:
    """Index one corpus and score every variant on its questions."""
    corpus = read_jsonl(folder / "corpus.jsonl")
    questions = read_jsonl(folder / "questions.jsonl")[:limit]
    passages = [(r["id"], f"{r['title']}\n{r['text']}") for r in corpus]
    ids = [pid for pid, _ in passages]

    index = HippoRAGIndex(None, embedder, extractor, passage_nodes=True, link_top_k=link_top_k)
    cache_file = cache_dir / f"{name}.extractions.json" if cache_dir else None
    warm = bool(cache_file and cache_file.exists())
    if warm:
        index.cache = ExtractionCache.from_json(json.loads(cache_file.read_text()))
    t, cpu = time.perf_counter(), time.process_time()
    index.add_passages(passages, batch=len(passages) if extractor.n_process > 1 else 256)
    index_s, index_cpu = time.perf_counter() - t, time.process_time() - cpu
    if cache_file:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps(index.cache.to_json()))
    g = index.graph
    with tempfile.TemporaryDirectory() as tmp:
        index.save(Path(tmp))
        t = time.perf_counter()
        HippoRAGIndex.load(Path(tmp), embedder, extractor)
        load_s = time.perf_counter() - t

    phrase_only = HippoRAGIndex(None, embedder, extractor, passage_nodes=False, link_top_k=link_top_k)
    phrase_only.graph, phrase_only.labels = index.graph, index.labels

    t = time.perf_counter()
    passage_vecs = embedder.embed([text for _, text in passages])
    dense_embed_s = time.perf_counter() - t
    q_vecs = embedder.embed([q["question"] for q in questions])
    embedder.save()

    variants = ["dense", "hipporag", "hipporag1", "hipporag+dense"]
    scores: dict[str, dict[int, list[float]]] = {v: {2: [], 5: []} for v in variants}
    ppr_ms: list[float] = []
    ppr_cpu_ms: list[float] = []
    no_link = 0
    for q, qv in zip(questions, q_vecs):
        sims = passage_vecs @ qv
        dense_rank = [ids[i] for i in np.argsort(-sims)[:5]]
        dense = {pid: float(s) for pid, s in zip(ids, sims)}
        ents = extractor.query_entities(q["question"])
        r2 = index.retrieve(q["question"], k=5, query_entities=ents)
        r1 = phrase_only.retrieve(q["question"], k=5, query_entities=ents)
        rf = index.retrieve(q["question"], k=5, query_entities=ents, dense_scores=dense, dense_weight=dense_weight)
        if "ppr" in r2.timings:
            ppr_ms.append(r2.timings["ppr"] * 1000)
            ppr_cpu_ms.append(r2.timings["ppr_cpu"] * 1000)
        else:
            no_link += 1
        ranked = {
            "dense": dense_rank,
            "hipporag": [p for p, _ in r2.passages],
            "hipporag1": [p for p, _ in r1.passages],
            "hipporag+dense": [p for p, _ in rf.passages],
        }
        for v in variants:
            for k in (2, 5):
                scores[v][k].append(recall(ranked[v], q["gold_ids"], k))
    return {
        "name": name, "passages": len(passages), "questions": len(questions),
        "phrases": len(g.phrases), "relations": len(g.relations), "synonyms": len(g.synonyms),
        "index_s": index_s, "index_cpu_s": index_cpu, "index_parts": index.index_timings, "warm_cache": warm, "load_s": load_s, "dense_embed_s": dense_embed_s,
        "recall": {v: {k: statistics.mean(s) for k, s in ks.items()} for v, ks in scores.items()},
        "ppr_mean_ms": statistics.mean(ppr_ms) if ppr_ms else float("nan"),
        "ppr_p50_ms": statistics.median(ppr_ms) if ppr_ms else float("nan"),
        "ppr_cpu_mean_ms": statistics.mean(ppr_cpu_ms) if ppr_cpu_ms else float("nan"),
        "no_link": no_link,
    }


def main() -> None:
    """Parse arguments, run both datasets, print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--datasets", nargs="+", default=["hotpotqa", "musique"])
    ap.add_argument("--cache-dir", type=Path, default=None, help="persist OpenIE results here between runs")
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions")
    ap.add_argument("--link-top-k", type=int, default=1)
    ap.add_argument("--dense-weight", type=float, default=0.05, help="HippoRAG 2 passage-seed weight (paper: 0.05)")
    ap.add_argument("--n-process", type=int, default=1, help="spaCy worker processes")
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "mixed"),
                    help="the embedder's precision (RAGSCOPE_EMBEDDER_PRECISION)")
    args = ap.parse_args()

    t = time.perf_counter()
    memo = args.cache_dir / "embeddings.npz" if args.cache_dir else None
    if args.cache_dir:
        args.cache_dir.mkdir(parents=True, exist_ok=True)
    embedder = MemoEmbedder(load_embedder(precision=args.precision), memo)
    extractor = SpacyExtractor(n_process=args.n_process)
    print(f"models loaded in {time.perf_counter() - t:.1f}s", flush=True)
    results = [run_dataset(n, args.data / n, embedder, extractor, args.cache_dir, args.limit, args.link_top_k,
                           args.dense_weight) for n in args.datasets]
    variants = ["dense", "hipporag", "hipporag1", "hipporag+dense"]
    print(f"\n{'dataset':10} {'variant':16} {'R@2':>6} {'R@5':>6}")
    for r in results:
        for v in variants:
            print(f"{r['name']:10} {v:16} {r['recall'][v][2]:6.3f} {r['recall'][v][5]:6.3f}")
    print()
    for r in results:
        cache = "warm caches" if r["warm_cache"] else "cold"
        parts = ", ".join(f"{k} {v:.1f}s" for k, v in r["index_parts"].items())
        print(f"{r['name']}: {r['passages']} passages, {r['phrases']} phrases, {r['relations']} relation edges, "
              f"{r['synonyms']} synonymy edges; indexing {r['index_s']:.1f}s wall / {r['index_cpu_s']:.1f}s CPU "
              f"({cache}: {parts}); reload {r['load_s']*1000:.0f} ms; PPR mean {r['ppr_mean_ms']:.2f} ms, "
              f"p50 {r['ppr_p50_ms']:.2f} ms, CPU mean {r['ppr_cpu_mean_ms']:.2f} ms; "
              f"questions without a link: {r['no_link']}")
    if not args.skip_synthetic:
        build, ms, cpu_ms = synthetic_ppr_ms()
        print(f"synthetic graph (200k nodes, 1M edges): transition build {build:.2f}s, PPR {ms:.1f} ms "
              f"(CPU {cpu_ms:.1f} ms)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
