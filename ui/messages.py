"""Agent runs as chat messages: one collapsible step per event, then the answer with its sources.

Messages are plain dicts in the Chatbot's messages format, so they are unit-tested without a server.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agents.events import TraceEvent
from agents.grounding import ICONS as ICONS_BY_LABEL
from agents.grounding import NO_ANSWER, cut_at_word, grounding_label, upgrade
from evaluation.calibration import Calibration, reference
from ui.markdown import ICONS, as_event, cell, evidence_table, hits_table, nodes_table, plain, short, table


def usage_line(event: TraceEvent) -> str:
    """'0.42 s · 1 LLM call · 312 + 5 tokens' (LLM parts only when there were calls)."""
    parts = [f"{event.seconds:.2f} s"]
    if event.llm_calls:
        parts.append(f"{event.llm_calls} LLM call{'s' if event.llm_calls != 1 else ''}")
        parts.append(f"{event.prompt_tokens} + {event.completion_tokens} tokens")
    return " · ".join(parts)


def step_title(event: TraceEvent) -> str:
    """'🔎 retrieve: Searched for …' — the collapsible step's title."""
    return f"{ICONS.get(event.kind, '•')} {event.kind}: {plain(short(event.explanation))}"


def _detail(event: TraceEvent) -> str:
    """The compact body under a step's explanation, by kind."""
    d = event.data or {}
    parts: list[str] = []
    if event.kind == "error":
        return f"**Error:** {cell(d.get('error', event.explanation), 400)}"
    if d.get("query") and event.kind in ("retrieve", "rewrite", "graph_walk"):
        parts.append(f"Query: _{cell(d['query'], 200)}_")
    if isinstance(d.get("queries"), list) and d["queries"]:
        parts.append("Queries: " + "; ".join(f"_{cell(q, 120)}_" for q in d["queries"]))
    if isinstance(d.get("hits"), list):
        parts.append(hits_table(d["hits"]))
    if isinstance(d.get("subgraph"), dict):
        parts.append(nodes_table(d["subgraph"], max_rows=6))
    if "answer" in d and event.kind in ("read", "answer", "evidence", "revise"):
        parts.append(f"Answer: **{cell(d['answer'], 300)}**")
    grounding = d.get("grounding")
    if isinstance(grounding, dict) and grounding.get("status"):
        numbers = (f"Label check: a passage counts as evidence from similarity {float(grounding.get('floor', 0)):.2f}; "
                   f"the best one read has {float(grounding.get('best_relevance', 0)):.2f}")
        checks = [{"passage": c.get("title", ""), "similarity to the question": c.get("relevance", 0.0),
                   "share of the answer's words in it": c.get("coverage", 0.0),
                   "its answer from this passage alone": c.get("reply", ""),
                   "answer vs “unknown” (log-likelihood difference)": c.get("log_odds", 0.0),
                   "states it": "yes" if c.get("supported") else "no"}
                  for c in grounding.get("checks", []) if isinstance(c, dict)]
        parts.append(numbers + ("\n\n" + table(checks) if checks else ""))
    if event.kind in ("memory_read", "memory_write"):
        parts += _memory_detail(d)
    if event.kind in ("evidence", "revise") and isinstance(d.get("after"), list):
        parts.append(evidence_table(d["after"], d.get("before")))
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


def _memory_detail(d: dict[str, Any]) -> list[str]:
    """TiM's thoughts: recalled ones with their scores, or the thoughts before and after an operation."""
    columns = ["text", "score", "status", "buckets"]

    def rows(items: Any) -> list[dict[str, Any]]:
        return [{c: (" ".join(map(str, t[c])) if isinstance(t.get(c), list) else t.get(c, "")) for c in columns}
                for t in items or [] if isinstance(t, dict)]

    if "thoughts" in d:
        return [f"Recalled ({d.get('scored', 0)} of {d.get('stored', 0)} thoughts scored)\n\n"
                + table(rows(d["thoughts"]), columns)] if d["thoughts"] else []
    out = [f"**{key.capitalize()}**\n\n" + table(rows(d[key]), columns) for key in ("before", "after") if d.get(key)]
    checks = (d.get("decision") or {}).get("checks") if isinstance(d.get("decision"), dict) else None
    if checks:
        out.append("Compared: " + "; ".join(f"{cell(c.get('option'))} (cosine {c.get('cosine')})" for c in checks))
    return out


def event_to_message(event: TraceEvent | dict[str, Any]) -> dict[str, Any]:
    """One step as a collapsible assistant message (gradio 'thought' via metadata.title)."""
    event = as_event(event)
    body = plain(event.explanation)  # it quotes the question and titles: shown as text
    detail = _detail(event)
    if detail:
        body += "\n\n" + detail
    metadata: dict[str, Any] = {"title": step_title(event), "duration": round(float(event.seconds), 3),
                                "status": "done"}
    if event.llm_calls:
        metadata["log"] = f"{event.llm_calls} LLM · {event.prompt_tokens}+{event.completion_tokens} tok"
    return {"role": "assistant", "content": body, "metadata": metadata}


def figure_message(event: TraceEvent | dict[str, Any]) -> dict[str, Any] | None:
    """A graph walk's picture as a chat message: inline SVG whose nodes name themselves, their score and their
    passages on hover; None for steps without a graph."""
    from ui.figures import graph_walk_svg

    event = as_event(event)
    if not isinstance((event.data or {}).get("subgraph"), dict) or not event.data["subgraph"].get("nodes"):
        return None
    svg = graph_walk_svg(event)
    if svg is None:
        return None
    caption = ("<small>The graph walk: size = score; seeds ringed; passages are squares. "
               "Hover a node for its name, score and passages.</small>")
    return {"role": "assistant", "content": f'<div class="graph-walk-figure">{svg}</div>\n\n{caption}'}


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


def grounding_of(events: Iterable[TraceEvent]) -> dict[str, Any]:
    """The label of a run's final answer: that of its last answer (or read) step, read as the labels say (runs
    stored before them are upgraded); a baseline reading's label only when nothing came after it; {} if none."""
    found: dict[str, Any] = {}
    for event in reversed(list(events)):
        g = (event.data or {}).get("grounding")
        if event.kind in ("answer", "read", "revise") and isinstance(g, dict) and g.get("status"):
            if not (event.data or {}).get("baseline"):
                return upgrade(g)
            found = found or upgrade(g)
    return found


def grounding_line(grounding: dict[str, Any], calibration: Calibration | None = None) -> str:
    """'✅ “Title” states it (answers labelled like this were right 41 of 50 times on …)' / ''."""
    label = grounding_label(grounding) if grounding else ""
    if not label:
        return ""
    status = str(upgrade(grounding).get("status"))
    note = (calibration or reference()).note(status)
    return f"{ICONS_BY_LABEL.get(status, '')} {label} ({note})".strip()


MEMORY_ICONS = {"recalled": "🧠", "not_in_memory": "🤷", "general": "💬", "acknowledged": "📝"}


def memory_label(events: Iterable[TraceEvent]) -> dict[str, Any]:
    """Where a memory agent's reply came from (TiM's answer step); {} for other agents."""
    for event in reversed(list(events)):
        label = (event.data or {}).get("memory")
        if event.kind == "answer" and isinstance(label, dict) and label.get("sentence"):
            return label
    return {}


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
    grounding = grounding_of(events)
    cited: set[str] = {grounding["doc_id"]} if grounding.get("doc_id") else set()
    mark = "states the answer, by the support check" if grounding.get("status") == "supported" else \
        "holds the answer's words"
    if not grounding:  # runs stored before the support check: the reader's own citations
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
        lines.append(f"⚠️ **The run failed:** {plain(error)}")
    if answer and answer != NO_ANSWER:
        lines.append(f"**{plain(answer)}**")
    elif not error:
        lines.append("_(no answer)_")
    label = grounding_line(grounding)
    if label:
        label = plain(label)
        lines.append(f'\n<span class="grounding grounding-{grounding["status"]}">{label}</span>')
    memory = memory_label(events)
    if memory:
        status = str(memory.get("status"))
        status = status if status in MEMORY_ICONS else "other"
        lines.append(f'\n<span class="grounding memory-{status}">{MEMORY_ICONS.get(status, "")} '
                     f'{plain(str(memory["sentence"]))}</span>')
    if used:
        lines.append(f"\n**Sources** (★ = {mark}):" if cited else "\n**Sources**:")
        order = sorted(dict.fromkeys(used), key=lambda d: (d not in cited, -float(passages.get(d, {}).get(
            "score", 0) or 0)))
        for i, doc_id in enumerate(order, 1):
            p = passages.get(doc_id, {})
            title = plain(cut_at_word(p.get("title") or "untitled passage", 80))
            star = " ★" if doc_id in cited else ""
            score = f" <small>(score {float(p['score']):.2f})</small>" if p.get("score") is not None else ""
            text = plain(p.get("text", "(text not in this run's trace)"))
            lines.append(f"<details><summary>[{i}] {title}{star}{score}</summary>\n\n{text}\n\n</details>")
    calls = sum(e.llm_calls for e in events)
    tokens = sum(e.prompt_tokens + e.completion_tokens for e in events)
    seconds = _field(run, "seconds", 0.0) or sum(e.seconds for e in events)
    stats = f"{len(events)} steps · {calls} LLM calls · {tokens} tokens · {float(seconds):.1f} s"
    if run_id:
        stats += f" · 🔗 [share / open in trace viewer]({share_link(run_id)}) `{run_id}`"
    lines.append(f"\n<small>{stats}</small>")
    return {"role": "assistant", "content": "\n".join(lines)}
