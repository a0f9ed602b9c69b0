"""What a HippoRAG retrieval shows a person: its seeds, its top phrase nodes and a small subgraph to draw."""

from __future__ import annotations

from typing import Any

import numpy as np

from retrieval.hipporag.graph import KnowledgeGraph
from retrieval.hipporag.ranking import top_indices


def node_id(graph: KnowledgeGraph, i: int) -> str:
    """A node's id: the phrase for phrase nodes, "passage:<id>" for passage nodes."""
    base = len(graph.phrases)
    return graph.phrases[i] if i < base else f"passage:{graph.passages[i - base]}"


def walk_trace(graph: KnowledgeGraph, labels: dict[str, str], ppr: np.ndarray, reset: np.ndarray,
               ranked: list[tuple[str, float]], scores: np.ndarray
               ) -> tuple[dict[str, float], list[tuple[str, float]], dict[str, list[dict[str, Any]]]]:
    """(seeds by reset weight, top phrase nodes by PPR, the subgraph around them and the top passages)."""
    base = len(graph.phrases)
    seed_nodes = np.flatnonzero(reset[:base])
    passage_seeds = base + np.flatnonzero(reset[base:])
    passage_seeds = passage_seeds[np.argsort(-reset[passage_seeds], kind="stable")[:10]]
    seeds = {node_id(graph, int(i)): float(reset[i]) for i in np.concatenate([seed_nodes, passage_seeds])}
    seeds = dict(sorted(seeds.items(), key=lambda kv: -kv[1]))
    phrase_order = top_indices(ppr[:base], 10)
    top_nodes = [(graph.phrases[i], float(ppr[i])) for i in phrase_order if ppr[i] > 0]
    seed_idx = [int(i) for i in top_indices(reset[:base], min(15, len(seed_nodes)))]
    passage_idx = [base + graph.passage_index[pid] for pid, _ in ranked[:10]]
    subgraph = build_subgraph(graph, ppr, seed_idx, [int(i) for i in phrase_order], passage_idx, labels, scores)
    return seeds, top_nodes, subgraph


def build_subgraph(graph: KnowledgeGraph, ppr: np.ndarray, seed_idx: list[int], top_idx: list[int],
                   passage_idx: list[int], labels: dict[str, str], passage_scores: np.ndarray,
                   max_nodes: int = 40) -> dict[str, list[dict[str, Any]]]:
    """A JSON-serialisable neighbourhood of the seeds, top phrases and top passages, for drawing."""
    base = len(graph.phrases)
    chosen = list(dict.fromkeys(seed_idx + passage_idx + top_idx))[:max_nodes]
    seeds = set(seed_idx)
    nodes = []
    for i in chosen:
        if i < base:
            nodes.append({"id": graph.phrases[i], "label": graph.phrases[i],
                          "type": "seed" if i in seeds else "phrase", "score": float(ppr[i])})
        else:
            pid = graph.passages[i - base]
            nodes.append({"id": f"passage:{pid}", "label": labels.get(pid, pid), "type": "passage",
                          "score": float(passage_scores[i - base])})
    sub = graph.adjacency(True)[chosen][:, chosen].tocoo()
    edges = []
    for r, c, w in zip(sub.row, sub.col, sub.data, strict=True):
        if r >= c:
            continue
        a, b = chosen[r], chosen[c]
        if a >= base or b >= base:
            edge = {"type": "contains", "weight": 1.0}
        else:
            kind = graph.edge_type(graph.phrases[a], graph.phrases[b])
            edge = {"type": kind, "weight": float(w)}
            if kind == "relation":
                edge["label"] = graph.relation_label(graph.phrases[a], graph.phrases[b])
        edges.append({"source": nodes[r]["id"], "target": nodes[c]["id"], **edge})
    return {"nodes": nodes, "edges": edges}
