"""Step details for the trace viewer: a step's inputs and outputs, its header and the run's timeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents.events import TraceEvent
from ui.markdown import (
    ICONS,
    as_event,
    cell,
    code_block,
    evidence_table,
    fenced,
    hits_table,
    nodes_table,
    plain,
    short,
    table,
)

INPUT_KEYS = ("question", "query", "queries", "seed", "seeds", "instruction", "prompt", "messages", "prompts")


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
                blocks.append(f"**{cell(m.get('role', '?'))}**\n\n{fenced(m.get('content', ''))}")
        return "\n\n".join(blocks)
    return fenced(prompt)


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
        elif key == "prompts" and isinstance(value, list):  # several prompts, each labelled
            parts += [f"**prompt {i}: {cell(p.get('label', ''))}**\n\n{_prompt_md(p.get('messages', []))}"
                      for i, p in enumerate(value, 1) if isinstance(p, dict)]
        elif _numeric_dict(value):
            parts.append(f"**{key}** ({len(value)})\n\n{scores_table(value)}")
        elif isinstance(value, list):
            parts.append(f"**{key}**\n\n" + "\n".join(f"- {cell(v, 300)}" for v in value))
        else:
            parts.append(f"**{key}:** {cell(value, 600)}")
    return "\n\n".join(parts)


ID_LISTS = ("passages", "cited", "used_ids", "retrieved_ids", "retrieved")  # outputs listing passages by document id


def passage_titles(events: Sequence[TraceEvent | dict[str, Any]]) -> dict[str, str]:
    """doc_id -> title of every passage a run's steps retrieved (so a step's outputs can name passages)."""
    titles: dict[str, str] = {}
    for raw in events:
        for h in (as_event(raw).data or {}).get("hits") or []:
            if isinstance(h, dict) and h.get("doc_id") and h.get("title"):
                titles.setdefault(str(h["doc_id"]), str(h["title"]))
    return titles


def outputs_markdown(event: TraceEvent | dict[str, Any], titles: dict[str, str] | None = None) -> str:
    """The step's outputs as tables (passages, graph nodes, memories) and short values; lists of passage ids
    are shown as the passages' titles when `titles` (passage_titles of the run) knows them."""
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
        elif key in ("before", "after") and isinstance(value, list) and all(
                isinstance(v, dict) and "claim" in v for v in value):
            earlier = outputs.get("before") if key == "after" else None
            parts.append(f"**{key}**\n\n{evidence_table(value, earlier)}")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            parts.append(f"**{key}** ({len(value)})\n\n{table(value)}")
        elif key in ID_LISTS and isinstance(value, list) and value and titles:
            named = [f"“{cell(short(titles.get(str(v), str(v)), 60))}”" for v in value]
            parts.append(f"**{key}:** " + ", ".join(named))
        elif isinstance(value, list):
            parts.append(f"**{key}:** {cell(value, 600) if value else '_(none)_'}")
        elif _numeric_dict(value) and len(value) > 6:
            parts.append(f"**{key}** ({len(value)})\n\n{scores_table(value)}")
        elif isinstance(value, dict):
            parts.append(f"**{key}**\n\n{code_block(value, 1500)}")
        elif key == "reply":
            parts.append(f"**reply**\n\n{fenced(value)}")
        else:
            parts.append(f"**{key}:** {cell(value, 600)}")
    return "\n\n".join(parts)


def step_header(event: TraceEvent | dict[str, Any], index: int, total: int) -> str:
    """'### Step 2 of 3 · 📖 read' plus explanation and usage."""
    event = as_event(event)
    return (f"### Step {index + 1} of {total} · {ICONS.get(event.kind, '•')} {event.kind}\n\n"
            f"{plain(event.explanation)}\n\n<small>⏱ {duration(event.seconds)} · {event.llm_calls} LLM calls · "
            f"{event.prompt_tokens} prompt + {event.completion_tokens} completion tokens</small>")


def duration(seconds: float) -> str:
    """Seconds for a person: '0.4 s', '12 s', '2 min 5 s'."""
    seconds = float(seconds or 0)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def timeline_choices(events: Sequence[TraceEvent | dict[str, Any]]) -> list[str]:
    """One clickable line per step: '2. 📖 read · Read 5 passages and answered … · 4.1 s'."""
    out = []
    for i, raw in enumerate(events):
        e = as_event(raw)
        out.append(f"{i + 1}. {ICONS.get(e.kind, '•')} {e.kind} · {short(e.explanation, 70)} · {duration(e.seconds)}")
    return out


def timeline_markdown(events: Sequence[TraceEvent | dict[str, Any]], current: int = -1) -> str:
    """A compact numbered list of a run's steps with kinds and timings; the current one in bold."""
    if not events:
        return "_No steps._"
    lines = []
    for i, raw in enumerate(events):
        e = as_event(raw)
        text = f"{ICONS.get(e.kind, '•')} `{e.kind}` {cell(e.explanation, 80)} — {duration(e.seconds)}"
        lines.append(f"{i + 1}. **{text}** ◀" if i == current else f"{i + 1}. {text}")
    return "\n".join(lines)
