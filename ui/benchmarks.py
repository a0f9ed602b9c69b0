"""Benchmarks tab: every stored bench result plotted (answer quality against cost, one point per agent and
dataset) with a table under it; a point or a row opens its questions, a question opens its run in the trace
viewer. A user benches a corpus of their own with their own questions here, and sees the result when it ends."""

from __future__ import annotations

import html
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd
import plotly.graph_objects as go

from agents import registry
from evaluation.bench import run_bench
from evaluation.stored import COSTS, SCORES, find_result, parse_questions, points, question_rows, visible_results
from ui.markdown import plain
from ui.users import user_key

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger(__name__)
MAX_TAB_QUESTIONS = 200  # one bench from the tab; the CLI has no such cap
TABLE_COLUMNS = ["dataset", "agent", "model", "settings", "n", "F1", "recall@5", "calls", "tokens", "s/q",
                 "labels right", "where the answers were lost", "date"]
TABLE_WIDTHS = ["8%", "7%", "11%", "7%", "4%", "5%", "7%", "5%", "6%", "4%", "12%", "16%", "8%"]
QUESTION_COLUMNS = ["question", "gold", "prediction", "F1", "recall@5", "label", "where lost", "run"]
SYMBOLS = ["circle", "diamond", "square", "triangle-up", "x", "star", "cross", "pentagon"]
# Plotly's click event has no gradio listener: this hooks every plot in #bench-plot once and writes the clicked
# point's key into the hidden #bench-pick box, whose input event the server handles.
CLICK_JS = """
() => {
  if (window.__rsBenchHook) return;
  window.__rsBenchHook = setInterval(() => {
    document.querySelectorAll('#bench-plot .js-plotly-plot').forEach((gd) => {
      if (gd.__rsHooked || !gd.on) return;
      gd.__rsHooked = true;
      gd.on('plotly_click', (ev) => {
        const point = ev && ev.points && ev.points[0];
        const box = document.querySelector('#bench-pick textarea, #bench-pick input');
        if (!point || !box) return;
        box.value = point.customdata + '#' + Date.now();
        box.dispatchEvent(new Event('input', {bubbles: true}));
      });
    });
  }, 300);
}
"""


@dataclass
class BenchmarksTab:
    """What the app wires: the refresh on tab select."""

    refresh: Any
    inputs: list[Any]
    outputs: list[Any]


def short_model(model: str) -> str:
    """'local:bundled:qwen2.5-coder-0.5b-instruct (mixed on cpu), batching engine' -> 'qwen2.5-coder-0.5b-instruct'."""
    return model.split(" (", 1)[0].split(",", 1)[0].rsplit(":", 1)[-1] or model


def points_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The table under the plot, one row per point."""
    return pd.DataFrame([[p["dataset"], p["agent"], short_model(p["model"]), p["settings"], p["n"], round(p["f1"], 3),
                          round(p["recall@5"], 3), round(p["llm_calls"], 1), int(p["tokens"]),
                          round(p["seconds"], 1), p["labels"], p["lost"].removeprefix(f"{p['agent']} "),
                          (time.strftime("%Y-%m-%d %H:%M", time.localtime(p["created"])) if p["created"] else "")
                          + f" ({p['source']})"] for p in rows], columns=TABLE_COLUMNS)


def figure(rows: list[dict[str, Any]], score: str = "f1", cost: str = "llm_calls") -> go.Figure:
    """Score against cost: one trace per agent (colour), one marker symbol per dataset; hover names the point."""
    fig = go.Figure()
    datasets = list(dict.fromkeys(p["dataset"] for p in rows))
    for agent in dict.fromkeys(p["agent"] for p in rows):
        mine = [p for p in rows if p["agent"] == agent]
        fig.add_trace(go.Scatter(
            x=[p[cost] for p in mine], y=[p[score] for p in mine], mode="markers", name=agent,
            marker={"size": 14, "symbol": [SYMBOLS[datasets.index(p["dataset"]) % len(SYMBOLS)] for p in mine],
                    "line": {"width": 1, "color": "white"}},
            customdata=[f"{p['result']}|{p['agent']}" for p in mine],
            text=[f"{p['agent']} on {p['dataset']} ({p['n']} questions)<br>model {p['model']} · {p['settings']}"
                  f"<br>labels: {p['labels']}<br>{p['lost']}" for p in mine],
            hovertemplate=f"%{{text}}<br>{SCORES[score]} %{{y:.3f}} · {COSTS[cost]} %{{x:.1f}}<extra></extra>",
        ))
    costs = [p[cost] for p in rows if p[cost] > 0]
    log_x = bool(costs) and max(costs) / min(costs) > 20
    symbols = " · ".join(f"{SYMBOLS[i % len(SYMBOLS)]} = {d}" for i, d in enumerate(datasets))
    fig.update_layout(
        height=420, margin={"l": 60, "r": 20, "t": 50, "b": 50}, hovermode="closest", clickmode="event",
        title={"text": f"{SCORES[score]} against {COSTS[cost]} — click a point for its questions"
                       + (f"<br><sup>{symbols}</sup>" if len(datasets) > 1 else ""), "font": {"size": 15}},
        xaxis={"title": {"text": COSTS[cost] + (" (log scale)" if log_x else "")},
               "type": "log" if log_x else "linear", "rangemode": "normal" if log_x else "tozero"},
        yaxis={"title": {"text": SCORES[score]}, "rangemode": "tozero"},
        legend={"title": {"text": "agent"}},
    )
    if not rows:
        fig.add_annotation(text="No benchmark results yet: run `python app.py bench …`, or one below.",
                           showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig


def questions_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The questions of one point."""
    return pd.DataFrame([[r["question"], r["gold"], r["prediction"], r["f1"], r["recall@5"], r["label"], r["lost"],
                          r["run"]] for r in rows], columns=QUESTION_COLUMNS)


def corpora_owned(services: Services, owner: str) -> list[str]:
    """The corpora this owner may bench from the tab: their own (every one in single-user mode)."""
    store = services.corpora_of(owner)
    return [c.name for c in store.visible() if store.owns(c.name)]


def bench_agents() -> list[tuple[str, str]]:
    """(title, name) of the agents that answer from a corpus."""
    return [(s.title, s.name) for s in registry.all_specs() if s.needs_corpus]


def build(services: Services, user: gr.components.Component, viewer: Any, tabs: gr.Tabs,
          viewer_tab_id: str) -> BenchmarksTab:
    """Lay out the tab; a question row opens its run in `viewer` (ui/viewer.ViewerTab) on tab `viewer_tab_id`."""
    gr.Markdown("Every stored benchmark: answer quality against cost, one point per agent and dataset (from "
                "`python app.py bench` or a run below). **Click a point** (or a table row) for its questions, then "
                "a question to open its run in the trace viewer. See `docs/benchmarks.md`.")
    with gr.Row(equal_height=True):
        score = gr.Dropdown(choices=[(v, k) for k, v in SCORES.items()], value="f1", label="Score", scale=1,
                            elem_id="bench-score")
        cost = gr.Dropdown(choices=[(v, k) for k, v in COSTS.items()], value="llm_calls", label="Cost", scale=1,
                           elem_id="bench-cost")
        dataset = gr.Dropdown(choices=[("All datasets", "")], value="", label="Dataset", scale=1,
                              elem_id="bench-dataset")
        refresh_btn = gr.Button("↻ Refresh", scale=0, min_width=90, elem_id="bench-refresh")
    plot = gr.Plot(show_label=False, elem_id="bench-plot")
    pick = gr.Textbox(visible="hidden", elem_id="bench-pick")
    table = gr.Dataframe(value=points_frame([]), interactive=False, wrap=True, max_height=320,
                         column_widths=TABLE_WIDTHS, elem_id="bench-table", elem_classes=["compact-table"],
                         show_search="none", label="Results (click a row for its questions)")
    chosen = gr.State(None)  # (result id, agent)
    shown = gr.State([])  # the points in the table, in its order
    heading = gr.Markdown("", elem_id="bench-point")
    questions = gr.Dataframe(value=questions_frame([]), interactive=False, wrap=True, max_height=360,
                             elem_id="bench-questions", elem_classes=["compact-table"], show_search="none",
                             label="Questions of the chosen point (click one to open its run)", visible=False)
    with gr.Accordion("Run a benchmark on your own corpus", open=False, elem_id="bench-run-box"):
        gr.Markdown(f"Questions as a `.jsonl` file, one per line: `{{\"question\": …, \"answers\": […], "
                    f"\"gold_ids\": […]}}` (answers and gold passage ids optional; ids are the document ids the "
                    f"Corpora tab lists). At most {MAX_TAB_QUESTIONS} questions; each agent answers them one at a "
                    "time, within your run limit.")
        with gr.Row(equal_height=True):
            corpus = gr.Dropdown(choices=[], value=None, label="Your corpus", scale=1, elem_id="bench-corpus")
            agents = gr.CheckboxGroup(choices=bench_agents(), value=["naive"], label="Agents", scale=3,
                                      elem_id="bench-agents")
        upload = gr.File(label="questions.jsonl", file_types=[".jsonl"], type="filepath", elem_id="bench-upload")
        start = gr.Button("Run benchmark", variant="primary", elem_id="bench-start")
        progress = gr.Markdown("", elem_id="bench-progress")

    def entries(stored_user: str, request: gr.Request | None) -> list[dict[str, Any]]:
        return visible_results(services, user_key(stored_user, request))

    def show(score_key: str, cost_key: str, dataset_name: str, stored_user: str = "",
             request: gr.Request = None) -> tuple[Any, ...]:  # type: ignore[assignment] - gradio passes it
        everything = points(entries(stored_user, request))
        names = list(dict.fromkeys(p["dataset"] for p in everything))
        rows = [p for p in everything if not dataset_name or p["dataset"] == dataset_name]
        owner = services.owner(user_key(stored_user, request))
        mine = corpora_owned(services, owner)
        return (figure(rows, score_key, cost_key), points_frame(rows), rows,
                gr.Dropdown(choices=[("All datasets", "")] + [(n, n) for n in names],
                            value=dataset_name if dataset_name in names else ""),
                gr.Dropdown(choices=mine, value=mine[0] if mine else None))

    view_inputs = [score, cost, dataset, user]
    view_outputs = [plot, table, shown, dataset, corpus]
    for control in (score, cost, dataset):
        control.input(show, view_inputs, view_outputs, api_visibility="private")
    refresh_btn.click(show, view_inputs, view_outputs, api_visibility="private")
    plot.change(None, None, None, js=CLICK_JS)

    def open_point(key: str, stored_user: str = "", request: gr.Request = None  # type: ignore[assignment]
                   ) -> tuple[Any, ...]:
        result_id, _, agent = (key or "").split("#", 1)[0].rpartition("|")
        try:
            entry = find_result(services, result_id, user_key(stored_user, request))
        except LookupError:
            gr.Warning("That result is gone or not yours; press Refresh.")
            return gr.skip(), gr.skip(), gr.skip()
        rows = question_rows(entry, agent)
        point = next((p for p in points([entry]) if p["agent"] == agent), None)
        lost, labels = (point["lost"], point["labels"]) if point else ("no measurement", "no measurement")
        text = (f"#### {plain(agent)} on {plain(entry['dataset'])}: {len(rows)} questions\n"
                f"Where the answers were lost: {plain(lost)} · labels right: {plain(labels)}")
        return (result_id, agent), text, gr.Dataframe(value=questions_frame(rows), visible=True)

    pick.change(open_point, [pick, user], [chosen, heading, questions], api_visibility="private")

    def on_row(evt: gr.SelectData, rows: list[dict[str, Any]], stored_user: str = "",
               request: gr.Request = None) -> tuple[Any, ...]:  # type: ignore[assignment]
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not rows or not 0 <= int(row) < len(rows):
            return gr.skip(), gr.skip(), gr.skip()
        return open_point(f"{rows[int(row)]['result']}|{rows[int(row)]['agent']}", stored_user, request)

    table.select(on_row, [shown, user], [chosen, heading, questions], api_visibility="private")

    def open_question(evt: gr.SelectData, frame: pd.DataFrame) -> tuple[Any, ...]:
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        run_id = str(evt.row_value[-1] if getattr(evt, "row_value", None) else frame.iloc[row, -1])
        if not run_id:
            gr.Warning("This question has no stored run.")
            return (gr.skip(),) * (1 + len(viewer.open_outputs))
        try:
            services.db.get_run(run_id)
        except LookupError:
            gr.Warning(html.escape(f"Run {run_id} is not stored in this app (a reference result measured elsewhere)."))
            return (gr.skip(),) * (1 + len(viewer.open_outputs))
        return (gr.Tabs(selected=viewer_tab_id), *viewer.open_run(run_id))

    questions.select(open_question, [questions], [tabs, *viewer.open_outputs], api_visibility="private")

    def bench(corpus_name: str, chosen_agents: list[str], path: str | None, score_key: str, cost_key: str,
              stored_user: str = "", request: gr.Request = None  # type: ignore[assignment]
              ) -> Iterator[tuple[Any, ...]]:
        owner = services.owner(user_key(stored_user, request))
        idle = (gr.skip(),) * 7
        try:
            if not corpus_name or corpus_name not in corpora_owned(services, owner):
                raise ValueError("pick a corpus of your own (make one in the Corpora tab)")
            if not chosen_agents:
                raise ValueError("pick at least one agent")
            if not path:
                raise ValueError("upload a questions .jsonl file")
            asked = parse_questions(Path(path).read_text(encoding="utf-8", errors="replace"), MAX_TAB_QUESTIONS)
        except (ValueError, OSError) as exc:
            gr.Warning(html.escape(str(exc)))
            yield (f"⚠️ {plain(exc)}", *idle)
            return
        updates: queue.Queue[tuple[str, Any]] = queue.Queue()

        def work() -> None:
            try:
                results = run_bench(services, chosen_agents, None, Path(path), corpus=corpus_name, questions=asked,
                                    owner=owner, source="tab", show_progress=False,
                                    on_question=lambda a, done, total: updates.put(("step", (a, done, total))))
                updates.put(("done", results))
            except Exception as exc:  # noqa: BLE001 - shown in the tab
                if not isinstance(exc, ValueError | LookupError):
                    log.exception("bench from the tab failed")
                updates.put(("error", exc))

        threading.Thread(target=work, name="bench-tab", daemon=True).start()
        total = len(asked) * len(chosen_agents)
        done_before: dict[str, int] = {}
        yield (f"⏳ Starting: {len(asked)} questions × {len(chosen_agents)} agents on “{plain(corpus_name)}”…",
               *idle)
        while True:
            kind, payload = updates.get()
            if kind == "step":
                agent, done, n = payload
                done_before[agent] = done
                yield (f"⏳ {plain(agent)}: {done} of {n} questions ({sum(done_before.values())} of {total} "
                       "runs done)", *idle)
                continue
            if kind == "error":
                gr.Warning(html.escape(str(payload)))
                yield (f"⚠️ The benchmark stopped: {plain(payload)}", *idle)
                return
            results = payload
            fig, frame, rows, datasets, _ = show(score_key, cost_key, "", stored_user, request)
            summary = ", ".join(f"{a} F1 {s['f1']:.3f}" for a, s in results["agents"].items())
            yield (f"✅ Done: {plain(summary)}. It is in the plot and table above.", fig, frame, rows, datasets,
                   *open_point(f"{results['result_id']}|{chosen_agents[0]}", stored_user, request))
            return

    start.click(bench, [corpus, agents, upload, score, cost, user],
                [progress, plot, table, shown, dataset, chosen, heading, questions], api_visibility="private")
    return BenchmarksTab(refresh=show, inputs=view_inputs, outputs=view_outputs)
