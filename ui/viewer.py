"""Trace viewer tab: browse stored runs and step through one run's events."""

from __future__ import annotations

import html
import json
import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from agents import registry
from ui import run_tools
from ui.common import corpus_names
from ui.details import (
    context,
    duration,
    inputs_markdown,
    outputs_markdown,
    passage_titles,
    step_header,
    timeline_choices,
)
from ui.figures import event_figure, graph_walk_svg
from ui.glossary import clock
from ui.markdown import as_event, cell, short
from ui.messages import grounding_line, grounding_of, share_link
from ui.stored import load_run
from ui.users import user_key

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger(__name__)
RUN_COLUMNS = ["run", "date", "agent", "corpus", "question", "answer", "status", "s"]
_EXPORT_DIR = Path(tempfile.gettempdir()) / "ragscope-exports"
_RUN_ID = re.compile(r"(?:run=)?([0-9a-f]{6,32})\s*\)?\s*$")


def run_link(run_id: str) -> str:
    """A run's cell in the runs table: its share link (the id shows only as a link)."""
    return f"[open ↗]({share_link(run_id)})"


def runs_frame(services: Services, search: str = "", agent: str = "", corpus: str = "", user: str = "",
               tz: str = "") -> pd.DataFrame:
    """The user's stored runs (every run in single-user mode), newest first, as the runs table shows them;
    dates on the reader's clock (`tz`, the browser's time zone)."""
    rows = [
        [run_link(r["id"]), clock(r["started"] or 0, tz), r["agent"], r["corpus"],
         short(r["question"], 90), short(r["answer"] or r.get("error") or "", 60), r["status"],
         duration(r["seconds"] or 0)]
        for r in services.db.list_runs(search=search or "", agent=agent or "", corpus=corpus or "",
                                       owner=services.runs_of(user))
    ]
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def parse_run_id(text: str) -> str:
    """A run id from an id, '?run=<id>' or a full share URL."""
    m = _RUN_ID.search((text or "").strip())
    return m.group(1) if m else (text or "").strip()


def run_header(run: dict[str, Any], tz: str = "") -> str:
    """Markdown: question, agent, corpus, answer and totals of a stored run (its start on the reader's clock)."""
    status = {"done": "✅ done", "error": "❌ error", "running": "⏳ running"}.get(run["status"], run["status"])
    answer = run["answer"] or ("—" if not run.get("error") else f"⚠️ {run['error']}")
    when = clock(run["started"] or 0, tz)
    settings = "\n".join(f"- {cell(str(k).replace('_', ' '))}: {cell(v)}" for k, v in (run.get("config") or {}).items())
    settings = f"\n\n<details><summary>settings used</summary>\n\n{settings}\n\n</details>" if settings else ""
    grounding = grounding_line(grounding_of(as_event(e) for e in run.get("events") or []))
    grounding = f'<br><span class="grounding">{cell(grounding, 200)}</span>' if grounding else ""
    return (
        f"### {cell(run['question'], 300)}\n\n"
        f"**Answer:** {cell(answer, 400)}{grounding}\n\n"
        f"<small>{status} · agent {cell(run['agent'])} · corpus {cell(run['corpus'])} · {when} · "
        f"{duration(run['seconds'] or 0)} · {run['llm_calls']} model calls · "
        f"{run['prompt_tokens'] + run['completion_tokens']} tokens<br>"
        f"🔗 share link: [`?run={run['id']}`]({share_link(run['id'])})</small>{settings}"
    )


def export_path(run: dict[str, Any]) -> str:
    """Write the run (with its events) as JSON to a temp file; returns its path."""
    _EXPORT_DIR.mkdir(parents=True, exist_ok=True)
    path = _EXPORT_DIR / f"ragscope-run-{run['id']}.json"
    path.write_text(json.dumps(run, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return str(path)


@dataclass
class ViewerTab:
    """Components the page load and the other tabs need, and the function that opens a run."""

    tab_id: str
    run_id: gr.Textbox
    open_outputs: list[Any]
    open_run: Any  # (run_id) -> tuple of updates for open_outputs
    refresh: Any  # (search, agent, corpus, stored browser id, request) -> runs table
    filters: list[Any]
    table: gr.Dataframe
    corpus_filter: gr.Dropdown


def step_updates(run: dict[str, Any] | None, step: float | int | None, tz: str = "") -> tuple[Any, ...]:
    """(timeline, step header, inputs, outputs, raw json, figure, graph) for step `step` (1-based) of `run`.
    A graph walk is drawn as the chat draws it (inline SVG: hover a node for its name, score and passages);
    other pictures (passage scores) are matplotlib figures."""
    events = (run or {}).get("events") or []
    if not events:
        empty = "Select a run in the table above, or paste its id or share link." if not run else "No steps."
        return (gr.Radio(choices=[], value=None, label=empty), "", "", "", None, gr.Plot(value=None, visible=False),
                gr.HTML(value="", visible=False))
    i = min(max(int(step or 1), 1), len(events)) - 1
    event = as_event(events[i])
    svg = graph_walk_svg(event) if (event.data or {}).get("subgraph") else None
    fig = None if svg else event_figure(event)
    choices = timeline_choices(events)
    return (
        gr.Radio(choices=choices, value=choices[i], label="Click a step to open it"),
        step_header(event, i, len(events)),
        inputs_markdown(event, context(events, tz)),
        outputs_markdown(event, passage_titles(events), tz),
        event.data,
        gr.Plot(value=fig, visible=fig is not None),
        gr.HTML(value=_graph_html(svg), visible=svg is not None),
    )


def _graph_html(svg: str | None) -> str:
    """The graph walk's SVG with the caption the chat gives it."""
    if not svg:
        return ""
    return (f'<div class="graph-walk-figure">{svg}</div><small>The graph walk, one node per entity: size = score; '
            "where the walk starts is ringed; passages are squares. Hover a node for its name, score and passages."
            "</small>")


def build(services: Services, tab_id: str, user: gr.components.Component | None = None,
          tz: gr.components.Component | None = None) -> ViewerTab:
    """Lay out the Trace viewer tab and wire its events; the table lists the runs of `user` (the browser's
    id, ui/users.py), while a run id or share link opens any run; times show on the clock of `tz` (the
    browser's time zone, ui/app.py)."""
    user = user if user is not None else gr.State("")
    tz = tz if tz is not None else gr.State("")
    run_state = gr.State(None)
    agents = [("All agents", "")] + [(s.title, s.name) for s in registry.all_specs()]
    with gr.Row(equal_height=True):
        search = gr.Textbox(placeholder="Search questions and answers, or a run id…", show_label=False, scale=4,
                            elem_id="viewer-search")
        agent = gr.Dropdown(choices=agents, value="", show_label=False, scale=2, elem_id="viewer-agent")
        corpus = gr.Dropdown(choices=[("All corpora", "")] + [(n, n) for n in corpus_names(services)], value="",
                             show_label=False, scale=2, elem_id="viewer-corpus")
        refresh_btn = gr.Button("↻ Refresh", scale=1, min_width=90)
    table = gr.Dataframe(value=runs_frame(services, user=""), interactive=False, max_height=260, wrap=False,
                         datatype=["markdown"] + ["str"] * (len(RUN_COLUMNS) - 1),
                         elem_id="viewer-runs", elem_classes=["compact-table"],
                         column_widths=["9%", "12%", "8%", "8%", "32%", "19%", "7%", "5%"],
                         label="Stored runs (click a row to open it)", show_search="none")
    with gr.Row(equal_height=True):
        run_id = gr.Textbox(placeholder="Run id or share link (…?run=abc123)", show_label=False, scale=4,
                            elem_id="viewer-run-id")
        open_btn = gr.Button("Open run", scale=1, min_width=90, elem_id="viewer-open")
        export = gr.DownloadButton("⬇ Export JSON", value=None, scale=1, min_width=120, interactive=False,
                                   elem_id="viewer-export")
    header = gr.Markdown("", elem_id="viewer-header", elem_classes=["run-header"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            gr.Markdown("#### Timeline")
            timeline = gr.Radio(choices=[], label="Select a run in the table above, or paste its id or share link.",
                                elem_id="viewer-timeline", elem_classes=["timeline"])
        with gr.Column(scale=3):
            with gr.Row(equal_height=True):
                prev_btn = gr.Button("◀ Prev", scale=1, min_width=80, elem_id="viewer-prev")
                slider = gr.Slider(minimum=1, maximum=2, step=1, value=1, label="Step", scale=6, interactive=False,
                                   elem_id="viewer-step")
                next_btn = gr.Button("Next ▶", scale=1, min_width=80, elem_id="viewer-next")
            step_md = gr.Markdown("", elem_id="viewer-step-header")
            figure = gr.Plot(visible=False, show_label=False, elem_id="viewer-figure")
            graph = gr.HTML("", visible=False, elem_id="viewer-graph")
            gr.Markdown("#### Inputs")
            inputs_md = gr.Markdown("", elem_id="viewer-inputs", elem_classes=["io-box"])
            gr.Markdown("#### Outputs")
            outputs_md = gr.Markdown("", elem_id="viewer-outputs", elem_classes=["io-box"])
            with gr.Accordion("For developers: this step's raw data (JSON)", open=False):
                raw = gr.JSON(value=None, show_label=False)

    step_outputs = [timeline, step_md, inputs_md, outputs_md, raw, figure, graph]

    def open_run(text: str, zone: str = "") -> tuple[Any, ...]:
        rid = parse_run_id(text)
        if not rid:
            gr.Warning("Paste a run id or share link, or click a run in the table.")
            return (gr.skip(),) * (5 + len(step_outputs))
        try:
            run = load_run(services, rid)  # upgraded once, here (ui/stored.py)
        except LookupError:
            gr.Warning(html.escape(f"No run with id {rid!r}."))  # toasts render HTML
            return (gr.skip(),) * (5 + len(step_outputs))
        n = max(1, len(run["events"]))
        return (run, rid, run_header(run, zone), gr.DownloadButton(value=export_path(run), interactive=True),
                gr.Slider(minimum=1, maximum=max(n, 2), value=1, step=1, interactive=n > 1),
                *step_updates(run, 1, zone))

    open_outputs = [run_state, run_id, header, export, slider, *step_outputs]
    run_tools.build(services, run_state, user, open_run, open_outputs)  # lost, why not, replay + diff, traces

    def refresh(search_text: str, agent_name: str, corpus_name: str, stored_user: str = "",
                request: gr.Request = None, zone: str = "") -> pd.DataFrame:  # type: ignore[assignment]
        return runs_frame(services, search_text, agent_name, corpus_name, user_key(stored_user, request), zone)

    filters = [search, agent, corpus, user, tz]
    search.submit(refresh, filters, [table], api_visibility="private")
    agent.change(refresh, filters, [table], api_visibility="private")
    corpus.change(refresh, filters, [table], api_visibility="private")
    refresh_btn.click(refresh, filters, [table], api_visibility="private")

    def on_select(evt: gr.SelectData, frame: pd.DataFrame, zone: str) -> tuple[Any, ...]:
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        rid = evt.row_value[0] if getattr(evt, "row_value", None) else frame.iloc[row, 0]
        return open_run(str(rid), zone)

    table.select(on_select, [table, tz], open_outputs, api_visibility="private")
    open_btn.click(open_run, [run_id, tz], open_outputs, api_name="open_run")
    run_id.submit(open_run, [run_id, tz], open_outputs, api_visibility="private")
    slider.change(step_updates, [run_state, slider, tz], step_outputs, api_visibility="private",
                  show_progress="hidden")

    def pick(choice: str | None) -> Any:
        number = (choice or "").split(".", 1)[0]
        return gr.Slider(value=int(number)) if number.isdigit() else gr.skip()

    timeline.input(pick, [timeline], [slider], api_visibility="private", queue=False)

    def move(run: dict[str, Any] | None, step: float, delta: int) -> Any:
        n = len((run or {}).get("events") or [])
        return gr.Slider(value=min(max(int(step or 1) + delta, 1), max(n, 1)))

    prev_btn.click(lambda r, s: move(r, s, -1), [run_state, slider], [slider], api_visibility="private",
                   queue=False)
    next_btn.click(lambda r, s: move(r, s, +1), [run_state, slider], [slider], api_visibility="private",
                   queue=False)
    return ViewerTab(tab_id=tab_id, run_id=run_id, open_outputs=open_outputs, open_run=open_run,
                     refresh=refresh, filters=filters, table=table, corpus_filter=corpus)
