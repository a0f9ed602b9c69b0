"""Which answer an iterative agent should give, its own chain's or its baseline reading's, by rule, on questions
1-25 (to choose) and 26-50 (to confirm), from the stored runs of a bench.

Auto-RAG and Iter-RetGen store both candidates with their labels in the answer step (agents.baseline.settled_record),
so every rule below is scored on the same runs without running the model again:
- baseline: always the baseline reading (what the naive agent answers);
- stronger: the chain's answer when its label is stronger (supported > found > guess > none), else the baseline's;
- supported: the chain's answer only when it is labelled supported and the baseline's is not;
- chain: always the chain's answer (the paper's method alone).

    RAGSCOPE_HOME=... python benchmarks/settle_rules.py benchmarks/results/musique-auto_rag.json ...
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.baseline import STRENGTH  # noqa: E402
from evaluation.metrics import f1_score  # noqa: E402
from settings import Settings  # noqa: E402
from storage.db import Database  # noqa: E402

Pick = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


def _strength(c: dict[str, Any]) -> int:
    return STRENGTH.get(str(c.get("label", "")), 0)


RULES: dict[str, Pick] = {
    "baseline": lambda chain, base: base,
    "stronger": lambda chain, base: chain if _strength(chain) > _strength(base) else base,
    "supported": lambda chain, base: chain if chain.get("label") == "supported" != base.get("label") else base,
    "chain": lambda chain, base: chain,
}


def settlement(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The answer step's stored settlement, or None."""
    for event in reversed(events):
        settled = (event.get("data") or {}).get("settled")
        if isinstance(settled, dict) and settled.get("baseline"):
            return settled
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", type=Path, help="bench --json files of auto_rag / iter_retgen")
    parser.add_argument("--half", type=int, default=25)
    args = parser.parse_args(argv)
    db = Database(Settings.from_env().db_url)
    print("set agent rule | F1 on 1-25 | F1 on 26-50 | (questions without a stored settlement)")
    for path in args.results:
        result = json.loads(path.read_text())
        for agent, rows in result.get("per_question", {}).items():
            settled = [settlement(db.get_run(r["run_id"])["events"]) for r in rows]
            missing = sum(s is None for s in settled)
            for name, pick in RULES.items():
                scores = [f1_score(pick(s["chain"], s["baseline"])["answer"], r["answers"]) if s else float(r["f1"])
                          for r, s in zip(rows, settled, strict=True)]
                halves = (scores[:args.half], scores[args.half:])
                print(f"{path.stem} {agent} {name} | " + " | ".join(
                    f"{statistics.fmean(h):.3f}" if h else "-" for h in halves) + f" | {missing}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
