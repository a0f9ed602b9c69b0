"""The thought store: one long-term memory per user, recalled through LSH buckets then cosine rank."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from memory.lsh import BucketIndex, LSHParams, cosine_top_k, hash_vectors, probe_buckets, projections
from storage.db import Database
from storage.thoughts import ActiveVectors, MemoryRow, ThoughtBackend, ThoughtRow, ThoughtTable


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
class _Active:
    """One user's active thoughts held for recall, valid while the stored version is unchanged."""

    version: int
    rows: ActiveVectors
    shape: tuple[int, int]
    memory: MemoryRow
    index: BucketIndex | None = None


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
        self._active: dict[str, _Active] = {}

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
        self._active.pop(user, None)
        return row

    def add(self, user: str, text: str, vector: np.ndarray, source: Source = Source(), status: str = "active",
            related: str = "", shape: LSHShape | None = None, fact: dict[str, str] | None = None) -> ThoughtRow:
        """Store one thought (and its fact record) in its bucket of every table; returns it."""
        row = self.memory(user, int(vector.shape[-1]), shape)
        buckets = hash_vectors(vector, row.matrices)[0].tolist()
        tid = self.table.add(user, text, vector, buckets, status=status, related=related, source_run=source.run,
                             source_turn=source.turn, conversation=source.conversation, fact=fact)
        return self.table.get(user, [tid])[0]

    def active(self, user: str, dim: int, shape: LSHShape | None = None) -> _Active | None:
        """The user's LSH state and active thoughts as arrays, loaded once and again only after the stored memory
        changed (its version, renewed by every write, is one primary-key read); None before the first thought."""
        shape = shape or self.shape
        version = self.table.version(user)
        held = self._active.get(user)
        if held is not None and held.version == version and held.shape == (shape.buckets, shape.tables) \
                and held.memory.dim == dim:
            return held
        if self.table.get_memory(user) is None:
            return None
        row = self.memory(user, dim, shape)
        held = _Active(self.table.version(user), self.table.active_vectors(user), (row.buckets, row.tables), row)
        self._active[user] = held
        return held

    def recall(self, user: str, vector: np.ndarray, k: int, probes: int = 1,
               shape: LSHShape | None = None, min_shared: int = 1, exact_below: int = 0) -> Recall:
        """TiM's recall: the query's bucket(s) in every table, then the k most cosine-similar thoughts there.

        `min_shared` > 1 keeps only thoughts that share a probed bucket in at least that many tables. A memory of
        at most `exact_below` active thoughts is scored whole (no buckets). The active thoughts' vectors and
        buckets are held in memory between calls and reloaded when the stored memory changed.
        """
        held = self.active(user, int(vector.shape[-1]), shape)
        if held is None or not held.rows.ids:
            return Recall([], [], 0, 0)
        rows, stored = held.rows, len(held.rows.ids)
        if stored <= exact_below:
            picked, scores = cosine_top_k(vector, rows.vectors, k)
            return Recall(self._rows(user, rows, picked, scores), [], stored, stored, exact=True)
        probe = probe_buckets(vector, held.memory.matrices, probes)
        pairs = [(t, int(b)) for t in range(probe.shape[0]) for b in probe[t]]
        if held.index is None:
            held.index = BucketIndex(rows.buckets, held.memory.buckets)
        candidates = held.index.candidates(probe, min_shared)
        if len(candidates) == 0:
            return Recall([], pairs, 0, stored)
        picked, scores = cosine_top_k(vector, rows.vectors[candidates], k)
        return Recall(self._rows(user, rows, candidates[picked], scores), pairs, len(candidates), stored)

    def _rows(self, user: str, rows: ActiveVectors, picked: np.ndarray, scores: np.ndarray
              ) -> list[tuple[ThoughtRow, float]]:
        """The picked thoughts as stored rows, best first."""
        ids = [rows.ids[int(i)] for i in picked]
        found = {r.id: r for r in self.table.get(user, ids)}
        return [(found[t], float(s)) for t, s in zip(ids, scores, strict=True) if t in found]

    def add_many(self, user: str, texts: list[str], vectors: np.ndarray, shape: LSHShape | None = None) -> int:
        """Store many thoughts in one transaction (imports, benchmarks); returns how many."""
        row = self.memory(user, int(vectors.shape[-1]), shape)
        buckets = hash_vectors(vectors, row.matrices)
        return self.table.add_many(user, texts, vectors, buckets)

    def superseded(self, user: str, thought_id: str) -> list[ThoughtRow]:
        """The thoughts a thought superseded or merged."""
        return self.table.related_to(user, thought_id)

    def set_status(self, user: str, ids: list[str], status: str, related: str = "") -> None:
        """Mark thoughts active / forgotten / merged, pointing at the thought that replaced them."""
        self.table.set_status(user, ids, status, related)

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
        self.table.delete(user, thought_id)

    def clear(self, user: str) -> int:
        """Forget everything about the user (rows deleted, LSH state reset)."""
        self._active.pop(user, None)
        return self.table.clear(user)
