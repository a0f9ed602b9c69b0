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
