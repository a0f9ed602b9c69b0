"""A database made before the fact columns: opened by this version, its thoughts keep working."""

from __future__ import annotations

import numpy as np
from sqlalchemy import create_engine, text

from storage.thoughts import FACT_FIELDS, upgrade


def make_old_database(url: str) -> None:
    """Today's tables less the columns this version added, with a user's memory and three legacy thoughts."""
    from memory.lsh import LSHParams, hash_vectors, projections
    from storage.models import Base

    engine = create_engine(url)
    Base.metadata.create_all(engine)
    matrices = projections(LSHParams(dim=8, buckets=16, tables=4))
    rng = np.random.default_rng(1)
    with engine.begin() as conn:
        for name in FACT_FIELDS:
            conn.execute(text(f"ALTER TABLE thoughts DROP COLUMN {name}"))
        conn.execute(text("ALTER TABLE memories DROP COLUMN version"))
        conn.execute(text("INSERT INTO memories (\"user\", dim, buckets, tables, seed, matrices, created) "
                          "VALUES ('ana', 8, 16, 4, 0, :m, 0)"), {"m": matrices.tobytes()})
        for i, (body, status) in enumerate([("job: The user works as a baker.", "active"),
                                            ("job: The user works as a carpenter.", "forgotten"),
                                            ("The user is left-handed.", "active")]):
            vector = rng.standard_normal(8).astype(np.float32)
            vector /= np.linalg.norm(vector)
            conn.execute(text("INSERT INTO thoughts (id, \"user\", text, embedding, status, related, source_run, "
                              "source_turn, conversation, created, updated) VALUES (:id, 'ana', :text, :e, :s, '', "
                              "'', :turn, '', :t, :t)"), {"id": f"t{i}", "text": body, "e": vector.tobytes(),
                                                          "s": status, "turn": "I bake.", "t": float(i)})
            for table, bucket in enumerate(hash_vectors(vector, matrices)[0]):
                conn.execute(text("INSERT INTO thought_buckets (thought_id, table_no, \"user\", bucket) "
                                  "VALUES (:id, :n, 'ana', :b)"), {"id": f"t{i}", "n": table, "b": int(bucket)})
    engine.dispose()


def check_upgraded(url: str) -> None:
    """Open the old database with this version: columns added, legacy topics moved, recall and writes work."""
    from memory.store import LSHShape, ThoughtStore
    from retrieval.embedder import HashEmbedder
    from storage.db import Database

    store = ThoughtStore(Database(url), HashEmbedder(8), shape=LSHShape(16, 4))
    rows = {r.id: r for r in store.list("ana")}
    assert (rows["t0"].text, rows["t0"].attribute, rows["t0"].origin) == ("The user works as a baker.", "job", "legacy")
    assert rows["t1"].status == "forgotten" and rows["t1"].attribute == "job"
    assert (rows["t2"].text, rows["t2"].attribute) == ("The user is left-handed.", "")
    found = store.recall("ana", rows["t0"].embedding, 5, probes=2, shape=LSHShape(16, 4), exact_below=10)
    assert found.thoughts[0][0].id == "t0" and {r.id for r, _ in found.thoughts} == {"t0", "t2"}
    new = store.add("ana", "The user lives in Lisbon.", rows["t2"].embedding, shape=LSHShape(16, 4),
                    fact={"subject": "user", "attribute": "home city", "value": "Lisbon", "origin": "model"})
    assert store.get("ana", [new.id])[0].attribute == "home city"
    assert upgrade(store.table.db.engine) == 0  # idempotent


def test_an_sqlite_memory_made_before_fact_records_keeps_working(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    make_old_database(url)
    check_upgraded(url)
