"""HippoRAG (Gutiérrez et al., NeurIPS 2024): a knowledge graph walked by Personalized PageRank, then read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.graph import END, START, StateGraph

from agents.base import AgentSpec, Deps, RAGState, bind, hit_dict, option
from agents.events import GraphWalkData, HitData, Step
from agents.grounding import FLOOR_HELP, RELEVANCE_FLOOR, cut_at_word
from agents.reader import read_step
from agents.search import DENSE_CANDIDATES, DENSE_WEIGHT, graph_search
from retrieval.hipporag import Retrieval

NAME = "hipporag"


@dataclass(frozen=True)
class HippoRAGConfig:
    """Settings of HippoRAG retrieval."""

    top_k: int = option(5, "Passages ranked by PageRank mass and given to the reader.", min=1, max=20)
    passage_nodes: bool = option(True, "HippoRAG 2: passages are graph nodes ranked by their own PPR mass "
                                       "(off: HippoRAG 1, a passage scores the PPR of its phrases).")
    dense_fusion: bool = option(True, "HippoRAG 2: also seed passage nodes with normalised dense scores.")
    dense_weight: float = option(DENSE_WEIGHT, "Weight of the dense seeds relative to the entity seeds.", min=0.0,
                                 max=1.0)
    dense_candidates: int = option(DENSE_CANDIDATES, "Dense hits used as seeds when fusion is on.", min=1, max=500)
    linking: str = option("entity", "How the question enters the graph: NER on the question linked to the nearest "
                                    "phrase nodes (HippoRAG), or the 5 facts nearest the question seeding their "
                                    "subject and object nodes (HippoRAG 2's query-to-triple linking).",
                          choices=["entity", "triple"])
    max_tokens: int = option(48, "Most tokens the reader may write.", min=8, max=512)
    relevance_floor: float = option(RELEVANCE_FLOOR, FLOOR_HELP + " (Similarity of the passage's embedding to "
                                    "the question's, since PageRank scores are not similarities.)",
                                    min=0.0, max=1.0)


def _names(items: list[str], n: int = 3) -> str:
    """'“A”, “B” and “C”' (at most n, then 'and 2 more')."""
    shown = [f"“{cut_at_word(i, 40)}”" for i in items[:n]]
    more = len(items) - n
    if more > 0:
        return ", ".join(shown) + f" and {more} more"
    return ", ".join(shown[:-1]) + (" and " if len(shown) > 1 else "") + shown[-1] if shown else ""


def walk_explanation(r: Retrieval, hits: list[HitData]) -> str:
    """The walk in plain words: which names it started from, and which passages it reached (numbers in details)."""
    if r.facts:
        head = ("Matched the question to facts in the knowledge graph, such as "
                + _names([f for f, _ in r.facts], 2))
    elif not r.entities:
        head = "Found no names from the question to start from in the knowledge graph"
    else:
        head = f"Looked up {_names(list(r.entities))} from the question in the knowledge graph"
    if r.seeds:
        head += " and followed its links from there to rank the passages"
    if hits:
        return f"{head}; the best passages are {_names([h['title'] for h in hits])}."
    return f"{head}; {r.reason or 'it reached no passage'}."


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
            change = " and ".join(x for x in (f"added {found.added} new passage{'s' * (found.added != 1)}"
                                              if found.added else "",
                                              f"removed {found.removed} deleted one{'s' * (found.removed != 1)}"
                                              if found.removed else "") if x)
            explanation = (f"First {change} to the knowledge graph ({found.sync_seconds:.0f} s). "
                           + explanation)
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
