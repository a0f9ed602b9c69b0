"""One contract for every vector store backend: insert, idempotent re-insert, query, delete, reopen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from storage.vector_store import ChromaVectorStore, InMemoryVectorStore, VectorStore


def _unit(rows: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)



@pytest.fixture(params=["memory", "chroma"])
def store_factory(request, tmp_path: Path):
    if request.param == "memory":
        store = InMemoryVectorStore()
        return lambda: store  # "reopen" returns the same process-local store
    return lambda: ChromaVectorStore(tmp_path / "chroma")


def test_insert_query_delete_reopen(store_factory) -> None:
    store: VectorStore = store_factory()
    vecs = _unit(20)
    ids = [f"d{i}:0" for i in range(20)]
    store.add("ns-a", ids, vecs, [{"doc_id": f"d{i}"} for i in range(20)])
    store.add("ns-a", ids[:5], vecs[:5], [{"doc_id": f"d{i}"} for i in range(5)])  # idempotent
    assert store.count("ns-a") == 20
    top = store.query("ns-a", vecs[7], 3)
    assert top[0][0] == "d7:0" and top[0][1] == pytest.approx(1.0, abs=1e-4)
    assert [s for _, s in top] == sorted((s for _, s in top), reverse=True)
    assert store.query("ns-a", vecs[7], 3, where={"doc_id": "d3"})[0][0] == "d3:0"
    store.delete("ns-a", ["d7:0", "missing"])
    assert all(vid != "d7:0" for vid, _ in store.query("ns-a", vecs[7], 20))
    assert store.count("ns-b") == 0 and store.query("ns-b", vecs[0], 3) == []
    assert store.ids("ns-a") == set(ids) - {"d7:0"} and store.ids("ns-b") == set()
    reopened = store_factory()
    assert reopened.count("ns-a") == 19
    assert reopened.query("ns-a", vecs[2], 1)[0][0] == "d2:0"
    reopened.drop("ns-a")
    assert reopened.count("ns-a") == 0
