"""TiM's memory operations over a thought store: insert, forget (superseded), merge (the same fact again).

Each returns an `Operation`: what changed, a sentence for a person, and the thoughts before and after,
as plain dicts (id, text, status, buckets) that the agent puts into its memory_write event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memory.store import LSHShape, Source, ThoughtStore
from storage.thoughts import ThoughtRow


@dataclass(frozen=True)
class Operation:
    """One change to a memory."""

    operation: str  # insert | forget | merge
    sentence: str
    before: list[dict[str, Any]] = field(default_factory=list)
    after: list[dict[str, Any]] = field(default_factory=list)


def thought_dict(row: ThoughtRow, score: float | None = None) -> dict[str, Any]:
    """A stored thought as JSON for events."""
    out: dict[str, Any] = {"id": row.id, "text": row.text, "status": row.status, "buckets": list(row.buckets),
                           "created": round(row.created, 3)}
    if row.related:
        out["related"] = row.related
    for key in ("subject", "attribute", "value", "evidence", "origin"):
        if getattr(row, key, ""):
            out[key] = getattr(row, key)
    if score is not None:
        out["score"] = round(float(score), 4)
    return out


def quote(text: str, n: int = 80) -> str:
    """'text' on one line, cut to n characters."""
    text = " ".join(text.split())
    return f"'{text if len(text) <= n else text[: n - 1] + '…'}'"


def insert(store: ThoughtStore, user: str, text: str, vector: np.ndarray, source: Source,
           shape: LSHShape | None = None, fact: dict[str, str] | None = None) -> Operation:
    """Store a new thought."""
    row = store.add(user, text, vector, source, shape=shape, fact=fact)
    buckets = ", ".join(str(b) for b in row.buckets)
    return Operation("insert", f"Remembered {quote(text)} (buckets {buckets}).", [], [thought_dict(row)])


def forget(store: ThoughtStore, user: str, old: ThoughtRow | Sequence[ThoughtRow], text: str, vector: np.ndarray,
           source: Source, shape: LSHShape | None = None, fact: dict[str, str] | None = None) -> Operation:
    """Withdraw `old` (one thought or several; kept, status forgotten) because the new thought supersedes it;
    store the new one."""
    olds = [old] if isinstance(old, ThoughtRow) else list(old)
    new = store.add(user, text, vector, source, shape=shape, fact=fact)
    store.set_status(user, [o.id for o in olds], "forgotten", related=new.id)
    gone = store.get(user, [o.id for o in olds])
    listed = " and ".join(quote(o.text) for o in olds)
    return Operation("forget", f"Forgot {listed} — superseded by {quote(text)}.",
                     [thought_dict(o) for o in olds], [*(thought_dict(g) for g in gone), thought_dict(new)])


def merge_duplicate(store: ThoughtStore, user: str, old: ThoughtRow, text: str, vector: np.ndarray,
                    source: Source, shape: LSHShape | None = None, fact: dict[str, str] | None = None) -> Operation:
    """The new thought says what `old` says: keep the newer wording, `old` merged into it.

    Keeping the newer one makes a misjudged update harmless: a small model that calls "moved to Berlin"
    the same fact as "lives in Lisbon" still leaves the latest statement active.
    """
    new = store.add(user, text, vector, source, shape=shape, fact=fact)
    store.set_status(user, [old.id], "merged", related=new.id)
    gone = store.get(user, [old.id])[0]
    return Operation("merge", f"Merged {quote(old.text)} into {quote(text)} — the same fact; the newer wording "
                     "is kept.", [thought_dict(old)], [thought_dict(gone), thought_dict(new)])
