"""Baseline chat agent: only the last few turns of the conversation in the prompt (no long-term memory)."""

from __future__ import annotations

from dataclasses import dataclass

from agents.base import AgentSpec, option
from agents.conversation import HistoryConfig, build_history_graph

NAME = "window"


@dataclass(frozen=True)
class WindowConfig(HistoryConfig):
    """Settings of the sliding-window baseline."""

    turns: int = option(4, "Earlier user turns (with replies) put in the prompt.", min=0, max=50)


SPEC = AgentSpec(
    name=NAME,
    title="Window (last few turns only)",
    paper="Baseline for Liu et al., 2023 — Think-in-Memory",
    summary="Replies from the last few turns of this conversation; anything older is gone.",
    config_cls=WindowConfig,
    build_graph=build_history_graph,
    needs_corpus=False,
)
