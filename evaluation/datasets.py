"""Benchmark questions: questions.jsonl (the corpus.jsonl reader is `retrieval.readers.read_corpus`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from retrieval.readers import jsonl_records


@dataclass(frozen=True)
class Question:
    """A benchmark question with its gold answers and supporting passage ids."""

    id: str
    question: str
    answers: tuple[str, ...]
    gold_ids: tuple[str, ...]
    type: str = ""


def read_questions(path: Path, limit: int | None = None) -> list[Question]:
    """Questions of a questions.jsonl, at most `limit`."""
    qs = [Question(id=str(d["id"]), question=d["question"], answers=tuple(d.get("answers", [])),
                   gold_ids=tuple(d.get("gold_ids", [])), type=str(d.get("type", ""))) for _, d in jsonl_records(path)]
    return qs[:limit] if limit else qs
