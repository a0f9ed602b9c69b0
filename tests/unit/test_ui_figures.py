"""Figures for trace events, and the figure registry."""

from __future__ import annotations

import pytest

from agents.events import TraceEvent
from tests.unit.ui_events import graph_event, retrieve_event
from ui import figures


def test_retrieve_figure_is_a_bar_chart_of_scores() -> None:
    fig = figures.event_figure(retrieve_event())
    assert fig is not None
    ax = fig.axes[0]
    assert [round(p.get_width(), 2) for p in ax.patches] == [0.71, 0.52]
    assert "Carrowdene" in ax.get_yticklabels()[0].get_text()
    assert figures.event_figure(TraceEvent(agent="a", kind="retrieve", explanation="x", data={"hits": []})) is None


def test_graph_walk_figure_draws_the_subgraph() -> None:
    fig = figures.event_figure(graph_event())
    assert fig is not None
    ax = fig.axes[0]
    texts = {t.get_text() for t in ax.texts}
    assert {"carrowdene", "grey lantern", "Carrowdene Observatory"} <= texts
    assert len(ax.collections) >= 3  # edges plus one node collection per node type
    import io

    fig.savefig(io.BytesIO(), format="png")  # it renders


def test_figure_registry_hooks_and_failures(caplog: pytest.LogCaptureFixture) -> None:
    calls = []
    figures.register_figure("memory_write", lambda e: calls.append(e.kind) or "picture")
    try:
        assert figures.event_figure(TraceEvent(agent="m", kind="memory_write", explanation="x")) == "picture"
        assert calls == ["memory_write"]
        figures.register_figure("memory_write", lambda e: 1 / 0)
        assert figures.event_figure(TraceEvent(agent="m", kind="memory_write", explanation="x")) is None
        assert "figure for memory_write" in caplog.text
    finally:
        figures.FIGURES.pop("memory_write", None)
    assert figures.event_figure(TraceEvent(agent="a", kind="plan", explanation="x")) is None


def test_graph_walk_svg_names_each_node_with_its_score_and_passages_on_hover() -> None:
    import re
    from xml.etree import ElementTree

    svg = figures.graph_walk_svg(graph_event())
    assert svg is not None and "\n" not in svg  # one line: the Chatbot reads its message as Markdown
    root = ElementTree.fromstring(svg)  # well-formed
    ns = "{http://www.w3.org/2000/svg}"
    tips = {g.get("data-kind") + ":" + g.find(f"{ns}title").text for g in root.iter(f"{ns}g")}
    assert len(tips) == 3  # the node without an edge is left out
    seed = next(t for t in tips if t.startswith("seed:"))
    assert seed.startswith("seed:carrowdene — seed entity (where the walk starts), score 0.900")
    assert "Passages: Carrowdene Observatory" in seed
    passage = next(t for t in tips if t.startswith("passage:"))
    assert "Carrowdene Observatory — passage, score 0.700" in passage and "Mentions: carrowdene" in passage
    assert not any("isolated" in t for t in tips)
    assert sorted(g.get("class") for g in root.iter(f"{ns}g")) == [
        "graph-node node-passage", "graph-node node-phrase", "graph-node node-seed"]
    assert len(root.findall(f"{ns}g/{ns}rect")) == 1 and len(root.findall(f"{ns}g/{ns}circle")) == 2
    assert len(root.findall(f"{ns}line")) == 2  # the edge to a node not drawn is left out
    for x in re.findall(r'c?x="(-?\d+)"', svg):  # inside the view box
        assert 0 <= int(x) <= 640
    assert figures.graph_walk_svg(TraceEvent(agent="h", kind="graph_walk", explanation="x",
                                             data={"subgraph": {"nodes": [], "edges": []}})) is None


def test_graph_walk_svg_draws_one_node_per_entity_with_labels_that_do_not_overlap() -> None:
    from xml.etree import ElementTree

    from tests.unit.ui_events import hipporag_walk_event
    from ui.graph_view import _overlaps, text_box

    svg = figures.graph_walk_svg(hipporag_walk_event())
    root = ElementTree.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    texts = root.findall(f"{ns}g/{ns}text")
    labels = [t.text for t in texts]
    assert sorted(labels) == ["Corwen Halloway", "Guild of Tidewardens", "Mirrowdale", "River Ansel"]
    boxes = [text_box(float(t.get("x")), float(t.get("y")), t.text, t.get("text-anchor")) for t in texts]
    assert not any(_overlaps(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    seed = next(g for g in root.iter(f"{ns}g") if g.find(f"{ns}text") is not None
                and g.find(f"{ns}text").text == "Mirrowdale")
    assert seed.find(f"{ns}rect") is not None and 'stroke="#b45309"' in ElementTree.tostring(seed, encoding="unicode")
    assert seed.get("class") == "graph-node node-passage node-seed"
    assert seed.find(f"{ns}title").text.startswith("Mirrowdale — passage, seed entity (where the walk starts), score")
    assert "(also: mirrowdale)" not in seed.find(f"{ns}title").text  # the same name, case-folded, is not repeated


def test_graph_walk_svg_escapes_names() -> None:
    event = graph_event()
    event.data["subgraph"]["nodes"][1]["label"] = "<script>alert(1)</script> & co"
    svg = figures.graph_walk_svg(event)
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&amp; co" in svg
