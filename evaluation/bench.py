"""The benchmark: index a corpus once (by content), run agents on its questions, score them."""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evaluation.datasets import Question, read_questions
from evaluation.metrics import exact_match, f1_score, normalize_answer, recall_at_k
from evaluation.stored import store_result
from retrieval.readers import read_corpus
from storage.models import PUBLIC

if TYPE_CHECKING:
    from services import Services

COLUMNS = ("n", "recall@2", "recall@5", "em", "f1", "llm_calls", "retrieval_calls", "prompt_tokens",
           "completion_tokens", "seconds", "format_failures", "errors")
LABELS = ("supported", "found", "guess", "none")  # agents.grounding's labels, strongest claim first
RIGHT_F1 = 0.5  # an answer counts as right for the label calibration at EM, or at this token F1 or more


def bench_corpus_name(corpus_path: Path) -> str:
    """A corpus name derived from the file's content, so the same file is indexed only once."""
    digest = hashlib.sha1(corpus_path.read_bytes()).hexdigest()[:10]
    return f"bench-{corpus_path.parent.name or corpus_path.stem}-{digest}"


def score_run(run: Any, question: Any) -> dict[str, Any]:
    """Per-question numbers of one finished run."""
    ranked = run.retrieved_ids
    status = next((str(e.data["grounding"].get("status", "")) for e in reversed(run.events)
                   if isinstance(e.data.get("grounding"), dict)), "")
    return {
        "id": question.id, "question": question.question, "answers": list(question.answers),
        "prediction": run.answer, "run_id": run.run_id, "retrieved_ids": ranked[:10],
        "gold_ids": list(question.gold_ids),
        "recall@2": recall_at_k(ranked, question.gold_ids, 2),
        "recall@5": recall_at_k(ranked, question.gold_ids, 5),
        "em": exact_match(run.answer, question.answers), "f1": f1_score(run.answer, question.answers),
        "llm_calls": run.llm_calls, "retrieval_calls": run.retrieval_calls,
        "prompt_tokens": run.prompt_tokens, "completion_tokens": run.completion_tokens,
        "seconds": run.seconds,
        "format_failures": sum(bool(e.data.get("format_failure")) for e in run.events),
        "errors": int(bool(run.error)),
        "error": run.error or "",
        "grounding": status,
        "label": label_of(status),
        "in_retrieved": stands_in_retrieved(run.answer, run.events),
        "turns": sum(e.kind in ("retrieve", "graph_walk") for e in run.events),
    }


def stands_in_retrieved(answer: str, events: Sequence[Any]) -> bool:
    """True when the answer stands word for word (SQuAD-normalised) in a passage any step of the run showed:
    a check independent of the labels', so a stored run can show that no `guess` hides a retrieved answer."""
    norm = normalize_answer(answer or "")
    if not norm:
        return False
    texts = (h.get("text", "") for e in events for h in e.data.get("hits") or [] if isinstance(h, dict))
    return any(f" {norm} " in f" {normalize_answer(t)} " for t in texts)


def label_of(status: str) -> str:
    """The label a final grounding status is shown with; statuses of runs stored before the labels map to the
    label they now mean ('no answer' ones to none; an old 'guess' keeps its name, it was not re-checked)."""
    return status if status in LABELS else "none" if status in ("abstained", "nothing_relevant") else status


def is_right(row: dict[str, Any]) -> bool:
    """Right for the label calibration: exact match, or token F1 of at least RIGHT_F1."""
    return bool(row["em"]) or float(row["f1"]) >= RIGHT_F1


def label_table(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """How many answers got each label, and how many of those were right."""
    out = {label: {"n": 0, "right": 0} for label in LABELS}
    for r in rows:
        cell = out.setdefault(str(r.get("label", "")), {"n": 0, "right": 0})
        cell["n"] += 1
        cell["right"] += is_right(r)
    return out


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Means of the per-question numbers (errors and format failures as totals)."""
    out: dict[str, Any] = {"n": len(rows)}
    for key in COLUMNS[1:]:
        values = [r[key] for r in rows]
        if key in ("errors", "format_failures"):
            out[key] = int(sum(values))
        else:
            out[key] = round(statistics.fmean(values), 4) if values else 0.0
    return out


def run_bench(services: Services, agents: Sequence[str], corpus_path: Path | None, questions_path: Path | None,
              limit: int | None = None, config: dict[str, Any] | None = None,
              show_progress: bool = True, concurrency: int = 1, *, corpus: str = "",
              questions: Sequence[Question] | None = None, owner: str = PUBLIC, source: str = "cli",
              on_question: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Index the corpus, run every agent on every question (`concurrency` at once), return summary and rows;
    the result is stored (evaluation/stored.py) for the Benchmarks tab, its id under `result_id`.

    Without `corpus_path`, `corpus` names an existing corpus `owner` may read and `questions` are given: the
    Benchmarks tab's bench of a user's own corpus, whose runs are that user's; `on_question(agent, done, total)`
    follows it."""
    from tqdm import tqdm

    if corpus_path is not None:
        corpus = bench_corpus_name(corpus_path)
        docs = read_corpus(corpus_path)
        bar = tqdm(total=len(docs), desc=f"indexing {corpus_path.parent.name}", disable=not show_progress)
        t0 = time.perf_counter()
        report = services.ingest_documents(corpus, docs, progress=lambda done, total, _m: bar.update(done - bar.n))
        bar.close()
        index_seconds, indexed = time.perf_counter() - t0, report.summary()
    else:
        index_seconds, indexed = 0.0, "an existing corpus"
    questions = list(questions) if questions is not None else read_questions(questions_path, limit)
    results: dict[str, Any] = {"corpus": str(corpus_path or corpus), "corpus_name": corpus,
                               "questions": str(questions_path or "uploaded questions"),
                               "index_seconds": round(index_seconds, 2), "indexed": indexed,
                               "config": dict(config or {}), "agents": {}, "per_question": {}}
    if "hipporag" in agents or (config or {}).get("retriever") == "hipporag":
        # build (or load) the knowledge graph up front, so its time is not charged to the first question
        bar = tqdm(desc=f"graph {corpus}", disable=not show_progress)
        t0 = time.perf_counter()
        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        _index, sync = services.hipporag.for_corpora(services.corpora_of(owner)).index(corpus, advance)
        bar.close()
        results["graph_index_seconds"] = round(time.perf_counter() - t0, 2)
        results["graph_passages_added"] = sync.added
    for agent in agents:
        progress = tqdm(total=len(questions), desc=agent, disable=not show_progress)

        def one(q: Any, agent: str = agent, progress: Any = progress) -> dict[str, Any]:
            with services.queue.place(owner) as wait:  # a run slot, as the app's runs take one
                while wait(1.0):
                    pass
                run = services.run(agent, corpus, q.question, config, owner=owner)
                for _event in run:
                    pass
            progress.update(1)
            if on_question is not None:
                on_question(agent, progress.n, len(questions))
            if run.error:
                progress.write(f"{agent} failed on {q.id}: {run.error}")
            return score_run(run, q)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="bench") as pool:
            rows = list(pool.map(one, questions))  # in question order, whatever order they finish in
        progress.close()
        results["agents"][agent] = summarise(rows)
        results["agents"][agent]["labels"] = label_table(rows)
        results["agents"][agent]["wall_seconds"] = round(time.perf_counter() - t0, 2)
        results["per_question"][agent] = rows
    results["concurrency"] = max(1, concurrency)
    results["llm"] = services.llm.describe()
    results["result_id"] = store_result(services, results, owner, source)
    return results


def format_table(results: dict[str, Any]) -> str:
    """The summary as an aligned text table, one row per agent."""
    header = ["agent", *COLUMNS]
    lines = [header]
    for agent, row in results["agents"].items():
        lines.append([agent, *(_fmt(row[c]) for c in COLUMNS)])
    table = _aligned(lines)
    labels = [["agent", *(f"{label} right/n" for label in LABELS)]]
    for agent, row in results["agents"].items():
        cells = row.get("labels", {})
        labels.append([agent, *(f"{cells.get(lb, {}).get('right', 0)}/{cells.get(lb, {}).get('n', 0)}"
                                for lb in LABELS)])
    return f"{table}\n\nlabels (right = EM, or F1 >= {RIGHT_F1}):\n{_aligned(labels)}"


def _aligned(lines: list[list[str]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)) for line in lines)


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def write_json(results: dict[str, Any], path: Path) -> None:
    """Save results (summary keys per agent, then per-question rows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
