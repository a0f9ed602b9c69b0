"""Ingest, idempotent re-ingest, delete from every store, and atomicity on failure."""

from __future__ import annotations

import numpy as np
import pytest

from storage.db import NotFound


def test_ingest_is_idempotent_and_search_finds_titles(services_factory, toy_docs) -> None:
    svc = services_factory()
    first = svc.ingest_documents("toy", toy_docs)
    again = svc.ingest_documents("toy", toy_docs)
    assert (first.added, first.skipped) == (5, 0)
    assert (again.added, again.skipped) == (0, 5)
    assert svc.vectors.count(svc.corpora.namespace(svc.db.corpus_id("toy"))) == 5
    hits = svc.corpora.search("toy", "river Senn Amber Sea", k=2)
    assert hits[0].title == "River Senn" and hits[0].score >= hits[1].score


def test_delete_removes_document_everywhere(services_factory, toy_docs) -> None:
    svc = services_factory()
    svc.ingest_documents("toy", toy_docs)
    senn = next(d for d in toy_docs if d.title == "River Senn")
    assert svc.corpora.delete_document("toy", senn.id) == 1
    hits = svc.corpora.search("toy", "river Senn Amber Sea", k=5)
    assert senn.id not in {h.doc_id for h in hits} and len(hits) == 4
    assert senn.id not in svc.db.existing_doc_ids(svc.db.corpus_id("toy"))
    with pytest.raises(NotFound):
        svc.corpora.delete_document("toy", senn.id)


def test_failed_vector_write_leaves_no_half_document(services_factory, toy_docs) -> None:
    svc = services_factory()
    svc.ingest_documents("toy", toy_docs[:2])
    real_add = svc.vectors.add

    def failing_add(namespace, ids, embeddings, metadata=None):
        if any(i.startswith(toy_docs[3].id) for i in ids):
            raise OSError("disk full")
        return real_add(namespace, ids, embeddings, metadata)

    svc.vectors.add = failing_add  # type: ignore[method-assign]
    report = svc.ingest_documents("toy", toy_docs)
    assert report.added == 2 and report.skipped == 2
    assert len(report.errors) == 1 and "disk full" in report.errors[0]
    cid = svc.db.corpus_id("toy")
    assert toy_docs[3].id not in svc.db.existing_doc_ids(cid)
    assert svc.vectors.count(svc.corpora.namespace(cid)) == 4  # nothing of the failed document
    assert len(svc.db.all_chunks(cid)) == 4


def test_missing_vectors_are_rebuilt_from_sql(services_factory, toy_docs) -> None:
    svc = services_factory()
    svc.ingest_documents("toy", toy_docs)
    ns = svc.corpora.namespace(svc.db.corpus_id("toy"))
    svc.vectors.drop(ns)
    assert svc.corpora.ensure_vectors("toy") == 5
    assert svc.vectors.count(ns) == 5
    assert np.isfinite(svc.corpora.search("toy", "Tallow salt", k=1)[0].score)


def test_reconcile_removes_stray_vectors_and_embeds_missing_ones(services_factory, toy_docs) -> None:
    svc = services_factory()
    svc.ingest_documents("toy", toy_docs)
    cid = svc.db.corpus_id("toy")
    ns = svc.corpora.namespace(cid)
    svc.vectors.add(ns, ["ghost:0"], np.ones((1, 64), dtype=np.float32) / 8, [{"doc_id": "ghost"}])  # killed pre-commit
    svc.vectors.delete(ns, [f"{toy_docs[0].id}:0"])
    assert svc.corpora.reconcile("toy") == (1, 1)
    assert svc.vectors.ids(ns) == {c.chunk_id for c in svc.db.all_chunks(cid)}
    assert svc.corpora.reconcile("toy") == (0, 0)
