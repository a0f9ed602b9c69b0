"""Where TiM memories live: per-user LSH state, thoughts, and their buckets.

`ThoughtTable` keeps them in SQL (the app's backend); `InMemoryThoughtTable` keeps them in dicts behind the
same methods (for tests and throwaway memories). tests/unit/test_thought_backends.py runs one contract
against both.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
from sqlalchemy import delete, func, inspect, select, text, tuple_, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import selectinload

from storage.db import Database, NotFound
from storage.models import Memory, Thought, ThoughtBucket


@dataclass(frozen=True)
class MemoryRow:
    """A user's LSH shape and matrices (float32, shape (tables, dim, buckets/2))."""

    user: str
    dim: int
    buckets: int
    tables: int
    seed: int
    matrices: np.ndarray


@dataclass(frozen=True)
class ThoughtRow:
    """A stored thought with its embedding and buckets (one per table)."""

    id: str
    user: str
    text: str
    embedding: np.ndarray
    status: str
    related: str
    buckets: tuple[int, ...]
    source_run: str
    source_turn: str
    conversation: str
    created: float
    updated: float
    subject: str = ""
    attribute: str = ""
    value: str = ""
    evidence: str = ""
    origin: str = ""


FACT_FIELDS = ("subject", "attribute", "value", "evidence", "origin")  # a thought's record, beside its text


class ThoughtBackend(Protocol):
    """What the thought store needs of a backend; every method is scoped to one user."""

    def get_memory(self, user: str) -> MemoryRow | None: ...
    def save_memory(self, row: MemoryRow) -> None: ...
    def add(self, user: str, text: str, embedding: np.ndarray, buckets: Sequence[int], status: str = "active",
            related: str = "", source_run: str = "", source_turn: str = "", conversation: str = "",
            fact: dict[str, str] | None = None) -> str: ...
    def add_many(self, user: str, texts: Sequence[str], embeddings: np.ndarray, buckets: np.ndarray) -> int: ...
    def set_status(self, user: str, ids: Sequence[str], status: str, related: str = "") -> None: ...
    def get(self, user: str, ids: Sequence[str], buckets: bool = True) -> list[ThoughtRow]: ...
    def in_buckets(self, user: str, probes: Sequence[tuple[int, int]]) -> list[ThoughtRow]: ...
    def list_thoughts(self, user: str, search: str = "", status: str = "", limit: int = 1000
                      ) -> list[ThoughtRow]: ...
    def count(self, user: str, status: str = "active") -> int: ...
    def version(self, user: str) -> int: ...
    def active_vectors(self, user: str) -> tuple[list[str], np.ndarray]: ...
    def related_to(self, user: str, thought_id: str) -> list[ThoughtRow]: ...
    def rebucket(self, user: str, buckets: dict[str, Sequence[int]]) -> None: ...
    def occupancy(self, user: str) -> dict[tuple[int, int], int]: ...
    def delete(self, user: str, thought_id: str) -> None: ...
    def clear(self, user: str) -> int: ...


def _bump(s: Any, user: str) -> None:
    """Raise the user's version in the same transaction as the change."""
    s.execute(update(Memory).where(Memory.user == user).values(version=_token()))


def _token() -> int:
    """A fresh version number (random, so a memory cleared and made again never repeats an old one)."""
    return uuid.uuid4().int >> 66


class ThoughtTable:
    """Thoughts of every user in SQL behind short methods; every query is filtered by user."""

    def __init__(self, db: Database) -> None:
        self.db = db
        upgrade(db.engine)

    # LSH state -----------------------------------------------------------------------------------
    def get_memory(self, user: str) -> MemoryRow | None:
        """The user's LSH state, or None before their first thought."""
        with self.db.session() as s:
            m = s.get(Memory, user)
            if m is None:
                return None
            shape = (m.tables, m.dim, m.buckets // 2)
            return MemoryRow(m.user, m.dim, m.buckets, m.tables, m.seed,
                             np.frombuffer(m.matrices, dtype=np.float32).reshape(shape).copy())

    def save_memory(self, row: MemoryRow) -> None:
        """Create or replace the user's LSH state."""
        with self.db.session() as s:
            s.merge(Memory(user=row.user, dim=row.dim, buckets=row.buckets, tables=row.tables, seed=row.seed,
                           matrices=np.ascontiguousarray(row.matrices, dtype=np.float32).tobytes(),
                           version=_token()))

    # thoughts ------------------------------------------------------------------------------------
    def add(self, user: str, text: str, embedding: np.ndarray, buckets: Sequence[int], status: str = "active",
            related: str = "", source_run: str = "", source_turn: str = "", conversation: str = "",
            fact: dict[str, str] | None = None) -> str:
        """Store one thought with its buckets (and its fact record); returns its id."""
        tid = uuid.uuid4().hex[:12]
        now = time.time()
        record = {k: str((fact or {}).get(k, "")) for k in FACT_FIELDS}
        with self.db.session() as s:
            s.add(Thought(id=tid, user=user, text=text, embedding=_blob(embedding), status=status, related=related,
                          source_run=source_run, source_turn=source_turn, conversation=conversation,
                          created=now, updated=now, **record,
                          buckets=[ThoughtBucket(table_no=t, user=user, bucket=int(b)) for t, b in enumerate(buckets)]))
            _bump(s, user)
        return tid

    def add_many(self, user: str, texts: Sequence[str], embeddings: np.ndarray, buckets: np.ndarray) -> int:
        """Store many active thoughts (no record) in one transaction; returns how many."""
        now = time.time()
        ids = [uuid.uuid4().hex[:12] for _ in texts]
        thoughts = [{"id": tid, "user": user, "text": text, "embedding": _blob(v), "status": "active", "related": "",
                     "source_run": "", "source_turn": "", "conversation": "", "created": now, "updated": now,
                     **{k: "" for k in FACT_FIELDS}} for tid, text, v in zip(ids, texts, embeddings, strict=True)]
        rows = [{"thought_id": tid, "table_no": t, "user": user, "bucket": int(b)}
                for tid, row in zip(ids, buckets, strict=True) for t, b in enumerate(row)]
        with self.db.session() as s:
            s.execute(Thought.__table__.insert(), thoughts)
            s.execute(ThoughtBucket.__table__.insert(), rows)
            _bump(s, user)
        return len(ids)

    def set_status(self, user: str, ids: Sequence[str], status: str, related: str = "") -> None:
        """Mark thoughts active, forgotten or merged (into / superseded by `related`)."""
        with self.db.session() as s:
            for t in s.scalars(select(Thought).where(Thought.user == user, Thought.id.in_(list(ids)))):
                t.status, t.related, t.updated = status, related, time.time()
            _bump(s, user)

    def get(self, user: str, ids: Sequence[str], buckets: bool = True) -> list[ThoughtRow]:
        """Thoughts of this user by id (other users' ids are not found); `buckets=False` skips reading them."""
        # by primary key alone (a planner given the user too may scan the user's index), then owned rows only
        if not buckets:  # the recall path: one Core query, no ORM objects
            table = Thought.__table__
            with self.db.engine.connect() as conn:
                rows = conn.execute(select(table).where(table.c.id.in_(list(ids)))).mappings().all()
            return [_plain_row(r) for r in rows if r["user"] == user]
        q = select(Thought).where(Thought.id.in_(list(ids))).options(selectinload(Thought.buckets))
        with self.db.session() as s:
            return [_row(t) for t in s.scalars(q) if t.user == user]

    def in_buckets(self, user: str, probes: Sequence[tuple[int, int]]) -> list[ThoughtRow]:
        """Active thoughts sharing any (table, bucket) pair with the probe."""
        if not probes:
            return []
        with self.db.session() as s:
            ids = select(ThoughtBucket.thought_id).where(
                ThoughtBucket.user == user,
                tuple_(ThoughtBucket.table_no, ThoughtBucket.bucket).in_([(int(t), int(b)) for t, b in probes]))
            rows = s.scalars(select(Thought).options(selectinload(Thought.buckets))
                             .where(Thought.user == user, Thought.status == "active", Thought.id.in_(ids)))
            return [_row(t) for t in rows]

    def list_thoughts(self, user: str, search: str = "", status: str = "", limit: int = 1000) -> list[ThoughtRow]:
        """This user's thoughts, newest first, optionally filtered by text and status."""
        q = (select(Thought).options(selectinload(Thought.buckets)).where(Thought.user == user)
             .order_by(Thought.created.desc()).limit(limit))
        if search.strip():
            q = q.where(Thought.text.ilike(f"%{search.strip()}%"))
        if status:
            q = q.where(Thought.status == status)
        with self.db.session() as s:
            return [_row(t) for t in s.scalars(q)]

    def count(self, user: str, status: str = "active") -> int:
        """How many thoughts the user has with this status (all statuses with status='')."""
        q = select(func.count()).select_from(Thought).where(Thought.user == user)
        if status:
            q = q.where(Thought.status == status)
        with self.db.session() as s:
            return int(s.scalar(q) or 0)

    def version(self, user: str) -> int:
        """A number every change to the user's thoughts raises: a cache of them is fresh while it is unchanged."""
        with self.db.engine.connect() as conn:
            return int(conn.execute(select(Memory.__table__.c.version).where(Memory.__table__.c.user == user)
                                    ).scalar() or 0)

    def active_vectors(self, user: str) -> tuple[list[str], np.ndarray]:
        """The ids and embeddings (n, dim) of the user's active thoughts, in one query."""
        with self.db.session() as s:
            rows = s.execute(select(Thought.id, Thought.embedding).where(
                Thought.user == user, Thought.status == "active").order_by(Thought.id)).all()
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1).copy()
        return [r[0] for r in rows], vectors

    def related_to(self, user: str, thought_id: str) -> list[ThoughtRow]:
        """The thoughts superseded by or merged into `thought_id`."""
        with self.db.session() as s:
            rows = s.scalars(select(Thought).options(selectinload(Thought.buckets))
                             .where(Thought.user == user, Thought.related == thought_id))
            return [_row(t) for t in rows]

    def rebucket(self, user: str, buckets: dict[str, Sequence[int]]) -> None:
        """Replace the bucket rows of the given thoughts (after the LSH shape changed)."""
        with self.db.session() as s:
            s.execute(delete(ThoughtBucket).where(ThoughtBucket.user == user,
                                                  ThoughtBucket.thought_id.in_(list(buckets))))
            for tid, row in buckets.items():
                s.add_all(ThoughtBucket(thought_id=tid, table_no=t, user=user, bucket=int(b))
                          for t, b in enumerate(row))
            _bump(s, user)

    def occupancy(self, user: str) -> dict[tuple[int, int], int]:
        """Active thoughts per (table, bucket)."""
        with self.db.session() as s:
            rows = s.execute(
                select(ThoughtBucket.table_no, ThoughtBucket.bucket, func.count())
                .join(Thought, Thought.id == ThoughtBucket.thought_id)
                .where(ThoughtBucket.user == user, Thought.status == "active")
                .group_by(ThoughtBucket.table_no, ThoughtBucket.bucket)).all()
        return {(int(t), int(b)): int(n) for t, b, n in rows}

    def delete(self, user: str, thought_id: str) -> None:
        """Delete one of this user's thoughts for good; NotFound if it is not theirs."""
        with self.db.session() as s:
            t = s.scalar(select(Thought).where(Thought.user == user, Thought.id == thought_id))
            if t is None:
                raise NotFound(f"no thought {thought_id!r}")
            s.delete(t)
            _bump(s, user)

    def clear(self, user: str) -> int:
        """Delete all of this user's thoughts and LSH state; returns how many thoughts went."""
        with self.db.session() as s:
            n = s.scalar(select(func.count()).select_from(Thought).where(Thought.user == user)) or 0
            s.execute(delete(ThoughtBucket).where(ThoughtBucket.user == user))
            s.execute(delete(Thought).where(Thought.user == user))
            s.execute(delete(Memory).where(Memory.user == user))
        return int(n)


class InMemoryThoughtTable:
    """The same methods over dicts: nothing survives the process (tests, throwaway memories)."""

    def __init__(self) -> None:
        self._memories: dict[str, MemoryRow] = {}
        self._thoughts: dict[str, dict[str, ThoughtRow]] = {}  # user -> id -> thought, in insertion order
        self._versions: dict[str, int] = {}

    def _bump(self, user: str) -> None:
        self._versions[user] = _token()

    def get_memory(self, user: str) -> MemoryRow | None:
        """The user's LSH state, or None before their first thought."""
        row = self._memories.get(user)
        return None if row is None else replace(row, matrices=row.matrices.copy())

    def save_memory(self, row: MemoryRow) -> None:
        """Create or replace the user's LSH state."""
        self._memories[row.user] = replace(row, matrices=np.asarray(row.matrices, dtype=np.float32).copy())
        self._bump(row.user)

    def add(self, user: str, text: str, embedding: np.ndarray, buckets: Sequence[int], status: str = "active",
            related: str = "", source_run: str = "", source_turn: str = "", conversation: str = "",
            fact: dict[str, str] | None = None) -> str:
        """Store one thought with its buckets (and its fact record); returns its id."""
        tid, now = uuid.uuid4().hex[:12], time.time()
        vector = np.asarray(embedding, dtype=np.float32).ravel().copy()
        record = {k: str((fact or {}).get(k, "")) for k in FACT_FIELDS}
        self._thoughts.setdefault(user, {})[tid] = ThoughtRow(
            tid, user, text, vector, status, related, tuple(int(b) for b in buckets), source_run, source_turn,
            conversation, now, now, **record)
        self._bump(user)
        return tid

    def add_many(self, user: str, texts: Sequence[str], embeddings: np.ndarray, buckets: np.ndarray) -> int:
        """Store many active thoughts (no record); returns how many."""
        for body, v, row in zip(texts, embeddings, buckets, strict=True):
            self.add(user, body, v, row)
        return len(texts)

    def set_status(self, user: str, ids: Sequence[str], status: str, related: str = "") -> None:
        """Mark thoughts active, forgotten or merged (into / superseded by `related`)."""
        mine = self._thoughts.get(user, {})
        for tid in ids:
            if tid in mine:
                mine[tid] = replace(mine[tid], status=status, related=related, updated=time.time())
        self._bump(user)

    def get(self, user: str, ids: Sequence[str], buckets: bool = True) -> list[ThoughtRow]:
        """Thoughts of this user by id (other users' ids are not found)."""
        mine = self._thoughts.get(user, {})
        return [mine[tid] for tid in ids if tid in mine]

    def in_buckets(self, user: str, probes: Sequence[tuple[int, int]]) -> list[ThoughtRow]:
        """Active thoughts sharing any (table, bucket) pair with the probe."""
        wanted = {(int(t), int(b)) for t, b in probes}
        return [row for row in self._thoughts.get(user, {}).values() if row.status == "active"
                and any((t, b) in wanted for t, b in enumerate(row.buckets))]

    def list_thoughts(self, user: str, search: str = "", status: str = "", limit: int = 1000) -> list[ThoughtRow]:
        """This user's thoughts, newest first, optionally filtered by text and status."""
        rows = sorted(self._thoughts.get(user, {}).values(), key=lambda r: r.created, reverse=True)
        needle = search.strip().lower()
        return [r for r in rows if (not status or r.status == status) and needle in r.text.lower()][:limit]

    def count(self, user: str, status: str = "active") -> int:
        """How many thoughts the user has with this status (all statuses with status='')."""
        return sum(not status or r.status == status for r in self._thoughts.get(user, {}).values())

    def version(self, user: str) -> int:
        """A number every change to the user's thoughts raises."""
        return self._versions.get(user, 0)

    def active_vectors(self, user: str) -> tuple[list[str], np.ndarray]:
        """The ids and embeddings (n, dim) of the user's active thoughts."""
        rows = sorted((r for r in self._thoughts.get(user, {}).values() if r.status == "active"), key=lambda r: r.id)
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        return [r.id for r in rows], np.stack([r.embedding for r in rows])

    def related_to(self, user: str, thought_id: str) -> list[ThoughtRow]:
        """The thoughts superseded by or merged into `thought_id`."""
        return [r for r in self._thoughts.get(user, {}).values() if r.related == thought_id]

    def rebucket(self, user: str, buckets: dict[str, Sequence[int]]) -> None:
        """Replace the buckets of the given thoughts (after the LSH shape changed)."""
        mine = self._thoughts.get(user, {})
        for tid, row in buckets.items():
            if tid in mine:
                mine[tid] = replace(mine[tid], buckets=tuple(int(b) for b in row))
        self._bump(user)

    def occupancy(self, user: str) -> dict[tuple[int, int], int]:
        """Active thoughts per (table, bucket)."""
        out: dict[tuple[int, int], int] = {}
        for row in self._thoughts.get(user, {}).values():
            if row.status == "active":
                for t, b in enumerate(row.buckets):
                    out[(t, b)] = out.get((t, b), 0) + 1
        return out

    def delete(self, user: str, thought_id: str) -> None:
        """Delete one of this user's thoughts for good; NotFound if it is not theirs."""
        if self._thoughts.get(user, {}).pop(thought_id, None) is None:
            raise NotFound(f"no thought {thought_id!r}")
        self._bump(user)

    def clear(self, user: str) -> int:
        """Delete all of this user's thoughts and LSH state; returns how many thoughts went."""
        self._memories.pop(user, None)
        self._bump(user)
        return len(self._thoughts.pop(user, {}))


def _blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).ravel().tobytes()


def _plain_row(r: Any) -> ThoughtRow:
    """A thought from a Core row (no buckets)."""
    return ThoughtRow(r["id"], r["user"], r["text"], np.frombuffer(r["embedding"], dtype=np.float32).copy(),
                      r["status"], r["related"], (), r["source_run"], r["source_turn"], r["conversation"],
                      r["created"], r["updated"], r["subject"] or "", r["attribute"] or "", r["value"] or "",
                      r["evidence"] or "", r["origin"] or "")


def _row(t: Thought) -> ThoughtRow:
    buckets = tuple(b.bucket for b in sorted(t.buckets, key=lambda b: b.table_no))
    return ThoughtRow(t.id, t.user, t.text, np.frombuffer(t.embedding, dtype=np.float32).copy(), t.status,
                      t.related, buckets, t.source_run, t.source_turn, t.conversation, t.created, t.updated,
                      t.subject or "", t.attribute or "", t.value or "", t.evidence or "", t.origin or "")


# topics of the first design, stored as a text prefix ("job: The user works as a baker."); upgrade() moves them
# into the attribute column
LEGACY_TOPICS = ("job", "home", "pet", "car", "hobby", "family", "food", "allergy")


def upgrade(engine: Engine) -> int:
    """Add the fact columns to a thoughts table made before them, and move each legacy topic prefix into the
    attribute column (origin 'legacy'); returns how many thoughts were moved. Idempotent."""
    columns = {c["name"] for c in inspect(engine).get_columns("thoughts")}
    missing = [name for name in FACT_FIELDS if name not in columns]
    moved = 0
    with engine.begin() as conn:
        if "version" not in {c["name"] for c in inspect(engine).get_columns("memories")}:
            conn.execute(text("ALTER TABLE memories ADD COLUMN version BIGINT NOT NULL DEFAULT 0"))
        for name in missing:
            kind = "TEXT" if name in ("value", "evidence") else "VARCHAR(200)"
            conn.execute(text(f"ALTER TABLE thoughts ADD COLUMN {name} {kind} NOT NULL DEFAULT ''"))
        if not missing:
            return 0
        rows = conn.execute(text("SELECT id, text, source_turn FROM thoughts")).all()
        for tid, body, turn in rows:
            head, sep, rest = str(body).partition(": ")
            legacy = sep and head in LEGACY_TOPICS
            conn.execute(text("UPDATE thoughts SET text = :text, subject = 'user', attribute = :attribute, "
                              "value = :value, evidence = :evidence, origin = 'legacy' WHERE id = :id"),
                         {"text": rest if legacy else body, "attribute": head if legacy else "",
                          "value": rest if legacy else body, "evidence": turn or "", "id": tid})
            moved += bool(legacy)
    return moved
