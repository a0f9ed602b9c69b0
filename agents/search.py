"""The passage search agents share: dense similarity, or HippoRAG's graph walk, behind one call.

The iterative agents take `retriever="hipporag"` to search through the knowledge graph instead of the
dense index (the HippoRAG paper's IRCoT + HippoRAG setting); the `hipporag` agent uses `graph_search`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agents.base import Deps
from agents.events import WalkData
from retrieval.corpus import Hit

if TYPE_CHECKING:
    from retrieval.hipporag import Retrieval

RETRIEVERS = ("dense", "hipporag")
# HippoRAG 2's dense seeds of passage nodes: their weight against the entity seeds (the official code's
# passage_node_weight) and how many dense hits seed; the hipporag agent's config defaults, and every graph search's
DENSE_WEIGHT, DENSE_CANDIDATES = 0.05, 50


@dataclass
class GraphSearch:
    """Passages ranked by a graph walk, with what the walk did (for the trace and its picture)."""

    hits: list[Hit]
    retrieval: Retrieval
    added: int = 0  # passages the graph gained on this call (it syncs with the corpus first)
    removed: int = 0
    sync_seconds: float = 0.0
    graph_size: dict[str, int] = field(default_factory=dict)

    def walk_data(self) -> WalkData:
        """JSON details of the walk: entities, links, seeds, top nodes, subgraph, timings."""
        r = self.retrieval
        return WalkData(
            entities=r.entities,
            links={e: {"node": n, "cosine": round(c, 4)} for e, (n, c) in r.links.items()},
            seeds=r.seeds, top_nodes=[[n, round(s, 6)] for n, s in r.top_nodes],
            subgraph=r.subgraph, timings=r.timings, reason=r.reason, graph=self.graph_size,
            facts=[[f, round(score, 4)] for f, score in r.facts],
        )


def graph_search(deps: Deps, corpus: str, query: str, k: int, passage_nodes: bool = True,
                 dense_fusion: bool = True, dense_weight: float = DENSE_WEIGHT,
                 dense_candidates: int = DENSE_CANDIDATES,
                 linking: str = "entity") -> GraphSearch:
    """Rank the corpus's passages for `query` by Personalized PageRank over its knowledge graph."""
    if deps.graph is None:
        raise RuntimeError("HippoRAG retrieval needs a graph store; none was configured")
    index, sync = deps.graph.index(corpus)
    dense = None
    if dense_fusion:
        dense = {h.chunk_id: h.score for h in deps.corpora.search(corpus, query, k=dense_candidates)}
    r = index.retrieve(query, k=k, dense_scores=dense, dense_weight=dense_weight,
                       passage_nodes=passage_nodes, linking=linking)
    hits = deps.corpora.hits(corpus, r.passages)
    size = {"passages": len(index.graph.passages), "phrases": len(index.graph.phrases)}
    return GraphSearch(hits, r, sync.added, sync.removed, sync.seconds, size)


def search(deps: Deps, corpus: str, query: str, k: int, retriever: str = "dense") -> tuple[list[Hit], WalkData]:
    """Top-k passages for `query` by `retriever`, plus walk details (empty for dense search)."""
    if retriever == "dense":
        return deps.corpora.search(corpus, query, k=k), WalkData()
    if retriever == "hipporag":
        found = graph_search(deps, corpus, query, k)
        return found.hits, WalkData(retriever="hipporag", **found.walk_data())
    raise ValueError(f"unknown retriever {retriever!r}; valid: {', '.join(RETRIEVERS)}")
