"""Which answer an iterative agent should give, its own chain's or its baseline reading's, by rule, on questions
1-25 (to choose) and 26-50 (to confirm), from the stored runs of a bench.

Auto-RAG and Iter-RetGen store both candidates with their labels in the answer step (agents.baseline.settled_record),
so every rule below is scored on the same runs without running the model again:
- baseline: always the baseline reading (what the naive agent answers);
- stronger: the chain's answer when its label is stronger (supported > found > guess > none), else the baseline's;
- supported: the chain's answer only when it is labelled supported and the baseline's is not, or the baseline has
  no answer and the chain has one (agents.baseline.settle, the rule in force);
- chain: always the chain's answer (the paper's method alone).

    RAGSCOPE_HOME=... python benchmarks/settle_rules.py benchmarks/results/musique-auto_rag.json ...
    RAGSCOPE_HOME=... python benchmarks/settle_rules.py --apply supported --out OUT.json IN.json

`--apply RULE --out OUT.json` writes the bench result as that rule would have answered: the kept answer's score,
and its label over every passage the run retrieved (a guess a shown passage holds is found, as agents.baseline
labels both candidates). The chain's steps before the answer do not depend on the rule, so this is exact.
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

from agents.baseline import Candidate, settle  # noqa: E402
from evaluation.metrics import f1_score  # noqa: E402
from settings import Settings  # noqa: E402
from storage.db import Database  # noqa: E402

Pick = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


STRENGTH = {"supported": 3, "found": 2, "guess": 1, "none": 0}  # the rule before: how strong a claim each label makes


def _strength(c: dict[str, Any]) -> int:
    return STRENGTH.get(str(c.get("label", "")), 0)


def _settled(chain: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The candidate agents.baseline.settle keeps (the stored labels are already over every retrieved passage
    for a guess that matters to it: settle's rule reads only supported and none)."""
    def cand(c: dict[str, Any]) -> Candidate:
        return Candidate(c["answer"], {"status": c.get("label", "")}, list(c.get("passages", [])))
    return chain if settle(cand(chain), cand(base)).keep == "chain" else base


RULES: dict[str, Pick] = {
    "baseline": lambda chain, base: base,
    "stronger": lambda chain, base: chain if _strength(chain) > _strength(base) else base,
    "supported": _settled,
    "chain": lambda chain, base: chain,
}


def settlement(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The answer step's stored settlement, or None."""
    for event in reversed(events):
        settled = (event.get("data") or {}).get("settled")
        if isinstance(settled, dict) and settled.get("baseline"):
            return settled
    return None


def apply(db: Database, source: Path, out: Path, rule: str) -> int:
    """Write `source` as `rule` answers each question (see the module's docstring)."""
    from types import SimpleNamespace

    from benchmarks.relabel import pool_label
    from evaluation.bench import label_table, stands_in_retrieved, summarise
    from evaluation.metrics import exact_match

    result = json.loads(source.read_text())
    changed = 0
    for agent, rows in result["per_question"].items():
        for row in rows:
            events = db.get_run(row["run_id"])["events"]
            s = settlement(events)
            if s is None:
                continue
            kept = RULES[rule](s["chain"], s["baseline"])
            if kept["answer"] != row["prediction"]:
                changed += 1
                print(f"{agent} {row['id']}: {row['prediction']!r} -> {kept['answer']!r}")
            row.update(prediction=kept["answer"], label=kept["label"], grounding=kept["label"],
                       em=exact_match(kept["answer"], row["answers"]), f1=f1_score(kept["answer"], row["answers"]))
            row["label"] = row["grounding"] = pool_label(row, events)
            row["in_retrieved"] = stands_in_retrieved(kept["answer"], [SimpleNamespace(**e) for e in events])
        wall = result["agents"][agent].get("wall_seconds")
        result["agents"][agent] = {**summarise(rows), "labels": label_table(rows), "wall_seconds": wall}
    result["resettled"] = {"from": str(source), "rule": rule, "changed": changed,
                           "note": "answers settled again by benchmarks/settle_rules.py --apply"}
    out.write_text(json.dumps(result, indent=1))
    print(f"{changed} answers changed; wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", type=Path, help="bench --json files of auto_rag / iter_retgen")
    parser.add_argument("--half", type=int, default=25)
    parser.add_argument("--apply", choices=sorted(RULES), help="rewrite the result as this rule answers")
    parser.add_argument("--out", type=Path, help="where --apply writes (one input file)")
    args = parser.parse_args(argv)
    db = Database(Settings.from_env().db_url)
    if args.apply:
        if not args.out or len(args.results) != 1:
            parser.error("--apply needs --out and one result file")
        return apply(db, args.results[0], args.out, args.apply)
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
