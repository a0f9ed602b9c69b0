"""Memory tab: this user's TiM thoughts (search, status, buckets, source turn), deleting one or all,
the memory operations of each turn, and how the thoughts fill the LSH buckets."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from storage.db import NotFound
from ui.glossary import clock
from ui.markdown import ICONS, plain, short
from ui.users import BROWSER_PREFIX, user_key

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger(__name__)
COLUMNS = ["thought", "fact (subject · attribute = value)", "status", "memory buckets (LSH hash)",
           "from your message", "changed"]
PICK_NOTE = "_Click a thought in the table to delete it._"
STATUS_TEXT = {"active": "active", "forgotten": "forgotten (replaced by a newer thought)",
               "merged": "merged into another thought"}
STATUSES = [("All", ""), ("Active", "active"), ("Forgotten", "forgotten"), ("Merged", "merged")]


@dataclass
class MemoryTab:
    """The components and refresh function the page load and the Chat tab need."""

    refresh: Any  # (stored user, search, status, request) -> outputs
    inputs: list[Any]
    outputs: list[Any]


def thought_rows(thoughts: list[Any], tz: str = "") -> list[list[Any]]:
    """Table rows of stored thoughts, newest first: no ids, times on the reader's clock (`tz`)."""
    return [[t.text, fact_cell(t), STATUS_TEXT.get(t.status, t.status), " ".join(map(str, t.buckets)),
             short(t.source_turn, 80), clock(t.updated, tz)] for t in thoughts]


def fact_cell(t: Any) -> str:
    """"user · home city = Osaka (written by the model)", or who wrote a thought without a record."""
    origin = getattr(t, "origin", "")
    if origin == "model" and getattr(t, "attribute", ""):
        return f"{t.subject} · {t.attribute} = {t.value} (written by the model)"
    if origin == "legacy" and getattr(t, "attribute", ""):
        return f"topic {t.attribute} (stored before fact records)"
    return "the user's own clause (rule fill)" if origin == "rule" else ""


def summary(services: Services, user: str) -> str:
    """'Memory of …: 4 active, 1 forgotten, 2 merged thoughts.'"""
    counts = {s: services.memory.count(user, s) for s in ("active", "forgotten", "merged")}
    state = services.memory.table.get_memory(user)
    shape = f" Memory buckets (LSH hash): {state.tables} tables × {state.buckets} buckets." if state else ""
    whose = "this browser" if user.startswith(BROWSER_PREFIX) else f"**{plain(user)}**"  # no id on screen
    return (f"Memory of {whose}: {counts['active']} active, {counts['forgotten']} forgotten, "
            f"{counts['merged']} merged thoughts.{shape} Only you see it.")


def occupancy_figure(occupancy: dict[tuple[int, int], int], tables: int, buckets: int) -> Any:
    """A heat strip of active thoughts per bucket, one row per hash table (None when memory is empty)."""
    if not occupancy or not tables:
        return None
    import numpy as np
    from matplotlib.figure import Figure

    grid = np.zeros((tables, buckets))
    for (t, b), n in occupancy.items():
        if t < tables and b < buckets:
            grid[t, b] = n
    fig = Figure(figsize=(7, 0.35 * tables + 1.2), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(grid, aspect="auto", cmap="Purples", interpolation="nearest")
    ax.set_xlabel("bucket")
    ax.set_ylabel("table")
    ax.set_yticks(range(tables))
    fig.colorbar(image, ax=ax, label="thoughts")
    fig.suptitle("Active thoughts per LSH bucket", fontsize=10)
    return fig


def operations_markdown(services: Services, user: str, runs: int = 8) -> str:
    """The memory events of the user's latest turns that wrote thoughts, newest first."""
    run_ids: list[str] = []
    for t in sorted(services.memory.list(user), key=lambda t: t.created, reverse=True):
        if t.source_run and t.source_run not in run_ids:
            run_ids.append(t.source_run)
    blocks = []
    for run_id in run_ids[:runs]:
        try:
            run = services.db.get_run(run_id)
        except NotFound:
            continue
        lines = [f"**{plain(short(run['question'], 100))}** — [trace](/?run={run_id})"]
        lines += [f"- {ICONS.get(e['kind'], '•')} {plain(e['explanation'])}" for e in run["events"]
                  if e.get("kind") in ("memory_read", "memory_write")]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) or "_No memory operations yet: tell the `tim` agent something about yourself._"


def view(services: Services, user: str, search: str = "", status: str = "", tz: str = "") -> tuple[Any, ...]:
    """Everything the tab shows for one user: summary, table rows, bucket figure, operations, and the thought
    ids behind the rows (kept on the server side of the page, for deleting the row clicked)."""
    state = services.memory.table.get_memory(user)
    figure = occupancy_figure(services.memory.occupancy(user), state.tables, state.buckets) if state else None
    thoughts = services.memory.list(user, search, status)
    return (summary(services, user), thought_rows(thoughts, tz), figure, operations_markdown(services, user),
            [[t.id, t.text] for t in thoughts])


def build(services: Services, user: gr.State, tz: gr.State | None = None) -> MemoryTab:
    """Lay out the Memory tab (inside the current Tab context) and wire its events; times show on the clock of
    `tz` (the browser's time zone)."""
    tz = tz if tz is not None else gr.State("")
    ids = gr.State([])  # the thought behind each row of the table
    chosen = gr.State("")  # the thought clicked
    header = gr.Markdown("Memory: loading…", elem_id="memory-summary")
    with gr.Row():
        search = gr.Textbox(placeholder="Search thoughts…", show_label=False, scale=4, elem_id="memory-search")
        status = gr.Dropdown(choices=STATUSES, value="", show_label=False, scale=1, elem_id="memory-status")
        refresh_btn = gr.Button("Refresh", scale=1, min_width=80, elem_id="memory-refresh")
    table = gr.Dataframe(headers=COLUMNS, value=[], interactive=False, wrap=True, elem_id="memory-table",
                         column_widths=["24%", "20%", "12%", "14%", "18%", "12%"],  # else it grows past the page
                         elem_classes=["compact-table"], label="Your thoughts (click one to select it)")
    with gr.Row():
        picked = gr.Markdown(PICK_NOTE, elem_id="memory-picked")
        delete_btn = gr.Button("Delete the selected thought", variant="stop", scale=1, elem_id="memory-delete")
        sure = gr.Checkbox(label="Yes, forget everything", value=False, scale=1, elem_id="memory-sure")
        clear_btn = gr.Button("Clear all", variant="stop", scale=1, elem_id="memory-clear")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            gr.Markdown("#### Memory operations by turn")
            operations = gr.Markdown(elem_id="memory-operations")
        with gr.Column(scale=2):
            plot = gr.Plot(show_label=False, elem_id="memory-buckets")

    def refresh(stored: str, query: str, state: str, request: gr.Request, zone: str = "") -> tuple[Any, ...]:
        return view(services, user_key(stored, request), query or "", state or "", zone)

    def select(evt: gr.SelectData, shown: list[list[str]]) -> tuple[Any, ...]:
        """The thought of the row clicked (found by its text, so a sorted table still picks the right one)."""
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        text = evt.row_value[0] if getattr(evt, "row_value", None) else None
        found = [tid for tid, t in shown if t == text] or (
            [shown[row][0]] if isinstance(row, int) and 0 <= row < len(shown) else [])
        if not found:
            return gr.skip(), gr.skip()
        thought = text if text is not None else shown[row][1]
        return found[0], f"Selected: “{plain(short(thought, 120))}”"

    def delete(stored: str, tid: str, query: str, state: str, request: gr.Request, zone: str = "") -> tuple[Any, ...]:
        key = user_key(stored, request)
        if not tid:
            gr.Warning("Click a thought in the table first.")
            return (*view(services, key, query or "", state or "", zone), "", gr.skip())
        try:
            services.memory.delete(key, tid)
            gr.Info("Thought deleted.")
        except NotFound as exc:
            gr.Warning(str(exc).strip("'\""))
        return (*view(services, key, query or "", state or "", zone), "", PICK_NOTE)

    def clear(stored: str, confirmed: bool, query: str, state: str, request: gr.Request,
              zone: str = "") -> tuple[Any, ...]:
        key = user_key(stored, request)
        if not confirmed:
            gr.Warning("Tick 'Yes, forget everything' first.")
        else:
            gr.Info(f"Forgot {services.memory.clear(key)} thoughts.")
        return (*view(services, key, query or "", state or "", zone), False)

    inputs, outputs = [user, search, status, tz], [header, table, plot, operations, ids]
    for trigger in (refresh_btn.click, search.submit, status.change):
        trigger(refresh, inputs, outputs, api_visibility="private", show_progress="hidden")
    table.select(select, [ids], [chosen, picked], api_visibility="private", queue=False)
    delete_btn.click(delete, [user, chosen, search, status, tz], [*outputs, chosen, picked], api_visibility="private")
    clear_btn.click(clear, [user, sure, search, status, tz], [*outputs, sure], api_visibility="private")
    return MemoryTab(refresh=refresh, inputs=inputs, outputs=outputs)
