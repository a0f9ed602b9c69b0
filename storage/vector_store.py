"""Vector stores behind one small interface: Chroma (embedded or a server) and an in-memory one."""

from __future__ import annotations

import abc
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np


class VectorStore(abc.ABC):
    """Unit vectors by id in per-corpus namespaces; scores are cosine similarities."""

    @abc.abstractmethod
    def add(self, namespace: str, ids: Sequence[str], embeddings: np.ndarray,
            metadata: Sequence[dict[str, Any]] | None = None) -> None:
        """Insert or overwrite vectors (re-adding an id is idempotent)."""

    @abc.abstractmethod
    def query(self, namespace: str, embedding: np.ndarray, k: int,
              where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """The k nearest ids with cosine scores, best first."""

    @abc.abstractmethod
    def delete(self, namespace: str, ids: Sequence[str]) -> None:
        """Remove vectors; unknown ids are ignored."""

    @abc.abstractmethod
    def count(self, namespace: str) -> int:
        """How many vectors the namespace holds."""

    @abc.abstractmethod
    def ids(self, namespace: str) -> set[str]:
        """Every id in the namespace (to reconcile with the SQL rows after a crash)."""

    @abc.abstractmethod
    def drop(self, namespace: str) -> None:
        """Remove a whole namespace."""


class InMemoryVectorStore(VectorStore):
    """Exact cosine search over numpy arrays; for unit tests and small corpora."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, tuple[np.ndarray, dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    def add(self, namespace: str, ids: Sequence[str], embeddings: np.ndarray,
            metadata: Sequence[dict[str, Any]] | None = None) -> None:
        """Insert or overwrite vectors."""
        metadata = metadata or [{} for _ in ids]
        with self._lock:
            space = self._data.setdefault(namespace, {})
            for i, vid in enumerate(ids):
                space[vid] = (np.asarray(embeddings[i], dtype=np.float32), dict(metadata[i]))

    def query(self, namespace: str, embedding: np.ndarray, k: int,
              where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """Exact top-k by dot product (vectors are unit length)."""
        with self._lock:
            items = [
                (vid, vec) for vid, (vec, meta) in self._data.get(namespace, {}).items()
                if not where or all(meta.get(key) == value for key, value in where.items())
            ]
        if not items:
            return []
        scores = np.stack([v for _, v in items]) @ np.asarray(embedding, dtype=np.float32)
        order = np.argsort(-scores, kind="stable")[:k]
        return [(items[i][0], float(scores[i])) for i in order]

    def delete(self, namespace: str, ids: Sequence[str]) -> None:
        """Remove vectors by id."""
        with self._lock:
            space = self._data.get(namespace, {})
            for vid in ids:
                space.pop(vid, None)

    def count(self, namespace: str) -> int:
        """Number of vectors in the namespace."""
        return len(self._data.get(namespace, {}))

    def ids(self, namespace: str) -> set[str]:
        """Every id in the namespace."""
        with self._lock:
            return set(self._data.get(namespace, {}))

    def drop(self, namespace: str) -> None:
        """Forget a namespace."""
        with self._lock:
            self._data.pop(namespace, None)


# Embedded Chroma collections up to this many vectors are searched exactly, in memory (384-dim: 150 MB at the limit).
EXACT_LIMIT = 100_000


class _ExactIndex:
    """One namespace's unit vectors, for exact cosine top-k (what `InMemoryVectorStore` does, kept in step with the
    Chroma collection it mirrors). Writers hold the store's lock; queries do not.

    Rows live in a buffer that doubles when full, so adding documents one at a time costs amortised O(rows added),
    not a copy of the whole matrix per document; an overwrite changes its row in place. A query reads one snapshot
    `(ids, buffer, n)`, replaced whole after every write (ids only grow at the end, or are rebuilt by a delete)."""

    def __init__(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        ids = list(ids)
        self.row = {vid: i for i, vid in enumerate(ids)}
        buffer = (_unit(np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1)) if ids
                  else np.zeros((0, 0), dtype=np.float32))
        self.snapshot: tuple[list[str], np.ndarray, int] = (ids, buffer, len(ids))

    @property
    def n(self) -> int:
        return self.snapshot[2]

    def upsert(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        held, buffer, n = self.snapshot
        vectors = _unit(np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1))
        fresh: dict[str, np.ndarray] = {}
        for vid, vec in zip(ids, vectors, strict=True):
            if vid in self.row:
                buffer[self.row[vid]] = vec
            else:
                fresh[vid] = vec  # the last write of an id wins, as in Chroma's upsert
        if not fresh:
            return
        need = n + len(fresh)
        if need > len(buffer) or buffer.shape[1] != vectors.shape[1]:
            grown = np.zeros((max(need, 2 * len(buffer), 64), vectors.shape[1]), dtype=np.float32)
            grown[:n] = buffer[:n]
            buffer = grown
        buffer[n:need] = np.stack(list(fresh.values()))
        for vid in fresh:
            self.row[vid] = len(held)
            held.append(vid)
        self.snapshot = (held, buffer, need)

    def delete(self, ids: Sequence[str]) -> None:
        held, buffer, n = self.snapshot
        gone = {self.row[vid] for vid in ids if vid in self.row}
        if gone:
            keep = [i for i in range(n) if i not in gone]
            self.row = {held[i]: j for j, i in enumerate(keep)}
            self.snapshot = ([held[i] for i in keep], buffer[keep], len(keep))

    def top(self, embedding: np.ndarray, k: int) -> list[tuple[str, float]]:
        ids, buffer, n = self.snapshot
        if not n:
            return []
        scores = buffer[:n] @ _unit(np.asarray(embedding, dtype=np.float32).reshape(1, -1))[0]
        order = np.argsort(-scores, kind="stable")[:k]
        return [(ids[i], float(scores[i])) for i in order]


def _pages(collection: Any, include: list[str], page: int = 5000) -> Iterator[dict[str, Any]]:
    """A Chroma collection's records in pages of `page` (its `get` caps how many come back at once); empty pages
    are not yielded."""
    offset = 0
    while True:
        got = collection.get(include=include, limit=page, offset=offset)
        if got["ids"]:
            yield got
        offset += len(got["ids"])
        if len(got["ids"]) < page:
            return


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


class ChromaVectorStore(VectorStore):
    """Chroma: a persistent embedded client by default, an HTTP client when a host is given.

    Embeddings are always passed in, so Chroma's default embedding function (which downloads a model)
    is never used.

    Chroma searches with an approximate HNSW graph, which can miss a nearest vector: in two benchmark runs here
    a question's best passage (cosine 0.416, the next 0.349) was absent from the top 5 while every other run and a
    fresh process found it. So an embedded collection of up to `EXACT_LIMIT` vectors is also held in memory and
    searched exactly (a 2,000-passage corpus: a 3 MB matrix, well under a millisecond a query); Chroma stays the
    store of record, the copy is read from it on the first query and kept in step by this object's writes. A Chroma
    server may be written by other processes, so there the HNSW search is used, as it is for larger collections
    and filtered queries. (Another store object in this process over the same files is caught by the size check.)
    """

    def __init__(self, path: Path | None = None, host: str = "", port: int = 8000) -> None:
        try:
            import chromadb
            from chromadb.config import Settings as ChromaSettings
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("the Chroma vector store needs `pip install chromadb`") from exc
        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if host:
            self.client = chromadb.HttpClient(host=host, port=port, settings=chroma_settings)
            self.where = f"chroma server {host}:{port}"
        else:
            assert path is not None, "an embedded Chroma needs a path"
            path.mkdir(parents=True, exist_ok=True)
            self.client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
            self.where = f"chroma at {path}"
        self._collections: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.exact = not host
        self._exact: dict[str, _ExactIndex | None] = {}  # None: over the limit, HNSW answers
        self._exact_lock = threading.Lock()

    def _collection(self, namespace: str) -> Any:
        with self._lock:
            if namespace not in self._collections:
                self._collections[namespace] = self.client.get_or_create_collection(
                    name=namespace, embedding_function=None,
                    configuration={"hnsw": {"space": "cosine"}},
                )
            return self._collections[namespace]

    def add(self, namespace: str, ids: Sequence[str], embeddings: np.ndarray,
            metadata: Sequence[dict[str, Any]] | None = None) -> None:
        """Upsert vectors in batches (Chroma caps the batch size)."""
        col = self._collection(namespace)
        step = 2000
        for start in range(0, len(ids), step):
            stop = start + step
            col.upsert(
                ids=list(ids[start:stop]),
                embeddings=np.asarray(embeddings[start:stop], dtype=np.float32),
                metadatas=list(metadata[start:stop]) if metadata and any(metadata) else None,
            )
        with self._exact_lock:
            index = self._exact.get(namespace)
            if index is not None:
                index.upsert(ids, embeddings)
                if index.n > EXACT_LIMIT:
                    self._exact[namespace] = None

    def query(self, namespace: str, embedding: np.ndarray, k: int,
              where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """Exact top-k from the in-memory copy (see the class), else Chroma's HNSW top-k with its cosine distance
        turned back into a similarity."""
        if self.exact and where is None:
            index = self._exact_index(namespace)
            if index is not None:
                return index.top(embedding, k)
        col = self._collection(namespace)
        n = col.count()
        if n == 0:
            return []
        res = col.query(
            query_embeddings=[np.asarray(embedding, dtype=np.float32)], n_results=min(k, n), where=where,
            include=["distances"],
        )
        return [(vid, 1.0 - float(d)) for vid, d in zip(res["ids"][0], res["distances"][0], strict=True)]

    def _exact_index(self, namespace: str) -> _ExactIndex | None:
        """The namespace's in-memory copy, read from Chroma in pages on first use; None over `EXACT_LIMIT`.

        Read again when the collection's size no longer matches it (another store object over the same files
        inserted or deleted since)."""
        with self._exact_lock:
            col = self._collection(namespace)
            n = col.count()
            held = self._exact.get(namespace)
            if held is not None and held.n == n:
                return held
            index: _ExactIndex | None = None
            if n <= EXACT_LIMIT:
                ids: list[str] = []
                vectors: list[np.ndarray] = []
                for got in _pages(col, ["embeddings"]):
                    ids += got["ids"]
                    vectors.append(np.asarray(got["embeddings"], dtype=np.float32))
                index = _ExactIndex(ids, np.concatenate(vectors) if vectors else np.zeros((0, 0), np.float32))
            self._exact[namespace] = index
            return index

    def delete(self, namespace: str, ids: Sequence[str]) -> None:
        """Delete vectors by id."""
        if ids:
            self._collection(namespace).delete(ids=list(ids))
            with self._exact_lock:
                index = self._exact.get(namespace)
                if index is not None:
                    index.delete(ids)

    def count(self, namespace: str) -> int:
        """Number of vectors in the collection."""
        return int(self._collection(namespace).count())

    def ids(self, namespace: str) -> set[str]:
        """Every id in the collection, read in pages."""
        return {vid for got in _pages(self._collection(namespace), []) for vid in got["ids"]}

    def drop(self, namespace: str) -> None:
        """Delete the whole collection."""
        with self._lock:
            self._collections.pop(namespace, None)
        with self._exact_lock:
            self._exact.pop(namespace, None)
        try:
            self.client.delete_collection(namespace)
        except Exception:  # noqa: BLE001 - chroma raises different errors for a missing collection
            pass
