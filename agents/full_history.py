"""Baseline chat agent: the whole conversation in the prompt, so its cost grows with every turn."""

from __future__ import annotations

from dataclasses import dataclass

from agents.base import AgentSpec, option
from agents.conversation import HistoryConfig, build_history_graph

NAME = "full_history"


@dataclass(frozen=True)
class FullHistoryConfig(HistoryConfig):
    """Settings of the full-history baseline."""

    turns: int = option(-1, "Earlier user turns put in the prompt; -1 = all of them.", min=-1, max=1000)


SPEC = AgentSpec(
    name=NAME,
    title="Full history (whole conversation in the prompt)",
    paper="Baseline for Liu et al., 2023 — Think-in-Memory",
    summary="Replies with every earlier turn of this conversation in the prompt: nothing is forgotten "
            "within a chat, nothing survives a new one, and prompts grow with each turn.",
    config_cls=FullHistoryConfig,
    build_graph=build_history_graph,
    needs_corpus=False,
)
