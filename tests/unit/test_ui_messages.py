"""Chat messages: hand-built TraceEvents become collapsible steps and an answer with sources."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from agents.events import TraceEvent
from tests.unit.ui_events import read_event, retrieve_event
from ui import messages


def test_retrieve_event_becomes_a_collapsible_step_with_a_passage_table() -> None:
    msg = messages.event_to_message(retrieve_event())
    assert msg["role"] == "assistant"
    meta = msg["metadata"]
    assert meta["title"].startswith("🔎 retrieve: Searched for")
    assert meta["status"] == "done" and meta["duration"] == pytest.approx(0.012, abs=1e-3)
    body = msg["content"]
    assert body.startswith("Searched for 'comet'")
    assert "| # | passage | text | similarity to the search (0 to 1) |" in body
    assert "| 0&#46;71 |" in body and "Carrowdene Observatory" in body
    assert "Tobiah &#124; Venn" in body  # a pipe in a title cannot break the table
    assert "<b>" not in body  # passage text is escaped


def test_read_event_shows_answer_and_usage() -> None:
    msg = messages.event_to_message(read_event())
    assert msg["metadata"]["title"].startswith("📖 read:")
    assert msg["metadata"]["log"] == "1 model call · 123 tokens"
    assert "**Grey Lantern**" in msg["content"]
    assert "Answer briefly" not in msg["content"]  # prompts stay in the viewer, not the chat


def test_event_dicts_unknown_kinds_and_errors_are_accepted() -> None:
    stored = retrieve_event().to_dict()
    assert messages.event_to_message(stored)["metadata"]["title"] == messages.event_to_message(retrieve_event())[
        "metadata"]["title"]
    mem = TraceEvent(agent="m", kind="memory_read", explanation="Recalled 2 memories.",
                     data={"memories": [{"id": 1, "text": "likes tea"}, {"id": 2, "text": "lives in Duvessa"}]})
    body = messages.event_to_message(mem)["content"]
    assert "likes tea" in body and "| text |" in body and "| id |" not in body  # ids are no links: not shown
    err = TraceEvent(agent="naive", kind="error", explanation="The run failed: boom", data={"error": "boom"})
    msg = messages.event_to_message(err)
    assert msg["metadata"]["title"].startswith("❌ error:") and "boom" in msg["content"]
    plan = TraceEvent(agent="x", kind="plan", explanation="Planned.", data={"decision": "retrieve", "n": 2})
    assert "**how it decided**: retrieve" in messages.event_to_message(plan)["content"]


def test_long_explanations_are_cut_in_titles() -> None:
    long = TraceEvent(agent="a", kind="rewrite", explanation="word " * 100)
    title = messages.event_to_message(long)["metadata"]["title"]
    assert len(title) < 120 and title.endswith("…")


def test_answer_message_cites_used_passages_with_expandable_text_and_share_link() -> None:
    run = SimpleNamespace(answer="Grey Lantern", error="", run_id="abc123def456", used_ids=["aaa", "bbb"],
                          events=[retrieve_event(), read_event()], seconds=1.6)
    msg = messages.answer_message(run)
    body = msg["content"]
    assert msg["role"] == "assistant" and "metadata" not in msg
    assert body.startswith("**Grey Lantern**")
    assert body.count("<details>") == 2
    assert "[1] Carrowdene Observatory ★" in body  # cited passage starred
    assert "Grey Lantern comet was first sighted" in body
    assert "(?run=abc123def456)" in body
    assert "2 steps · 1 model calls · 123 tokens" in body and "`abc123def456`" not in body  # the id only as a link


def test_answer_message_from_a_stored_run_dict_and_failures() -> None:
    stored = {"id": "r9", "answer": "", "error": "RuntimeError: model missing", "seconds": 0.3,
              "events": [retrieve_event().to_dict(), read_event().to_dict()]}
    body = messages.answer_message(stored)["content"]
    assert "The run failed" in body and "model missing" in body
    assert "?run=r9" in body
    assert body.count("<details>") == 2  # used passages recovered from the read event


def test_a_graph_walk_shows_in_chat_as_an_svg_whose_nodes_say_their_name_and_score() -> None:
    from tests.unit.ui_events import graph_event

    message = messages.figure_message(graph_event())
    assert message is not None and message["role"] == "assistant"
    content = message["content"]
    assert content.startswith('<div class="graph-walk-figure"><svg') and "<title>carrowdene — seed entity" in content
    assert "Hover a node" in content
    assert messages.figure_message(retrieve_event()) is None  # a plain search has no graph


def test_a_memory_agents_reply_shows_where_it_came_from() -> None:
    label = {"status": "not_in_memory", "sentence": "Not in memory: nothing about you is remembered yet <yet>."}
    answer = TraceEvent(agent="tim", kind="answer", explanation="Replies.",
                        data={"answer": "You haven't told me where you live yet.", "passages": [], "memory": label})
    run = SimpleNamespace(events=[answer], answer=answer.data["answer"], run_id="r1", error="", used_ids=[],
                          seconds=0.1)
    content = messages.answer_message(run)["content"]
    assert '<span class="grounding memory-not_in_memory">🤷 Not in memory&#58; nothing about you' in content
    assert "&#60;yet&#62;" in content and "<yet>" not in content  # the sentence is shown as text
    assert messages.memory_label([retrieve_event()]) == {}
