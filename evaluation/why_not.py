"""'Why not this passage?': for every query a stored run made, where one passage of its corpus ranked.

Dense searches are re-scored now with the corpus's embedder and vectors (cosine similarity, rank among
all chunks); graph walks (HippoRAG) are re-walked with the run's settings (Personalized PageRank mass, rank
among the graph's passages). The cut-off is what the step kept: its number of passages and the score of
the last one. A corpus changed since the run can rank differently; each row says the rank the run saw when
the passage was among its hits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from storage.models import PUBLIC

if TYPE_CHECKING:
    from retrieval.corpus import CorpusStore
    from services import Services

SCAN_LIMIT = 20_000  # chunks ranked per dense query; a passage below is reported as 'below rank 20,000'


class NotAllowed(PermissionError):
    """The viewer may not read the run's corpus (another user's private corpus)."""


@dataclass(frozen=True)
class QueryRank:
    """One query of the run and where the passage stood in it."""

    step: int  # 1-based step number in the run's events
    kind: str  # retrieve | graph_walk
    query: str
    measure: str  # cosine | PageRank
    score: float | None  # None: the passage was not ranked at all (no graph node, below the scan)
    rank: int | None
    of: int  # passages (chunks) ranked
    kept: int  # passages the step returned: its cut-off
    cutoff: float | None  # score of the last passage the step kept
    seen_rank: int | None  # the passage's rank among the step's stored hits, if it was one
    cosine: float | None = None  # for graph walks: the passage's dense similarity to the query as well

    @property
    def retrieved(self) -> bool:
        """Whether the step returned the passage (as the run saw it)."""
        return self.seen_rank is not None

    def sentence(self) -> str:
        """'Rank 9 of 1,204 (cosine 0.431): the step kept the top 5, down to 0.512 (0.081 short).'"""
        value = "not ranked" if self.score is None else f"{self.measure} {self.score:.4g}"
        if self.retrieved:
            now = "" if self.rank == self.seen_rank else f"; ranked {self.rank or '—'} now"
            return f"Retrieved at rank {self.seen_rank} ({value}{now})."
        where = (f"Rank {self.rank:,} of {self.of:,}" if self.rank is not None
                 else f"Not ranked (below rank {self.of:,})" if self.score is None and self.of else "Not ranked")
        cut = f"the step kept the top {self.kept}"
        if self.cutoff is not None:
            cut += f", down to {self.cutoff:.4g}"
            if self.score is not None and self.score < self.cutoff:
                cut += f" ({self.cutoff - self.score:.3g} short)"
        return f"{where} ({value}): {cut}."


def readable_corpus(services: Services, run: dict[str, Any], viewer: str) -> CorpusStore:
    """The run's corpus as its owner saw it, if `viewer` (an owner key) may read it; NotAllowed otherwise."""
    owner = run.get("owner") or PUBLIC
    owners = (owner,) if owner == PUBLIC else (owner, PUBLIC)
    found = services.db.find_corpus(run.get("corpus", ""), owners)
    if found is None:
        raise LookupError(f"the run's corpus {run.get('corpus')!r} no longer exists")
    corpus_owner = found[1]
    if corpus_owner not in (PUBLIC, viewer) and not services.settings.single_user:
        raise NotAllowed("this run's corpus is private to the person who made it")
    return services.corpora_of(corpus_owner)


def _walk_settings(run: dict[str, Any]) -> dict[str, Any]:
    config = run.get("config") or {}
    keys = ("passage_nodes", "dense_fusion", "dense_weight", "dense_candidates", "linking")
    return {k: config[k] for k in keys if k in config}


def _is_walk(kind: str, data: dict[str, Any]) -> bool:
    return kind == "graph_walk" or data.get("retriever") == "hipporag"


def why_not(services: Services, run: dict[str, Any], doc_id: str, viewer: str) -> list[QueryRank]:
    """Where document `doc_id` stood in every query of `run` (a stored run dict with events)."""
    corpora = readable_corpus(services, run, viewer)
    corpus = run["corpus"]
    corpus_id = corpora.corpus_id(corpus)
    chunks = {c.chunk_id for c in corpora.chunk_rows(corpus_id) if c.doc_id == doc_id}
    if not chunks:
        raise LookupError(f"no passage {doc_id!r} in corpus {corpus!r}")
    namespace = corpora.namespace(corpus_id)
    total = corpora.vectors.count(namespace)
    out = []
    for step, event in enumerate(run.get("events") or [], 1):
        kind, data = event.get("kind", ""), event.get("data") or {}
        hits = data.get("hits")
        if kind not in ("retrieve", "graph_walk") or not isinstance(hits, list) or not data.get("query"):
            continue
        query = str(data["query"])
        seen = next((int(h.get("rank") or i) for i, h in enumerate(hits, 1) if h.get("doc_id") == doc_id), None)
        last = hits[-1].get("score") if hits else None
        cutoff = float(last) if isinstance(last, (int, float)) else None
        dense = corpora.vectors.query(namespace, corpora.embedder.embed([query])[0], min(total, SCAN_LIMIT))
        cos_rank, cosine = _best(dense, chunks)
        if _is_walk(kind, data):
            ranked, of = _walk(services, corpora, corpus, query, run)
            rank, score = _best(ranked, chunks)
            out.append(QueryRank(step, kind, query, "PageRank", score, rank, of, len(hits), cutoff, seen, cosine))
        else:
            out.append(QueryRank(step, kind, query, "cosine", cosine, cos_rank, min(total, SCAN_LIMIT), len(hits),
                                 cutoff, seen))
    return out


def _best(ranked: list[tuple[str, float]], chunks: set[str]) -> tuple[int | None, float | None]:
    """(rank, score) of the passage's best-ranked chunk in a ranking of chunk ids."""
    for position, (chunk_id, score) in enumerate(ranked, 1):
        if chunk_id in chunks:
            return position, float(score)
    return None, None


def _walk(services: Services, corpora: CorpusStore, corpus: str, query: str,
          run: dict[str, Any]) -> tuple[list[tuple[str, float]], int]:
    """Every passage of the graph ranked by PageRank for `query`, with the run's walk settings."""
    settings = _walk_settings(run)
    index, _sync = services.hipporag.for_corpora(corpora).index(corpus)
    dense = None
    if settings.get("dense_fusion", True):
        k = int(settings.get("dense_candidates", 50))
        dense = {h.chunk_id: h.score for h in corpora.search(corpus, query, k=k)}
    r = index.retrieve(query, k=max(len(index), 1), dense_scores=dense,
                       dense_weight=float(settings.get("dense_weight", 0.05)),
                       passage_nodes=settings.get("passage_nodes"), linking=str(settings.get("linking", "entity")))
    return [(pid, float(score)) for pid, score in r.passages], len(index)
