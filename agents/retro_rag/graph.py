"""RetroRAG's graph: only the wiring of the nodes in `nodes.py`."""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from agents.base import AgentSpec, Deps, bind
from agents.retro_rag.nodes import (
    NAME,
    RetroRAGConfig,
    RetroRAGState,
    after_answer,
    after_next_query,
    after_retroact,
    answer,
    collate,
    discover,
    finish,
    next_query,
    retroact,
)


def build_graph(deps: Deps, config: RetroRAGConfig) -> StateGraph:
    """collate -> discover -> retroact -> (next_query -> collate ...)* -> answer -> (next_query ...)* -> finish.

    The first answer waits for `answer_after` searches; after an unreliable answer discovery searches again.
    """
    graph = StateGraph(RetroRAGState)
    for node in (collate, discover, retroact, answer, next_query, finish):
        graph.add_node(node.__name__, bind(node, deps, config))
    graph.add_edge(START, "collate")
    graph.add_edge("collate", "discover")
    graph.add_edge("discover", "retroact")
    graph.add_conditional_edges("retroact", bind(after_retroact, deps, config),
                                {"answer": "answer", "next_query": "next_query"})
    graph.add_conditional_edges("answer", bind(after_answer, deps, config),
                                {"finish": "finish", "next_query": "next_query"})
    graph.add_conditional_edges("next_query", bind(after_next_query, deps, config),
                                {"collate": "collate", "answer": "answer", "finish": "finish"})
    graph.add_edge("finish", END)
    return graph


SPEC = AgentSpec(
    name=NAME,
    title="RetroRAG (evidence revised, not only accumulated)",
    paper="Xiao et al., 2025 — Retrieval-Augmented Generation by Evidence Retroactivity in LLMs",
    summary="Keeps an evidence set: files each passage as source evidence, chooses the passage that helps most "
            "and keeps its sentence if relevant or a bridge to another entity (constrained choices), searches "
            "for the entities still missing (of the kind the question asks through first), "
            "withdraws earlier evidence when two passages each prefer their own value for one slot, and answers "
            "(the question's own passages, then the evidence chain first) until a passage gives the answer or the cap, "
            "where the drafts are weighed under every set of passages they were read from.",
    config_cls=RetroRAGConfig,
    build_graph=build_graph,
)
