"""HippoRAGIndex: offline indexing (OpenIE -> knowledge graph) and online retrieval (entity linking -> PPR).

Retrieval follows HippoRAG (Gutiérrez et al., NeurIPS 2024): query entities are linked to their nearest
phrase nodes by embedding cosine; each linked node gets reset probability proportional to its node
specificity 1/|P_i|; Personalized PageRank (damping 0.5) spreads it over the graph. With
`passage_nodes=True` passages are graph nodes and are ranked by their own PPR mass (HippoRAG 2), and dense
passage scores can seed them too (HippoRAG 2's dense fusion); with `passage_nodes=False` a passage scores
the sum of the PPR of the phrases it contains (HippoRAG 1). The steps live in `ranking` (linking, PPR,
ranking), `subgraph` (what the UI draws) and `persistence` (files); this class holds the state and the lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from retrieval.embedder import Embedder
from retrieval.hipporag.graph import KnowledgeGraph
from retrieval.hipporag.openie import ExtractionCache, Extractor, normalize_phrase, split_title
from retrieval.hipporag.persistence import CACHE_FILE, FORMAT_VERSION, read_cache, read_index, write_index
from retrieval.hipporag.ranking import (
    LINKINGS,
    Retrieval,
    link_entities,
    link_triples,
    min_max,
    rank_passages,
    walk,
)
from retrieval.hipporag.subgraph import walk_trace

Fact = tuple[str, str, str]


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
            self._cache = read_cache(self._cache_file)
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
        """Index (id, text) passages not yet present (OpenIE cached by content hash); returns how many were added."""
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
        with self._lock:
            meta = {
                "version": FORMAT_VERSION, "embedder": getattr(self.embedder, "name", ""),
                "dim": int(getattr(self.embedder, "dim", 0)), "extractor": self.extractor.name,
                "passage_nodes": self.passage_nodes, "link_top_k": self.link_top_k, "damping": self.damping,
                "labels": self.labels, "graph": self.graph.to_json(),
            }
            unchanged = self._cache is None and self._cache_file == target / CACHE_FILE
            write_index(target, meta, self.graph.embeddings, None if unchanged else self.cache)
        return target

    @classmethod
    def load(cls, folder: Path, embedder: Embedder, extractor: Extractor,
             passage_nodes: bool | None = None) -> HippoRAGIndex:
        """Load an index written by `save`; `passage_nodes` None keeps the saved setting."""
        folder = Path(folder)
        meta, graph = read_index(folder, int(getattr(embedder, "dim", 0)))
        index = cls(folder, embedder, extractor, meta["passage_nodes"] if passage_nodes is None else passage_nodes,
                    link_top_k=meta.get("link_top_k", 1), damping=meta.get("damping", 0.5))
        index.graph = graph
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

    def facts(self) -> tuple[list[Fact], np.ndarray]:
        """Every distinct (subject, relation, object) fact in the graph and its embedding matrix; only facts
        not embedded before are embedded (the matrix is kept until the graph changes)."""
        return self.graph.memo("facts", self._embed_facts)

    def _embed_facts(self) -> tuple[list[Fact], np.ndarray]:
        triples = self.graph.fact_triples()
        texts = [f"{a} {label} {b}" for a, label, b in triples]
        missing = [t for t in dict.fromkeys(texts) if t not in self._fact_vectors]
        if missing:
            vectors = np.asarray(self.embedder.embed(missing), dtype=np.float32)
            self._fact_vectors.update(zip(missing, vectors, strict=True))
        g = self.graph
        dim = int(getattr(self.embedder, "dim", 0)) or (g.embeddings.shape[1] if g.embeddings.size else 1)
        matrix = (np.stack([self._fact_vectors[t] for t in texts]) if texts
                  else np.zeros((0, dim), dtype=np.float32))
        return triples, matrix

    def _link_triples(self, query: str, top_k: int, reset: np.ndarray,
                      spec: np.ndarray) -> tuple[list[str], dict[str, tuple[str, float]], list[tuple[str, float]]]:
        """Seed the subject and object nodes of the facts nearest the query (HippoRAG 2)."""
        triples, matrix = self.facts()
        if not triples:
            return [], {}, []
        sims = matrix @ np.asarray(self.embedder.embed([query]), dtype=np.float32)[0]
        return link_triples(self.graph, triples, sims, top_k, reset, spec)

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
            links = link_entities(g, entities, self.embedder.embed(entities), self.link_top_k, reset, spec)
        base = len(g.phrases)
        if dense_scores and passage_nodes:
            present = np.array([pid in dense_scores for pid in g.passages], dtype=bool)
            fused = np.zeros(len(g.passages))
            fused[present] = min_max(dense[present]) * dense_weight
            reset[base:] += fused
        t2 = time.perf_counter()
        timings["linking"] = t2 - t1

        cpu = time.thread_time()
        ppr, scores = walk(g, reset, self.damping, passage_nodes)
        t3 = time.perf_counter()
        timings["ppr"] = t3 - t2
        timings["ppr_cpu"] = time.thread_time() - cpu  # CPU seconds: what PPR costs when the machine is shared

        ranked = rank_passages(scores, g.passages, k, tie=dense, keep_zero=bool(dense_scores))
        seeds, top_nodes, subgraph = walk_trace(g, self.labels, ppr, reset, ranked, scores)
        timings["total"] = time.perf_counter() - t0
        return Retrieval(ranked, entities, links, seeds, top_nodes, subgraph, timings, facts=facts)

    def _fallback(self, entities: list[str], dense: np.ndarray, has_dense: bool, k: int,
                  timings: dict[str, float], reason: str) -> Retrieval:
        if has_dense:
            ranked = rank_passages(dense, self.graph.passages, k, keep_zero=True)
            return Retrieval(ranked, entities, timings=timings, reason=f"{reason}; ranked by dense scores")
        return Retrieval([], entities, timings=timings, reason=reason)
