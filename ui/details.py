"""A step as a person reads it, in chat and in the trace viewer: the agent's sentence, what the step searched,
read or produced, and its numbers folded under "details", each labelled with what it measures."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.events import TraceEvent
from ui.glossary import PROMPT_KEYS, Context, describe, prompt_markdown, records_table, term, value_text
from ui.graph_view import entities_table_rows
from ui.markdown import ICONS, as_event, cell, evidence_table, plain, short, table

INPUT_KEYS = ("question", "query", "queries", "instruction", "prompt", "messages", "prompts", "decision_prompt",
              "rationale_prompt", "turns")
SEARCH_LABELS = {"retrieve": "Search", "graph_walk": "Search", "rewrite": "Next search", "plan": "First search",
                 "memory_read": "Looked up"}
THOUGHT_COLUMNS = ["text", "score", "status"]
DETAILS_SUMMARY = "details: the numbers behind this step"


def split_data(event: TraceEvent) -> tuple[dict[str, Any], dict[str, Any]]:
    """(inputs, outputs) of a step: what it was given (query, prompt) and what it produced."""
    d = event.data or {}
    inputs = {k: d[k] for k in INPUT_KEYS if k in d}
    outputs = {k: v for k, v in d.items() if k not in inputs}
    return inputs, outputs


def passage_titles(events: Sequence[TraceEvent | dict[str, Any]]) -> dict[str, str]:
    """doc_id -> title of every passage a run's steps retrieved (so a step's outputs can name passages)."""
    titles: dict[str, str] = {}
    for raw in events:
        d = as_event(raw).data or {}
        for h in d.get("hits") or []:
            if isinstance(h, dict) and h.get("doc_id") and h.get("title"):
                titles.setdefault(str(h["doc_id"]), str(h["title"]))
        for c in ((d.get("grounding") or {}).get("checks") or []) if isinstance(d.get("grounding"), dict) else []:
            if isinstance(c, dict) and c.get("doc_id") and c.get("title"):
                titles.setdefault(str(c["doc_id"]), str(c["title"]))
    return titles


def context(events: Sequence[TraceEvent | dict[str, Any]], tz: str = "") -> Context:
    """What rendering a run's steps may look up: its passages' titles and the reader's time zone."""
    return Context(passage_titles(events), tz)


# --- what a step shows outside "details" ------------------------------------------------------------
def hits_table(event: TraceEvent, snippet: int = 90) -> str:
    """The passages a search returned: rank, title, the start of the text, and its score, named for what it is."""
    d = event.data or {}
    graph = event.kind == "graph_walk" or bool(d.get("subgraph"))
    score = "graph-walk score (PageRank share)" if graph else "similarity to the search (0 to 1)"
    rows = [{"#": h.get("rank", i), "passage": h.get("title") or "untitled", "text": short(h.get("text", ""), snippet),
             "score": f"{float(h.get('score', 0) or 0):.2f}"}
            for i, h in enumerate(d.get("hits") or [], 1) if isinstance(h, dict)]
    return table(rows, ["#", "passage", "text", "score"], headers={"score": score})


def thoughts_table(thoughts: Any, ctx: Context, path: Sequence[str]) -> str:
    """TiM's thoughts with their labelled scores (no ids, no epoch times)."""
    rows = [{c: t.get(c, "") for c in THOUGHT_COLUMNS if c in t} for t in thoughts or [] if isinstance(t, dict)]
    return records_table(rows, ctx, path)


# One renderer per event kind (smolagents' shape): each reads its kind's typed payload (agents/events.py) and
# returns what the step searched, read or produced, in words; `shown` are the keys it shows outside "details".
Body = Callable[[TraceEvent, Mapping[str, Any], Context, bool], list[str]]


@dataclass(frozen=True)
class Renderer:
    """How one kind of step reads: its body's parts (given the event, its payload, the run's context and
    whether to show the search) and the payload keys the body shows."""

    body: Body
    shown: tuple[str, ...] = ()


def _search(event: TraceEvent, d: Mapping[str, Any], search: bool) -> list[str]:
    return [f"**{SEARCH_LABELS[event.kind]}:** _{cell(d['query'], 300)}_"] if search and d.get("query") else []


def _hits(event: TraceEvent, d: Mapping[str, Any]) -> list[str]:
    return [f"**Passages found** ({len(d['hits'])})\n\n{hits_table(event)}"] if isinstance(d.get("hits"), list) \
        else []


def _answer(d: Mapping[str, Any]) -> list[str]:
    return [f"**Answer:** **{cell(d['answer'], 300)}**"] if d.get("answer") else []


def _plan(event: TraceEvent, d: Mapping[str, Any], ctx: Context, search: bool) -> list[str]:  # PlanData
    analysis = [f"**What it needs to know:** {cell(d['analysis'], 400)}"] if d.get("analysis") else []
    return analysis + _search(event, d, search)


def _walk(event: TraceEvent, d: Mapping[str, Any], ctx: Context, search: bool) -> list[str]:
    """RetrieveData, GraphWalkData (and RewriteData: its next search)."""
    return _search(event, d, search) + _hits(event, d)


def _read(event: TraceEvent, d: Mapping[str, Any], ctx: Context, search: bool) -> list[str]:  # ReadData
    parts = []
    if d.get("evidence"):
        parts.append(f"**Most helpful sentence:** “{cell(d['evidence'], 400)}”")
    if d.get("rationale"):
        parts.append(f"**The model's reason:** {cell(d['rationale'], 400)}")
    parts += _answer(d)
    if isinstance(d.get("notes"), list) and d["notes"]:
        parts.append("**Sentences kept so far**\n\n" + "\n".join(f"- {cell(n, 300)}" for n in d["notes"]))
    return parts


def _final(event: TraceEvent, d: Mapping[str, Any], ctx: Context, search: bool) -> list[str]:  # AnswerData
    queries = d.get("queries")
    searches = ["**Searches:** " + "; ".join(f"_{cell(q, 150)}_" for q in queries)] \
        if search and isinstance(queries, list) and queries else []
    return searches + _answer(d)


def _recall(event: TraceEvent, d: Mapping[str, Any], ctx: Context, search: bool) -> list[str]:  # MemoryReadData
    thoughts = [f"**Thoughts recalled** ({d.get('scored', 0)} of the {d.get('stored', 0)} in your memory "
                f"compared)\n\n{thoughts_table(d['thoughts'], ctx, ['memory_read', 'thoughts'])}"] \
        if d.get("thoughts") else []
    return _search(event, d, search) + thoughts


def _remember(event: TraceEvent, d: Mapping[str, Any], ctx: Context, search: bool) -> list[str]:  # MemoryWriteData
    parts = [f"**Thought:** {cell(d['thought'], 300)}"] if d.get("thought") else []
    for key, name in (("before", "Memory before"), ("after", "Memory after")):
        if d.get(key):
            parts.append(f"**{name}**\n\n{thoughts_table(d[key], ctx, ['memory_write', key])}")
    return parts


def _revise(event: TraceEvent, d: Mapping[str, Any], ctx: Context, search: bool) -> list[str]:  # ReviseData
    return [evidence_table(d["after"], d.get("before"))] if isinstance(d.get("after"), list) else []


def _nothing(event: TraceEvent, d: Mapping[str, Any], ctx: Context, search: bool) -> list[str]:
    return []


def _error(event: TraceEvent, d: Mapping[str, Any], ctx: Context, search: bool) -> list[str]:  # ErrorData
    return [f"**Error:** {cell(d.get('error', event.explanation), 400)}"]


RENDERERS: dict[str, Renderer] = {
    "plan": Renderer(_plan, ("analysis", "query")),
    "retrieve": Renderer(_walk, ("query", "hits")),
    "graph_walk": Renderer(_walk, ("query", "hits")),
    "rewrite": Renderer(_walk, ("query",)),
    "read": Renderer(_read, ("answer", "evidence", "rationale", "notes")),
    "answer": Renderer(_final, ("answer", "queries")),
    "memory_read": Renderer(_recall, ("query", "thoughts")),
    "memory_write": Renderer(_remember, ("thought", "before", "after")),
    "revise": Renderer(_revise, ("before", "after")),
    "evidence": Renderer(_nothing),  # RetroRAG's set is shown by its revise steps
    "error": Renderer(_error, ("error",)),
}
SHOWN = {kind: r.shown for kind, r in RENDERERS.items() if r.shown}  # the keys each kind shows outside "details"


def primary_markdown(event: TraceEvent | dict[str, Any], ctx: Context | None = None, search: bool = True) -> str:
    """What the step searched (unless `search` is off), read or produced, in words, by its kind's renderer
    (`RENDERERS`); the numbers behind it go to `details_markdown`."""
    event = as_event(event)
    renderer = RENDERERS.get(event.kind, RENDERERS["evidence"])
    return "\n\n".join(renderer.body(event, event.data or {}, ctx or Context(), search))


def graph_markdown(event: TraceEvent) -> str:
    """The graph walk's picture in words: the entities drawn, with their scores ('' without a graph)."""
    d = event.data or {}
    if not isinstance(d.get("subgraph"), dict):
        return ""
    rows = entities_table_rows(d)
    headers = {"name": "entity or passage", "kind": "kind", "score": "graph-walk score (PageRank share)"}
    return f"**In the picture** ({len(rows)})\n\n" + table(rows, ["name", "kind", "score"], headers=headers)


def details_markdown(event: TraceEvent | dict[str, Any], ctx: Context | None = None,
                     prompts: bool = False) -> str:
    """The step's other values, labelled with what each measures, folded under "details" ('' when none).
    Prompts (and the model's conversation so far) are included only when `prompts` is set."""
    event = as_event(event)
    shown = SHOWN.get(event.kind, ())
    skip = [*shown, *(() if prompts else PROMPT_KEYS), "subgraph"]
    body = "\n\n".join(p for p in (describe(event.data or {}, ctx or Context(), [event.kind], skip=skip),
                                    graph_markdown(event)) if p)
    if not body:
        return ""
    return f"<details><summary>{DETAILS_SUMMARY}</summary>\n\n{body}\n\n</details>"


def chat_markdown(event: TraceEvent | dict[str, Any], ctx: Context | None = None) -> str:
    """The body of a chat step under its sentence: what it found, then its numbers folded under "details"."""
    event = as_event(event)
    return "\n\n".join(p for p in (primary_markdown(event, ctx), details_markdown(event, ctx)) if p)


# --- the trace viewer --------------------------------------------------------------------------------
def inputs_markdown(event: TraceEvent | dict[str, Any], ctx: Context | None = None) -> str:
    """The step's inputs: the search as text, prompts as role-labelled blocks."""
    event = as_event(event)
    ctx = ctx or Context()
    inputs, _ = split_data(event)
    if not inputs:
        return "_This step records no inputs._"
    parts = []
    for key, value in inputs.items():
        label = {"query": SEARCH_LABELS.get(event.kind, "Search")}.get(key) or _label(key)
        if key in PROMPT_KEYS:
            parts.append(f"**{plain(label)}**\n\n{prompt_markdown(value)}")
        else:
            parts.append(f"**{plain(label)}:** {value_text(key, value, ctx, [event.kind]) or cell(value, 600)}")
    return "\n\n".join(parts)


def _label(key: str) -> str:
    text = term(key).label
    return text[:1].upper() + text[1:]


def outputs_markdown(event: TraceEvent | dict[str, Any], titles: dict[str, str] | None = None, tz: str = "") -> str:
    """The step's outputs as a person reads them (passages by title, the answer, the evidence set or thoughts),
    then every other value labelled and folded under "details"."""
    event = as_event(event)
    ctx = Context(dict(titles or {}), tz)
    inputs, outputs = split_data(event)
    shown = primary_markdown(event, ctx, search="query" not in inputs)  # the inputs section shows the search
    extra = "\n\n".join(p for p in (describe({k: v for k, v in outputs.items() if k not in SHOWN.get(event.kind, ())},
                                             ctx, [event.kind], skip=["subgraph"]), graph_markdown(event)) if p)
    folded = f"<details><summary>{DETAILS_SUMMARY}</summary>\n\n{extra}\n\n</details>" if extra else ""
    return "\n\n".join(p for p in (shown, folded) if p) or "_This step records no outputs._"


def usage_text(event: TraceEvent) -> str:
    """'⏱ 4.1 s · 1 model call · 123 tokens (120 read, 3 written)' (the model parts only when it was called)."""
    text = f"⏱ {duration(event.seconds)}"
    if event.llm_calls:
        text += (f" · {event.llm_calls} model call{'s' if event.llm_calls != 1 else ''} · "
                 f"{event.prompt_tokens + event.completion_tokens} tokens ({event.prompt_tokens} read, "
                 f"{event.completion_tokens} written)")
    return text


def step_header(event: TraceEvent | dict[str, Any], index: int, total: int) -> str:
    """'### Step 2 of 3 · 📖 read' plus explanation and usage."""
    event = as_event(event)
    return (f"### Step {index + 1} of {total} · {ICONS.get(event.kind, '•')} {event.kind}\n\n"
            f"{plain(event.explanation)}\n\n<small>{usage_text(event)}</small>")


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
