"""HippoRAG (Gutiérrez et al., NeurIPS 2024): a knowledge graph walked by Personalized PageRank, then read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.graph import END, START, StateGraph

from agents.base import AgentSpec, Deps, RAGState, option, short
from agents.events import Step
from agents.reader import read_step

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
    max_tokens: int = option(48, "Most tokens the reader may write.", min=8, max=512)


def walk_explanation(r: Any, hits: list[dict[str, Any]]) -> str:
    """'Found 2 entities in the question: …; linked them to …; seeded PageRank on …; top nodes …; top passages …'"""
    if not r.entities:
        head = "Found no entities in the question"
    else:
        head = f"Found {len(r.entities)} entities in the question: " + ", ".join(f"'{e}'" for e in r.entities)
    links = ", ".join(f"'{e}' → '{node}' ({cos:.2f})" for e, (node, cos) in r.links.items())
    parts = [head]
    if links:
        parts.append(f"linked them to nodes {links}")
    if r.seeds:
        parts.append(f"seeded PageRank on {len(r.seeds)} nodes")
    if r.top_nodes:
        parts.append("top nodes: " + ", ".join(f"'{short(n.removeprefix('passage:'), 30)}'" for n, _ in r.top_nodes[:4]))
    if hits:
        parts.append("top passages: " + ", ".join(f"{h['title']} ({h['score']:.3f})" for h in hits[:3]))
    elif r.reason:
        parts.append(r.reason)
    return "; ".join(parts) + "."


def build_graph(deps: Deps, config: HippoRAGConfig) -> StateGraph:
    """graph_walk -> read."""
    store = deps.extras.get("hipporag")

    def graph_walk(state: RAGState) -> dict[str, Any]:
        """Link question entities to the graph and rank passages by Personalized PageRank."""
        if store is None:
            raise RuntimeError("HippoRAG needs a graph store; none was configured")
        with Step(NAME, "graph_walk", state.get("run_id", "")) as step:
            index, sync = store.index(state["corpus"])
            index.passage_nodes = config.passage_nodes
            dense = None
            if config.dense_fusion:
                found = deps.corpora.search(state["corpus"], state["question"], k=config.dense_candidates)
                dense = {h.chunk_id: h.score for h in found}
            r = index.retrieve(state["question"], k=config.top_k, dense_scores=dense, dense_weight=config.dense_weight)
            cid = deps.corpora.db.corpus_id(state["corpus"])
            rows = deps.corpora.db.chunks(cid, [pid for pid, _ in r.passages])
            hits = [
                {"rank": i, "chunk_id": pid, "doc_id": rows[pid].doc_id, "title": rows[pid].title,
                 "text": rows[pid].text, "score": round(score, 5), "query": state["question"]}
                for i, (pid, score) in enumerate(((p, s) for p, s in r.passages if p in rows), 1)
            ]
            explanation = walk_explanation(r, hits)
            if sync.added or sync.removed:
                explanation = (f"Updated the knowledge graph first (+{sync.added} / -{sync.removed} passages in "
                               f"{sync.seconds:.1f} s). ") + explanation
            data = {
                "query": state["question"], "entities": r.entities,
                "links": {e: {"node": n, "cosine": round(c, 4)} for e, (n, c) in r.links.items()},
                "seeds": r.seeds, "top_nodes": [[n, round(s, 6)] for n, s in r.top_nodes],
                "subgraph": r.subgraph, "hits": hits, "timings": r.timings, "reason": r.reason,
                "graph": {"passages": len(index.graph.passages), "phrases": len(index.graph.phrases)},
            }
            event = step.event(explanation, data)
        return {"retrieved": hits, "events": [event]}

    def read(state: RAGState) -> dict[str, Any]:
        """Answer from the top passages."""
        hits = state.get("retrieved", [])
        answer, event = read_step(NAME, state.get("run_id", ""), deps.llm, state["question"], hits, config.max_tokens)
        return {"answer": answer, "used_ids": [h["doc_id"] for h in hits], "events": [event]}

    graph = StateGraph(RAGState)
    graph.add_node("graph_walk", graph_walk)
    graph.add_node("read", read)
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
