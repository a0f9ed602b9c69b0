"""One contract for every thought backend (SQL and in-memory): add, query by bucket, status, delete, reopen."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from memory.store import ThoughtStore
from storage.db import Database, NotFound
from storage.thoughts import InMemoryThoughtTable, MemoryRow, ThoughtBackend, ThoughtTable


@pytest.fixture(params=["sql", "memory"])
def backend(request, tmp_path) -> tuple[ThoughtBackend, Callable[[], ThoughtBackend]]:
    """(backend, reopen): reopen gives a fresh handle on the same data (a new SQL connection; the same dicts)."""
    if request.param == "sql":
        url = f"sqlite:///{tmp_path}/thoughts.db"
        return ThoughtTable(Database(url)), lambda: ThoughtTable(Database(url))
    table = InMemoryThoughtTable()
    return table, lambda: table


def _vec(seed: int, dim: int = 8) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def test_add_get_and_query_by_bucket(backend) -> None:
    table, _ = backend
    a = table.add("ana", "The user lives in Porto.", _vec(1), [3, 0], source_turn="I live in Porto.")
    b = table.add("ana", "The user has a dog named Olive.", _vec(2), [5, 0])
    table.add("ben", "The user lives in Oslo.", _vec(3), [3, 0])
    got = table.get("ana", [a])[0]
    assert (got.text, got.buckets, got.status, got.source_turn) == ("The user lives in Porto.", (3, 0), "active",
                                                                     "I live in Porto.")
    assert np.allclose(got.embedding, _vec(1))
    assert {r.id for r in table.in_buckets("ana", [(0, 3)])} == {a}
    assert {r.id for r in table.in_buckets("ana", [(1, 0)])} == {a, b}
    assert table.in_buckets("ana", []) == []
    assert table.occupancy("ana") == {(0, 3): 1, (0, 5): 1, (1, 0): 2}
    assert table.count("ana") == 2 and table.count("ben") == 1
    assert table.get("ben", [a]) == []  # another user's id is not found


def test_status_search_and_rebucket(backend) -> None:
    table, _ = backend
    old = table.add("ana", "The user lives in Lisbon.", _vec(1), [1, 1])
    new = table.add("ana", "The user lives in Berlin.", _vec(2), [1, 2])
    table.set_status("ana", [old], "forgotten", related=new)
    assert [r.id for r in table.in_buckets("ana", [(0, 1)])] == [new]  # a forgotten thought is not recalled
    gone = table.get("ana", [old])[0]
    assert (gone.status, gone.related) == ("forgotten", new) and gone.updated >= gone.created
    assert table.count("ana") == 1 and table.count("ana", status="") == 2
    assert [r.id for r in table.list_thoughts("ana", search="berlin")] == [new]
    assert [r.id for r in table.list_thoughts("ana", status="forgotten")] == [old]
    assert [r.id for r in table.list_thoughts("ana")] == [new, old]  # newest first
    table.rebucket("ana", {new: [7, 7]})
    assert table.get("ana", [new])[0].buckets == (7, 7) and table.occupancy("ana") == {(0, 7): 1, (1, 7): 1}


def test_delete_clear_and_reopen(backend) -> None:
    table, reopen = backend
    matrices = np.arange(2 * 8 * 2, dtype=np.float32).reshape(2, 8, 2)
    table.save_memory(MemoryRow("ana", 8, 4, 2, 7, matrices))
    keep = table.add("ana", "The user is a nurse.", _vec(1), [0, 1])
    drop = table.add("ana", "The user likes tea.", _vec(2), [2, 3])
    with pytest.raises(NotFound):
        table.delete("ben", keep)
    table.delete("ana", drop)
    again = reopen()
    assert [r.id for r in again.list_thoughts("ana")] == [keep]
    memory = again.get_memory("ana")
    assert memory is not None and (memory.dim, memory.buckets, memory.tables, memory.seed) == (8, 4, 2, 7)
    assert np.array_equal(memory.matrices, matrices)
    assert again.clear("ana") == 1 and again.get_memory("ana") is None and again.list_thoughts("ana") == []
    assert again.clear("ana") == 0


def test_the_thought_store_recalls_the_same_over_either_backend(backend) -> None:
    table, _ = backend

    class Unused:
        name = "unused"

        def embed(self, texts: list[str]) -> np.ndarray:
            raise AssertionError("vectors are given")

    store = ThoughtStore(table, Unused())
    vectors = [_vec(i, 16) for i in range(30)]
    for i, v in enumerate(vectors):
        store.add("ana", f"thought {i}", v)
    result = store.recall("ana", vectors[4], 3, probes=16)  # every bucket probed: exact cosine order
    assert [row.text for row, _ in result.thoughts][0] == "thought 4"
    exact = np.argsort([-float(v @ vectors[4]) for v in vectors])[:3]
    assert [row.text for row, _ in result.thoughts] == [f"thought {i}" for i in exact]
    assert result.scored == result.stored == 30
