"""HippoRAG (Gutiérrez et al., NeurIPS 2024): a knowledge graph walked by Personalized PageRank, then read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.graph import END, START, StateGraph

from agents.base import AgentSpec, Deps, RAGState, bind, hit_dict, option, short
from agents.events import GraphWalkData, HitData, Step
from agents.grounding import FLOOR_HELP, RELEVANCE_FLOOR
from agents.reader import read_step
from agents.search import graph_search
from retrieval.hipporag import Retrieval

NAME = "hipporag"


@dataclass(frozen=True)
class HippoRAGConfig:
    """Settings of HippoRAG retrieval."""

    top_k: int = option(5, "Passages ranked by PageRank mass and given to the reader.", min=1, max=20)
    passage_nodes: bool = option(True, "HippoRAG 2: passages are graph nodes ranked by their own PPR mass "
                                       "(off: HippoRAG 1, a passage scores the PPR of its phrases).")
    dense_fusion: bool = option(True, "HippoRAG 2: also seed passage nodes with normalised dense scores.")
    dense_weight: float = option(0.05, "Weight of the dense seeds relative to the entity seeds.", min=0.0, max=1.0)
    dense_candidates: int = option(50, "Dense hits used as seeds when fusion is on.", min=1, max=500)
    linking: str = option("entity", "How the question enters the graph: NER on the question linked to the nearest "
                                    "phrase nodes (HippoRAG), or the 5 facts nearest the question seeding their "
                                    "subject and object nodes (HippoRAG 2's query-to-triple linking).",
                          choices=["entity", "triple"])
    max_tokens: int = option(48, "Most tokens the reader may write.", min=8, max=512)
    relevance_floor: float = option(RELEVANCE_FLOOR, FLOOR_HELP + " (Similarity of the passage's embedding to "
                                    "the question's, since PageRank scores are not similarities.)",
                                    min=0.0, max=1.0)


def walk_explanation(r: Retrieval, hits: list[HitData]) -> str:
    """'Found 2 entities in the question: …; linked them to …; seeded PageRank on …; top nodes …; top passages …'"""
    if r.facts:
        head = (f"Matched {len(r.facts)} facts to the question: "
                + ", ".join(f"{short(f, 50)} ({score:.2f})" for f, score in r.facts[:3]))
        links = ""
    elif not r.entities:
        head = "Found no entities in the question"
        links = ""
    else:
        head = f"Found {len(r.entities)} entities in the question: " + ", ".join(f"'{e}'" for e in r.entities)
        links = ", ".join(f"'{e}' → '{node}' ({cos:.2f})" for e, (node, cos) in r.links.items())
    parts = [head]
    if links:
        parts.append(f"linked them to nodes {links}")
    if r.seeds:
        parts.append(f"seeded PageRank on {len(r.seeds)} nodes")
    if r.top_nodes:
        names = (short(n.removeprefix("passage:"), 30) for n, _ in r.top_nodes[:4])
        parts.append("top nodes: " + ", ".join(f"'{name}'" for name in names))
    if hits:
        parts.append("top passages: " + ", ".join(f"{h['title']} ({h['score']:.3f})" for h in hits[:3]))
    elif r.reason:
        parts.append(r.reason)
    return "; ".join(parts) + "."


def graph_walk(state: RAGState, deps: Deps, config: HippoRAGConfig) -> dict[str, Any]:
    """Link question entities to the graph and rank passages by Personalized PageRank."""
    with Step(NAME, "graph_walk", state.get("run_id", "")) as step:
        found = graph_search(deps, state["corpus"], state["question"], config.top_k,
                             passage_nodes=config.passage_nodes, dense_fusion=config.dense_fusion,
                             dense_weight=config.dense_weight, dense_candidates=config.dense_candidates,
                             linking=config.linking)
        hits = [HitData(**{**hit_dict(h, i, state["question"]), "score": round(h.score, 5)})
                for i, h in enumerate(found.hits, 1)]
        explanation = walk_explanation(found.retrieval, hits)
        if found.added or found.removed:
            explanation = (f"Updated the knowledge graph first (+{found.added} / -{found.removed} passages "
                           f"in {found.sync_seconds:.1f} s). ") + explanation
        event = step.event(explanation, GraphWalkData(query=state["question"], hits=hits, **found.walk_data()))
    return {"retrieved": hits, "events": [event]}


def read(state: RAGState, deps: Deps, config: HippoRAGConfig) -> dict[str, Any]:
    """Answer from the passages the walk ranked (relevance re-measured as question-passage similarity)."""
    hits = state.get("retrieved", [])
    answer, event = read_step(NAME, state.get("run_id", ""), deps.llm, state["question"], hits, config.max_tokens,
                              deps.corpora, dense=False, floor=config.relevance_floor)
    return {"answer": answer, "used_ids": [h["doc_id"] for h in hits], "events": [event]}


def build_graph(deps: Deps, config: HippoRAGConfig) -> StateGraph:
    """graph_walk -> read."""
    graph = StateGraph(RAGState)
    graph.add_node("graph_walk", bind(graph_walk, deps, config))
    graph.add_node("read", bind(read, deps, config))
    graph.add_edge(START, "graph_walk")
    graph.add_edge("graph_walk", "read")
    graph.add_edge("read", END)
    return graph

SPEC = AgentSpec(
    name=NAME,
    title="HippoRAG (knowledge graph + Personalized PageRank)",
    paper="Gutiérrez et al., NeurIPS 2024 — HippoRAG: Neurobiologically Inspired Long-Term Memory for LLMs "
          "(+ HippoRAG 2 passage nodes and dense fusion)",
    summary="OpenIE triples form a knowledge graph; PageRank from the question's entities ranks passages.",
    config_cls=HippoRAGConfig,
    build_graph=build_graph,
)
