"""RetroRAG's evidence set in chat steps and viewer details: a table per step, withdrawn claims struck through."""

from __future__ import annotations

import html

from agents.events import TraceEvent, validate_data
from ui.details import outputs_markdown
from ui.markdown import evidence_table
from ui.messages import event_to_message

BEFORE = [
    {"id": "e1", "claim": "The Orvane Guild was founded in Tallow.", "kind": "inferential", "entity": "Orvane Guild",
     "numbers": [1], "passages": ["d1"], "status": "active"},
    {"id": "e2", "claim": "Tallow is a port town on the river Senn.", "kind": "source", "entity": "Tallow",
     "numbers": [2], "passages": ["d2"], "status": "active", "derived_from": ["e1"]},
]
AFTER = [
    {**BEFORE[0], "status": "withdrawn", "withdrawn_by": "e3", "reason": "passage 3 (Charters) gives 'Pellow'"},
    {**BEFORE[1], "status": "withdrawn", "withdrawn_by": "e1", "reason": "it rested on e1, which was withdrawn"},
    {"id": "e3", "claim": "The Orvane Guild was founded in Pellow.", "kind": "source", "entity": "Charters",
     "numbers": [3], "passages": ["d3"], "status": "active"},
]
EVENT = TraceEvent(agent="retro_rag", kind="revise", explanation="Withdrew 'The Orvane Guild was founded in Tallow.' "
                   "(from passage 1): passage 3 (Charters) gives 'The Orvane Guild was founded in Pellow.'.",
                   data={"before": BEFORE, "after": AFTER, "passages": ["d1", "d3"], "operation": "retroact",
                         "withdrawn": ["e1", "e2"], "added": [], "checks": [
                             {"earlier": "e1", "new": "e3", "option": "yes", "log_odds": 2.5, "disagree": True}]})


def test_the_payload_is_valid() -> None:
    assert validate_data("revise", EVENT.data) == []


def test_evidence_table_strikes_withdrawn_claims_and_marks_changes() -> None:
    md = html.unescape(evidence_table(AFTER, BEFORE))  # values are escaped as entities
    assert md.startswith("**Evidence set** (1 active, 2 withdrawn)")
    assert "~~The Orvane Guild was founded in Tallow.~~" in md and "~~Tallow is a port town" in md
    assert "withdrawn now: passage 3 (Charters) gives" in md and "| e3 | The Orvane Guild was founded in Pellow." in md
    assert "| new |" in md
    assert "| active |" in evidence_table(BEFORE)  # without a previous set nothing is marked new


def test_chat_step_and_viewer_details_show_the_evidence_set() -> None:
    message = event_to_message(EVENT)
    assert message["metadata"]["title"].startswith("🔁 revise: Withdrew")
    assert "**Evidence set** (1 active, 2 withdrawn)" in message["content"] and "~~" in message["content"]
    details = outputs_markdown(EVENT)
    assert details.count("**Evidence set**") == 1 and "withdrawn now" in details  # the set after, marked against before
    folded = html.unescape(details[details.index("<details>"):])
    assert "**operation**: retroact" in folded and "**passages checked** (1)" in folded and "{" not in folded
