"""A step as a newcomer reads it, in chat and in the viewer: what it did in words, its numbers labelled and folded
under "details", never JSON, ids or epoch times."""

from __future__ import annotations

import html
import re

import pytest

from agents.events import TraceEvent
from tests.unit.ui_events import (
    CREATED,
    GUILD,
    VILLAGE,
    auto_rag_read_event,
    graph_event,
    hipporag_walk_event,
    plan_event,
    read_event,
    retrieve_event,
    tim_events,
)
from ui import details
from ui.messages import event_to_message

EVENTS = [retrieve_event(), read_event(), graph_event(), plan_event(), auto_rag_read_event(), hipporag_walk_event(),
          *tim_events()]
TITLES = {GUILD: "Guild of Tidewardens", VILLAGE: "Mirrowdale"}


def shown(markdown: str) -> str:
    """The text a markdown string shows (character references read back, no bold marks)."""
    return html.unescape(markdown).replace("**", "")


def test_viewer_step_details_split_inputs_and_outputs() -> None:
    ev = read_event()
    inputs, outputs = details.split_data(ev)
    assert set(inputs) == {"prompt"} and "answer" in outputs
    md_in = details.inputs_markdown(ev)
    assert "**system**" in md_in and "Answer briefly." in md_in
    md_out = details.outputs_markdown(ev)
    assert md_out.startswith("**Answer:** **Grey Lantern**")
    folded = md_out[md_out.index("<details>"):]
    assert "<summary>details: the numbers behind this step</summary>" in folded and "the model's reply" in folded
    assert "| # | passage | text | similarity to the search (0 to 1) |" in details.outputs_markdown(retrieve_event())
    assert "no inputs" in details.inputs_markdown(TraceEvent(agent="a", kind="plan", explanation="x"))
    head = details.step_header(ev, 1, 2)
    assert head.startswith("### Step 2 of 2 · 📖 read") and "1 model call · 123 tokens (120 read, 3 written)" in head
    line = details.timeline_markdown([retrieve_event(), ev], current=1)
    first, second = line.splitlines()
    assert first.startswith("1. 🔎 `retrieve`") and second.startswith("2. **📖 `read`") and second.endswith("** ◀")


def test_passages_are_named_by_title_and_ids_are_never_shown() -> None:
    ev = auto_rag_read_event()
    md = shown(details.outputs_markdown(ev, TITLES))
    assert "“Mirrowdale”, “Guild of Tidewardens”" in md
    assert GUILD not in md and VILLAGE not in md
    md = shown(details.outputs_markdown(ev))  # without titles: how many, never the ids
    assert GUILD not in md and VILLAGE not in md and "- passages: 2" in md
    walk = shown(details.outputs_markdown(hipporag_walk_event(), details.passage_titles([hipporag_walk_event()])))
    assert "passage:" not in walk and ":0" not in walk and "“Mirrowdale” (passage)" in walk


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: f"{e.agent}-{e.kind}")
def test_no_json_no_ids_no_epoch_times_in_any_step(event: TraceEvent) -> None:
    ctx = details.context(EVENTS, "Europe/Paris")
    for md in (event_to_message(event, ctx)["content"], details.outputs_markdown(event, ctx.titles, ctx.tz),
               details.inputs_markdown(event, ctx)):
        text = shown(md)
        assert not re.search(r'[{\[]\s*"', text), text  # no JSON object or list
        assert not re.search(r"\b[0-9a-f]{12}\b", text) and not re.search(r"passage:[0-9a-f]", text)
        assert not re.search(r"\b1[0-9]{9}(\.[0-9]+)?\b", text)  # no unix time
        assert "browser-0123456789abcdef" not in text


def test_the_support_check_is_labelled_with_what_each_number_compares() -> None:
    md = shown(details.outputs_markdown(auto_rag_read_event(), TITLES))
    folded = md[md.index("<details>"):]
    assert "answer vs 'unknown' (log-likelihood difference)" in folded and "+4.11" in folded
    assert "similarity to the question (0 to 1)" in folded and "| 0.48 |" in folded and "48%" not in folded
    assert "least similarity to the question that counts as relevant: 0.30" in folded
    assert "log_odds" not in md and "relevance floor" not in md and "yes − no" not in md
    assert "turns the answer stayed the same: 1" in folded  # a nested decision, labelled, not JSON


def test_the_plan_is_words_not_raw_fields() -> None:
    body = shown(event_to_message(plan_event())["content"])
    assert "What it needs to know: I need to know who founded the guild" in body
    assert "First search: _Who founded the guild?_" in body
    for raw in ("analysis", "query:", "query_reply", "\n- reply:"):
        assert raw not in body
    assert "the model's reply: I need to know" in body[body.index("<details>"):]  # the raw reply, labelled, folded


def test_notes_are_one_labelled_list_not_a_table_headed_twice() -> None:
    body = shown(event_to_message(auto_rag_read_event())["content"])
    assert body.count("Sentences kept so far") == 1 and "| notes |" not in body and "**notes**" not in body
    assert "- Mirrowdale: Mirrowdale is a small farming village." in body


def test_times_show_on_the_readers_clock_and_thought_ids_are_hidden() -> None:
    from ui.glossary import Context, describe

    thought = tim_events()[0].data["thoughts"][0]
    tokyo = shown(describe(thought, Context(tz="Asia/Tokyo")))
    assert "stored at: 2026-12-08 07:37" in tokyo and str(int(CREATED)) not in tokyo and "46a8a19d0ffb" not in tokyo
    assert "stored at: 2026-12-07 22:37 UTC" in shown(describe(thought))  # no time zone known: UTC, said so
    recall, write = tim_events()
    assert "46a8a19d0ffb" not in details.outputs_markdown(write) + details.outputs_markdown(recall)
    body = shown(event_to_message(recall)["content"])
    assert "| thought | similarity to your message (0 to 1) | status |" in body and "| 0.59 |" in body


def test_a_graph_walk_lists_its_entities_in_words_and_folds_its_numbers() -> None:
    walk = hipporag_walk_event()
    body = shown(event_to_message(walk, details.context([walk]))["content"])
    head, folded = body.split("<details>", 1)
    assert "Passages found (2)" in head and "graph-walk score (PageRank share)" in head
    assert "where the graph walk starts" in folded and "“Mirrowdale” (passage): 0.05" in folded
    assert "matching names to the graph: 1.1 s" in folded and "knowledge graph size: passages: 42" in folded
    assert "In the picture (" in folded and "| Mirrowdale | passage |" in folded
