"""Runs read back from the database, upgraded once where they are loaded: what older versions stored is read as
the current payloads say (agents/events.py), so the renderers hold no fallbacks for old runs.

Today one thing changed shape: the grounding label of read, answer and revise steps (agents/grounding.upgrade:
'supported'/'guess' stored before the labels, 'abstained'/'nothing_relevant' before `none`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents.grounding import upgrade

if TYPE_CHECKING:
    from services import Services

GROUNDED = ("answer", "read", "revise")  # the kinds whose payload carries a grounding label


def upgrade_event(event: dict[str, Any]) -> dict[str, Any]:
    """A stored event (its dict) as the current payload of its kind; the same dict when nothing is old."""
    data = event.get("data") or {}
    grounding = data.get("grounding")
    if event.get("kind") not in GROUNDED or not isinstance(grounding, dict) or not grounding.get("status"):
        return event
    new = upgrade(grounding)
    return event if new == grounding else {**event, "data": {**data, "grounding": new}}


def upgrade_run(run: dict[str, Any]) -> dict[str, Any]:
    """A stored run (storage.db's dict) with every event upgraded (a new dict; the stored one is left as it is)."""
    return {**run, "events": [upgrade_event(e) for e in run.get("events") or []]}


def load_run(services: Services, run_id: str) -> dict[str, Any]:
    """The stored run `run_id`, upgraded; raises the database's LookupError (NotFound) when there is none."""
    return upgrade_run(services.db.get_run(run_id))
