"""TraceEvent: the one thing an agent emits, one per step, with a sentence a person can read."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal[
    "plan", "retrieve", "read", "rewrite", "graph_walk", "memory_read", "memory_write", "revise",
    "answer", "error",
]
KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class TraceEvent:
    """One step of a run. `data` is JSON-serialisable (ids, scores, prompts, subgraph)."""

    agent: str
    kind: Kind
    explanation: str
    data: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""
    started: float = 0.0
    seconds: float = 0.0
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for JSON export and storage."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TraceEvent:
        """Rebuild an event from `to_dict` output (unknown keys are ignored)."""
        names = cls.__dataclass_fields__.keys()
        return cls(**{k: v for k, v in d.items() if k in names})


class Step:
    """Times one node and collects its LLM usage, then builds its event.

    with Step("naive", "read") as step:
        c = llm.chat(...); step.add(c)
    return {"events": [step.event("Wrote an answer of 12 words.", {...})]}
    """

    def __init__(self, agent: str, kind: Kind, run_id: str = "") -> None:
        self.agent, self.kind, self.run_id = agent, kind, run_id
        self.started = time.time()
        self._t0 = time.perf_counter()
        self.llm_calls = self.prompt_tokens = self.completion_tokens = 0

    def __enter__(self) -> Step:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add(self, usage: Any) -> Any:
        """Count one LLM call (a Completion or Choice); returns it for chaining."""
        self.llm_calls += 1
        self.prompt_tokens += int(getattr(usage, "prompt_tokens", 0))
        self.completion_tokens += int(getattr(usage, "completion_tokens", 0))
        return usage

    def event(self, explanation: str, data: dict[str, Any] | None = None, kind: Kind | None = None) -> TraceEvent:
        """The finished step as a TraceEvent, timed from construction to now."""
        return TraceEvent(
            agent=self.agent, kind=kind or self.kind, explanation=explanation, data=data or {},
            run_id=self.run_id, started=self.started, seconds=round(time.perf_counter() - self._t0, 4),
            llm_calls=self.llm_calls, prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
        )
