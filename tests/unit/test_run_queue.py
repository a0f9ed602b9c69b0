"""The run line: a question shows at once, waits with its place in line, goes first come first served; a
user's waiting and running runs count against the per-user limit; the user key never depends on the page load."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from services import LimitError, RunQueue


def test_runs_past_the_slots_wait_in_line_and_know_their_place() -> None:
    line = RunQueue(slots=2)
    with line.place("a") as first, line.place("b") as second:
        assert (first(0), second(0)) == (0, 0) and line.going == 2
        with line.place("c") as third, line.place("d") as fourth, line.place("e") as fifth:
            assert (third(0), fourth(0), fifth(0)) == (1, 2, 3) and line.waiting == 3
    assert (line.going, line.waiting) == (0, 0)  # every block has ended: every slot and place is free


def test_a_waiting_run_goes_as_soon_as_a_slot_frees() -> None:
    line = RunQueue(slots=1)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with line.place("a") as mine:
            assert mine(0) == 0
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    with line.place("b") as second:
        assert second(0) == 1
        release.set()
        assert second(5.0) == 0  # woken when the slot frees, not at the timeout
    holder.join(5)


def test_leaving_the_line_frees_the_place_for_the_next() -> None:
    line = RunQueue(slots=1)
    with line.place("a") as first:
        assert first(0) == 0
        with line.place("b") as second:
            with line.place("c") as third:
                assert (second(0), third(0)) == (1, 2)
            assert second(0) == 1  # c left the line: b is still first
    assert (line.going, line.waiting) == (0, 0)


def test_a_users_waiting_and_running_runs_count_against_the_limit() -> None:
    line = RunQueue(slots=1, per_owner=2)
    with line.place("ann"), line.place("ann"):
        refused = "2 runs waiting or running; at most 2 at once \\(RAGSCOPE_MAX_RUNS_PER_USER\\)"
        with pytest.raises(LimitError, match=refused), line.place("ann"):
            pass
        with line.place("bob") as other:
            assert other(0) == 2  # another user is not refused, only behind in line
        with line.place("public"), line.place("public"), line.place("public"):
            pass  # the operator (CLI, benchmarks) has no per-user limit


def test_a_question_shows_at_once_then_its_place_then_its_steps(services_factory, toy_docs) -> None:
    from ui.chat import ask_stream

    svc = services_factory()
    svc.ingest_documents("toy", toy_docs)
    svc.queue = RunQueue(slots=1)
    updates = []
    with svc.queue.place("someone else"):  # the only slot is taken
        stream = ask_stream(svc, "Where is **Tallow**?", [], "toy", "naive", {}, user="browser-aaaaaaaaaaaaaaaa")
        updates.append(next(stream))
        assert updates[0][0] == {"role": "user", "content": updates[0][0]["content"]}
        assert "Tallow" in updates[0][0]["content"] and "**" not in updates[0][0]["content"]  # shown as text
        updates.append(next(stream))  # waits a second for the slot, then says where it stands
        assert updates[-1][-1]["metadata"]["title"] == (
            "⏳ Waiting for a free run slot: 1st in line (1 runs going, 1 at once)")
    rest = list(stream)
    assert rest[-1][-1]["role"] == "assistant" and "?run=" in str(rest[-1][-1]["content"])
    assert svc.db.list_runs()[0]["owner"] == "browser-aaaaaaaaaaaaaaaa"


def test_a_question_sent_before_the_page_load_belongs_to_the_browsers_key() -> None:
    from ui import users

    page = SimpleNamespace(username=None, session_hash="session-1")
    early = users.user_key("", page)  # the question comes first: no browser id stored yet
    kept, key = users.on_load("", page)  # then the load stores one for this browser
    assert early == kept == key and users.valid_browser_id(kept)
    assert users.user_key(kept, page) == kept  # later events send it
    other = SimpleNamespace(username=None, session_hash="session-2")
    assert users.user_key("", other) != kept  # another page session, another browser
    returning = users.on_load("browser-0123456789abcdef", SimpleNamespace(username=None, session_hash="s3"))
    assert returning[0] == "browser-0123456789abcdef"  # a stored id always wins
    assert users.user_key("", SimpleNamespace(username="ana", session_hash="s4")) == "ana"
