"""What every agent shares: its dependencies, its spec, the base state, and config helpers."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypedDict

from agents.events import HitData, Message, TraceEvent
from agents.text import short  # noqa: F401 - the one text-cutting helper, re-exported for the agents
from llm.base import LLM
from retrieval.corpus import CorpusStore, Hit

if TYPE_CHECKING:
    from memory.store import ThoughtStore
    from retrieval.hipporag.store import HippoRAGStore


@dataclass
class Deps:
    """Everything a node may use, built once by the services; nodes never construct clients themselves."""

    llm: LLM
    corpora: CorpusStore
    graph: HippoRAGStore | None = None  # HippoRAG's knowledge graph per corpus (graph walks)
    memory: ThoughtStore | None = None  # TiM's long-term thoughts, one memory per user


class RAGState(TypedDict, total=False):
    """State shared by the retrieval agents; events and retrieved hits only ever grow."""

    run_id: str
    agent: str  # the registered name of the agent running (set by the runner)
    question: str
    corpus: str
    events: Annotated[list[TraceEvent], operator.add]
    retrieved: Annotated[list[HitData], operator.add]  # hits in order of retrieval
    answer: str
    used_ids: list[str]
    user: str  # whose memory a chat agent reads and writes (set by the runner)
    conversation: str  # the chat this turn belongs to
    history: list[Message]  # the conversation's earlier turns, oldest first


@dataclass(frozen=True)
class AgentSpec:
    """A method by name: its title, paper, config class and graph builder."""

    name: str
    title: str
    paper: str
    summary: str
    config_cls: type
    build_graph: Callable[[Deps, Any], Any]  # (deps, config) -> uncompiled StateGraph
    needs_corpus: bool = True  # False for chat agents that can run without a corpus


def bind(node: Callable[[Any, Deps, Any], Any], deps: Deps, config: Any) -> Callable[[Any], Any]:
    """A module-level node `(state, deps, config)` as the one-argument callable a graph runs.

    The wrapper deliberately hides the inner signature: LangGraph injects its own RunnableConfig into
    a node parameter named `config`.
    """

    def run(state: Any) -> Any:
        return node(state, deps, config)

    run.__name__, run.__doc__ = node.__name__, node.__doc__
    return run


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
        value = _converted(name, type(f.default), value)
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ValueError(f"{name}={value} is outside [{lo}, {hi}]")
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            raise ValueError(f"{name}={value!r} is not one of {list(choices)}")
        out[name] = value
    return cls(**out)


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _converted(name: str, kind: type, value: Any) -> Any:
    """`value` as a config field of type `kind`; ValueError naming the field and the type it must be."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ValueError(f"{name} must be true or false, not {value!r}")
    if kind is int:
        number = _number(value)
        if number is None or number != int(number):
            raise ValueError(f"{name} must be an integer, not {value!r}")
        return int(number)
    if kind is float:
        number = _number(value)
        if number is None:
            raise ValueError(f"{name} must be a number, not {value!r}")
        return number
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, not {value!r}")
        return value
    return value


def _number(value: Any) -> float | None:
    """A finite number from a number or a numeric string (not a bool); None otherwise."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def hit_dict(hit: Hit, rank: int, query: str) -> HitData:
    """A retrieved hit as JSON for events and state."""
    return HitData(rank=rank, chunk_id=hit.chunk_id, doc_id=hit.doc_id, title=hit.title, text=hit.text,
                   score=hit.score, query=query)


def format_passages(hits: list[HitData]) -> str:
    """Numbered passages for a reader prompt."""
    return "\n\n".join(f"[{i}] {h['title']}: {h['text']}" for i, h in enumerate(hits, 1))
