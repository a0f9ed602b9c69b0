"""`bench --concurrency N`: N questions run at once through the same runner, rows and scores as at 1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from evaluation.bench import run_bench
from llm.base import LLM, Choice, Completion, Message


class SlowOracle(LLM):
    """Answers with the title of the first passage in the prompt after a pause; records how many calls overlap."""

    name = "slow-oracle"

    def __init__(self) -> None:
        self.active = 0
        self.most = 0
        self._lock = threading.Lock()

    def chat(self, messages: Sequence[Message], max_tokens: int = 256,
             stop: Sequence[str] | None = None) -> Completion:
        """Wait a little, then name the town the question asks about."""
        with self._lock:
            self.active += 1
            self.most = max(self.most, self.active)
        time.sleep(0.05)
        with self._lock:
            self.active -= 1
        prompt = messages[-1]["content"]
        answer = "Tallow" if "Orvane" in prompt.split("Question")[-1] else "the Amber Sea"
        return Completion(text=answer, prompt_tokens=len(prompt.split()), completion_tokens=2)

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        """Always the first option."""
        return Choice(option=options[0], scores={o: 0.0 for o in options})


def write_bench(tmp_path: Path, toy_docs: list) -> tuple[Path, Path]:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": d.id, "title": d.title, "text": d.text}) + "\n" for d in toy_docs))
    questions = tmp_path / "questions.jsonl"
    asks = [("Where was the Orvane Guild founded?", "Tallow"), ("Where does the river Senn flow?", "the Amber Sea")]
    questions.write_text("".join(json.dumps({"id": f"q{i}", "question": f"{q} ({i})", "answers": [a]}) + "\n"
                                 for i, (q, a) in enumerate(asks * 4)))
    return corpus, questions


def test_concurrent_bench_overlaps_runs_and_keeps_order_and_scores(services_factory, toy_docs, tmp_path) -> None:
    corpus, questions = write_bench(tmp_path, toy_docs)
    serial_llm, parallel_llm = SlowOracle(), SlowOracle()
    serial = run_bench(services_factory(llm=serial_llm), ["naive"], corpus, questions, show_progress=False)
    parallel = run_bench(services_factory(llm=parallel_llm), ["naive"], corpus, questions, show_progress=False,
                         concurrency=4)
    assert serial_llm.most == 1 and parallel_llm.most >= 2  # runs (and their LLM calls) overlapped in time
    rows = parallel["per_question"]["naive"]
    assert [r["id"] for r in rows] == [f"q{i}" for i in range(8)]
    assert [r["prediction"] for r in rows] == [r["prediction"] for r in serial["per_question"]["naive"]]
    assert parallel["agents"]["naive"]["em"] == serial["agents"]["naive"]["em"] == 1.0
    assert parallel["concurrency"] == 4 and parallel["agents"]["naive"]["wall_seconds"] > 0
    assert parallel["agents"]["naive"]["wall_seconds"] < serial["agents"]["naive"]["wall_seconds"]
