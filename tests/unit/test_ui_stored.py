"""Stored runs are upgraded once where the UI loads them (ui/stored.py), so the renderers read current payloads."""

from __future__ import annotations

import copy
from types import SimpleNamespace

from agents.events import validate_data
from tests.unit import ui_events as fx
from ui.messages import grounding_of, run_events
from ui.stored import load_run, upgrade_event, upgrade_run

OLD = {"status": "supported", "doc_id": fx.GUILD, "title": "Guild of Tidewardens",
       "checks": [{"doc_id": fx.GUILD, "title": "Guild of Tidewardens", "coverage": 1.0, "log_odds": 6.0,
                   "supported": True}]}


def _answer(grounding: dict) -> dict:
    return {"agent": "auto_rag", "kind": "answer", "explanation": "x",
            "data": {"answer": "Corwen Halloway", "passages": [fx.GUILD], "grounding": grounding}}


def test_current_events_are_left_as_they_are() -> None:
    for event in (fx.retrieve_event(), fx.read_event(), fx.retro_revise_event(), *fx.tim_events()):
        stored = event.to_dict()
        assert upgrade_event(stored) is stored
    new = _answer({"status": "found", "doc_id": fx.GUILD, "title": "T", "holders": [], "checks": []})
    assert upgrade_event(new) is new
    old = fx.auto_rag_read_event().to_dict()  # its 'guess' has no holders: the shape stored before the labels
    assert upgrade_event(old)["data"]["grounding"] == {**fx.GROUNDING, "status": "found", "doc_id": fx.GUILD,
                                                        "title": "Guild of Tidewardens", "checks": [], "read": True}


def test_old_labels_are_read_as_the_labels_say_and_the_stored_run_is_not_changed() -> None:
    run = {"id": "r1", "events": [fx.retrieve_event().to_dict(), _answer(OLD), _answer({"status": "abstained"})]}
    before = copy.deepcopy(run)
    new = upgrade_run(run)
    assert run == before  # the database's dict is not touched
    found, none = new["events"][1]["data"]["grounding"], new["events"][2]["data"]["grounding"]
    assert found["status"] == "found" and found["doc_id"] == fx.GUILD and found["checks"] == []
    assert none == {"status": "none", "reason": "abstained"}
    assert new["events"][0] is run["events"][0]
    assert validate_data("answer", new["events"][1]["data"]) == []
    assert grounding_of(run_events(new))["status"] == "none"  # the last label, already upgraded


def test_load_run_upgrades_what_the_database_gives() -> None:
    stored = {"id": "r1", "events": [_answer(OLD)]}
    services = SimpleNamespace(db=SimpleNamespace(get_run=lambda run_id: stored))
    assert load_run(services, "r1")["events"][0]["data"]["grounding"]["status"] == "found"  # type: ignore[arg-type]
