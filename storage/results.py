"""Stored benchmark results, runs' gold passages and replay links: three small tables over the Database."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select

from storage.db import Database, NotFound
from storage.models import PUBLIC, BenchResult, Run, RunGold, RunLink


@dataclass(frozen=True)
class Gold:
    """A run's gold passage ids and answers, and where they came from."""

    gold_ids: tuple[str, ...]
    answers: tuple[str, ...]
    source: str


class ResultStore:
    """Bench results (owner-scoped like runs), gold per run, and which run replays which."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # bench results ---------------------------------------------------------------------------------
    def save_bench(self, results: dict[str, Any], dataset: str, owner: str = PUBLIC, source: str = "cli") -> str:
        """Store a bench result and the gold of each of its runs; returns the result's id."""
        result_id = uuid.uuid4().hex
        with self.db.session() as s:
            s.add(BenchResult(id=result_id, owner=owner, dataset=dataset[:300],
                              corpus=str(results.get("corpus_name") or results.get("corpus") or "")[:200],
                              source=source, created=time.time(), results=results))
        runs = {row["run_id"]: row for rows in (results.get("per_question") or {}).values() for row in rows
                if row.get("run_id")}
        self.set_gold_many({rid: (row.get("gold_ids") or [], row.get("answers") or []) for rid, row in runs.items()},
                           f"bench {dataset}"[:300])
        return result_id

    def list_bench(self, owner: str | None = PUBLIC) -> list[dict[str, Any]]:
        """Results `owner` may see (its own and the operator's; None: every one), newest first, each as
        {id, owner, dataset, corpus, source, created, results}."""
        q = select(BenchResult).order_by(BenchResult.created.desc())
        if owner is not None:
            q = q.where(or_(BenchResult.owner == owner, BenchResult.owner == PUBLIC))
        with self.db.session() as s:
            return [_bench_dict(r) for r in s.scalars(q)]

    def get_bench(self, result_id: str) -> dict[str, Any]:
        """One stored result by id (NotFound when there is none)."""
        with self.db.session() as s:
            row = s.get(BenchResult, result_id)
            if row is None:
                raise NotFound(f"no benchmark result {result_id!r}")
            return _bench_dict(row)

    # gold per run ------------------------------------------------------------------------------------
    def set_gold(self, run_id: str, gold_ids: Sequence[str], answers: Sequence[str] = (),
                 source: str = "annotated") -> None:
        """Record (or replace) what a run should have found."""
        self.set_gold_many({run_id: (list(gold_ids), list(answers))}, source)

    def set_gold_many(self, gold: dict[str, tuple[Sequence[str], Sequence[str]]], source: str) -> None:
        """Record the gold of many runs in one transaction (runs that do not exist are left out)."""
        if not gold:
            return
        with self.db.session() as s:
            present = set(s.scalars(select(Run.id).where(Run.id.in_(list(gold)))))
            for run_id in present:
                ids, answers = gold[run_id]
                s.merge(RunGold(run_id=run_id, gold_ids=list(ids), answers=list(answers), source=source))

    def gold(self, run_id: str) -> Gold | None:
        """A run's recorded gold, or None."""
        with self.db.session() as s:
            row = s.get(RunGold, run_id)
            return None if row is None else Gold(tuple(row.gold_ids or ()), tuple(row.answers or ()), row.source)

    # replays ---------------------------------------------------------------------------------------
    def link_replay(self, run_id: str, source_run: str) -> None:
        """Record that `run_id` replays `source_run`."""
        with self.db.session() as s:
            s.merge(RunLink(run_id=run_id, source_run=source_run))

    def replay_of(self, run_id: str) -> str:
        """The run this one replays, or ''."""
        with self.db.session() as s:
            row = s.get(RunLink, run_id)
            return row.source_run if row is not None else ""

    def replays(self, source_run: str) -> list[str]:
        """Runs that replay `source_run`, oldest first."""
        with self.db.session() as s:
            return list(s.scalars(select(RunLink.run_id).join(Run, Run.id == RunLink.run_id)
                                  .where(RunLink.source_run == source_run).order_by(Run.started)))


def _bench_dict(row: BenchResult) -> dict[str, Any]:
    return {"id": row.id, "owner": row.owner, "dataset": row.dataset, "corpus": row.corpus, "source": row.source,
            "created": row.created, "results": row.results}
