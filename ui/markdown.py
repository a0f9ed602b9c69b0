"""Text and markdown helpers the UI's messages, step details and figures share (no gradio import)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from agents.base import short as base_short
from agents.events import TraceEvent

ICONS: dict[str, str] = {
    "plan": "🧭", "retrieve": "🔎", "read": "📖", "rewrite": "✏️", "graph_walk": "🕸️",
    "memory_read": "🧠", "memory_write": "💾", "evidence": "📌", "revise": "🔁", "answer": "✅", "error": "❌",
}
TITLE_CHARS = 90
CELL_CHARS = 110
MAX_ROWS = 12


def as_event(event: TraceEvent | dict[str, Any]) -> TraceEvent:
    """A TraceEvent from an event or its stored dict."""
    return event if isinstance(event, TraceEvent) else TraceEvent.from_dict(event)


def short(text: Any, n: int = TITLE_CHARS) -> str:
    """Text on one line, cut to at most n characters at a word boundary, with an ellipsis."""
    return base_short(str(text), n)


# Characters that mean something to markdown, GFM (tables, autolinks), HTML or LaTeX delimiters.
_MARKUP = re.compile(r"[\\`*_{}\[\]()#+\-.!|~<>$&:@=]")


def plain(text: Any) -> str:
    """Text a user, a document or the model supplied, shown literally inside markdown: no markdown, no HTML.

    Every character that markdown or HTML could read as syntax becomes a numeric character reference, which
    renders as that very character and never as markup (newlines are kept).
    """
    return _MARKUP.sub(lambda m: f"&#{ord(m.group())};", str(text))


class Markup(str):
    """Markdown the app wrote itself around escaped values: `cell` and `table` keep it as it is."""


def cell(value: Any, n: int = CELL_CHARS) -> str:
    """A value made safe for one markdown table cell (and for any other place in markdown)."""
    if isinstance(value, Markup):
        return value
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):  # never JSON: "name: value" pairs
        value = "; ".join(f"{k}: {v}" for k, v in value.items())
    return plain(short(value, n))


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


def fenced(text: Any, lang: str = "text") -> str:
    """Text in a fenced code block whose fence is longer than any run of backticks inside (never closed early)."""
    text = str(text)
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"{fence}{lang}\n{text}\n{fence}"


EVIDENCE_KINDS = {"source": "source (a passage's sentence)", "inferential": "inferential (the model's pick)"}


def evidence_table(items: Sequence[dict[str, Any]], before: Sequence[dict[str, Any]] | None = None,
                   max_rows: int = 20) -> str:
    """An evidence set (RetroRAG) as a table: withdrawn claims struck through, with what changed since `before`."""
    items = [e for e in items if isinstance(e, dict)]
    earlier = {e.get("id"): e.get("status", "active") for e in before or [] if isinstance(e, dict)}
    rows = []
    for e in items:
        withdrawn = e.get("status") == "withdrawn"
        claim = short(e.get("claim", ""), 100)
        if withdrawn:
            status = ("withdrawn now" if before is not None and earlier.get(e.get("id")) != "withdrawn"
                      else "withdrawn") + (f": {short(e['reason'], 60)}" if e.get("reason") else "")
        else:
            status = "new" if before is not None and e.get("id") not in earlier else "active"
            if e.get("conflicts"):
                status += f"; in conflict with {', '.join(e['conflicts'])}"
        rows.append({"id": e.get("id", ""), "claim": Markup(f"~~{cell(claim)}~~") if withdrawn else claim,
                     "about": e.get("entity", ""), "passages": e.get("numbers", e.get("passages", [])),
                     "kind": EVIDENCE_KINDS.get(e.get("kind", ""), e.get("kind", "")), "status": status})
    live = sum(e.get("status") != "withdrawn" for e in items)
    return (f"**Evidence set** ({live} active, {len(items) - live} withdrawn)\n\n"
            + table(rows, ["id", "claim", "about", "passages", "kind", "status"], max_rows=max_rows))
