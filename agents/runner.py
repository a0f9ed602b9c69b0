"""Run an agent: compile its graph, stream its events, store the run and every event as it comes."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import GraphRecursionError

from agents import registry
from agents.base import Deps, config_from_dict
from agents.events import ErrorData, Message, TraceEvent
from storage.db import Database
from storage.models import PUBLIC

RECURSION_LIMIT = 100


@dataclass(frozen=True)
class RunLimits:
    """What one run may use; 0 means no limit."""

    question_chars: int = 0
    tokens: int = 0
    steps: int = 0


class AgentRun:
    """One run; iterate it for its events. Afterwards `answer`, `retrieved_ids` and totals are set.

    Bad input (empty question, unknown agent or corpus, bad config) raises ValueError/LookupError at
    construction, before anything is stored. A failure inside the graph becomes an `error` event and a
    run stored with status "error"; it is never raised from the iterator.
    """

    def __init__(self, deps: Deps, db: Database, agent: str, corpus: str, question: str,
                 config: dict[str, Any] | None = None, owner: str = PUBLIC, limits: RunLimits | None = None,
                 user: str = "", conversation: str = "", history: list[Message] | None = None) -> None:
        question = (question or "").strip()
        if not question:
            raise ValueError("the question is empty")
        self.limits = limits or RunLimits()
        if self.limits.question_chars and len(question) > self.limits.question_chars:
            raise ValueError(f"the question has {len(question):,} characters; at most "
                             f"{self.limits.question_chars:,} are allowed (RAGSCOPE_MAX_QUESTION_CHARS)")
        self.spec = registry.get(agent)
        self.config = config_from_dict(self.spec.config_cls, config)
        if corpus or self.spec.needs_corpus:
            deps.corpora.corpus_id(corpus)  # NotFound naming the corpora this run's owner may read
        # chat agents: whose memory, which conversation, and its earlier turns
        self.user, self.conversation, self.history = user or owner, conversation, list(history or [])
        self.deps, self.db, self.corpus, self.question = deps, db, corpus, question
        self.run_id = db.create_run(self.spec.name, corpus, question, dataclasses.asdict(self.config), owner)
        self.answer = ""
        self.retrieved_ids: list[str] = []
        self.used_ids: list[str] = []
        self.events: list[TraceEvent] = []
        self.error = ""
        self.seconds = 0.0

    def __iter__(self) -> Iterator[TraceEvent]:
        t0 = time.perf_counter()
        graph = self.spec.build_graph(self.deps, self.config).compile(checkpointer=InMemorySaver())
        inputs = {"run_id": self.run_id, "agent": self.spec.name, "question": self.question, "corpus": self.corpus,
                  "user": self.user, "conversation": self.conversation, "history": self.history}
        cfg = {"configurable": {"thread_id": self.run_id}, "recursion_limit": self.limits.steps or RECURSION_LIMIT}
        try:
            for chunk in graph.stream(inputs, cfg, stream_mode="updates"):
                for update in chunk.values():
                    yield from self._absorb(update or {})
                if over := self._over_limit():
                    yield self._fail(over, f"The run stopped: {over}.")
                    break
        except GraphRecursionError:
            error = (f"it needed more than {self.limits.steps or RECURSION_LIMIT} steps, the limit per run "
                     "(RAGSCOPE_MAX_RUN_STEPS)")
            yield self._fail(error, f"The run stopped: {error}.")
        except Exception as exc:  # noqa: BLE001 - a failing run is recorded, never crashes the caller
            error = f"{type(exc).__name__}: {exc}"
            yield self._fail(error, f"The run failed: {error}")
        self.seconds = time.perf_counter() - t0
        self._finish()

    def _fail(self, error: str, explanation: str) -> TraceEvent:
        """Record the run's error and its `error` event."""
        self.error = error
        return self._record(TraceEvent(agent=self.spec.name, kind="error", started=time.time(),
                                       explanation=explanation, data=ErrorData(error=error)))

    def _over_limit(self) -> str:
        """Why the run must stop now (tokens over their limit), or ''."""
        tokens = self.prompt_tokens + self.completion_tokens
        if self.limits.tokens and tokens > self.limits.tokens:
            return (f"it used {tokens:,} LLM tokens, over the limit of {self.limits.tokens:,} per run "
                    "(RAGSCOPE_MAX_RUN_TOKENS)")
        return ""

    def _absorb(self, update: dict[str, Any]) -> list[TraceEvent]:
        for hit in update.get("retrieved", []) or []:
            if hit["doc_id"] not in self.retrieved_ids:
                self.retrieved_ids.append(hit["doc_id"])
        if "answer" in update:
            self.answer = update["answer"]
        if "used_ids" in update:
            self.used_ids = list(update["used_ids"])
        return [self._record(e) for e in update.get("events", []) or []]

    def _record(self, event: TraceEvent) -> TraceEvent:
        event = dataclasses.replace(event, run_id=self.run_id)
        self.db.add_event(self.run_id, len(self.events), event.to_dict())
        self.events.append(event)
        return event

    def _finish(self) -> None:
        self.db.finish_run(
            self.run_id, answer=self.answer, retrieved_ids=self.retrieved_ids,
            status="error" if self.error else "done", error=self.error, seconds=round(self.seconds, 3),
            llm_calls=self.llm_calls, prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
        )

    @property
    def llm_calls(self) -> int:
        """LLM calls made so far."""
        return sum(e.llm_calls for e in self.events)

    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens spent so far."""
        return sum(e.prompt_tokens for e in self.events)

    @property
    def completion_tokens(self) -> int:
        """Completion tokens generated so far."""
        return sum(e.completion_tokens for e in self.events)

    @property
    def retrieval_calls(self) -> int:
        """Retrieval steps so far."""
        return sum(e.kind in ("retrieve", "graph_walk") for e in self.events)
