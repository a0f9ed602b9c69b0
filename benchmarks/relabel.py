"""Label the stored answers of a naive bench again with the current support check, without answering again.

The naive agent's answer does not depend on its label (it reads once, then labels), so a change to
agents/grounding.py can be measured on a stored bench by re-running only the check on the same question, answer
and passages (one or two short model calls per answer). Agents whose steps depend on labels (RetroRAG stops on a
supported draft; Auto-RAG and Iter-RetGen settle on them) must be benched again instead; they are refused.

`--pool` makes one narrower repair for RetroRAG, whose steps depend only on `supported`: a `guess` whose answer's
words all stand in a passage the run retrieved becomes `found` (what agents.grounding.ground gives once it is
passed every retrieved passage: no model call decides it).

    RAGSCOPE_HOME=... python benchmarks/relabel.py IN.json OUT.json
    RAGSCOPE_HOME=... python benchmarks/relabel.py --pool IN.json OUT.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.events import GroundingData, Step  # noqa: E402
from agents.grounding import ground, relevance, widen  # noqa: E402
from evaluation.bench import label_of, label_table  # noqa: E402
from services import Services  # noqa: E402
from settings import Settings  # noqa: E402
from storage.db import Database  # noqa: E402

RELABELLED = ("naive",)
POOL_RELABELLED = ("retro_rag",)


def pool_label(row: dict, events: list[dict]) -> str:
    """The row's label widened over every passage the run showed (agents.grounding.widen: a guess one of them
    holds every word of is found)."""
    shown = [h for e in events for h in (e.get("data") or {}).get("hits") or [] if isinstance(h, dict)]
    return str(widen(GroundingData(status=row["label"]), row["prediction"], shown)["status"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--pool", action="store_true", help="only guess -> found over every retrieved passage")
    args = parser.parse_args(argv)
    result = json.loads(args.source.read_text())
    if args.pool:
        return pool_relabel(result, args.source, args.out, parser)
    refused = sorted(set(result["per_question"]) - set(RELABELLED))
    if refused:
        parser.error(f"only {', '.join(RELABELLED)} can be relabelled; bench {', '.join(refused)} again")
    services = Services(Settings.from_env())
    changed = 0
    for agent, rows in result["per_question"].items():
        for row in rows:
            events = services.db.get_run(row["run_id"])["events"]
            read = next(e for e in events if e["kind"] == "read")
            old = read["data"].get("grounding") or {}
            if old.get("status") not in ("supported", "found"):
                continue  # guess and none do not depend on the support check
            hits = next(e for e in events if e["kind"] == "retrieve")["data"]["hits"]
            scores = relevance(None, row["question"], hits, dense=True)
            with Step(agent, "read", row["run_id"]) as step:
                new = ground(services.llm, step, row["question"], row["prediction"], hits, scores,
                             floor=float(old.get("floor", 0.3)), margin=float(old.get("margin", 8.0)))
            if new["status"] != row["label"]:
                changed += 1
                print(f"{agent} {row['id']}: {row['label']} -> {new['status']} ({row['prediction']!r})")
            row["grounding"], row["label"] = new["status"], label_of(new["status"])
        result["agents"][agent]["labels"] = label_table(rows)
    result["relabelled"] = {"from": str(args.source), "changed": changed,
                            "note": "labels re-checked on the stored answers and passages (benchmarks/relabel.py)"}
    args.out.write_text(json.dumps(result, indent=1))
    print(f"{changed} labels changed; wrote {args.out}")
    return 0


def pool_relabel(result: dict, source: Path, out: Path, parser: argparse.ArgumentParser) -> int:
    refused = sorted(set(result["per_question"]) - set(POOL_RELABELLED))
    if refused:
        parser.error(f"--pool is for {', '.join(POOL_RELABELLED)} only; bench {', '.join(refused)} again")
    db = Database(Settings.from_env().db_url)
    changed = 0
    for agent, rows in result["per_question"].items():
        for row in rows:
            label = pool_label(row, db.get_run(row["run_id"])["events"])
            if label != row["label"]:
                changed += 1
                print(f"{agent} {row['id']}: {row['label']} -> {label} ({row['prediction']!r})")
            row["grounding"] = row["label"] = label
        result["agents"][agent]["labels"] = label_table(rows)
    result["relabelled"] = {"from": str(source), "changed": changed,
                            "note": "guess -> found where a retrieved passage holds the answer (relabel.py --pool)"}
    out.write_text(json.dumps(result, indent=1))
    print(f"{changed} labels changed; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
