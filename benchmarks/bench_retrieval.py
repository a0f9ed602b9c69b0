"""Indexing time, dense retrieval latency and recall on ../shared/data/multihop (prints numbers).

    python benchmarks/bench_retrieval.py [--home /tmp/rs-bench] [--queries 100]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.datasets import read_questions  # noqa: E402
from evaluation.metrics import recall_at_k  # noqa: E402
from retrieval.readers import read_corpus  # noqa: E402
from services import Services  # noqa: E402
from settings import Settings  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "multihop"


def main() -> None:
    """Index both corpora into a fresh on-disk Chroma, then time and score dense retrieval."""
    p = argparse.ArgumentParser()
    p.add_argument("--home", type=Path, default=None)
    p.add_argument("--data", type=Path, default=DATA)
    args = p.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="rs-bench-"))
    shutil.rmtree(home, ignore_errors=True)
    svc = Services(Settings.from_env(home=home, demo_corpus=False))
    t0 = time.perf_counter()
    svc.embedder.get()  # type: ignore[attr-defined]
    print(f"embedder load: {time.perf_counter() - t0:.1f} s")
    total_docs, total_s = 0, 0.0
    for name in ("hotpotqa", "musique"):
        docs = read_corpus(args.data / name / "corpus.jsonl")
        t0 = time.perf_counter()
        report = svc.ingest_documents(name, docs)
        seconds = time.perf_counter() - t0
        total_docs, total_s = total_docs + len(docs), total_s + seconds
        print(f"index {name}: {report.summary()}")
    print(f"indexing both corpora: {total_docs} passages in {total_s:.1f} s ({total_docs / total_s:.0f} passages/s)")
    for name in ("hotpotqa", "musique"):
        questions = read_questions(args.data / name / "questions.jsonl")
        latencies, r2, r5 = [], [], []
        svc.corpora.search(name, "warm up", k=5)
        for q in questions:
            t0 = time.perf_counter()
            hits = svc.corpora.search(name, q.question, k=5)
            latencies.append((time.perf_counter() - t0) * 1000)
            ids = list(dict.fromkeys(h.doc_id for h in hits))
            r2.append(recall_at_k(ids, q.gold_ids, 2))
            r5.append(recall_at_k(ids, q.gold_ids, 5))
        lat = sorted(latencies)
        print(f"dense {name}: recall@2 {statistics.fmean(r2):.3f} recall@5 {statistics.fmean(r5):.3f} "
              f"latency p50 {statistics.median(lat):.1f} ms p95 {lat[int(0.95 * (len(lat) - 1))]:.1f} ms "
              f"(query embedding + Chroma + SQLite, {len(lat)} queries)")


if __name__ == "__main__":
    main()
