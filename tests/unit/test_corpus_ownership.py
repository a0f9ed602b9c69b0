"""Corpora belong to their owner: private to them, the shared ones read-only, checked in the services layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from services import DEMO_CORPUS
from storage.db import NotFound, ReadOnlyCorpus
from storage.models import PUBLIC

ANN, BOB = "browser-aaaaaaaaaaaaaaaa", "browser-bbbbbbbbbbbbbbbb"


def test_a_users_corpus_is_private_to_them(services_factory, toy_docs) -> None:
    svc = services_factory()
    svc.ingest_documents("notes", toy_docs, owner=ANN)
    assert svc.corpus_names(ANN) == ["notes"] and svc.corpus_names(BOB) == []
    assert svc.corpus_names(PUBLIC) == []  # not even the operator's listing shows it
    assert [d.title for d in svc.documents("notes", ANN)][:1] and svc.document("notes", toy_docs[0].id, ANN)
    for read in (lambda: svc.documents("notes", BOB), lambda: svc.document("notes", toy_docs[0].id, BOB)):
        with pytest.raises(NotFound, match="unknown corpus 'notes'; corpora: \\(none yet\\)"):
            read()  # as if it did not exist: its name is not confirmed to anyone else


def test_another_user_can_neither_ask_nor_add_to_nor_delete_it(services_factory, toy_docs, tmp_path: Path) -> None:
    svc = services_factory()
    svc.ingest_documents("notes", toy_docs, owner=ANN)
    with pytest.raises(NotFound, match="unknown corpus 'notes'"):
        svc.run("naive", "notes", "Where is Tallow?", owner=BOB)
    with pytest.raises(NotFound):
        svc.delete_corpus("notes", BOB)
    with pytest.raises(NotFound):
        svc.delete_document("notes", toy_docs[0].id, BOB)
    assert svc.db.list_runs() == []  # nothing was stored for the refused question
    # BOB's "notes" is another corpus: the same name, another owner
    extra = tmp_path / "bob.txt"
    extra.write_text("Bob keeps his own notes about the Halden observatory.", encoding="utf-8")
    report = svc.ingest("notes", [extra], owner=BOB)
    assert report.added == 1
    assert len(svc.documents("notes", ANN)) == 5 and [d.source for d in svc.documents("notes", BOB)] == ["bob.txt"]
    run = svc.run("naive", "notes", "Where is Tallow?", owner=ANN)
    list(run)
    assert run.retrieved_ids and set(run.retrieved_ids) <= {d.id for d in toy_docs}  # ANN's, never BOB's
    svc.delete_corpus("notes", BOB)
    assert len(svc.documents("notes", ANN)) == 5  # deleting one's own leaves the other's whole


def test_shared_corpora_are_read_only_for_users(services_factory, toy_docs, tmp_path: Path) -> None:
    svc = services_factory(demo=True)
    svc.ensure_demo_corpus()
    before = len(svc.documents(DEMO_CORPUS, PUBLIC))
    upload = tmp_path / "x.txt"
    upload.write_text("An intruder's passage.", encoding="utf-8")
    assert DEMO_CORPUS in svc.corpus_names(ANN) and not svc.can_change(DEMO_CORPUS, ANN)
    with pytest.raises(ReadOnlyCorpus, match="corpus 'demo' is shared by everyone and read-only"):
        svc.ingest(DEMO_CORPUS, [upload], owner=ANN)
    with pytest.raises(ReadOnlyCorpus):
        svc.ingest_documents(DEMO_CORPUS, toy_docs, owner=ANN)
    with pytest.raises(ReadOnlyCorpus):
        svc.create_corpus(DEMO_CORPUS, ANN)  # no private corpus may hide the shared one behind its name
    with pytest.raises(ReadOnlyCorpus):
        svc.delete_corpus(DEMO_CORPUS, ANN)
    some = svc.documents(DEMO_CORPUS, ANN)[0].doc_id
    with pytest.raises(ReadOnlyCorpus):
        svc.delete_document(DEMO_CORPUS, some, ANN)
    assert len(svc.documents(DEMO_CORPUS, PUBLIC)) == before
    run = svc.run("naive", DEMO_CORPUS, "Which comet was first sighted at Carrowdene Observatory?", owner=ANN)
    assert list(run) and run.retrieved_ids  # but everyone may ask it
    assert svc.db.get_run(run.run_id)["owner"] == ANN


def test_the_demo_corpus_name_stays_the_operators_before_it_is_indexed(services_factory) -> None:
    svc = services_factory(demo=True)  # not indexed yet
    assert svc.corpus_names(ANN) == [DEMO_CORPUS]
    with pytest.raises(ReadOnlyCorpus):
        svc.create_corpus(DEMO_CORPUS, ANN)
    svc.create_corpus("mine", ANN)
    assert svc.corpus_names(ANN) == [DEMO_CORPUS, "mine"] and svc.corpus_names(BOB) == [DEMO_CORPUS]


def test_single_user_mode_keeps_a_laptops_behaviour(services_factory, toy_docs) -> None:
    svc = services_factory(single_user=True, demo=True)
    svc.ensure_demo_corpus()
    owner = svc.owner("browser-aaaaaaaaaaaaaaaa")
    svc.ingest_documents("notes", toy_docs, owner=owner)
    assert svc.corpus_names(svc.owner("anyone")) == [DEMO_CORPUS, "notes"]  # everything is the one user's
    assert svc.can_change(DEMO_CORPUS, owner)
    svc.delete_document(DEMO_CORPUS, svc.documents(DEMO_CORPUS, owner)[0].doc_id, owner)
    svc.delete_corpus("notes", owner)
    assert svc.corpus_names(owner) == [DEMO_CORPUS]


def test_the_per_user_quota_counts_the_users_own_corpora(services_factory, tmp_path: Path) -> None:
    svc = services_factory(max_user_mb=0.0001)  # 100 characters of text per user
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"f{i}.txt")
        paths[-1].write_text(f"File {i} " + "word " * 12, encoding="utf-8")
    assert svc.ingest("a", paths[:1], owner=ANN).added == 1
    over = svc.ingest("b", paths[1:], owner=ANN)  # another corpus of the same user: the same quota
    assert over.added == 0 and "RAGSCOPE_MAX_USER_MB" in over.errors[0]
    assert svc.ingest("b", paths[1:], owner=BOB).added == 1  # another user has their own


def test_every_owners_corpus_is_reconciled_after_a_crash(services_factory, toy_docs) -> None:
    svc = services_factory()
    svc.ingest_documents("notes", toy_docs, owner=ANN)
    svc.ingest_documents("notes", toy_docs[:2])
    mine = svc.corpora_of(ANN)
    svc.vectors.drop(mine.namespace(mine.corpus_id("notes")))
    assert svc.reconcile() == {f"notes ({ANN})": (0, 5), "notes": (0, 0)}


def test_the_graph_store_reads_corpora_through_the_owners_view(services_factory, toy_docs) -> None:
    svc = services_factory()
    svc.ingest_documents("notes", toy_docs, owner=ANN)
    graph = svc.hipporag.for_corpora(svc.corpora_of(ANN))
    index, sync = graph.index("notes")
    assert sync.added == 5 and len(index.graph.passage_index) == 5
    with pytest.raises(NotFound):
        svc.hipporag.for_corpora(svc.corpora_of(BOB)).index("notes")
    assert graph.index("notes")[0] is index  # one index per corpus, shared by every view
