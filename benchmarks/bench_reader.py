"""Benchmark the shared reader's prompt variants and the support check on the dev sets (naive retrieval, top 5).

    RAGSCOPE_HOME=/work/cache/bench-home python benchmarks/bench_reader.py --variants plain plain_abstain \\
        --datasets musique hotpotqa --json /tmp/reader.json

Per question: one dense search (the question, top 5), then each variant's prompt reads the same passages,
and the answer is grounded (agents.grounding: relevance floor, answer words, yes/no support check). The table
gives EM/F1 per variant and how often the "supported" label is right (F1 > 0.5) against the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.base import hit_dict  # noqa: E402
from agents.events import Step  # noqa: E402
from agents.grounding import NO_ANSWER, RELEVANCE_FLOOR, check_support, is_abstention  # noqa: E402
from agents.reader import READER_PROMPTS, clean_answer, read_messages  # noqa: E402
from evaluation.bench import bench_corpus_name  # noqa: E402
from evaluation.datasets import read_questions  # noqa: E402
from evaluation.metrics import exact_match, f1_score  # noqa: E402
from retrieval.readers import read_corpus  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "multihop"


def label_table(rows: list[dict]) -> dict:
    """Share of right answers (F1 > 0.5) among answers labelled supported, and among the rest."""
    sup = [r for r in rows if r["status"] == "supported"]
    rest = [r for r in rows if r["status"] != "supported"]
    right = lambda rs: round(sum(r["f1"] > 0.5 for r in rs) / len(rs), 3) if rs else None  # noqa: E731
    return {"supported": len(sup), "right_when_supported": right(sup), "rest": len(rest),
            "right_otherwise": right(rest)}


def main() -> int:
    """Run the variants; print a table; optionally write per-question JSON."""
    p = argparse.ArgumentParser()
    p.add_argument("--variants", nargs="+", default=["plain", "plain_abstain"], choices=READER_PROMPTS)
    p.add_argument("--datasets", nargs="+", default=["musique", "hotpotqa"])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--limit", type=int)
    p.add_argument("--no-support", action="store_true", help="skip the support check")
    p.add_argument("--json", type=Path)
    p.add_argument("--regrade", type=Path, help="reuse the answers of an earlier --json; only redo the support check")
    args = p.parse_args()
    earlier = json.loads(args.regrade.read_text()) if args.regrade else {}
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from services import Services
    from settings import Settings

    services = Services(Settings.from_env())
    out: dict = {}
    for dataset in args.datasets:
        corpus_path = args.data / dataset / "corpus.jsonl"
        corpus = bench_corpus_name(corpus_path)
        services.ingest_documents(corpus, read_corpus(corpus_path))
        questions = read_questions(args.data / dataset / "questions.jsonl", args.limit)
        rows: dict[str, list[dict]] = {v: [] for v in args.variants}
        for i, q in enumerate(questions):
            hits = [hit_dict(h, r, q.question) for r, h in enumerate(services.corpora.search(corpus, q.question, 5), 1)]
            scores = [h["score"] for h in hits]
            for variant in args.variants:
                t0 = time.perf_counter()
                if earlier:
                    before = earlier[dataset][variant][i]
                    answer, read_s, prompt_tokens = before["answer"], before["read_seconds"], before["prompt_tokens"]
                else:
                    completion = services.llm.chat(read_messages(q.question, hits, variant), max_tokens=48,
                                                   stop=["\n\n"])
                    answer = clean_answer(completion.text)
                    answer = NO_ANSWER if is_abstention(answer) else answer
                    read_s, prompt_tokens = time.perf_counter() - t0, completion.prompt_tokens
                t_check = time.perf_counter()
                step = Step("bench", "read")
                grounding = {"status": "skipped"} if args.no_support else check_support(
                    services.llm, step, q.question, answer, hits, scores, RELEVANCE_FLOOR)
                rows[variant].append({
                    "id": q.id, "answer": answer, "gold": list(q.answers), "status": grounding["status"],
                    "grounding": grounding, "f1": f1_score(answer, q.answers), "em": exact_match(answer, q.answers),
                    "read_seconds": round(read_s, 2), "check_seconds": round(time.perf_counter() - t_check, 2),
                    "checks": step.llm_calls, "prompt_tokens": prompt_tokens})
            line = " | ".join(f"{v}: {rows[v][-1]['answer'][:30]!r} ({rows[v][-1]['status']})" for v in args.variants)
            print(f"{dataset} {i + 1}/{len(questions)} gold {q.answers[0]!r}: {line}", flush=True)
            if args.json:  # after every question, so a run cut short by a time limit keeps what it did
                args.json.write_text(json.dumps({**out, dataset: rows}, indent=1))
        out[dataset] = rows
    print("\n| dataset | prompt | n | EM | F1 | abstained | supported | right when supported | right otherwise "
          "| read s | check s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for dataset, by_variant in out.items():
        for variant, rows in by_variant.items():
            lt = label_table(rows)
            print(f"| {dataset} | {variant} | {len(rows)} | {statistics.fmean(r['em'] for r in rows):.3f} | "
                  f"{statistics.fmean(r['f1'] for r in rows):.3f} | "
                  f"{sum(r['status'] == 'abstained' for r in rows)} | {lt['supported']} | "
                  f"{lt['right_when_supported']} | {lt['right_otherwise']} | "
                  f"{statistics.fmean(r['read_seconds'] for r in rows):.1f} | "
                  f"{statistics.fmean(r['check_seconds'] for r in rows):.1f} |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
