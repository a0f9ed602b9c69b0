"""Auto-RAG's graph: only the wiring of the nodes in `nodes.py`."""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from agents.auto_rag.nodes import (
    NAME,
    AutoRAGConfig,
    AutoRAGState,
    after_read,
    answer,
    baseline,
    plan,
    read,
    retrieve,
    rewrite,
)
from agents.base import AgentSpec, Deps, bind


def build_graph(deps: Deps, config: AutoRAGConfig) -> StateGraph:
    """baseline -> plan -> (retrieve -> read -> rewrite)* -> answer."""
    graph = StateGraph(AutoRAGState)
    for node in (baseline, plan, retrieve, read, rewrite, answer):
        graph.add_node(node.__name__, bind(node, deps, config))
    graph.add_edge(START, "baseline")
    graph.add_edge("baseline", "plan")
    graph.add_edge("plan", "retrieve")
    graph.add_edge("retrieve", "read")
    graph.add_conditional_edges("read", bind(after_read, deps, config), {"answer": "answer", "rewrite": "rewrite"})
    graph.add_edge("rewrite", "retrieve")
    graph.add_edge("answer", END)
    return graph


SPEC = AgentSpec(
    name=NAME,
    title="Auto-RAG (autonomous iterative retrieval)",
    paper="Yu et al., 2024 — Auto-RAG: Autonomous Retrieval-Augmented Generation for Large Language Models",
    summary="The LLM talks with the retriever: picks the sentence of the new passages that helps, answers from "
            "what it read and stops when a passage gives that answer (checked passage by passage) or when a new "
            "search brings a passage holding its answer and, asked which passage answers, it picks that one, or "
            "when its answer has stopped changing and a relevant passage holding it leans towards it; else refines "
            "its query.",
    config_cls=AutoRAGConfig,
    build_graph=build_graph,
)
