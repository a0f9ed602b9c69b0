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


# -- embedded Chroma: exact search from an in-memory copy ------------------------------------------------------------


def brute_force(vectors: np.ndarray, ids: list[str], query: np.ndarray, k: int) -> list[str]:
    return [ids[i] for i in np.argsort(-(vectors @ query), kind="stable")[:k]]


def test_embedded_chroma_answers_exactly_without_asking_hnsw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ChromaVectorStore(tmp_path / "chroma")
    vecs, ids = _unit(3000, dim=24, seed=1), [f"c{i}" for i in range(3000)]
    store.add("ns-x", ids, vecs)
    collection = store._collection("ns-x")

    def no_hnsw(*args: object, **kwargs: object) -> None:
        raise AssertionError("the HNSW index was asked")

    monkeypatch.setattr(type(collection), "query", no_hnsw)
    queries = _unit(100, dim=24, seed=2)
    for q in queries:
        got = store.query("ns-x", q, 10)
        assert [vid for vid, _ in got] == brute_force(vecs, ids, q, 10)
        assert got[0][1] == pytest.approx(float(vecs[ids.index(got[0][0])] @ q), abs=1e-5)
    with pytest.raises(AssertionError, match="HNSW"):  # a filtered query still goes to Chroma
        store.query("ns-x", queries[0], 3, where={"doc_id": "x"})


def test_the_exact_copy_follows_inserts_overwrites_and_deletes(tmp_path: Path) -> None:
    store = ChromaVectorStore(tmp_path / "chroma")
    vecs = _unit(50, seed=3)
    ids = [f"c{i}" for i in range(50)]
    store.add("ns-x", ids[:40], vecs[:40])
    assert store.query("ns-x", vecs[45], 1)[0][0] != "c45"  # the copy is read now, before the next writes
    store.add("ns-x", ids[40:], vecs[40:])
    assert store.query("ns-x", vecs[45], 1)[0][0] == "c45"
    store.add("ns-x", ["c3"], vecs[45:46])  # overwrite: c3 now sits where c45 is
    assert {vid for vid, _ in store.query("ns-x", vecs[45], 2)} == {"c3", "c45"}
    store.delete("ns-x", ["c45", "c3"])
    assert {vid for vid, _ in store.query("ns-x", vecs[45], 50)} == set(ids) - {"c3", "c45"}
    reopened = ChromaVectorStore(tmp_path / "chroma")  # a restart reads the same vectors back from Chroma
    for q in _unit(10, seed=4):
        assert reopened.query("ns-x", q, 5) == pytest.approx(store.query("ns-x", q, 5))
    reopened.add("ns-x", ["e1"], vecs[45:46])  # a write through another object: the first one reads again
    assert store.query("ns-x", vecs[45], 1)[0][0] == "e1"
    store.drop("ns-x")
    assert store.query("ns-x", vecs[0], 3) == []


def test_a_collection_over_the_limit_is_searched_by_hnsw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from storage import vector_store

    monkeypatch.setattr(vector_store, "EXACT_LIMIT", 30)
    store = ChromaVectorStore(tmp_path / "chroma")
    vecs = _unit(20, seed=5)
    store.add("ns-x", [f"c{i}" for i in range(20)], vecs)
    assert store.query("ns-x", vecs[4], 1)[0][0] == "c4" and store._exact["ns-x"] is not None
    more = _unit(20, seed=6)
    store.add("ns-x", [f"d{i}" for i in range(20)], more)  # now 40: the copy is dropped
    assert store._exact["ns-x"] is None
    assert store.query("ns-x", more[7], 1)[0][0] == "d7"
    fresh = ChromaVectorStore(tmp_path / "chroma")
    assert fresh.query("ns-x", vecs[9], 1)[0][0] == "c9" and fresh._exact["ns-x"] is None


def test_documents_added_one_at_a_time_after_a_query_are_all_found(tmp_path: Path) -> None:
    store = ChromaVectorStore(tmp_path / "chroma")
    vecs, ids = _unit(300, seed=7), [f"c{i}" for i in range(300)]
    store.add("ns-y", ids[:1], vecs[:1])
    assert store.query("ns-y", vecs[0], 1)[0][0] == "c0"  # the copy is loaded with one row, then grows
    for i in range(1, 300):
        store.add("ns-y", ids[i:i + 1], vecs[i:i + 1])
    for q in _unit(20, seed=8):
        assert [vid for vid, _ in store.query("ns-y", q, 7)] == brute_force(vecs, ids, q, 7)
    store.delete("ns-y", ids[::2])
    left = [i for i in range(300) if i % 2]
    for q in _unit(5, seed=9):
        assert [vid for vid, _ in store.query("ns-y", q, 5)] == brute_force(vecs[left], [ids[i] for i in left], q, 5)
