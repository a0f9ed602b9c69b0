"""How often 'supported' answers were right at each support margin, on questions 1-25 and 26-50 of stored benches.

The margin (agents.grounding.SUPPORT_MARGIN) is chosen on questions 1-25 and confirmed on 26-50. A check stores
its log-odds, so a run benched at margin M is relabelled exactly at every margin up to M (its checks were made in
the same order and would stop at the same or an earlier passage); above M a later passage's check may be missing,
so those margins are not printed.

    python benchmarks/label_margins.py benchmarks/results/musique-*.json --margins 0,2,4,6,8
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.bench import is_right  # noqa: E402
from settings import Settings  # noqa: E402
from storage.db import Database  # noqa: E402


def final_grounding(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The last grounding a run's steps carry ({} when none)."""
    for event in reversed(events):
        g = (event.get("data") or {}).get("grounding")
        if isinstance(g, dict) and g.get("status"):
            return g
    return {}


def label_at(grounding: dict[str, Any], margin: float) -> str:
    """The label the run's stored checks give at `margin` (margins at most the one it was benched at)."""
    status = str(grounding.get("status", ""))
    if status not in ("supported", "found"):
        return status
    passed = any(c.get("chain", {}).get("passed") and float(c.get("log_odds", -1e9)) > margin
                 for c in grounding.get("checks", []))
    return "supported" if passed else "found"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", type=Path, help="bench --json files")
    parser.add_argument("--margins", default="0,2,4,6,8")
    parser.add_argument("--half", type=int, default=25, help="questions 1..HALF tune, the rest confirm")
    args = parser.parse_args(argv)
    db = Database(Settings.from_env().db_url)
    margins = [float(m) for m in args.margins.split(",")]
    print("set agent margin | supported right/n on 1-25 | on 26-50")
    for path in args.results:
        result = json.loads(path.read_text())
        for agent, rows in result.get("per_question", {}).items():
            groundings = [final_grounding(db.get_run(r["run_id"])["events"]) for r in rows]
            benched = max((float(g.get("margin", 0.0)) for g in groundings if g), default=0.0)
            for margin in (m for m in margins if m <= benched):
                cells = []
                for part in (slice(0, args.half), slice(args.half, None)):
                    chosen = [r for r, g in zip(rows[part], groundings[part], strict=True)
                              if label_at(g, margin) == "supported"]
                    cells.append(f"{sum(is_right(r) for r in chosen)}/{len(chosen)}")
                print(f"{path.stem} {agent} {margin:g} | {cells[0]} | {cells[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
