"""The Benchmarks tab's plot and tables from result points (plotly figure, no browser)."""

from __future__ import annotations

from ui.benchmarks import figure, points_frame, questions_frame


def point(agent: str, dataset: str, calls: float, f1: float) -> dict:
    return {"result": f"r-{dataset}", "dataset": dataset, "agent": agent, "model": "m", "settings": "defaults",
            "n": 50, "f1": f1, "em": 0.1, "recall@5": 0.7, "llm_calls": calls, "tokens": calls * 500,
            "seconds": calls, "labels": "no measurement", "lost": f"{agent} lost 3 of 50: 1 at retrieval, 1 at "
            "reading, 1 read but answered wrong; 47 right", "source": "cli", "created": 0.0}


def test_one_trace_per_agent_one_symbol_per_dataset_and_keys_for_clicks() -> None:
    rows = [point("naive", "musique", 2, 0.19), point("naive", "hotpotqa", 2, 0.25),
            point("auto_rag", "musique", 60, 0.21)]
    fig = figure(rows, "f1", "llm_calls")
    assert [t.name for t in fig.data] == ["naive", "auto_rag"]
    assert list(fig.data[0].customdata) == ["r-musique|naive", "r-hotpotqa|naive"]
    assert list(fig.data[0].marker.symbol) == ["circle", "diamond"] and list(fig.data[1].marker.symbol) == ["circle"]
    assert fig.layout.xaxis.type == "log"  # 2 to 60 calls: a log axis keeps the cheap points apart
    assert list(fig.data[1].y) == [0.21]
    linear = figure(rows[:2], "recall@5", "seconds")
    assert linear.layout.xaxis.type == "linear" and list(linear.data[0].y) == [0.7, 0.7]
    assert "No benchmark results yet" in figure([]).layout.annotations[0].text


def test_tables() -> None:
    frame = points_frame([point("naive", "musique", 2, 0.19)])
    assert frame.iloc[0]["where the answers were lost"].startswith("lost 3 of 50: 1 at retrieval")
    assert list(questions_frame([{"question": "q", "gold": "a", "prediction": "b", "f1": 0.0, "recall@5": 1.0,
                                  "label": "guess", "lost": "read but answered wrong", "run": "x"}]).iloc[0]) == [
        "q", "a", "b", 0.0, 1.0, "guess", "read but answered wrong", "x"]
