"""Label the stored answers of a naive bench again with the current support check, without answering again.

The naive agent's answer does not depend on its label (it reads once, then labels), so a change to
agents/grounding.py can be measured on a stored bench by re-running only the check on the same question, answer
and passages (one or two short model calls per answer). Agents whose steps depend on labels (RetroRAG stops on a
supported draft; Auto-RAG and Iter-RetGen settle on them) must be benched again instead; they are refused.

    RAGSCOPE_HOME=... python benchmarks/relabel.py IN.json OUT.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.events import Step  # noqa: E402
from agents.grounding import ground, relevance  # noqa: E402
from evaluation.bench import label_of, label_table  # noqa: E402
from services import Services  # noqa: E402
from settings import Settings  # noqa: E402

RELABELLED = ("naive",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    result = json.loads(args.source.read_text())
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


if __name__ == "__main__":
    raise SystemExit(main())
