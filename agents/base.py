"""What every agent shares: its dependencies, its spec, the base state, and config helpers."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from agents.events import TraceEvent
from llm.base import LLM
from retrieval.corpus import CorpusStore, Hit


@dataclass
class Deps:
    """Everything a graph builder may use; nodes never construct clients themselves."""

    llm: LLM
    corpora: CorpusStore
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)  # e.g. "hipporag": provider


class RAGState(TypedDict, total=False):
    """State shared by the retrieval agents; events and retrieved hits only ever grow."""

    run_id: str
    question: str
    corpus: str
    events: Annotated[list[TraceEvent], operator.add]
    retrieved: Annotated[list[dict[str, Any]], operator.add]  # hits in order of retrieval
    answer: str
    used_ids: list[str]


@dataclass(frozen=True)
class AgentSpec:
    """A method by name: its title, paper, config class and graph builder."""

    name: str
    title: str
    paper: str
    summary: str
    config_cls: type
    build_graph: Callable[[Deps, Any], Any]  # (deps, config) -> uncompiled StateGraph


def describe(field: dataclasses.Field[Any]) -> str:
    """A config field's description (shown as a tooltip in the UI)."""
    return str(field.metadata.get("description", ""))


def option(default: Any, description: str, **limits: Any) -> Any:
    """A config field with a description and optional `min`/`max`/`choices` for the UI."""
    return dataclasses.field(default=default, metadata={"description": description, **limits})


def config_from_dict(cls: type, values: dict[str, Any] | None) -> Any:
    """Build a config, converting types and rejecting unknown fields with a clear error."""
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown config field(s) {unknown}; valid: {sorted(fields)}")
    out: dict[str, Any] = {}
    for name, value in values.items():
        f = fields[name]
        kind = type(f.default)
        value = kind(value) if kind in (int, float, str) else (
            value if kind is not bool else str(value).lower() in ("1", "true", "yes", "on"))
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ValueError(f"{name}={value} is outside [{lo}, {hi}]")
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            raise ValueError(f"{name}={value!r} is not one of {list(choices)}")
        out[name] = value
    return cls(**out)


def hit_dict(hit: Hit, rank: int, query: str) -> dict[str, Any]:
    """A retrieved hit as JSON for events and state."""
    return {"rank": rank, "chunk_id": hit.chunk_id, "doc_id": hit.doc_id, "title": hit.title,
            "text": hit.text, "score": hit.score, "query": query}


def short(text: str, n: int = 60) -> str:
    """Text cut to n characters with an ellipsis, on one line."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def format_passages(hits: list[dict[str, Any]]) -> str:
    """Numbered passages for a reader prompt."""
    return "\n\n".join(f"[{i}] {h['title']}: {h['text']}" for i, h in enumerate(hits, 1))


def event_of(update: dict[str, Any]) -> list[TraceEvent]:
    """The events a node update carries."""
    return list(update.get("events", []) or [])
