"""HippoRAG's knowledge graph: phrase nodes, passage nodes, and relation / contains / synonymy edges.

The graph is undirected and weighted. Node order in every matrix is all phrases (in `phrases` order)
then all passages (in `passages` order). Every edge remembers what supports it, so deleting a passage
removes exactly its passage node and the phrases and edges that only it supported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import scipy.sparse as sp

from retrieval.hipporag.openie import Extraction, normalize_phrase
from retrieval.hipporag.ppr import transition_matrix

Pair = tuple[str, str]
T = TypeVar("T")


# Relation edges are undirected (keyed by the sorted phrase pair); a label whose triple ran from the
# second phrase of the pair to the first carries this mark, so facts keep their direction.
INVERSE = "\u21a9"


def _pair(a: str, b: str) -> Pair:
    return (a, b) if a <= b else (b, a)


def oriented(pair: Pair, label: str) -> tuple[str, str, str]:
    """The (subject, relation, object) fact a stored relation label of `pair` stands for."""
    if label.startswith(INVERSE):
        return pair[1], label[len(INVERSE):], pair[0]
    return pair[0], label, pair[1]


def synonymy_candidate(phrase: str) -> bool:
    """Whether a phrase may get synonymy edges (HippoRAG skips phrases with under 3 alphanumerics)."""
    return len(re.sub(r"[^a-z0-9]", "", phrase)) > 2


def synonym_pairs(
    new_vectors: np.ndarray,
    all_vectors: np.ndarray,
    offset: int,
    threshold: float = 0.8,
    max_neighbours: int = 100,
    block: int = 256,
    allowed: np.ndarray | None = None,
) -> list[tuple[int, int, float]]:
    """(row, col, cosine) for each new row (global index offset + i) and its most similar nodes with cosine >= threshold.

    Similarities are new x all matrix products computed `block` rows at a time; each new row keeps at
    most `max_neighbours` neighbours; self-pairs and columns where `allowed` is False are skipped.
    """
    out: list[tuple[int, int, float]] = []
    for start in range(0, new_vectors.shape[0], block):
        sims = new_vectors[start : start + block] @ all_vectors.T
        rows = np.arange(sims.shape[0])
        sims[rows, offset + start + rows] = -np.inf
        if allowed is not None:
            sims[:, ~allowed] = -np.inf
            sims[~allowed[offset + start : offset + start + sims.shape[0]], :] = -np.inf
        for r in range(sims.shape[0]):
            cols = np.flatnonzero(sims[r] >= threshold)
            if cols.size > max_neighbours:
                cols = cols[np.argpartition(-sims[r, cols], max_neighbours - 1)[:max_neighbours]]
            out += [(offset + start + r, int(c), float(sims[r, c])) for c in cols]
    return out


def passage_phrases(extraction: Extraction) -> tuple[list[str], dict[Pair, list[str]]]:
    """Normalised phrases of one extraction (entities and triple arguments) and its relation edges with labels."""
    phrases: dict[str, None] = {}
    for e in extraction.entities:
        if key := normalize_phrase(e):
            phrases[key] = None
    relations: dict[Pair, list[str]] = {}
    for s, r, o in extraction.triples:
        a, b = normalize_phrase(s), normalize_phrase(o)
        if not a or not b:
            continue
        phrases[a] = None
        phrases[b] = None
        if a != b:
            relations.setdefault(_pair(a, b), []).append(r if a <= b else INVERSE + r)
    return list(phrases), relations


@dataclass
class KnowledgeGraph:
    """Phrase and passage nodes with supported, weighted, undirected edges and phrase embeddings."""

    synonym_threshold: float = 0.8
    max_synonyms: int = 100
    phrases: list[str] = field(default_factory=list)
    passages: list[str] = field(default_factory=list)
    embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    phrase_passages: dict[str, set[str]] = field(default_factory=dict)  # phrase -> passages containing it
    passage_phrase_map: dict[str, list[str]] = field(default_factory=dict)  # passage -> its phrases ("contains")
    relations: dict[Pair, dict[str, list[str]]] = field(default_factory=dict)  # pair -> passage -> relation labels
    synonyms: dict[Pair, float] = field(default_factory=dict)  # pair -> cosine
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.phrase_index = {p: i for i, p in enumerate(self.phrases)}
        self.passage_index = {p: i for i, p in enumerate(self.passages)}
        self.passage_relations: dict[str, set[Pair]] = {}
        for pair, support in self.relations.items():
            for pid in support:
                self.passage_relations.setdefault(pid, set()).add(pair)

    # ------------------------------------------------------------------------------------ changes

    def add_passages(self, extractions: dict[str, Extraction], embed: Callable[[list[str]], np.ndarray]) -> int:
        """Add passage nodes with their phrases and edges; embed only new phrases and give only them synonymy edges."""
        new_phrases: list[str] = []
        added = 0
        for pid, extraction in extractions.items():
            if pid in self.passage_index:
                continue
            phrases, relations = passage_phrases(extraction)
            self.passage_index[pid] = len(self.passages)
            self.passages.append(pid)
            self.passage_phrase_map[pid] = phrases
            for phrase in phrases:
                if phrase not in self.phrase_index:
                    self.phrase_index[phrase] = len(self.phrases)
                    self.phrases.append(phrase)
                    new_phrases.append(phrase)
                self.phrase_passages.setdefault(phrase, set()).add(pid)
            for pair, labels in relations.items():
                self.relations.setdefault(pair, {})[pid] = labels
            self.passage_relations[pid] = set(relations)
            added += 1
        if new_phrases:
            vectors = np.asarray(embed(new_phrases), dtype=np.float32)
            if self.embeddings.size == 0:
                self.embeddings = vectors.reshape(len(new_phrases), -1)
            else:
                self.embeddings = np.vstack([self.embeddings, vectors])
            offset = len(self.phrases) - len(new_phrases)
            allowed = np.fromiter((synonymy_candidate(p) for p in self.phrases), bool, len(self.phrases))
            for i, j, w in synonym_pairs(vectors, self.embeddings, offset, self.synonym_threshold,
                                         self.max_synonyms, allowed=allowed):
                self.synonyms[_pair(self.phrases[i], self.phrases[j])] = w
        if added:
            self._cache.clear()
        return added

    def remove_passages(self, ids: Iterable[str]) -> int:
        """Delete passage nodes, their contains edges, and the relation edges, phrases and synonymy edges only they supported."""
        gone = [pid for pid in dict.fromkeys(ids) if pid in self.passage_index]
        if not gone:
            return 0
        dead_phrases: set[str] = set()
        for pid in gone:
            for phrase in self.passage_phrase_map.pop(pid):
                holders = self.phrase_passages[phrase]
                holders.discard(pid)
                if not holders:
                    del self.phrase_passages[phrase]
                    dead_phrases.add(phrase)
            for pair in self.passage_relations.pop(pid, set()):
                support = self.relations[pair]
                support.pop(pid, None)
                if not support:
                    del self.relations[pair]
        if dead_phrases:
            self.synonyms = {k: w for k, w in self.synonyms.items()
                             if k[0] not in dead_phrases and k[1] not in dead_phrases}
            keep = np.array([p not in dead_phrases for p in self.phrases], dtype=bool)
            self.phrases = [p for p in self.phrases if p not in dead_phrases]
            self.embeddings = self.embeddings[keep]
            self.phrase_index = {p: i for i, p in enumerate(self.phrases)}
        dead = set(gone)
        self.passages = [p for p in self.passages if p not in dead]
        self.passage_index = {p: i for i, p in enumerate(self.passages)}
        self._cache.clear()
        return len(gone)

    # ------------------------------------------------------------------------------------ views

    def memo(self, key: str, build: Callable[[], T]) -> T:
        """A value derived from the graph, built on first use and dropped on the next change."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def fact_triples(self) -> list[tuple[str, str, str]]:
        """Every distinct (subject, relation, object) fact the relation edges stand for, sorted."""
        return sorted({oriented(pair, label) for pair, support in self.relations.items()
                       for labels in support.values() for label in labels})

    @property
    def n_nodes(self) -> int:
        """Phrase nodes plus passage nodes."""
        return len(self.phrases) + len(self.passages)

    def specificity(self) -> np.ndarray:
        """Node specificity 1 / |passages containing the phrase| for every phrase node (HippoRAG 1)."""
        if "specificity" not in self._cache:
            counts = np.array([len(self.phrase_passages[p]) for p in self.phrases], dtype=np.float64)
            self._cache["specificity"] = 1.0 / np.maximum(counts, 1.0)
        return self._cache["specificity"]

    def adjacency(self, passage_nodes: bool = True) -> sp.csr_matrix:
        """Symmetric weighted adjacency over phrases then passages (built once, cached until the next change)."""
        key = f"adjacency:{passage_nodes}"
        if key not in self._cache:
            rows: list[int] = []
            cols: list[int] = []
            vals: list[float] = []
            idx = self.phrase_index
            for (a, b), support in self.relations.items():
                rows.append(idx[a])
                cols.append(idx[b])
                vals.append(float(sum(len(labels) for labels in support.values())))
            for (a, b), w in self.synonyms.items():
                rows.append(idx[a])
                cols.append(idx[b])
                vals.append(w)
            if passage_nodes:
                base = len(self.phrases)
                for pid, phrases in self.passage_phrase_map.items():
                    node = base + self.passage_index[pid]
                    rows += [node] * len(phrases)
                    cols += [idx[p] for p in phrases]
                    vals += [1.0] * len(phrases)
            r, c, v = np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64), np.array(vals)
            n = self.n_nodes
            m = sp.coo_matrix((np.concatenate([v, v]), (np.concatenate([r, c]), np.concatenate([c, r]))), shape=(n, n))
            self._cache[key] = m.tocsr()
        return self._cache[key]

    def transition(self, passage_nodes: bool = True) -> sp.csr_matrix:
        """The cached PPR transition matrix of `adjacency(passage_nodes)`."""
        key = f"transition:{passage_nodes}"
        if key not in self._cache:
            self._cache[key] = transition_matrix(self.adjacency(passage_nodes))
        return self._cache[key]

    def passage_phrase_matrix(self) -> sp.csr_matrix:
        """Binary passages x phrases "contains" matrix (HippoRAG 1 scores a passage by summing its phrases' PPR)."""
        if "contains" not in self._cache:
            rows = [self.passage_index[pid] for pid, ps in self.passage_phrase_map.items() for _ in ps]
            cols = [self.phrase_index[p] for ps in self.passage_phrase_map.values() for p in ps]
            shape = (len(self.passages), len(self.phrases))
            self._cache["contains"] = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
        return self._cache["contains"]

    def edge_list(self) -> set[tuple[str, str, str, float]]:
        """Every edge as (type, node, node, weight), nodes named "phrase:<text>" / "passage:<id>" (for tests and UIs)."""
        out: set[tuple[str, str, str, float]] = set()
        for (a, b), support in self.relations.items():
            out.add(("relation", f"phrase:{a}", f"phrase:{b}", float(sum(len(x) for x in support.values()))))
        for (a, b), w in self.synonyms.items():
            out.add(("synonym", f"phrase:{a}", f"phrase:{b}", round(w, 6)))
        for pid, phrases in self.passage_phrase_map.items():
            out |= {("contains", f"passage:{pid}", f"phrase:{p}", 1.0) for p in phrases}
        return out

    def edge_type(self, a: str, b: str) -> str:
        """"relation", "synonym" or "" for a phrase pair."""
        pair = _pair(a, b)
        return "relation" if pair in self.relations else "synonym" if pair in self.synonyms else ""

    def relation_label(self, a: str, b: str) -> str:
        """The first relation label recorded for a phrase pair, or ''."""
        for labels in self.relations.get(_pair(a, b), {}).values():
            return labels[0].removeprefix(INVERSE) if labels else ""
        return ""

    # ------------------------------------------------------------------------------------ persistence

    def to_json(self) -> dict[str, Any]:
        """Everything but the embeddings, with phrases referred to by index (compact, fast to load)."""
        idx = self.phrase_index
        return {
            "synonym_threshold": self.synonym_threshold,
            "max_synonyms": self.max_synonyms,
            "phrases": self.phrases,
            "passages": self.passages,
            "contains": [[idx[p] for p in self.passage_phrase_map[pid]] for pid in self.passages],
            "relations": [[idx[a], idx[b], support] for (a, b), support in self.relations.items()],
            "synonyms": [[idx[a], idx[b], w] for (a, b), w in self.synonyms.items()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], embeddings: np.ndarray) -> KnowledgeGraph:
        """Inverse of `to_json` given the phrase embedding rows."""
        phrases: list[str] = data["phrases"]
        passages: list[str] = data["passages"]
        contains = {pid: [phrases[i] for i in row] for pid, row in zip(passages, data["contains"])}
        holder_lists: list[list[str]] = [[] for _ in phrases]
        for pid, row in zip(passages, data["contains"]):
            for i in row:
                holder_lists[i].append(pid)
        holders = {p: set(h) for p, h in zip(phrases, holder_lists)}
        relations = {(phrases[a], phrases[b]): support for a, b, support in data["relations"]}
        synonyms = {(phrases[a], phrases[b]): float(w) for a, b, w in data["synonyms"]}
        return cls(float(data["synonym_threshold"]), int(data["max_synonyms"]), phrases, passages,
                   np.asarray(embeddings, dtype=np.float32), holders, contains, relations, synonyms)
