"""The retrieve-then-read baseline every method is judged against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.graph import END, START, StateGraph

from agents.base import AgentSpec, Deps, RAGState, bind, hit_dict, option, short
from agents.events import HitData, RetrieveData, Step
from agents.grounding import FLOOR_HELP, RELEVANCE_FLOOR, cut_at_word
from agents.reader import read

NAME = "naive"


@dataclass(frozen=True)
class NaiveConfig:
    """Settings of the baseline."""

    top_k: int = option(5, "Passages retrieved for the question and given to the reader.", min=1, max=20)
    max_tokens: int = option(48, "Most tokens the reader may write.", min=8, max=512)
    relevance_floor: float = option(RELEVANCE_FLOOR, FLOOR_HELP, min=0.0, max=1.0)


def retrieve_explanation(query: str, hits: list[HitData], new: int | None = None) -> str:
    """'Searched for … — 5 passages; the closest match is “Title”.' (scores stay in the step's details)"""
    if not hits:
        return f"Searched for '{short(query)}' and found nothing: there are no documents to search."
    fresh = f" ({new} new)" if new is not None else ""
    return (f"Searched for '{short(query)}' — {len(hits)} passages{fresh}; the closest match is "
            f"“{cut_at_word(hits[0]['title'], 60)}”.")


def retrieve(state: RAGState, deps: Deps, config: NaiveConfig) -> dict[str, Any]:
    """Search the corpus with the question."""
    with Step(NAME, "retrieve", state.get("run_id", "")) as step:
        hits = deps.corpora.search(state["corpus"], state["question"], k=config.top_k)
        found = [hit_dict(h, i, state["question"]) for i, h in enumerate(hits, 1)]
        event = step.event(retrieve_explanation(state["question"], found),
                           RetrieveData(query=state["question"], hits=found))
    return {"retrieved": found, "events": [event]}


def build_graph(deps: Deps, config: NaiveConfig) -> StateGraph:
    """retrieve -> read."""
    graph = StateGraph(RAGState)
    graph.add_node("retrieve", bind(retrieve, deps, config))
    graph.add_node("read", bind(read, deps, config))
    graph.add_edge(START, "retrieve")
    graph.add_edge("retrieve", "read")
    graph.add_edge("read", END)
    return graph


SPEC = AgentSpec(
    name=NAME,
    title="Naive RAG (retrieve, then read)",
    paper="Lewis et al., 2020 — Retrieval-Augmented Generation for Knowledge-Intensive NLP Tasks",
    summary="One dense search with the question, then one LLM call reads the top passages.",
    config_cls=NaiveConfig,
    build_graph=build_graph,
)
