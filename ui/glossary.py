"""What a step's numbers are called on screen: a label, a short gloss for any term from the papers, and a unit.

Agents store their payloads under short keys (`log_odds`, `floor`, `same_turns`); a newcomer reads them as
"answer vs 'unknown' (log-likelihood difference)", "least similarity that counts as relevant", "turns the
answer stayed the same". `describe` renders any payload, however nested, as labelled lines and small tables:
never JSON, never an epoch time, and never an id that is not a link (passage ids become their titles).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ui.markdown import Markup, cell, fenced, plain, short, table

MAX_DEPTH = 4


@dataclass(frozen=True)
class Term:
    """How one payload key is shown: its label, and how its number reads (`fmt`)."""

    label: str
    fmt: str = ""  # "sim" 0.42 | "loglik" +1.23 | "share" 0.67 | "seconds" | "time" | "yesno" | "int" | "id" | "hide"


# Keys are matched on the key alone, or on "parent.key" first (the same word means different things).
TERMS: dict[str, Term] = {
    # passages and searches
    "query": Term("search"),
    "queries": Term("searches"),
    "previous_query": Term("previous search"),
    "hits": Term("passages found"),
    "score": Term("score"),
    "rank": Term("rank", "int"),
    "title": Term("passage"),
    "passages": Term("passages", "id"),
    "passage": Term("passage"),
    "cited": Term("passages the answer was found in", "id"),
    "retrieved": Term("passages retrieved", "id"),
    "used_ids": Term("passages used", "id"),
    "retrieve.new": Term("new passages", "id"),
    "retrieve.seen": Term("passages already held", "id"),
    "skipped_seen": Term("passages skipped (already read)", "id"),
    "doc_id": Term("passage", "id"),
    "chunk_id": Term("passage", "hide"),
    "chunks": Term("passages", "id"),
    "text": Term("text"),
    "turn": Term("turn", "int"),
    "iteration": Term("round", "int"),
    "iterations": Term("rounds", "int"),
    # the label of an answer and the checks behind it (agents/grounding.py)
    "grounding": Term("label check: what the answer's label rests on"),
    "grounding.status": Term("label"),
    "grounding.reason": Term("why there is no answer"),
    "holders": Term("passages holding every word of the answer"),
    "partial": Term("passage holding most of the answer's words"),
    "read": Term("read for this answer", "yesno"),
    "judgement": Term("a yes-or-no answer (no passage can hold it)", "yesno"),
    "chain": Term("does the passage give it as this question's answer?"),
    "chain.sentence": Term("its sentence with the answer"),
    "chain.relation": Term("words of what the question asks, found beside the answer"),
    "chain.entities": Term("names of the question it names itself"),
    "chain.via": Term("passage read with it that links it to the question"),
    "chain.passed": Term("gives it as this question's answer", "yesno"),
    "settled": Term("baseline rule: which answer is given"),
    "settled.keep": Term("answer given (chain: its own; baseline: the baseline reading's)"),
    "settled.reason": Term("why"),
    "settled.chain": Term("its own answer"),
    "settled.baseline": Term("the baseline reading's answer"),
    "label": Term("label"),
    "baseline": Term("the baseline reading (what the naive agent reads)", "yesno"),
    "conflicts": Term("in an unsettled conflict with"),
    "conflict": Term("an unsettled conflict (each passage prefers its own value, not clearly)", "yesno"),
    "status": Term("status"),
    "decision.status": Term("result"),
    "verdict.status": Term("result"),
    "thoughts.text": Term("thought"),
    "before.text": Term("thought"),
    "after.text": Term("thought"),
    "compared.text": Term("thought"),
    "floor": Term("least similarity to the question that counts as relevant", "sim"),
    "best_relevance": Term("best passage's similarity to the question", "sim"),
    "relevance": Term("similarity to the question (0 to 1)", "sim"),
    "coverage": Term("share of the answer's words in the passage", "share"),
    "log_odds": Term("answer vs 'unknown' (log-likelihood difference)", "loglik"),
    "margin": Term("lead needed (log-likelihood difference)", "loglik"),
    "grounding.margin": Term("lead the answer needs over 'unknown' (log-likelihood difference)", "loglik"),
    "decision.margin": Term("lead the answer needs over 'unknown' (log-likelihood difference)", "loglik"),
    "supported": Term("states the answer", "yesno"),
    "checks": Term("passages checked"),
    "restates": Term("the answer only repeats words of the question", "yesno"),
    "support": Term("best lead over 'unknown' (log-likelihood difference)", "loglik"),
    "grounded_in": Term("passage that states it", "id"),
    # decisions
    "decision": Term("how it decided"),
    "enough": Term("enough to answer", "yesno"),
    "draft": Term("draft answer"),
    "drafts": Term("draft answers"),
    "answer": Term("answer"),
    "previous": Term("previous answer"),
    "changed": Term("answer changed", "yesno"),
    "evidence": Term("most helpful sentence"),
    "evidence_scores": Term("each sentence's score (log-likelihood; higher = more helpful)", "loglik"),
    "agree": Term("did the answer hold steady?"),
    "same_turns": Term("turns the answer stayed the same", "int"),
    "needed": Term("turns needed", "int"),
    "stable": Term("held long enough", "yesno"),
    "in_passage": Term("found in a passage", "yesno"),
    "not_rejected": Term("not rejected for 'unknown'", "yesno"),
    "agree.log_odds": Term("answer vs 'unknown' in that passage (log-likelihood difference)", "loglik"),
    "agree.margin": Term("least lead that does not reject it (log-likelihood difference)", "loglik"),
    "stop": Term("stops searching", "yesno"),
    "confirm": Term("which passage answers? (the model's pick)"),
    "holding": Term("passages holding the answer"),
    "choice": Term("number picked", "int"),
    "picked": Term("passage picked"),
    "confirmed": Term("the pick holds the answer", "yesno"),
    "parametric": Term("from the model's own knowledge", "yesno"),
    "parametric_document": Term("what the model recalled on its own"),
    "knowledge_reply": Term("the model's own-knowledge reply"),
    "kept": Term("why this draft was kept"),
    "stopped": Term("why it stopped"),
    "verdict": Term("verdict"),
    "reliable": Term("a passage states it", "yesno"),
    "reread": Term("re-read the evidence chain", "yesno"),
    "valid": Term("still valid", "yesno"),
    "rationale": Term("the model's reason"),
    "generation": Term("the model's draft"),
    "notes": Term("sentences kept so far"),
    "fallback": Term("fallback search"),
    "format_failure": Term("the reply was not in the expected format", "yesno"),
    "reason": Term("reason"),
    "constrained": Term("chosen from fixed options", "yesno"),
    "option": Term("option chosen"),
    "scores": Term("score of each option (log-likelihood; higher = preferred)", "loglik"),
    "passed": Term("passed", "yesno"),
    # RetroRAG's evidence set
    "before": Term("before"),
    "after": Term("after"),
    "added": Term("added"),
    "withdrawn": Term("withdrawn"),
    "entities": Term("names found in the question"),
    "entity": Term("about"),
    "candidate": Term("the sentence considered"),
    "claim": Term("claim"),
    "kind": Term("kind"),
    "about": Term("about"),
    "names": Term("other names it mentions"),
    "focus": Term("what was sought"),
    "kept_as": Term("kept as"),
    "bridge": Term("bridge (a sentence linking two names)"),
    "credibility": Term("does it help answer the question?"),
    "decision.relevance": Term("does it help answer the question?"),
    "relevance.log_odds": Term("yes vs no (log-likelihood difference)", "loglik"),
    "credibility.log_odds": Term("yes vs no (log-likelihood difference)", "loglik"),
    "relevance.margin": Term("lead 'yes' needs (log-likelihood difference)", "loglik"),
    "bridge.margin": Term("lead a bridge needs (log-likelihood difference)", "loglik"),
    "candidates": Term("names it could search for"),
    "all": Term("every name considered"),
    "wanted": Term("kind of name the question asks for"),
    "numbers": Term("passage numbers"),
    "derived_from": Term("rests on"),
    "withdrawn_by": Term("withdrawn by"),
    "withdrawn_at": Term("withdrawn in round", "int"),
    "answer_redone": Term("the answer is redone", "yesno"),
    "operation": Term("operation"),
    # HippoRAG
    "seeds": Term("where the graph walk starts (restart weight, share of restarts)", "share"),
    "top_nodes": Term("entities the walk reached most (PageRank share)"),
    "links": Term("question names matched to the graph"),
    "node": Term("graph entity"),
    "cosine": Term("name similarity (0 to 1)", "sim"),
    "subgraph": Term("graph drawn"),
    "timings": Term("time taken", "seconds"),
    "graph": Term("knowledge graph size"),
    "phrases": Term("entities and phrases", "int"),
    "facts": Term("facts matched to the question (similarity)"),
    "retriever": Term("retriever"),
    "ner": Term("finding names (NER)", "seconds"),
    "linking": Term("matching names to the graph", "seconds"),
    "ppr": Term("graph walk (PageRank)", "seconds"),
    "ppr_cpu": Term("graph walk, processor time", "seconds"),
    "total": Term("total", "seconds"),
    # TiM's memory
    "thoughts": Term("thoughts recalled"),
    "thought": Term("thought"),
    "compared": Term("similar thoughts compared"),
    "memory_read.thoughts.score": Term("similarity to your message (0 to 1)", "sim"),
    "thoughts.score": Term("similarity to your message (0 to 1)", "sim"),
    "compared.score": Term("similarity to the new thought (0 to 1)", "sim"),
    "checks.cosine": Term("similarity to the new thought (0 to 1)", "sim"),
    "buckets": Term("memory buckets (LSH hash)"),
    "probes": Term("buckets looked in (table, bucket)"),
    "scored": Term("thoughts compared with your message", "int"),
    "stored": Term("thoughts in your memory", "int"),
    "recent_turns": Term("recent turns also read", "int"),
    "user": Term("whose memory", "hide"),
    "created": Term("stored at", "time"),
    "updated": Term("changed at", "time"),
    "related": Term("related thought", "hide"),
    "id": Term("id", "hide"),
    "quoted": Term("thoughts quoted", "count"),
    "gate": Term("is it a fact about you?"),
    "gate.log_odds": Term("yes vs no (log-likelihood difference)", "loglik"),
    "gate.margin": Term("lead 'yes' needs (log-likelihood difference)", "loglik"),
    "decision.log_odds": Term("yes vs no (log-likelihood difference)", "loglik"),
    "topic": Term("topic"),
    "topic_scores": Term("score of each topic (log-likelihood; higher = likelier)", "loglik"),
    "topic_margin": Term("lead over the next topic (log-likelihood difference)", "loglik"),
    "over_other": Term("lead over 'other' (log-likelihood difference)", "loglik"),
    "quote_margin": Term("lead needed to quote a thought (log-likelihood difference)", "loglik"),
    "asked_by_reply": Term("decided before the reply", "yesno"),
    "pre_check": Term("passed the grammar pre-check", "yesno"),
    "relation": Term("relation to stored thoughts"),
    "single_valued": Term("a topic with one value (a new one replaces the old)", "yesno"),
    # prompts: shown as role-labelled blocks
    "prompt": Term("prompt sent to the model"),
    "prompts": Term("prompts sent to the model"),
    "messages": Term("prompt sent to the model"),
    "decision_prompt": Term("prompt for choosing the sentence"),
    "rationale_prompt": Term("prompt for the reason"),
    "reply": Term("the model's reply"),
    "query_reply": Term("the model's reply with the search"),
    "rationale_reply": Term("the model's reply with the reason"),
    "turns": Term("conversation with the model so far"),
    "transcript": Term("whole conversation with the model"),
}
PROMPT_KEYS = ("prompt", "prompts", "messages", "decision_prompt", "rationale_prompt", "turns", "transcript")
STATUS_WORDS = {"supported": "a passage states it as the answer", "found": "appears in a passage, not verified",
                "guess": "in no passage it retrieved", "none": "no answer", "abstained": "no answer",
                "nothing_relevant": "no relevant passage"}


@dataclass
class Context:
    """What a step's rendering may look up: passage titles by document id, and the reader's time zone."""

    titles: dict[str, str] = field(default_factory=dict)
    tz: str = ""  # IANA name from the browser; '' = the server's clock, marked UTC

    def name(self, value: Any) -> str | None:
        """A passage's title for a document, chunk or graph-node id; None when it is not a passage id."""
        text = str(value)
        doc = text.removeprefix("passage:").rsplit(":", 1)[0] if ":" in text else text
        return self.titles.get(doc) or self.titles.get(text)


def term(key: str, path: Sequence[str] = ()) -> Term:
    """The label of `key`, most specific first ('memory_read.thoughts.score', 'thoughts.score', 'score')."""
    for n in range(len(path), -1, -1):
        found = TERMS.get(".".join([*path[len(path) - n:], key]))
        if found:
            return found
    return Term(humanise(key))


def humanise(key: str) -> str:
    """'same_turns' -> 'same turns'; a number stays as it is."""
    return re.sub(r"_+", " ", str(key)).strip()


def number(value: float, fmt: str = "") -> str:
    """A number as a person reads it: similarities 0.42, log-likelihood differences signed (+1.23), seconds."""
    v = float(value)
    if fmt == "loglik":
        return f"{v:+.2f}"
    if fmt == "seconds":
        return f"{v * 1000:.0f} ms" if abs(v) < 1 else f"{v:.1f} s"
    if fmt == "int" or (v.is_integer() and fmt not in ("sim", "share")):
        return f"{int(v)}"
    return f"{v:.2f}" if abs(v) >= 0.01 or v == 0 else f"{v:.4f}"


def clock(seconds: float, tz: str = "") -> str:
    """A unix time as the reader's local clock time ('2026-12-07 22:31'); UTC, said so, without a time zone."""
    try:
        zone = ZoneInfo(tz) if tz else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    when = datetime.datetime.fromtimestamp(float(seconds or 0), zone or datetime.UTC)
    return when.strftime("%Y-%m-%d %H:%M") + ("" if zone else " UTC")


def yes_no(value: Any) -> str:
    """'yes' / 'no'."""
    return "yes" if value else "no"


_ID = re.compile(r"^(passage:)?[0-9a-f]{8,}(:\d+)?$")


def looks_like_id(value: Any) -> bool:
    """Whether a value is a machine id (a passage, chunk or graph-node id) rather than a name."""
    return isinstance(value, str) and bool(_ID.match(value))


def _name(value: Any, ctx: Context) -> str | None:
    """A passage's title for an id, the value itself for a name, None for an id nobody can name."""
    return ctx.name(value) or (None if looks_like_id(value) else str(value))


def _scalar(key: str, value: Any, fmt: str, ctx: Context) -> str:
    if isinstance(value, bool):
        return yes_no(value)
    if fmt == "time" and isinstance(value, (int, float)):
        return clock(value, ctx.tz)
    if isinstance(value, (int, float)):
        return number(value, fmt)
    if key == "status" and value in STATUS_WORDS:
        return STATUS_WORDS[str(value)]
    if fmt == "id" or looks_like_id(value):
        name = _name(value, ctx)
        return f"“{name}”" if name else "a passage"
    text = str(value)
    return text if text.strip() else "(none)"


def value_text(key: str, value: Any, ctx: Context, path: Sequence[str] = ()) -> str | None:
    """A scalar or a list of scalars as safe one-line markdown; None for what this one-line form cannot show."""
    fmt = term(key, path).fmt
    if isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list, tuple)) for v in value):
        if not value:
            return "(none)"
        if fmt in ("id", "count") or any(looks_like_id(v) for v in value):
            named = list(dict.fromkeys(n for n in (_name(v, ctx) for v in value) if n))
            quoted = ", ".join(f"“{plain(short(n, 60))}”" for n in named)
            if fmt == "count" or any(_name(v, ctx) is None for v in value):
                return f"{len(value)}" + (f" ({quoted})" if named else "")
            return quoted
        return plain(short(", ".join(_scalar(key, v, fmt, ctx) for v in value), 600))
    if isinstance(value, (dict, list, tuple)):
        return None
    return plain(short(_scalar(key, value, fmt, ctx), 600))


def describe(data: Mapping[str, Any], ctx: Context | None = None, path: Sequence[str] = (),
             skip: Sequence[str] = ()) -> str:
    """A payload as labelled markdown: 'label: value' lines, then each nested group under its own label, lists
    of records and longer number maps as tables, prompts as role-labelled blocks. Ids that are not passages
    are left out; nothing is shown as JSON."""
    ctx = ctx or Context()
    lines: list[str] = []
    blocks: list[str] = []
    for key, value in data.items():
        t = term(key, path)
        if key in skip or t.fmt == "hide" or value is None or value == "" or value == [] or value == {}:
            continue
        if key == "doc_id" and data.get("title"):  # the passage is named by its title already
            continue
        label = f"**{plain(t.label)}**"
        if key in PROMPT_KEYS and _is_prompt(value):
            blocks.append(f"{label}\n\n{prompt_markdown(value)}")
            continue
        one_line = value_text(key, value, ctx, path)
        if one_line is not None:
            lines.append(f"- {label}: {one_line}")
        elif isinstance(value, Mapping) and _numbers(value) and len(value) <= 4:
            lines.append(f"- {label}: " + number_line(value, t.fmt, ctx, [*path, key]))
        elif isinstance(value, Mapping) and _numbers(value):
            blocks.append(f"{label}\n\n{number_table(value, t.fmt, ctx, [*path, key])}")
        elif isinstance(value, Mapping) and len(path) < MAX_DEPTH:
            inner = describe(value, ctx, [*path, key])
            if inner:
                blocks.append(f"{label}\n\n{inner}")
        elif isinstance(value, (list, tuple)) and all(isinstance(v, Mapping) for v in value):
            blocks.append(f"{label} ({len(value)})\n\n{records_table(value, ctx, [*path, key])}")
        elif isinstance(value, (list, tuple)) and all(isinstance(v, (list, tuple)) for v in value):
            rows = [" ".join(_scalar(key, x, t.fmt, ctx) for x in v if not isinstance(x, (list, tuple, dict)))
                    for v in value]
            lines.append(f"- {label}: " + plain(short("; ".join(rows), 600)))
    return "\n\n".join(["\n".join(lines)] * bool(lines) + blocks)


def _numbers(value: Mapping[str, Any]) -> bool:
    return bool(value) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values())


def _is_prompt(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(m, Mapping) and ("role" in m or "messages" in m) for m in value)


def _key_name(key: Any, ctx: Context, path: Sequence[str]) -> str:
    """A number map's key as shown: a passage's title, a known label, or the key itself."""
    name = ctx.name(key)
    if name:
        return f"“{name}” (passage)"
    if looks_like_id(key):
        return "a passage"
    found = TERMS.get(".".join([*path[-1:], str(key)])) or TERMS.get(str(key))
    if found and path and path[-1] in ("timings", "graph"):
        return found.label
    return f"#{key}" if str(key).isdigit() else str(key)  # a numbered option: a sentence or passage number


def _key_fmt(key: Any, fmt: str, path: Sequence[str]) -> str:
    found = TERMS.get(str(key))
    return found.fmt if found and found.fmt and path and path[-1] in ("timings", "graph") else fmt


def number_line(value: Mapping[str, float], fmt: str, ctx: Context, path: Sequence[str] = ()) -> str:
    """A short {name: number} map on one line: 'passages 42 · entities and phrases 309'."""
    return " · ".join(plain(f"{_key_name(k, ctx, path)}: {number(v, _key_fmt(k, fmt, path))}")
                      for k, v in value.items())


def number_table(value: Mapping[str, float], fmt: str, ctx: Context, path: Sequence[str] = (),
                 max_rows: int = 12) -> str:
    """A {name: number} map as a two-column table, highest first; passage ids named by their titles."""
    rows = [{"name": _key_name(k, ctx, path), "value": Markup(number(v, _key_fmt(k, fmt, path)))}
            for k, v in sorted(value.items(), key=lambda kv: -float(kv[1]))]
    return table(rows, ["name", "value"], max_rows=max_rows, headers={"name": " ", "value": "value"})


def records_table(records: Sequence[Mapping[str, Any]], ctx: Context, path: Sequence[str] = (),
                  max_rows: int = 12) -> str:
    """A list of records as a table with labelled columns (ids shown as titles, hidden fields left out)."""
    columns: list[str] = []
    for r in records[:5]:
        columns += [k for k in r if k not in columns and term(k, path).fmt != "hide"
                    and not (k == "doc_id" and "title" in r)]
    rows = []
    for r in records:
        row: dict[str, Any] = {}
        for c in columns:
            v = r.get(c, "")
            text = value_text(c, v, ctx, path) if not isinstance(v, Mapping) else None
            if text is None and isinstance(v, Mapping):  # a record inside a record: its labelled values, inline
                text = _inline(v, ctx, [*path, c])
            row[c] = Markup(text if text is not None else cell(v, 80))
        rows.append(row)
    return table(rows, columns[:8], max_rows=max_rows, headers={c: plain(term(c, path).label) for c in columns})


def _inline(record: Mapping[str, Any], ctx: Context, path: Sequence[str]) -> str:
    """A small record on one line: 'label: value; label: value' (its scalar values only)."""
    pairs = [(term(k, path), k, x) for k, x in record.items() if not isinstance(x, (dict, list, tuple))]
    return plain(short("; ".join(f"{t.label}: {_scalar(k, x, t.fmt, ctx)}" for t, k, x in pairs if t.fmt != "hide"),
                       200))


def prompt_markdown(prompt: Any) -> str:
    """Chat messages (or labelled prompts) as role-labelled fenced blocks."""
    blocks = []
    for n, m in enumerate(prompt if isinstance(prompt, list) else [], 1):
        if not isinstance(m, Mapping):
            continue
        if "messages" in m:  # a labelled prompt (one of several)
            blocks.append(f"**prompt {n}: {cell(m.get('label', ''))}**\n\n{prompt_markdown(m.get('messages', []))}")
        else:
            blocks.append(f"**{cell(m.get('role', '?'))}**\n\n{fenced(m.get('content', ''))}")
    return "\n\n".join(blocks)
