"""Stored benchmark results: each `bench` (CLI or the Benchmarks tab) is kept in SQL with its per-question rows
and run ids; committed reference results under benchmarks/results/*.json are read beside them. Also: the
gold a run is judged by (its bench row, a user's annotation, or a demo question), and a questions upload."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evaluation.datasets import Question
from evaluation.lost import VERDICT_TITLES, tally, tally_sentence, where_lost
from storage.db import NotFound
from storage.models import PUBLIC
from storage.results import Gold, ResultStore

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = ROOT / "benchmarks" / "results"
DEMO_QUESTIONS = ROOT / "data" / "demo" / "questions.jsonl"
LABELS = ("supported", "found", "guess", "none")
COSTS = {"llm_calls": "LLM calls / question", "tokens": "tokens / question", "seconds": "seconds / question"}
SCORES = {"f1": "answer F1", "recall@5": "recall@5", "em": "exact match"}


def dataset_name(questions: str) -> str:
    """A name for people: the folder of a `questions.jsonl`, else the file's stem."""
    path = Path(questions)
    return path.parent.name if path.name == "questions.jsonl" and path.parent.name else path.stem or str(questions)


def annotate_lost(services: Services, results: dict[str, Any]) -> None:
    """Add to each per-question row where its answer was lost (`lost`, `lost_sentence`), and to each agent's
    summary the tally (`lost`), from the runs' stored events."""
    for agent, rows in (results.get("per_question") or {}).items():
        verdicts = []
        for row in rows:
            try:
                events = services.db.get_run(row["run_id"])["events"] if row.get("run_id") else []
            except NotFound:
                events = []
            report = where_lost(events, row.get("gold_ids") or [], row.get("answers") or [],
                                row.get("prediction") or "")
            if report is not None:
                row["lost"], row["lost_sentence"] = report.verdict, report.sentence
                verdicts.append(report.verdict)
        if agent in results.get("agents", {}):
            results["agents"][agent]["lost"] = tally(verdicts)


def store_result(services: Services, results: dict[str, Any], owner: str = PUBLIC, source: str = "cli") -> str:
    """Annotate where each answer was lost, then store the result (and every run's gold); returns its id."""
    annotate_lost(services, results)
    results.setdefault("dataset", dataset_name(str(results.get("questions", ""))))
    results["owner"], results["source"], results["created"] = owner, source, time.time()
    return ResultStore(services.db).save_bench(results, results["dataset"], owner, source)


def reference_results(folder: Path | None = None) -> list[dict[str, Any]]:
    """Committed bench results (`bench --json` files with per-question rows; default benchmarks/results/) as
    stored entries."""
    folder = folder if folder is not None else REFERENCE_DIR
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("skipping unreadable benchmark result %s", path)
            continue
        if not isinstance(results, dict) or not isinstance(results.get("per_question"), dict):
            continue  # not a multi-hop bench result (e.g. a dialogue bench)
        out.append({"id": f"file:{path.name}", "owner": PUBLIC, "source": "reference",
                    "dataset": results.get("dataset") or dataset_name(str(results.get("questions", path.stem))),
                    "corpus": results.get("corpus_name", ""), "created": results.get("created") or path.stat().st_mtime,
                    "results": results})
    return out


def visible_results(services: Services, user: str = "", folder: Path | None = None) -> list[dict[str, Any]]:
    """Every result this user may see: the committed reference results, then stored ones (their own and the
    operator's; all of them in single-user mode), newest first."""
    owner = None if services.runs_of(user) is None else services.owner(user)  # None: single-user, every result
    stored = ResultStore(services.db).list_bench(owner)
    return reference_results(folder) + stored


def find_result(services: Services, result_id: str, user: str = "", folder: Path | None = None) -> dict[str, Any]:
    """One result this user may see, by id (NotFound otherwise)."""
    for entry in visible_results(services, user, folder):
        if entry["id"] == result_id:
            return entry
    raise NotFound(f"no benchmark result {result_id!r}")


def calibration(summary: dict[str, Any]) -> str:
    """'supported 12/15 right · found 20/31 · guess 3/10 · none 0/4', or 'no measurement'."""
    labels = summary.get("labels")
    if not isinstance(labels, dict) or not labels:
        return "no measurement"
    parts = [f"{name} {int(v.get('right', 0))}/{int(v.get('n', 0))}" for name in LABELS
             if isinstance(v := labels.get(name), dict) and v.get("n")]
    return (" · ".join(parts) + " right") if parts else "no measurement"


def lost_text(agent: str, summary: dict[str, Any]) -> str:
    """'naive lost 38 of 50: 21 at retrieval, 12 at reading, …', or 'no measurement'."""
    counts = summary.get("lost")
    return tally_sentence(agent, counts) if isinstance(counts, dict) and sum(counts.values()) else "no measurement"


def points(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One point per (result, agent): dataset, agent, model, settings, scores, costs, calibration, losses."""
    out = []
    for entry in entries:
        results = entry["results"]
        config = results.get("config") or {}
        settings = ", ".join(f"{k}={v}" for k, v in config.items()) or "defaults"
        for agent, s in (results.get("agents") or {}).items():
            out.append({
                "result": entry["id"], "dataset": entry["dataset"], "agent": agent, "model": results.get("llm", ""),
                "settings": settings, "n": int(s.get("n", 0)), "f1": float(s.get("f1", 0.0)),
                "em": float(s.get("em", 0.0)), "recall@5": float(s.get("recall@5", 0.0)),
                "llm_calls": float(s.get("llm_calls", 0.0)),
                "tokens": float(s.get("prompt_tokens", 0.0)) + float(s.get("completion_tokens", 0.0)),
                "seconds": float(s.get("seconds", 0.0)), "labels": calibration(s), "lost": lost_text(agent, s),
                "source": entry.get("source", ""), "created": float(entry.get("created") or 0.0),
            })
    return out


def question_rows(entry: dict[str, Any], agent: str) -> list[dict[str, Any]]:
    """The questions of one point: question, gold, prediction, F1, label, where lost, run id."""
    rows = (entry["results"].get("per_question") or {}).get(agent) or []
    return [{"question": r.get("question", ""), "gold": " | ".join(r.get("answers") or []),
             "prediction": r.get("prediction", ""), "f1": round(float(r.get("f1", 0.0)), 3),
             "recall@5": round(float(r.get("recall@5", 0.0)), 3),
             "label": r.get("label") or "no measurement",
             "lost": VERDICT_TITLES.get(r.get("lost", ""), "no measurement"), "run": r.get("run_id", "")}
            for r in rows]


# --- the gold a run is judged by ------------------------------------------------------------------------
def _normalise(question: str) -> str:
    return " ".join(question.lower().split()).rstrip("?").strip()


def demo_gold(question: str, path: Path = DEMO_QUESTIONS) -> Gold | None:
    """The gold of a bundled demo question (its passage ids are content hashes, the same everywhere)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    wanted = _normalise(question)
    for line in lines:
        if line.strip() and _normalise((d := json.loads(line)).get("question", "")) == wanted:
            return Gold(tuple(d.get("gold_ids", [])), tuple(d.get("answers", [])), "demo questions")
    return None


def gold_for_run(services: Services, run: dict[str, Any]) -> Gold | None:
    """What a stored run should have found: its bench row's or a user's annotation, else a demo question's."""
    gold = ResultStore(services.db).gold(run["id"])
    if gold is not None:
        return gold
    return demo_gold(run.get("question", "")) if run.get("corpus") == "demo" else None


# --- a questions upload ---------------------------------------------------------------------------------
def parse_questions(text: str, limit: int = 0) -> list[Question]:
    """Questions from questions.jsonl text (`question` required; `id`, `answers`, `gold_ids` optional);
    ValueError naming the first bad line, or more questions than `limit`."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"line {number} is not valid JSON ({exc.msg})") from None
        if not isinstance(d, dict) or not str(d.get("question", "")).strip():
            raise ValueError(f"line {number} has no \"question\"")
        answers, gold = d.get("answers", []), d.get("gold_ids", [])
        if not isinstance(answers, list) or not isinstance(gold, list):
            raise ValueError(f"line {number}: \"answers\" and \"gold_ids\" must be lists")
        out.append(Question(id=str(d.get("id", number)), question=str(d["question"]).strip(),
                            answers=tuple(str(a) for a in answers), gold_ids=tuple(str(g) for g in gold),
                            type=str(d.get("type", ""))))
    if not out:
        raise ValueError("the file holds no questions")
    if limit and len(out) > limit:
        raise ValueError(f"{len(out)} questions; at most {limit} in one benchmark from the tab")
    return out
