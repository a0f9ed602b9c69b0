"""Trace viewer step details: inputs, outputs, header and timeline of hand-built events."""

from __future__ import annotations

from agents.events import TraceEvent
from tests.unit.ui_events import graph_event, read_event, retrieve_event
from ui import details


def test_viewer_step_details_split_inputs_and_outputs() -> None:
    ev = read_event()
    inputs, outputs = details.split_data(ev)
    assert set(inputs) == {"prompt"} and "answer" in outputs
    md_in = details.inputs_markdown(ev)
    assert "**system**" in md_in and "Answer briefly." in md_in
    md_out = details.outputs_markdown(ev)
    assert "**answer:** Grey Lantern" in md_out and "```text\nGrey Lantern\n```" in md_out
    assert "| # | score | title | passage |" in details.outputs_markdown(retrieve_event())
    assert "graph nodes** (4, 3 edges)" in details.outputs_markdown(graph_event())
    assert "no inputs" in details.inputs_markdown(TraceEvent(agent="a", kind="plan", explanation="x"))
    head = details.step_header(ev, 1, 2)
    assert head.startswith("### Step 2 of 2 · 📖 read") and "120 prompt + 3 completion tokens" in head
    line = details.timeline_markdown([retrieve_event(), ev], current=1)
    first, second = line.splitlines()
    assert first.startswith("1. 🔎 `retrieve`") and second.startswith("2. **📖 `read`") and second.endswith("** ◀")


def test_outputs_name_passages_by_title_not_id() -> None:
    hits = [{"doc_id": "aaa", "title": "Carrowdene Observatory", "text": "…", "score": 0.7, "rank": 1},
            {"doc_id": "bbb", "title": "Grey Lantern", "text": "…", "score": 0.5, "rank": 2}]
    search = TraceEvent(agent="naive", kind="retrieve", explanation="x", data={"query": "q", "hits": hits})
    titles = details.passage_titles([search, read_event()])
    assert titles == {"aaa": "Carrowdene Observatory", "bbb": "Grey Lantern"}
    md = details.outputs_markdown(read_event(), titles)
    assert "**passages:** “Carrowdene Observatory”, “Grey Lantern”" in md and "**cited:** “Carrowdene Observatory”" in md
    assert "aaa" not in md and "bbb" not in md
    assert "aaa" in details.outputs_markdown(read_event())  # without titles: the ids, as before
    answer = TraceEvent(agent="retro_rag", kind="answer", explanation="x", data={"answer": "y", "retrieved": ["bbb"]})
    assert "**retrieved:** “Grey Lantern”" in details.outputs_markdown(answer, titles)  # RetroRAG's answer step
