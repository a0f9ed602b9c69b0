"""Readers for benchmark files: corpus.jsonl ({id,title,text}) and questions.jsonl."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from retrieval.readers import IngestError, RawDocument


@dataclass(frozen=True)
class Question:
    """A benchmark question with its gold answers and supporting passage ids."""

    id: str
    question: str
    answers: tuple[str, ...]
    gold_ids: tuple[str, ...]
    type: str = ""


def _lines(path: Path) -> list[tuple[int, dict]]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    out.append((n, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise IngestError(f"{path.name}: line {n} is not valid JSON ({exc.msg})") from exc
    return out


def read_corpus(path: Path) -> list[RawDocument]:
    """Passages of a corpus.jsonl, keeping their ids."""
    return [RawDocument(id=str(d["id"]), title=str(d.get("title", "")), text=str(d["text"]),
                        source=f"{path.name}:{n}") for n, d in _lines(path)]


def read_questions(path: Path, limit: int | None = None) -> list[Question]:
    """Questions of a questions.jsonl, at most `limit`."""
    qs = [Question(id=str(d["id"]), question=d["question"], answers=tuple(d.get("answers", [])),
                   gold_ids=tuple(d.get("gold_ids", [])), type=str(d.get("type", ""))) for _, d in _lines(path)]
    return qs[:limit] if limit else qs
