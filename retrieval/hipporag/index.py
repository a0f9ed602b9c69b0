"""HippoRAGIndex: offline indexing (OpenIE -> knowledge graph) and online retrieval (entity linking -> PPR).

Retrieval follows HippoRAG (Gutiérrez et al., NeurIPS 2024): query entities are linked to their nearest
phrase nodes by embedding cosine; each linked node gets reset probability proportional to its node
specificity 1/|P_i|; Personalized PageRank (damping 0.5) spreads it over the graph. With
`passage_nodes=True` passages are graph nodes and are ranked by their own PPR mass (HippoRAG 2), and dense
passage scores can seed them too (HippoRAG 2's dense fusion); with `passage_nodes=False` a passage scores
the sum of the PPR of the phrases it contains (HippoRAG 1).
"""

from __future__ import annotations

import gc
import gzip
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.embedder import Embedder
from retrieval.hipporag.graph import KnowledgeGraph, oriented
from retrieval.hipporag.openie import ExtractionCache, Extractor, normalize_phrase, split_title
from retrieval.hipporag.ppr import personalized_pagerank

GRAPH_FILE = "hipporag.json.gz"
EMBEDDINGS_FILE = "phrase_embeddings.npy"
CACHE_FILE = "extractions.json.gz"
FORMAT_VERSION = 1
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


class HippoRAGIndex:
    """A HippoRAG knowledge-graph index over passages; add, delete, save, load and retrieve."""

    def __init__(self, folder: Path | None, embedder: Embedder, extractor: Extractor, passage_nodes: bool = True,
                 link_top_k: int = 1, damping: float = 0.5, synonym_threshold: float = 0.8,
                 max_synonyms: int = 100) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.embedder = embedder
        self.extractor = extractor
        self.passage_nodes = passage_nodes
        self.link_top_k = link_top_k
        self.damping = damping
        self.graph = KnowledgeGraph(synonym_threshold=synonym_threshold, max_synonyms=max_synonyms)
        self._cache: ExtractionCache | None = ExtractionCache()
        self._cache_file: Path | None = None  # set by `load`: the cache is read on first use
        self.labels: dict[str, str] = {}
        self._fact_vectors: dict[str, np.ndarray] = {}  # fact text -> embedding, filled on first triple link
        self.index_timings: dict[str, float] = {}  # seconds of the last add_passages: extract, embed, graph
        self._lock = threading.RLock()

    @property
    def cache(self) -> ExtractionCache:
        """OpenIE results by content hash (loaded lazily: retrieval never needs it)."""
        if self._cache is None:
            data = json.loads(gzip.decompress(self._cache_file.read_bytes())) if self._cache_file else {}
            self._cache = ExtractionCache.from_json(data)
        return self._cache

    @cache.setter
    def cache(self, value: ExtractionCache) -> None:
        self._cache = value

    def __len__(self) -> int:
        return len(self.graph.passages)

    def __contains__(self, pid: object) -> bool:
        return pid in self.graph.passage_index

    # ------------------------------------------------------------------------------------ indexing

    def add_passages(self, passages: list[tuple[str, str]], progress: Callable[[int, int], None] | None = None,
                     batch: int = 256) -> int:
        """Index (id, text) passages not yet present; OpenIE results are cached by content hash. Returns how many were added."""
        with self._lock:
            fresh = {pid: text for pid, text in passages if pid not in self.graph.passage_index}
            items = list(fresh.items())
            extractions = {}
            t0 = time.perf_counter()
            for start in range(0, len(items), batch):
                extractions.update(self.cache.extract(self.extractor, items[start : start + batch]))
                if progress:
                    progress(min(start + batch, len(items)), len(items))
            for pid, text in items:
                title, body = split_title(text)
                self.labels[pid] = (title or body)[:80]
            t1 = time.perf_counter()
            embed_s = 0.0

            def embed(texts: list[str]) -> np.ndarray:
                nonlocal embed_s
                start = time.perf_counter()
                vectors = self.embedder.embed(texts)
                embed_s += time.perf_counter() - start
                return vectors

            added = self.graph.add_passages(extractions, embed)
            self.index_timings = {"extract": t1 - t0, "embed": embed_s,
                                  "graph": time.perf_counter() - t1 - embed_s}
            if progress:
                progress(len(items), len(items))
            return added

    def delete_passages(self, ids: Iterable[str]) -> int:
        """Remove passages with the phrases and edges only they supported. Returns how many were removed."""
        with self._lock:
            ids = list(ids)
            removed = self.graph.remove_passages(ids)
            for pid in ids:
                self.labels.pop(pid, None)
            return removed

    # ------------------------------------------------------------------------------------ persistence

    def save(self, folder: Path | None = None) -> Path:
        """Write graph (gzipped JSON), phrase embeddings (.npy) and the extraction cache into the folder."""
        target = Path(folder) if folder is not None else self.folder
        if target is None:
            raise ValueError("this index has no folder to save to")
        target.mkdir(parents=True, exist_ok=True)
        with self._lock:
            meta = {
                "version": FORMAT_VERSION, "embedder": getattr(self.embedder, "name", ""),
                "dim": int(getattr(self.embedder, "dim", 0)), "extractor": self.extractor.name,
                "passage_nodes": self.passage_nodes, "link_top_k": self.link_top_k, "damping": self.damping,
                "labels": self.labels, "graph": self.graph.to_json(),
            }
            _write_atomic(target / GRAPH_FILE, gzip.compress(json.dumps(meta).encode(), compresslevel=3))
            tmp = target / (EMBEDDINGS_FILE + ".tmp.npy")
            np.save(tmp, self.graph.embeddings)
            os.replace(tmp, target / EMBEDDINGS_FILE)
            unchanged = self._cache is None and self._cache_file == target / CACHE_FILE
            if not unchanged:
                cache = json.dumps(self.cache.to_json()).encode()
                _write_atomic(target / CACHE_FILE, gzip.compress(cache, compresslevel=3))
        return target

    @classmethod
    def load(cls, folder: Path, embedder: Embedder, extractor: Extractor,
             passage_nodes: bool | None = None) -> HippoRAGIndex:
        """Load an index written by `save`; `passage_nodes` None keeps the saved setting."""
        folder = Path(folder)
        with _no_gc():  # the many small containers built here would trigger needless full collections
            return cls._load(folder, embedder, extractor, passage_nodes)

    @classmethod
    def _load(cls, folder: Path, embedder: Embedder, extractor: Extractor,
              passage_nodes: bool | None) -> HippoRAGIndex:
        meta = json.loads(gzip.decompress((folder / GRAPH_FILE).read_bytes()))
        if meta.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported HippoRAG index format {meta.get('version')!r} in {folder}")
        embeddings = np.load(folder / EMBEDDINGS_FILE)
        dim = int(getattr(embedder, "dim", 0))
        if embeddings.size and dim and embeddings.shape[1] != dim:
            raise ValueError(f"index in {folder} was built with {meta['embedder']!r} (dim {embeddings.shape[1]}), "
                             f"not a {dim}-dim embedder")
        index = cls(folder, embedder, extractor, meta["passage_nodes"] if passage_nodes is None else passage_nodes,
                    link_top_k=meta.get("link_top_k", 1), damping=meta.get("damping", 0.5))
        index.graph = KnowledgeGraph.from_json(meta["graph"], embeddings)
        index.labels = meta.get("labels", {})
        if (folder / CACHE_FILE).exists():
            index._cache, index._cache_file = None, folder / CACHE_FILE
        return index

    # ------------------------------------------------------------------------------------ retrieval

    def retrieve(self, query: str, k: int = 5, query_entities: list[str] | None = None,
                 dense_scores: dict[str, float] | None = None, dense_weight: float = 0.05,
                 passage_nodes: bool | None = None, linking: str = "entity", fact_top_k: int = 5) -> Retrieval:
        """Rank passages for a question by Personalized PageRank from its linked entities (see module docstring).

        `query_entities` skips the extractor's NER. `dense_scores` (passage id -> similarity) seed passage
        nodes with min-max(dense) x `dense_weight` when `passage_nodes` is on; in HippoRAG 1 mode they only
        break ties. With no entity to link, passages come back in dense order (or none, with a `reason`).
        `passage_nodes` None uses the index's own setting; True/False override it for this query only.
        `linking="triple"` is HippoRAG 2's query-to-triple linking: the `fact_top_k` facts (subject,
        relation, object) whose embeddings are nearest the question's seed their subject and object nodes,
        weighted by fact similarity x node specificity, instead of NER on the question.
        """
        if linking not in LINKINGS:
            raise ValueError(f"unknown linking {linking!r}; valid: {', '.join(LINKINGS)}")
        use_passage_nodes = self.passage_nodes if passage_nodes is None else passage_nodes
        with self._lock:
            return self._retrieve(query, k, query_entities, dense_scores, dense_weight, use_passage_nodes,
                                  linking, fact_top_k)

    def facts(self) -> tuple[list[tuple[str, str, str]], np.ndarray]:
        """Every distinct (subject, relation, object) fact in the graph and its embedding matrix; only facts
        not embedded before are embedded (the matrix is cached until the graph changes)."""
        g = self.graph
        if "facts" not in g._cache:
            triples = sorted({oriented(pair, label) for pair, support in g.relations.items()
                              for labels in support.values() for label in labels})
            texts = [f"{a} {label} {b}" for a, label, b in triples]
            missing = [t for t in dict.fromkeys(texts) if t not in self._fact_vectors]
            if missing:
                vectors = np.asarray(self.embedder.embed(missing), dtype=np.float32)
                self._fact_vectors.update(zip(missing, vectors))
            dim = int(getattr(self.embedder, "dim", 0)) or (g.embeddings.shape[1] if g.embeddings.size else 1)
            matrix = (np.stack([self._fact_vectors[t] for t in texts]) if texts
                      else np.zeros((0, dim), dtype=np.float32))
            g._cache["facts"] = (triples, matrix)
        return g._cache["facts"]

    def _link_triples(self, query: str, top_k: int, reset: np.ndarray,
                      spec: np.ndarray) -> tuple[list[str], dict[str, tuple[str, float]], list[tuple[str, float]]]:
        """Seed the subject and object nodes of the facts nearest the query (HippoRAG 2)."""
        g = self.graph
        triples, matrix = self.facts()
        if not triples:
            return [], {}, []
        sims = matrix @ np.asarray(self.embedder.embed([query]), dtype=np.float32)[0]
        best = np.argsort(-sims, kind="stable")[:top_k]
        weights: dict[int, list[float]] = {}
        facts, links = [], {}
        for i in best:
            a, label, b = triples[i]
            score = float(sims[i])
            facts.append((f"({a}, {label}, {b})", score))
            for phrase in (a, b):
                j = g.phrase_index[phrase]
                weights.setdefault(j, []).append(score * spec[j])
                links.setdefault(phrase, (phrase, score))
        for j, ws in weights.items():
            reset[j] = max(float(np.mean(ws)), 0.0)  # a dissimilar fact (cosine < 0) seeds nothing
        return list(links), links, facts

    def _retrieve(self, query: str, k: int, query_entities: list[str] | None,
                  dense_scores: dict[str, float] | None, dense_weight: float, passage_nodes: bool,
                  linking: str = "entity", fact_top_k: int = 5) -> Retrieval:
        g = self.graph
        t0 = time.perf_counter()
        if linking == "triple":
            entities = []
        else:
            raw = query_entities if query_entities is not None else self.extractor.query_entities(query)
            entities = list(dict.fromkeys(e for e in (normalize_phrase(x) for x in raw) if e))
        t1 = time.perf_counter()
        timings = {"ner": t1 - t0}
        dense = np.zeros(len(g.passages))
        if dense_scores:
            for pid, s in dense_scores.items():
                if (i := g.passage_index.get(pid)) is not None:
                    dense[i] = s
        spec = g.specificity() if g.phrases else np.zeros(0)
        reset = np.zeros(g.n_nodes)
        facts: list[tuple[str, float]] = []
        if linking == "triple" and g.phrases:
            entities, links, facts = self._link_triples(query, fact_top_k, reset, spec)
        if not entities or not g.phrases:
            reason = ("no query entities found" if linking == "entity" else "no facts to link") if g.phrases \
                else "the index has no phrase nodes"
            return self._fallback(entities, dense, bool(dense_scores), k, timings, reason)

        if linking == "entity":
            sims = self.embedder.embed(entities) @ g.embeddings.T
            top = min(self.link_top_k, len(g.phrases))
            links = {}
            for e, row in zip(entities, sims):
                best = np.argpartition(-row, top - 1)[:top] if top < len(row) else np.arange(len(row))
                best = best[np.argsort(-row[best])]
                links[e] = (g.phrases[best[0]], float(row[best[0]]))
                for j in best:
                    reset[j] = max(reset[j], spec[j])
        base = len(g.phrases)
        if dense_scores and passage_nodes:
            present = np.array([pid in dense_scores for pid in g.passages], dtype=bool)
            fused = np.zeros(len(g.passages))
            fused[present] = min_max(dense[present]) * dense_weight
            reset[base:] += fused
        t2 = time.perf_counter()
        timings["linking"] = t2 - t1

        cpu = time.thread_time()
        ppr = personalized_pagerank(g.transition(passage_nodes), reset, damping=self.damping)
        if passage_nodes:
            scores = ppr[base:]
        else:
            scores = g.passage_phrase_matrix() @ ppr[:base]
        t3 = time.perf_counter()
        timings["ppr"] = t3 - t2
        timings["ppr_cpu"] = time.thread_time() - cpu  # CPU seconds: what PPR costs when the machine is shared

        ranked = rank_passages(scores, g.passages, k, tie=dense, keep_zero=bool(dense_scores))
        seed_nodes = np.flatnonzero(reset[:base])
        passage_seeds = base + np.flatnonzero(reset[base:])
        passage_seeds = passage_seeds[np.argsort(-reset[passage_seeds], kind="stable")[:10]]
        seeds = {self._node_id(int(i)): float(reset[i]) for i in np.concatenate([seed_nodes, passage_seeds])}
        seeds = dict(sorted(seeds.items(), key=lambda kv: -kv[1]))
        phrase_order = _top(ppr[:base], 10)
        top_nodes = [(g.phrases[i], float(ppr[i])) for i in phrase_order if ppr[i] > 0]
        seed_idx = [int(i) for i in _top(reset[:base], min(15, len(seed_nodes)))]
        passage_idx = [base + g.passage_index[pid] for pid, _ in ranked[:10]]
        subgraph = build_subgraph(self.graph, ppr, seed_idx, [int(i) for i in phrase_order], passage_idx,
                                  self.labels, scores)
        timings["total"] = time.perf_counter() - t0
        return Retrieval(ranked, entities, links, seeds, top_nodes, subgraph, timings, facts=facts)

    def _fallback(self, entities: list[str], dense: np.ndarray, has_dense: bool, k: int,
                  timings: dict[str, float], reason: str) -> Retrieval:
        if has_dense:
            ranked = rank_passages(dense, self.graph.passages, k, keep_zero=True)
            return Retrieval(ranked, entities, timings=timings, reason=f"{reason}; ranked by dense scores")
        return Retrieval([], entities, timings=timings, reason=reason)

    def _node_id(self, i: int) -> str:
        base = len(self.graph.phrases)
        return self.graph.phrases[i] if i < base else f"passage:{self.graph.passages[i - base]}"


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
    for r, c, w in zip(sub.row, sub.col, sub.data):
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


def _top(values: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n largest values, largest first."""
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if values.size <= n:
        return np.argsort(-values, kind="stable")
    part = np.argpartition(-values, n - 1)[:n]
    return part[np.argsort(-values[part], kind="stable")]


@contextmanager
def _no_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
