"""The labels, measured on the reference bench results shipped in benchmarks/results/ (issue 23's bar): on each
question set, answers labelled `supported` were right at least 80% of the time, and no answer labelled `guess`
("not in the passages it retrieved") stands word for word in a passage its run showed."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from evaluation.bench import is_right
from evaluation.calibration import RESULTS_DIR, dataset_name


def labelled_results() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(RESULTS_DIR.glob("*.json")):
        result = json.loads(path.read_text())
        rows = [r for rs in (result.get("per_question") or {}).values() if isinstance(rs, list) for r in rs]
        if rows and all("label" in r and "in_retrieved" in r for r in rows):
            out.append((path.name, result))
    return out


RESULTS = labelled_results()


def test_reference_results_with_labels_are_shipped() -> None:
    assert {dataset_name(r) for _, r in RESULTS} >= {"MuSiQue questions", "HotpotQA questions"}


def test_supported_answers_were_right_at_least_80_percent_of_the_time_on_each_set() -> None:
    cells: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _, result in RESULTS:
        for rows in result["per_question"].values():
            for row in rows:
                if row["label"] == "supported":
                    cells[dataset_name(result)][0] += is_right(row)
                    cells[dataset_name(result)][1] += 1
    for dataset, (right, n) in cells.items():
        assert right >= 0.8 * n, f"{dataset}: supported right {right} of {n}"


@pytest.mark.parametrize(("name", "result"), RESULTS, ids=[n for n, _ in RESULTS])
def test_no_guess_label_hides_an_answer_that_stands_in_a_retrieved_passage(name: str, result: dict) -> None:
    hidden = [(agent, r["id"], r["prediction"]) for agent, rows in result["per_question"].items() for r in rows
              if r["label"] == "guess" and r["in_retrieved"]]
    assert not hidden, hidden


def test_the_readme_gives_each_labels_measured_count_from_the_shipped_results() -> None:
    from evaluation.calibration import reference

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for label in ("supported", "found", "guess"):
        right, n = reference().counts[label]
        row = next(line for line in readme.splitlines() if line.startswith("| ") and f" {label} |" in line)
        assert row.rstrip(" |").endswith(f"{right} of {n}" + (f" ({100 * right // n}%)" if n else "")), row
