"""Vector stores behind one small interface: Chroma (embedded or a server) and an in-memory one."""

from __future__ import annotations

import abc
import threading
from collections.abc import Sequence
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


class ChromaVectorStore(VectorStore):
    """Chroma: a persistent embedded client by default, an HTTP client when a host is given.

    Embeddings are always passed in, so Chroma's default embedding function (which downloads a model)
    is never used.
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

    def query(self, namespace: str, embedding: np.ndarray, k: int,
              where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """HNSW top-k; Chroma's cosine distance is turned back into a similarity."""
        col = self._collection(namespace)
        n = col.count()
        if n == 0:
            return []
        res = col.query(
            query_embeddings=[np.asarray(embedding, dtype=np.float32)], n_results=min(k, n), where=where,
            include=["distances"],
        )
        return [(vid, 1.0 - float(d)) for vid, d in zip(res["ids"][0], res["distances"][0], strict=True)]

    def delete(self, namespace: str, ids: Sequence[str]) -> None:
        """Delete vectors by id."""
        if ids:
            self._collection(namespace).delete(ids=list(ids))

    def count(self, namespace: str) -> int:
        """Number of vectors in the collection."""
        return int(self._collection(namespace).count())

    def ids(self, namespace: str) -> set[str]:
        """Every id in the collection, read in pages."""
        col, out, page = self._collection(namespace), set(), 5000
        while True:
            got = col.get(include=[], limit=page, offset=len(out))["ids"]
            out.update(got)
            if len(got) < page:
                return out

    def drop(self, namespace: str) -> None:
        """Delete the whole collection."""
        with self._lock:
            self._collections.pop(namespace, None)
        try:
            self.client.delete_collection(namespace)
        except Exception:  # noqa: BLE001 - chroma raises different errors for a missing collection
            pass
