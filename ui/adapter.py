"""The one adapter from agent runs to what the UI shows: chat messages, step details and figures.

Pure on purpose (no gradio import): messages are plain dicts in the Chatbot's messages format and
figures are matplotlib `Figure` objects, so everything here is unit-tested without a server.
Later agents add pictures with `register_figure(kind, fn)`.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from agents.events import TraceEvent

log = logging.getLogger(__name__)

ICONS: dict[str, str] = {
    "plan": "🧭", "retrieve": "🔎", "read": "📖", "rewrite": "✏️", "graph_walk": "🕸️",
    "memory_read": "🧠", "memory_write": "💾", "revise": "🔁", "answer": "✅", "error": "❌",
}
INPUT_KEYS = ("question", "query", "queries", "seed", "seeds", "instruction", "prompt", "messages")
TITLE_CHARS = 90
CELL_CHARS = 110
MAX_ROWS = 12


# --- small text helpers -------------------------------------------------------------------------
def short(text: Any, n: int = TITLE_CHARS) -> str:
    """Text on one line, cut to n characters with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def cell(value: Any, n: int = CELL_CHARS) -> str:
    """A value made safe for one markdown table cell."""
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False)
    return html.escape(short(value, n)).replace("|", "\\|")


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, max_rows: int = MAX_ROWS,
          headers: dict[str, str] | None = None) -> str:
    """A compact markdown table of dict rows (columns default to the scalar keys of the first rows)."""
    rows = [r for r in rows if isinstance(r, dict)]
    if not rows:
        return "_(none)_"
    if columns is None:
        seen: list[str] = []
        for r in rows[:5]:
            seen += [k for k, v in r.items() if k not in seen and not isinstance(v, (dict, list))]
        columns = seen[:6] or list(rows[0])[:6]
    headers = headers or {}
    lines = ["| " + " | ".join(headers.get(c, c) for c in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows[:max_rows]]
    if len(rows) > max_rows:
        lines.append(f"\n_… and {len(rows) - max_rows} more_")
    return "\n".join(lines)


def code_block(value: Any, limit: int = 4000) -> str:
    """Pretty JSON in a fenced block, cut at `limit` characters."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if len(text) > limit:
        text = text[:limit] + "\n… (cut; see the full JSON)"
    return f"```json\n{text}\n```"


def hits_table(hits: Sequence[dict[str, Any]], snippet: int = 90) -> str:
    """Retrieved passages: rank, score, title and the start of the text."""
    rows = [{"#": h.get("rank", i), "score": h.get("score", ""), "title": h.get("title", h.get("doc_id", "")),
             "passage": short(h.get("text", ""), snippet)} for i, h in enumerate(hits, 1)]
    return table(rows, ["#", "score", "title", "passage"])


def _nodes(subgraph: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted((n for n in subgraph.get("nodes", []) if isinstance(n, dict)),
                  key=lambda n: -float(n.get("score", 0) or 0))


def nodes_table(subgraph: dict[str, Any], max_rows: int = MAX_ROWS) -> str:
    """Graph nodes by score."""
    rows = [{"node": n.get("label", n.get("id", "")), "type": n.get("type", ""), "score": float(n.get("score", 0) or 0)}
            for n in _nodes(subgraph)]
    return table(rows, ["node", "type", "score"], max_rows=max_rows)


# --- events as chat messages ------------------------------------------------------------------------
def as_event(event: TraceEvent | dict[str, Any]) -> TraceEvent:
    """A TraceEvent from an event or its stored dict."""
    return event if isinstance(event, TraceEvent) else TraceEvent.from_dict(event)


def usage_line(event: TraceEvent) -> str:
    """'0.42 s · 1 LLM call · 312 + 5 tokens' (LLM parts only when there were calls)."""
    parts = [f"{event.seconds:.2f} s"]
    if event.llm_calls:
        parts.append(f"{event.llm_calls} LLM call{'s' if event.llm_calls != 1 else ''}")
        parts.append(f"{event.prompt_tokens} + {event.completion_tokens} tokens")
    return " · ".join(parts)


def step_title(event: TraceEvent) -> str:
    """'🔎 retrieve: Searched for …' — the collapsible step's title."""
    return f"{ICONS.get(event.kind, '•')} {event.kind}: {short(event.explanation)}"


def _detail(event: TraceEvent) -> str:
    """The compact body under a step's explanation, by kind."""
    d = event.data or {}
    parts: list[str] = []
    if event.kind == "error":
        return f"**Error:** `{cell(d.get('error', event.explanation), 400)}`"
    if d.get("query") and event.kind in ("retrieve", "rewrite", "graph_walk"):
        parts.append(f"Query: _{cell(d['query'], 200)}_")
    if isinstance(d.get("queries"), list) and d["queries"]:
        parts.append("Queries: " + "; ".join(f"_{cell(q, 120)}_" for q in d["queries"]))
    if isinstance(d.get("hits"), list):
        parts.append(hits_table(d["hits"]))
    if isinstance(d.get("subgraph"), dict):
        parts.append(nodes_table(d["subgraph"], max_rows=6))
    if "answer" in d and event.kind in ("read", "answer", "revise"):
        parts.append(f"Answer: **{cell(d['answer'], 300)}**")
    for key in ("memories", "memory", "facts", "notes", "plan", "steps"):
        value = d.get(key)
        if isinstance(value, list) and value:
            rows = [v if isinstance(v, dict) else {key: v} for v in value]
            parts.append(f"**{key}**\n\n" + table(rows))
        elif isinstance(value, str) and value.strip():
            parts.append(f"**{key}:** {cell(value, 400)}")
    if not parts:
        simple = {k: v for k, v in d.items() if isinstance(v, (str, int, float, bool)) and k != "prompt"}
        if simple:
            parts.append("\n".join(f"- **{k}:** {cell(v, 200)}" for k, v in simple.items()))
    return "\n\n".join(parts)


def event_to_message(event: TraceEvent | dict[str, Any]) -> dict[str, Any]:
    """One step as a collapsible assistant message (gradio 'thought' via metadata.title)."""
    event = as_event(event)
    body = event.explanation
    detail = _detail(event)
    if detail:
        body += "\n\n" + detail
    metadata: dict[str, Any] = {"title": step_title(event), "duration": round(float(event.seconds), 3),
                                "status": "done"}
    if event.llm_calls:
        metadata["log"] = f"{event.llm_calls} LLM · {event.prompt_tokens}+{event.completion_tokens} tok"
    return {"role": "assistant", "content": body, "metadata": metadata}


def pending_message(text: str = "Working…") -> dict[str, Any]:
    """A step placeholder with a spinner, replaced as soon as the next event arrives."""
    return {"role": "assistant", "content": "", "metadata": {"title": f"⏳ {text}", "status": "pending"}}


# --- the answer -------------------------------------------------------------------------------------
def _field(run: Any, name: str, default: Any = None) -> Any:
    return run.get(name, default) if isinstance(run, dict) else getattr(run, name, default)


def run_events(run: Any) -> list[TraceEvent]:
    """A run's events (AgentRun or stored run dict)."""
    return [as_event(e) for e in (_field(run, "events", []) or [])]


def passages_of(events: Iterable[TraceEvent]) -> dict[str, dict[str, Any]]:
    """doc_id -> the best-scoring passage seen in any retrieve/graph_walk event."""
    out: dict[str, dict[str, Any]] = {}
    for event in events:
        d = event.data or {}
        hits = list(d.get("hits") or []) + list(d.get("passages") if isinstance(d.get("passages"), list)
                                                  and d.get("passages") and isinstance(d["passages"][0], dict)
                                                  else [])
        for h in hits:
            if not isinstance(h, dict) or "doc_id" not in h:
                continue
            old = out.get(h["doc_id"])
            if old is None or float(h.get("score", 0) or 0) > float(old.get("score", 0) or 0):
                out[h["doc_id"]] = h
    return out


def share_link(run_id: str) -> str:
    """The relative link that opens a run in the trace viewer."""
    return f"?run={run_id}"


def answer_message(run: Any) -> dict[str, Any]:
    """The final answer with its sources, each expandable to its text, and the run's share link."""
    events = run_events(run)
    error = _field(run, "error", "") or ""
    answer = _field(run, "answer", "") or ""
    run_id = _field(run, "run_id", None) or _field(run, "id", "") or ""
    used = list(_field(run, "used_ids", None) or [])
    cited: set[str] = set()
    for e in events:
        if e.kind in ("read", "answer", "revise"):
            cited.update(e.data.get("cited", []) or [])
    passages = passages_of(events)
    if not used:  # a stored run keeps retrieved ids; the reader's passages tell which were given to it
        for e in events:
            if e.kind == "read" and isinstance(e.data.get("passages"), list):
                used = [p for p in e.data["passages"] if isinstance(p, str)]
    lines = []
    if error:
        lines.append(f"⚠️ **The run failed:** {html.escape(error)}")
    if answer:
        lines.append(f"**{html.escape(answer)}**")
    elif not error:
        lines.append("_(no answer)_")
    if used:
        lines.append("\n**Sources** (★ = contains the answer):")
        for i, doc_id in enumerate(dict.fromkeys(used), 1):
            p = passages.get(doc_id, {})
            title = html.escape(p.get("title") or doc_id)
            star = " ★" if doc_id in cited else ""
            score = f" · score {float(p['score']):.2f}" if p.get("score") is not None else ""
            text = html.escape(p.get("text", "(text not in this run's trace)"))
            lines.append(f"<details><summary>[{i}] {title}{star}"
                         f" <small>({html.escape(doc_id)}{score})</small></summary>\n\n{text}\n\n</details>")
    calls = sum(e.llm_calls for e in events)
    tokens = sum(e.prompt_tokens + e.completion_tokens for e in events)
    seconds = _field(run, "seconds", 0.0) or sum(e.seconds for e in events)
    stats = f"{len(events)} steps · {calls} LLM calls · {tokens} tokens · {float(seconds):.1f} s"
    if run_id:
        stats += f" · 🔗 [share / open in trace viewer]({share_link(run_id)}) `{run_id}`"
    lines.append(f"\n<small>{stats}</small>")
    return {"role": "assistant", "content": "\n".join(lines)}


# --- step details for the trace viewer --------------------------------------------------------------
def split_data(event: TraceEvent) -> tuple[dict[str, Any], dict[str, Any]]:
    """(inputs, outputs) of a step: what it was given (query, prompt) and what it produced."""
    d = event.data or {}
    inputs = {k: d[k] for k in INPUT_KEYS if k in d}
    outputs = {k: v for k, v in d.items() if k not in inputs}
    return inputs, outputs


def _prompt_md(prompt: Any) -> str:
    if isinstance(prompt, list):
        blocks = []
        for m in prompt:
            if isinstance(m, dict):
                blocks.append(f"**{m.get('role', '?')}**\n\n```text\n{m.get('content', '')}\n```")
        return "\n\n".join(blocks)
    return f"```text\n{prompt}\n```"


def _numeric_dict(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values())


def scores_table(value: dict[str, float], key: str = "item") -> str:
    """A {name: score} dict as a table, best first."""
    rows = [{key: k, "score": float(v)} for k, v in sorted(value.items(), key=lambda kv: -kv[1])]
    return table(rows, [key, "score"])


def inputs_markdown(event: TraceEvent | dict[str, Any]) -> str:
    """The step's inputs: queries as text, prompts as role-labelled blocks."""
    event = as_event(event)
    inputs, _ = split_data(event)
    if not inputs:
        return "_This step records no inputs._"
    parts = []
    for key, value in inputs.items():
        if key in ("prompt", "messages"):
            parts.append(f"**{key}**\n\n{_prompt_md(value)}")
        elif _numeric_dict(value):
            parts.append(f"**{key}** ({len(value)})\n\n{scores_table(value)}")
        elif isinstance(value, list):
            parts.append(f"**{key}**\n\n" + "\n".join(f"- {cell(v, 300)}" for v in value))
        else:
            parts.append(f"**{key}:** {cell(value, 600)}")
    return "\n\n".join(parts)


def outputs_markdown(event: TraceEvent | dict[str, Any]) -> str:
    """The step's outputs as tables (passages, graph nodes, memories) and short values."""
    event = as_event(event)
    _, outputs = split_data(event)
    if not outputs:
        return "_This step records no outputs._"
    parts = []
    for key, value in outputs.items():
        if key == "hits" and isinstance(value, list):
            parts.append(f"**passages** ({len(value)})\n\n{hits_table(value, 160)}")
        elif key == "subgraph" and isinstance(value, dict):
            edges = value.get("edges", [])
            parts.append(f"**graph nodes** ({len(value.get('nodes', []))}, {len(edges)} edges)\n\n"
                         f"{nodes_table(value)}")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            parts.append(f"**{key}** ({len(value)})\n\n{table(value)}")
        elif isinstance(value, list):
            parts.append(f"**{key}:** {cell(value, 600) if value else '_(none)_'}")
        elif _numeric_dict(value) and len(value) > 6:
            parts.append(f"**{key}** ({len(value)})\n\n{scores_table(value)}")
        elif isinstance(value, dict):
            parts.append(f"**{key}**\n\n{code_block(value, 1500)}")
        elif key == "reply":
            parts.append(f"**reply**\n\n```text\n{value}\n```")
        else:
            parts.append(f"**{key}:** {cell(value, 600)}")
    return "\n\n".join(parts)


def step_header(event: TraceEvent | dict[str, Any], index: int, total: int) -> str:
    """'### Step 2 of 3 · 📖 read' plus explanation and usage."""
    event = as_event(event)
    return (f"### Step {index + 1} of {total} · {ICONS.get(event.kind, '•')} {event.kind}\n\n"
            f"{event.explanation}\n\n<small>⏱ {event.seconds:.3f} s · {event.llm_calls} LLM calls · "
            f"{event.prompt_tokens} prompt + {event.completion_tokens} completion tokens</small>")


def timeline_markdown(events: Sequence[TraceEvent | dict[str, Any]], current: int = -1) -> str:
    """A compact numbered list of a run's steps with kinds and timings; the current one in bold."""
    if not events:
        return "_No steps._"
    lines = []
    for i, raw in enumerate(events):
        e = as_event(raw)
        text = f"{ICONS.get(e.kind, '•')} `{e.kind}` {cell(e.explanation, 80)} — {e.seconds:.2f} s"
        lines.append(f"{i + 1}. **{text}** ◀" if i == current else f"{i + 1}. {text}")
    return "\n".join(lines)


# --- figures ----------------------------------------------------------------------------------------
FigureFn = Callable[[TraceEvent], Any]
FIGURES: dict[str, FigureFn] = {}


def register_figure(kind: str, fn: FigureFn) -> FigureFn:
    """Register the picture for events of `kind` (the function may return None to draw nothing)."""
    FIGURES[kind] = fn
    return fn


def event_figure(event: TraceEvent | dict[str, Any]) -> Any:
    """The registered figure for an event, or None (a failing figure is logged, never raised)."""
    event = as_event(event)
    fn = FIGURES.get(event.kind)
    if fn is None:
        return None
    try:
        return fn(event)
    except Exception:  # noqa: BLE001 - a broken picture must not break the viewer
        log.exception("figure for %s event failed", event.kind)
        return None


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure  # no pyplot: no global figure registry, nothing to close

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def retrieve_figure(event: TraceEvent) -> Any:
    """Horizontal bars of the retrieved passages' scores, best on top (the walked subgraph when a graph
    walk ranked them)."""
    if (event.data or {}).get("subgraph"):
        return graph_walk_figure(event)
    hits = [h for h in (event.data or {}).get("hits", []) if isinstance(h, dict)]
    if not hits:
        return None
    hits = hits[:15]
    labels = [short(f"{h.get('rank', i)}. {h.get('title') or h.get('doc_id', '')}", 40) for i, h in enumerate(hits, 1)]
    scores = [float(h.get("score", 0) or 0) for h in hits]
    fig = _figure(7, 0.45 * len(hits) + 1.2)
    ax = fig.add_subplot()
    y = list(range(len(hits)))
    ax.barh(y, scores, color="#6366f1")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    for yi, s in zip(y, scores, strict=True):
        ax.text(s, yi, f" {s:.2f}", va="center", fontsize=8)
    ax.set_xlabel("score")
    ax.set_xlim(min(0.0, min(scores)), max(scores) * 1.15 if max(scores) > 0 else 1)
    fig.suptitle(f"Passage scores for: {short((event.data or {}).get('query', ''), 70)}", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


NODE_COLOURS = {"seed": "#f59e0b", "phrase": "#6366f1", "passage": "#10b981"}


def graph_walk_figure(event: TraceEvent) -> Any:
    """The walked subgraph: spring layout, size and shade by score, seeds ringed, passages as squares."""
    import networkx as nx

    sub = (event.data or {}).get("subgraph") or {}
    nodes = [n for n in sub.get("nodes", []) if isinstance(n, dict) and "id" in n]
    if not nodes:
        return None
    g = nx.Graph()
    for n in nodes:
        g.add_node(n["id"], **n)
    for e in sub.get("edges", []):
        if isinstance(e, dict) and e.get("source") in g and e.get("target") in g:
            g.add_edge(e["source"], e["target"], weight=float(e.get("weight", 1) or 1), type=e.get("type", ""))
    # lay out on a copy where every separate piece hangs weakly off the best node, so isolated passages sit
    # near the walk instead of pushing it into a corner; only the real edges are drawn
    layout = g.copy()
    best = max(nodes, key=lambda n: float(n.get("score", 0) or 0))["id"]
    for part in nx.connected_components(g):
        if best not in part:
            top = max(part, key=lambda i: float(g.nodes[i].get("score", 0) or 0))
            layout.add_edge(best, top, weight=0.2)
    pos = nx.spring_layout(layout, seed=7, k=1.5 / max(1, len(g) ** 0.5), weight="weight")
    top = max((float(n.get("score", 0) or 0) for n in nodes), default=0) or 1.0
    fig = _figure(8, 6)
    ax = fig.add_subplot()
    weights = [g.edges[e]["weight"] for e in g.edges]
    wmax = max(weights, default=1) or 1
    nx.draw_networkx_edges(g, pos, ax=ax, width=[0.5 + 2 * w / wmax for w in weights], edge_color="#cbd5e1")
    for kind, shape in (("phrase", "o"), ("seed", "o"), ("passage", "s")):
        group = [n for n in nodes if (n.get("type") or "phrase") == kind]
        if not group:
            continue
        scores = [float(n.get("score", 0) or 0) / top for n in group]
        nx.draw_networkx_nodes(
            g, pos, ax=ax, nodelist=[n["id"] for n in group], node_shape=shape,
            node_size=[200 + 1400 * s for s in scores], node_color=NODE_COLOURS[kind],
            alpha=[0.35 + 0.65 * s for s in scores], edgecolors="#b45309" if kind == "seed" else "white",
            linewidths=3 if kind == "seed" else 1,
        )
    labels = {n["id"]: short(n.get("label") or n["id"], 24) for n in nodes}
    nx.draw_networkx_labels(g, pos, labels=labels, ax=ax, font_size=8)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="s" if k == "passage" else "o", markersize=9, color=c,
                      markeredgecolor="#b45309" if k == "seed" else "white", markeredgewidth=2 if k == "seed" else 0,
                      label=k) for k, c in NODE_COLOURS.items()]
    ax.legend(handles=handles, loc="upper left", fontsize=8, frameon=False)
    fig.suptitle("Graph walk: size and shade = score; seeds ringed; passages are squares", fontsize=10)
    ax.set_axis_off()
    return fig


register_figure("retrieve", retrieve_figure)
register_figure("graph_walk", graph_walk_figure)
