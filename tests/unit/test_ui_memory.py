"""The Memory tab's pieces and the user key: what a person sees of their thoughts, and whose they are."""

from __future__ import annotations

import html
from types import SimpleNamespace

from llm.fake import ScriptedLLM
from ui import memory, users


def test_the_login_wins_else_a_well_formed_browser_id_is_kept_or_made() -> None:
    assert users.user_key("browser-0123456789abcdef", SimpleNamespace(username="ana")) == "ana"
    assert users.user_key("browser-0123456789abcdef", SimpleNamespace(username=None)) == "browser-0123456789abcdef"
    made = users.user_key("", None)
    assert made.startswith("browser-") and made != users.user_key("", None)
    assert users.ensure_browser_id("'; DROP TABLE thoughts") != "'; DROP TABLE thoughts"
    kept, key = users.on_load("browser-0123456789abcdef", SimpleNamespace(username=None))
    assert kept == key == "browser-0123456789abcdef"
    assert users.on_load("", SimpleNamespace(username="ana"))[1] == "ana"


def test_view_shows_only_this_users_thoughts_operations_and_buckets(services_factory) -> None:
    svc = services_factory(llm=ScriptedLLM(replies=["Nice!", "The user lives in Lisbon."], choices=["yes"]))
    run = svc.run("tim", "", "I live in Lisbon.", user="ana")
    list(run)
    summary, rows, figure, operations, ids = memory.view(svc, "ana", tz="Asia/Tokyo")
    assert "1 active" in summary and "32 tables × 64 buckets" in summary
    assert rows[0][0] == "The user lives in Lisbon." and rows[0][2] == "active" and rows[0][4] == "I live in Lisbon."
    assert rows[0][1] == "the user's own clause (rule fill)"  # the scripted record was not JSON
    assert len(rows[0][3].split()) == 32 and not rows[0][5].endswith("UTC")  # on the reader's clock
    assert ids == [[svc.memory.list("ana")[0].id, "The user lives in Lisbon."]]  # the id stays off the table
    assert figure is not None and "Remembered 'The user lives in Lisbon.'" in html.unescape(operations)
    assert run.run_id in operations
    summary, rows, figure, operations, _ = memory.view(svc, "ben")
    assert rows == [] and figure is None and "0 active" in summary and "No memory operations" in operations
    assert memory.view(svc, "ana", search="Berlin")[1] == []


def test_memory_steps_show_the_thoughts_before_and_after() -> None:
    from agents.events import TraceEvent
    from ui.messages import event_to_message

    lisbon = {"id": "a", "text": "The user lives in Lisbon.", "status": "active", "buckets": [1, 2]}
    berlin = {"id": "b", "text": "The user lives in Berlin.", "status": "active", "buckets": [3, 2]}
    forget = TraceEvent(agent="tim", kind="memory_write", explanation="Forgot …", data={
        "operation": "forget", "before": [lisbon], "after": [{**lisbon, "status": "forgotten"}, berlin],
        "decision": {"relation": "update", "checks": [{"id": "a", "cosine": 0.8, "option": "update"}]}})
    body = html.unescape(event_to_message(forget)["content"])  # values are escaped as entities
    assert body.index("**Memory before**") < body.index("| The user lives in Lisbon. | active |") < body.index(
        "**Memory after**") < body.index("forgotten")
    folded = body[body.index("<details>"):]
    assert "| similarity to the new thought (0 to 1) | option chosen |" in folded and "| 0.80 | update |" in folded
    recall = TraceEvent(agent="tim", kind="memory_read", explanation="Recalls …",
                        data={"query": "q", "thoughts": [{**berlin, "score": 0.5}], "scored": 1, "stored": 3})
    assert "**Thoughts recalled** (1 of the 3 in your memory compared)" in event_to_message(recall)["content"]
