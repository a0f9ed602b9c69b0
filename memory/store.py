"""The thought store: one long-term memory per user, recalled through LSH buckets then cosine rank."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from memory.lsh import BucketIndex, LSHParams, cosine_top_k, hash_vectors, probe_buckets, projections
from storage.db import Database
from storage.thoughts import MemoryRow, ThoughtBackend, ThoughtRow, ThoughtTable


class TextEmbedder(Protocol):
    """What the store needs of an embedder: unit-norm rows for texts."""

    name: str

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts as unit-norm float32 rows."""
        ...


@dataclass(frozen=True)
class Source:
    """Where a thought came from: the run, the user turn, the conversation."""

    run: str = ""
    turn: str = ""
    conversation: str = ""


@dataclass(frozen=True)
class Recall:
    """What one recall did: the top thoughts with cosine scores, the buckets probed, how many were scored."""

    thoughts: list[tuple[ThoughtRow, float]]
    probes: list[tuple[int, int]] = field(default_factory=list)  # (table, bucket)
    scored: int = 0
    stored: int = 0
    exact: bool = False  # every active thought was scored (a memory under `exact_below`)


@dataclass
class _Held:
    """One user's active thoughts held for recall: arrays, the bucket index over them, and rows written since
    (scored whole until they are folded into the index). Valid while the stored version is the one read."""

    version: int
    memory: MemoryRow
    ids: list[str]
    vectors: np.ndarray  # (n, dim) unit rows
    buckets: np.ndarray  # (n, tables)
    alive: np.ndarray  # (n,) False once forgotten, merged or deleted
    index: BucketIndex | None = None
    new_ids: list[str] = field(default_factory=list)
    new_vectors: list[np.ndarray] = field(default_factory=list)
    new_buckets: list[np.ndarray] = field(default_factory=list)
    new_alive: list[bool] = field(default_factory=list)

    def count(self) -> int:
        """Active thoughts held."""
        return int(self.alive.sum()) + sum(self.new_alive)

    def fold(self) -> None:
        """Move the rows written since into the arrays; the index is rebuilt on next use."""
        if self.new_ids:
            self.ids += self.new_ids
            self.vectors = np.concatenate([self.vectors, np.stack(self.new_vectors)]) if len(self.vectors) else \
                np.stack(self.new_vectors)
            self.buckets = np.concatenate([self.buckets, np.stack(self.new_buckets)]) if len(self.buckets) else \
                np.stack(self.new_buckets)
            self.alive = np.concatenate([self.alive, np.array(self.new_alive, dtype=bool)])
            self.new_ids, self.new_vectors, self.new_buckets, self.new_alive = [], [], [], []
            self.index = None

    def drop(self, ids: set[str]) -> None:
        """Thoughts no longer active."""
        for i, tid in enumerate(self.ids):
            if tid in ids:
                self.alive[i] = False
        self.new_alive = [a and tid not in ids for tid, a in zip(self.new_ids, self.new_alive, strict=True)]


@dataclass(frozen=True)
class LSHShape:
    """The hash a memory should use: buckets per table, tables, and the matrices' seed."""

    buckets: int = 16
    tables: int = 4
    seed: int = 0


class ThoughtStore:
    """Per-user thoughts (in SQL, or any ThoughtBackend): add / recall(user, vector, k) / set_status / list."""

    def __init__(self, db: Database | ThoughtBackend, embedder: TextEmbedder, shape: LSHShape | None = None) -> None:
        self.table: ThoughtBackend = ThoughtTable(db) if isinstance(db, Database) else db
        self.embedder = embedder
        self.shape = shape or LSHShape()
        self._held: dict[str, _Held] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-norm embeddings of texts."""
        return np.asarray(self.embedder.embed(list(texts)), dtype=np.float32)

    def memory(self, user: str, dim: int, shape: LSHShape | None = None) -> MemoryRow:
        """The user's LSH state, created on first use; re-hashes stored thoughts if the shape changed."""
        shape = shape or self.shape
        row = self.table.get_memory(user)
        if row is not None and (row.dim, row.buckets, row.tables) == (dim, shape.buckets, shape.tables):
            return row
        seed = row.seed if row is not None else shape.seed
        params = LSHParams(dim=dim, buckets=shape.buckets, tables=shape.tables, seed=seed)
        row = MemoryRow(user, dim, shape.buckets, shape.tables, seed, projections(params))
        self.table.save_memory(row)
        stored = self.table.list_thoughts(user, limit=1_000_000)
        if stored:
            vectors = np.stack([t.embedding for t in stored])
            buckets = hash_vectors(vectors, row.matrices) if vectors.shape[1] == dim else None
            if buckets is not None:
                self.table.rebucket(user, {t.id: buckets[i].tolist() for i, t in enumerate(stored)})
        self._held.pop(user, None)
        return row

    def add(self, user: str, text: str, vector: np.ndarray, source: Source = Source(), status: str = "active",
            related: str = "", shape: LSHShape | None = None, fact: dict[str, str] | None = None) -> ThoughtRow:
        """Store one thought (and its fact record) in its bucket of every table; returns it."""
        row = self.memory(user, int(vector.shape[-1]), shape)
        buckets = hash_vectors(vector, row.matrices)[0]
        before = self.table.version(user)
        tid = self.table.add(user, text, vector, buckets.tolist(), status=status, related=related,
                             source_run=source.run, source_turn=source.turn, conversation=source.conversation,
                             fact=fact)
        held = self._written(user, before)
        if held is not None and status == "active":
            held.new_ids.append(tid)
            held.new_vectors.append(np.asarray(vector, dtype=np.float32).ravel())
            held.new_buckets.append(buckets)
            held.new_alive.append(True)
        return self.table.get(user, [tid])[0]

    def _written(self, user: str, before: int) -> _Held | None:
        """After this store wrote to the user's memory: the held arrays to update (their version renewed), or None
        when none are held or someone else wrote in between (they are then reloaded on the next recall)."""
        held = self._held.get(user)
        if held is None:
            return None
        if held.version != before:
            self._held.pop(user, None)
            return None
        held.version = self.table.version(user)
        return held

    def held(self, user: str, dim: int, shape: LSHShape | None = None) -> _Held | None:
        """The user's LSH state and active thoughts as arrays, loaded once and again only after another process
        changed the stored memory (its version, renewed by every write, is one primary-key read); None before the
        first thought. Buckets are recomputed from the vectors (faster than reading a row per table)."""
        shape = shape or self.shape
        version = self.table.version(user)
        held = self._held.get(user)
        if held is not None and held.version == version and (held.memory.buckets, held.memory.tables) == (
                shape.buckets, shape.tables) and held.memory.dim == dim:
            return held
        if self.table.get_memory(user) is None:
            return None
        row = self.memory(user, dim, shape)
        ids, vectors = self.table.active_vectors(user)
        buckets = (np.concatenate([hash_vectors(vectors[i:i + 20_000], row.matrices)
                                   for i in range(0, len(vectors), 20_000)]) if len(ids)
                   else np.zeros((0, row.tables), dtype=np.int32))
        held = _Held(self.table.version(user), row, list(ids), vectors, buckets, np.ones(len(ids), dtype=bool))
        self._held[user] = held
        return held

    def recall(self, user: str, vector: np.ndarray, k: int, probes: int = 1,
               shape: LSHShape | None = None, min_shared: int = 1, exact_below: int = 0) -> Recall:
        """TiM's recall: the query's bucket(s) in every table, then the k most cosine-similar thoughts there.

        `min_shared` > 1 keeps only thoughts that share a probed bucket in at least that many tables. A memory of
        at most `exact_below` active thoughts is scored whole (no buckets). Thoughts written since the index was
        built are scored whole until they are folded in (more than 1 in 50 of the memory, or 1,000).
        """
        held = self.held(user, int(vector.shape[-1]), shape)
        stored = held.count() if held is not None else 0
        if held is None or stored == 0:
            return Recall([], [], 0, 0)
        if len(held.new_ids) > max(1000, len(held.ids) // 50):
            held.fold()
        new = np.stack(held.new_vectors) if held.new_vectors else np.zeros((0, held.vectors.shape[-1] if len(
            held.vectors) else len(vector)), dtype=np.float32)
        new_alive = np.flatnonzero(np.array(held.new_alive, dtype=bool))
        if stored <= exact_below:
            rows = np.flatnonzero(held.alive)
            pairs: list[tuple[int, int]] = []
        else:
            probe = probe_buckets(vector, held.memory.matrices, probes)
            pairs = [(t, int(b)) for t in range(probe.shape[0]) for b in probe[t]]
            if held.index is None:
                held.index = BucketIndex(held.buckets, held.memory.buckets)
            rows = held.index.candidates(probe, min_shared) if len(held.ids) else np.zeros(0, dtype=np.int64)
            rows = rows[held.alive[rows]]
        pool = np.concatenate([held.vectors[rows], new[new_alive]]) if len(held.ids) else new[new_alive]
        if len(pool) == 0:
            return Recall([], pairs, 0, stored)
        picked, scores = cosine_top_k(vector, pool, k)
        main = len(rows)
        names = [held.ids[int(rows[i])] if i < main else held.new_ids[int(new_alive[i - main])] for i in picked]
        buckets = [held.buckets[int(rows[i])] if i < main else held.new_buckets[int(new_alive[i - main])]
                   for i in picked]
        found = {r.id: r for r in self.table.get(user, names, buckets=False)}
        out = [(replace(found[t], buckets=tuple(int(b) for b in bs)), float(sc))
               for t, bs, sc in zip(names, buckets, scores, strict=True) if t in found]
        return Recall(out, pairs, len(pool), stored, exact=stored <= exact_below)

    def add_many(self, user: str, texts: list[str], vectors: np.ndarray, shape: LSHShape | None = None) -> int:
        """Store many thoughts in one transaction (imports, benchmarks); returns how many."""
        row = self.memory(user, int(vectors.shape[-1]), shape)
        buckets = hash_vectors(vectors, row.matrices)
        self._held.pop(user, None)  # reloaded whole on the next recall
        return self.table.add_many(user, texts, vectors, buckets)

    def superseded(self, user: str, thought_id: str) -> list[ThoughtRow]:
        """The thoughts a thought superseded or merged."""
        return self.table.related_to(user, thought_id)

    def set_status(self, user: str, ids: list[str], status: str, related: str = "") -> None:
        """Mark thoughts active / forgotten / merged, pointing at the thought that replaced them."""
        before = self.table.version(user)
        self.table.set_status(user, ids, status, related)
        held = self._written(user, before)
        if held is not None and status != "active":
            held.drop(set(ids))
        elif held is not None:
            self._held.pop(user, None)

    def get(self, user: str, ids: list[str]) -> list[ThoughtRow]:
        """This user's thoughts by id."""
        return self.table.get(user, ids)

    def list(self, user: str, search: str = "", status: str = "") -> list[ThoughtRow]:
        """This user's thoughts, newest first."""
        return self.table.list_thoughts(user, search, status)

    def count(self, user: str, status: str = "active") -> int:
        """How many thoughts the user has (active by default)."""
        return self.table.count(user, status)

    def occupancy(self, user: str) -> dict[tuple[int, int], int]:
        """Active thoughts per (table, bucket)."""
        return self.table.occupancy(user)

    def delete(self, user: str, thought_id: str) -> None:
        """Delete one thought for good."""
        before = self.table.version(user)
        self.table.delete(user, thought_id)
        held = self._written(user, before)
        if held is not None:
            held.drop({thought_id})

    def clear(self, user: str) -> int:
        """Forget everything about the user (rows deleted, LSH state reset)."""
        self._held.pop(user, None)
        return self.table.clear(user)
