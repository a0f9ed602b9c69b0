"""The UI adapter: hand-built TraceEvents become chat messages, step details and figures (no server)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from agents.events import TraceEvent
from ui import adapter

HITS = [
    {"rank": 1, "chunk_id": "aaa:0", "doc_id": "aaa", "title": "Carrowdene Observatory",
     "text": "The observatory where the Grey Lantern comet was first sighted.", "score": 0.71, "query": "q"},
    {"rank": 2, "chunk_id": "bbb:0", "doc_id": "bbb", "title": "Tobiah | Venn",
     "text": "An astronomer <b>born</b> in Duvessa.", "score": 0.52, "query": "q"},
]


def retrieve_event(**kw) -> TraceEvent:
    return TraceEvent(agent="naive", kind="retrieve", explanation="Searched for 'comet' — 2 passages.",
                      data={"query": "Which comet?", "hits": HITS}, run_id="r1", seconds=0.0123, **kw)


def read_event() -> TraceEvent:
    prompt = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Passages: … Question?"}]
    return TraceEvent(agent="naive", kind="read", explanation="Read 2 passages and answered 'Grey Lantern'.",
                      data={"prompt": prompt, "reply": "Grey Lantern", "answer": "Grey Lantern",
                            "passages": ["aaa", "bbb"], "cited": ["aaa"]},
                      run_id="r1", seconds=1.5, llm_calls=1, prompt_tokens=120, completion_tokens=3)


def graph_event() -> TraceEvent:
    sub = {"nodes": [{"id": "p1", "label": "carrowdene", "type": "seed", "score": 0.9},
                     {"id": "p2", "label": "grey lantern", "type": "phrase", "score": 0.4},
                     {"id": "d1", "label": "Carrowdene Observatory", "type": "passage", "score": 0.7},
                     {"id": "lonely", "label": "isolated", "type": "phrase", "score": 0.0}],
           "edges": [{"source": "p1", "target": "p2", "type": "relation", "weight": 1.0},
                     {"source": "p1", "target": "d1", "type": "in_passage", "weight": 0.5},
                     {"source": "p2", "target": "missing", "type": "relation", "weight": 1.0}]}
    return TraceEvent(agent="hipporag", kind="graph_walk", explanation="Walked the graph from 1 seed.",
                      data={"query": "comet", "subgraph": sub}, seconds=0.2)


def test_retrieve_event_becomes_a_collapsible_step_with_a_passage_table() -> None:
    msg = adapter.event_to_message(retrieve_event())
    assert msg["role"] == "assistant"
    meta = msg["metadata"]
    assert meta["title"].startswith("🔎 retrieve: Searched for")
    assert meta["status"] == "done" and meta["duration"] == pytest.approx(0.012, abs=1e-3)
    body = msg["content"]
    assert body.startswith("Searched for 'comet'")
    assert "| # | score | title | passage |" in body
    assert "0.710" in body and "Carrowdene Observatory" in body
    assert "Tobiah \\| Venn" in body  # a pipe in a title cannot break the table
    assert "<b>" not in body  # passage text is escaped


def test_read_event_shows_answer_and_usage() -> None:
    msg = adapter.event_to_message(read_event())
    assert msg["metadata"]["title"].startswith("📖 read:")
    assert "1 LLM" in msg["metadata"]["log"] and "120+3" in msg["metadata"]["log"]
    assert "**Grey Lantern**" in msg["content"]
    assert "Answer briefly" not in msg["content"]  # prompts stay in the viewer, not the chat


def test_event_dicts_unknown_kinds_and_errors_are_accepted() -> None:
    stored = retrieve_event().to_dict()
    assert adapter.event_to_message(stored)["metadata"]["title"] == adapter.event_to_message(retrieve_event())[
        "metadata"]["title"]
    mem = TraceEvent(agent="m", kind="memory_read", explanation="Recalled 2 memories.",
                     data={"memories": [{"id": 1, "text": "likes tea"}, {"id": 2, "text": "lives in Duvessa"}]})
    body = adapter.event_to_message(mem)["content"]
    assert "likes tea" in body and "| id | text |" in body
    err = TraceEvent(agent="naive", kind="error", explanation="The run failed: boom", data={"error": "boom"})
    msg = adapter.event_to_message(err)
    assert msg["metadata"]["title"].startswith("❌ error:") and "boom" in msg["content"]
    plan = TraceEvent(agent="x", kind="plan", explanation="Planned.", data={"decision": "retrieve", "n": 2})
    assert "**decision:** retrieve" in adapter.event_to_message(plan)["content"]


def test_long_explanations_are_cut_in_titles() -> None:
    long = TraceEvent(agent="a", kind="rewrite", explanation="word " * 100)
    title = adapter.event_to_message(long)["metadata"]["title"]
    assert len(title) < 120 and title.endswith("…")


def test_answer_message_cites_used_passages_with_expandable_text_and_share_link() -> None:
    run = SimpleNamespace(answer="Grey Lantern", error="", run_id="abc123def456", used_ids=["aaa", "bbb"],
                          events=[retrieve_event(), read_event()], seconds=1.6)
    msg = adapter.answer_message(run)
    body = msg["content"]
    assert msg["role"] == "assistant" and "metadata" not in msg
    assert body.startswith("**Grey Lantern**")
    assert body.count("<details>") == 2
    assert "[1] Carrowdene Observatory ★" in body  # cited passage starred
    assert "Grey Lantern comet was first sighted" in body
    assert "(?run=abc123def456)" in body
    assert "2 steps · 1 LLM calls · 123 tokens" in body


def test_answer_message_from_a_stored_run_dict_and_failures() -> None:
    stored = {"id": "r9", "answer": "", "error": "RuntimeError: model missing", "seconds": 0.3,
              "events": [retrieve_event().to_dict(), read_event().to_dict()]}
    body = adapter.answer_message(stored)["content"]
    assert "The run failed" in body and "model missing" in body
    assert "?run=r9" in body
    assert body.count("<details>") == 2  # used passages recovered from the read event


def test_viewer_step_details_split_inputs_and_outputs() -> None:
    ev = read_event()
    inputs, outputs = adapter.split_data(ev)
    assert set(inputs) == {"prompt"} and "answer" in outputs
    md_in = adapter.inputs_markdown(ev)
    assert "**system**" in md_in and "Answer briefly." in md_in
    md_out = adapter.outputs_markdown(ev)
    assert "**answer:** Grey Lantern" in md_out and "```text\nGrey Lantern\n```" in md_out
    assert "| # | score | title | passage |" in adapter.outputs_markdown(retrieve_event())
    assert "graph nodes** (4, 3 edges)" in adapter.outputs_markdown(graph_event())
    assert "no inputs" in adapter.inputs_markdown(TraceEvent(agent="a", kind="plan", explanation="x"))
    head = adapter.step_header(ev, 1, 2)
    assert head.startswith("### Step 2 of 2 · 📖 read") and "120 prompt + 3 completion tokens" in head
    line = adapter.timeline_markdown([retrieve_event(), ev], current=1)
    first, second = line.splitlines()
    assert first.startswith("1. 🔎 `retrieve`") and second.startswith("2. **📖 `read`") and second.endswith("** ◀")


def test_retrieve_figure_is_a_bar_chart_of_scores() -> None:
    fig = adapter.event_figure(retrieve_event())
    assert fig is not None
    ax = fig.axes[0]
    assert [round(p.get_width(), 2) for p in ax.patches] == [0.71, 0.52]
    assert "Carrowdene" in ax.get_yticklabels()[0].get_text()
    assert adapter.event_figure(TraceEvent(agent="a", kind="retrieve", explanation="x", data={"hits": []})) is None


def test_graph_walk_figure_draws_the_subgraph() -> None:
    fig = adapter.event_figure(graph_event())
    assert fig is not None
    ax = fig.axes[0]
    texts = {t.get_text() for t in ax.texts}
    assert {"carrowdene", "grey lantern", "Carrowdene Observatory"} <= texts
    assert len(ax.collections) >= 3  # edges plus one node collection per node type
    import io

    fig.savefig(io.BytesIO(), format="png")  # it renders


def test_figure_registry_hooks_and_failures(caplog: pytest.LogCaptureFixture) -> None:
    calls = []
    adapter.register_figure("memory_write", lambda e: calls.append(e.kind) or "picture")
    try:
        assert adapter.event_figure(TraceEvent(agent="m", kind="memory_write", explanation="x")) == "picture"
        assert calls == ["memory_write"]
        adapter.register_figure("memory_write", lambda e: 1 / 0)
        assert adapter.event_figure(TraceEvent(agent="m", kind="memory_write", explanation="x")) is None
        assert "figure for memory_write" in caplog.text
    finally:
        adapter.FIGURES.pop("memory_write", None)
    assert adapter.event_figure(TraceEvent(agent="a", kind="plan", explanation="x")) is None


def test_adapter_does_not_import_gradio() -> None:
    import ast
    from pathlib import Path

    tree = ast.parse(Path(adapter.__file__).read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "gradio" not in imported
