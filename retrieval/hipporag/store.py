"""One HippoRAG index per corpus, on disk next to Chroma, kept in step with the corpus's chunks."""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from retrieval.corpus import CorpusStore
from retrieval.hipporag.index import HippoRAGIndex
from retrieval.hipporag.openie import Extractor
from retrieval.hipporag.persistence import GRAPH_FILE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncReport:
    """What bringing an index up to date did."""

    added: int
    removed: int
    seconds: float
    loaded_from_disk: bool


class _Shared:
    """What every owner's view of the store shares: the loaded indexes, their lock, the extractor."""

    def __init__(self, extractor_factory: Callable[[], Extractor]) -> None:
        self.extractor_factory = extractor_factory
        self.extractor: Extractor | None = None
        self.indexes: dict[int, HippoRAGIndex] = {}
        self.lock = threading.Lock()


class HippoRAGStore:
    """Loads, builds and incrementally updates the graph index of each corpus on first use.

    The corpus's chunks in SQL are the truth: on every `index` call the graph gains the chunks it lacks
    and drops the ones deleted since (both incremental; OpenIE results are cached by content hash). Corpora
    are found and read through the corpus store's API, so an owner reaches only the corpora its
    `CorpusStore` view may read (`for_corpora`).
    """

    def __init__(self, root: Path, corpora: CorpusStore, extractor_factory: Callable[[], Extractor]) -> None:
        self.root = root
        self.corpora = corpora
        self._shared = _Shared(extractor_factory)

    def for_corpora(self, corpora: CorpusStore) -> HippoRAGStore:
        """This store reading corpora through `corpora` (an owner's view); the indexes stay shared."""
        if corpora is self.corpora:
            return self
        view = copy.copy(self)
        view.corpora = corpora
        return view

    def extractor(self) -> Extractor:
        """The OpenIE extractor, built once."""
        if self._shared.extractor is None:
            self._shared.extractor = self._shared.extractor_factory()
        return self._shared.extractor

    def folder(self, corpus_id: int) -> Path:
        """Where a corpus's graph lives."""
        return self.root / f"corpus-{corpus_id}"

    def _load(self, folder: Path) -> HippoRAGIndex | None:
        """The saved index, or None when it cannot be trusted (a save cut short by a crash): then it is rebuilt."""
        try:
            index = HippoRAGIndex.load(folder, self.corpora.embedder, self.extractor())
        except Exception:  # noqa: BLE001 - derived data: SQL holds the truth, so rebuild rather than fail
            log.warning("HippoRAG index in %s is unreadable; rebuilding it from the corpus", folder, exc_info=True)
            return None
        graph = index.graph
        if graph.phrases and graph.embeddings.shape[0] != len(graph.phrases):
            log.warning("HippoRAG index in %s has %d phrases but %d embeddings (a save cut short); rebuilding it",
                        folder, len(graph.phrases), graph.embeddings.shape[0])
            return None
        return index

    def index(self, corpus: str, progress: Callable[[int, int], None] | None = None
              ) -> tuple[HippoRAGIndex, SyncReport]:
        """The corpus's index, loaded or built, with new chunks added and deleted ones removed."""
        t0 = time.perf_counter()
        cid = self.corpora.corpus_id(corpus)
        with self._shared.lock:
            index = self._shared.indexes.get(cid)
            loaded = False
            if index is None:
                folder = self.folder(cid)
                index = self._load(folder) if (folder / GRAPH_FILE).exists() else None
                loaded = index is not None
                if index is None:
                    index = HippoRAGIndex(folder, self.corpora.embedder, self.extractor())
                self._shared.indexes[cid] = index
            chunks = self.corpora.chunk_rows(cid)
            present = {c.chunk_id for c in chunks}
            stale = [pid for pid in index.graph.passage_index if pid not in present]
            fresh = [(c.chunk_id, f"{c.title}\n{c.text}") for c in chunks if c.chunk_id not in index]
            removed = index.delete_passages(stale) if stale else 0
            added = index.add_passages(fresh, progress) if fresh else 0
            if added or removed:
                index.save()
        return index, SyncReport(added, removed, time.perf_counter() - t0, loaded)
