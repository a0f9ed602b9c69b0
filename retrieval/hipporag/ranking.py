"""HippoRAG's online step as pure functions: link the query to phrase nodes, walk the graph with Personalized
PageRank, rank passages. Arrays and a graph in, arrays out; no embedder or LLM inside."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from retrieval.hipporag.graph import KnowledgeGraph
from retrieval.hipporag.ppr import personalized_pagerank

LINKINGS = ("entity", "triple")


@dataclass
class Retrieval:
    """One HippoRAG retrieval with everything a UI needs to show how it got there.

    Node ids in `seeds`, `top_nodes` and `subgraph` are the phrase text for phrase nodes and
    "passage:<id>" for passage nodes. `seeds` holds every linked phrase node and at most the 10 passage
    nodes with the largest dense seed.
    """

    passages: list[tuple[str, float]]
    entities: list[str] = field(default_factory=list)
    links: dict[str, tuple[str, float]] = field(default_factory=dict)
    seeds: dict[str, float] = field(default_factory=dict)
    top_nodes: list[tuple[str, float]] = field(default_factory=list)
    subgraph: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"nodes": [], "edges": []})
    timings: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    facts: list[tuple[str, float]] = field(default_factory=list)  # triple linking: matched facts, best first


def min_max(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; a constant vector becomes all ones."""
    if values.size == 0:
        return values
    lo, hi = float(values.min()), float(values.max())
    return np.ones_like(values) if hi - lo <= 0 else (values - lo) / (hi - lo)


def rank_passages(scores: np.ndarray, ids: list[str], k: int, tie: np.ndarray | None = None,
                  keep_zero: bool = False) -> list[tuple[str, float]]:
    """Top-k (id, score) by score, ties broken by `tie` then index; zero scores dropped unless `keep_zero`."""
    tie = np.zeros_like(scores) if tie is None else tie
    order = np.lexsort((-tie, -scores))
    out: list[tuple[str, float]] = []
    for i in order:
        if len(out) >= k or (scores[i] <= 0 and not keep_zero):
            break
        out.append((ids[i], float(scores[i])))
    return out


def top_indices(values: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n largest values, largest first."""
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if values.size <= n:
        return np.argsort(-values, kind="stable")
    part = np.argpartition(-values, n - 1)[:n]
    return part[np.argsort(-values[part], kind="stable")]


def link_entities(graph: KnowledgeGraph, entities: list[str], vectors: np.ndarray, top_k: int, reset: np.ndarray,
                  spec: np.ndarray) -> dict[str, tuple[str, float]]:
    """Link each query entity to its `top_k` nearest phrase nodes by cosine and seed them with their specificity
    (HippoRAG 1); returns entity -> (nearest phrase, cosine)."""
    sims = vectors @ graph.embeddings.T
    top = min(top_k, len(graph.phrases))
    links = {}
    for e, row in zip(entities, sims, strict=False):
        best = np.argpartition(-row, top - 1)[:top] if top < len(row) else np.arange(len(row))
        best = best[np.argsort(-row[best])]
        links[e] = (graph.phrases[best[0]], float(row[best[0]]))
        for j in best:
            reset[j] = max(reset[j], spec[j])
    return links


def link_triples(graph: KnowledgeGraph, triples: list[tuple[str, str, str]], sims: np.ndarray, top_k: int,
                 reset: np.ndarray, spec: np.ndarray
                 ) -> tuple[list[str], dict[str, tuple[str, float]], list[tuple[str, float]]]:
    """Seed the subject and object nodes of the `top_k` facts most similar to the query (HippoRAG 2), each with
    the mean of fact similarity x node specificity; returns (linked phrases, links, matched facts)."""
    best = np.argsort(-sims, kind="stable")[:top_k]
    weights: dict[int, list[float]] = {}
    facts, links = [], {}
    for i in best:
        a, label, b = triples[i]
        score = float(sims[i])
        facts.append((f"({a}, {label}, {b})", score))
        for phrase in (a, b):
            j = graph.phrase_index[phrase]
            weights.setdefault(j, []).append(score * spec[j])
            links.setdefault(phrase, (phrase, score))
    for j, ws in weights.items():
        reset[j] = max(float(np.mean(ws)), 0.0)  # a dissimilar fact (cosine < 0) seeds nothing
    return list(links), links, facts


def walk(graph: KnowledgeGraph, reset: np.ndarray, damping: float, passage_nodes: bool
         ) -> tuple[np.ndarray, np.ndarray]:
    """(PPR over every node, passage scores): a passage's own PPR mass with passage nodes (HippoRAG 2), else the
    sum of its phrases' mass (HippoRAG 1)."""
    ppr = personalized_pagerank(graph.transition(passage_nodes), reset, damping=damping)
    base = len(graph.phrases)
    scores = ppr[base:] if passage_nodes else graph.passage_phrase_matrix() @ ppr[:base]
    return ppr, scores
