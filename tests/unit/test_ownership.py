"""Runs belong to the user who asked: listed only for them (all, in single-user mode); ids are unguessable."""

from __future__ import annotations

import re

from storage.models import PUBLIC


def test_runs_are_listed_for_their_owner_only(services_factory, toy_docs) -> None:
    svc = services_factory()
    svc.ingest_documents("toy", toy_docs)
    ids = {user: svc.run("naive", "toy", f"Where is Tallow? ({user})", owner=svc.owner(user)).run_id
           for user in ("browser-aaaaaaaaaaaaaaaa", "bob")}
    assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in ids.values())
    for user, rid in ids.items():
        assert [r["id"] for r in svc.db.list_runs(owner=svc.runs_of(user))] == [rid]
        assert svc.db.get_run(rid)["owner"] == user  # a share link opens it for anyone
    assert svc.db.list_runs(owner=svc.runs_of("")) == []  # no key yet: nothing
    assert svc.owner("") == PUBLIC


def test_single_user_mode_owns_and_lists_everything(services_factory, toy_docs) -> None:
    svc = services_factory(single_user=True)
    svc.ingest_documents("toy", toy_docs)
    svc.run("naive", "toy", "Where is Tallow?", owner=svc.owner("ann"))
    assert svc.owner("ann") == PUBLIC and svc.runs_of("ann") is None
    assert len(svc.db.list_runs(owner=svc.runs_of("anyone"))) == 1
