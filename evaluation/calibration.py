"""How often answers with each label were right, from stored bench results: shown beside every label.

The reference results ship with the app (`benchmarks/results/*.json`, written by `python app.py bench --json`);
each holds, per agent, `labels: {label: {n, right}}` (evaluation.bench.label_table).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from evaluation.bench import LABELS, RIGHT_F1, label_table

RESULTS_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


@dataclass(frozen=True)
class Calibration:
    """Per label: answers labelled so, and how many of them were right; which data sets they came from."""

    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # label -> (right, n)
    datasets: tuple[str, ...] = ()

    def note(self, label: str) -> str:
        """'answers labelled like this were right 41 of 50 times on …' or that none were measured."""
        right, n = self.counts.get(label, (0, 0))
        if not n:
            return "no benchmark has measured how often answers labelled like this are right yet"
        where = " and ".join(self.datasets) or "the benchmark questions"
        return f"answers labelled like this were right {right} of {n} times on {where}"


def dataset_name(results: dict[str, Any]) -> str:
    """A readable name of a bench result's question set: its folder ('musique' -> 'MuSiQue')."""
    folder = Path(str(results.get("questions", ""))).parent.name or Path(str(results.get("questions", ""))).stem
    return {"musique": "MuSiQue", "hotpotqa": "HotpotQA", "demo": "the demo"}.get(folder, folder) + " questions"


def combine(results: Iterable[dict[str, Any]]) -> Calibration:
    """Pool the label tables of bench results (every agent of each), recomputed from their per-question rows."""
    counts = {label: [0, 0] for label in LABELS}
    names: list[str] = []
    for result in results:
        for rows in (result.get("per_question") or {}).values():
            if not rows or "label" not in rows[0]:
                continue
            for label, cell in label_table(rows).items():
                if label in counts:
                    counts[label][0] += cell["right"]
                    counts[label][1] += cell["n"]
            name = dataset_name(result)
            if name not in names:
                names.append(name)
    return Calibration({k: (v[0], v[1]) for k, v in counts.items()}, tuple(names))


@lru_cache(maxsize=4)
def reference(folder: Path = RESULTS_DIR) -> Calibration:
    """The calibration of the reference results shipped in `folder` (read once)."""
    results = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            results.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return combine(results)


__all__ = ["Calibration", "RIGHT_F1", "combine", "dataset_name", "reference"]
