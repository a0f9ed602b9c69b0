"""Compare tab: one question, several agents run at once (their LLM calls batch), each streamed into its column."""

from __future__ import annotations

import html
import logging
import queue
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from agents import registry
from evaluation.metrics import exact_match, f1_score, recall_at_k
from ui.common import (
    RUN_CONCURRENCY,
    Gold,
    agent_choices,
    corpus_names,
    default_corpus,
    handlers_at_once,
    known_questions,
    load_examples,
    normalise_question,
    queue_note,
)
from ui.details import passage_titles
from ui.glossary import Context
from ui.hints import waiting
from ui.markdown import plain
from ui.messages import answer_message, event_to_message, grounding_line, grounding_of, passages_of, pending_message
from ui.users import user_key

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger(__name__)
# the numbers first, next to the agent, so no long answer pushes them out of view; long text last (it wraps)
SUMMARY_COLUMNS = ["agent", "seconds", "model calls", "tokens", "answer", "grounding", "passages used"]
METRIC_COLUMNS = ["recall@2", "recall@5", "EM", "F1"]
NO_GOLD = "—"  # a metric without gold answers or passages


@dataclass
class CompareTab:
    """Components other tabs refresh."""

    corpus: gr.Dropdown


def parse_gold(answers_text: str, ids_text: str) -> Gold | None:
    """Gold from the text boxes: answers one per line (or '|'-separated), ids separated by commas/spaces."""
    answers = tuple(a.strip() for a in re.split(r"[\n|]", answers_text or "") if a.strip())
    ids = tuple(i for i in re.split(r"[\s,;]+", ids_text or "") if i)
    return Gold(answers, ids) if answers or ids else None


def summary_row(agent: str, run: Any, gold: Gold | None) -> dict[str, Any]:
    """One agent's line of the summary table."""
    titles = {d: p.get("title") or d for d, p in passages_of(run.events).items()}
    row: dict[str, Any] = {
        "agent": agent,
        "answer": run.answer or (f"⚠️ {run.error}" if run.error else ""),
        "grounding": grounding_line(grounding_of(run.events)),
        "passages used": (f"{len(run.used_ids)}: {'; '.join(titles.get(d, 'a passage') for d in run.used_ids[:3])}"
                          + (" …" if len(run.used_ids) > 3 else "")) if run.used_ids else "0",
        "model calls": run.llm_calls,
        "tokens": run.prompt_tokens + run.completion_tokens,
        "seconds": round(run.seconds, 2),
    }
    row.update(dict.fromkeys(METRIC_COLUMNS, NO_GOLD))
    if gold:
        row["recall@2"] = round(recall_at_k(run.retrieved_ids, gold.gold_ids, 2), 2) if gold.gold_ids else None
        row["recall@5"] = round(recall_at_k(run.retrieved_ids, gold.gold_ids, 5), 2) if gold.gold_ids else None
        row["EM"] = exact_match(run.answer, gold.answers) if gold.answers else None
        row["F1"] = round(f1_score(run.answer, gold.answers), 2) if gold.answers else None
    return row


def summary_columns() -> list[str]:
    """The summary's columns: agent, seconds, the metrics ('—' without gold), then the rest."""
    return SUMMARY_COLUMNS[:2] + METRIC_COLUMNS + SUMMARY_COLUMNS[2:]


# widths that fit the summary in its panel (a wrapping table without them grows to its content)
SUMMARY_WIDTHS = ["8%", "7%", "7%", "7%", "4%", "5%", "6%", "6%", "19%", "16%", "15%"]


def summary_frame(rows: list[dict[str, Any]], gold: Gold | None = None) -> pd.DataFrame:
    """The summary table (the metric columns say '—' without gold)."""
    return pd.DataFrame(rows, columns=summary_columns())


def stream_runs(services: Services, names: list[str], corpus: str, question: str,
                owner: str | None = None) -> Iterator[tuple[str, str, Any]]:
    """Run the agents at once, one thread each; yield (agent, "waiting" | "event" | "done" | "error", payload)
    as they come, so every column streams while the others run ("waiting": its place in the run line)."""
    updates: queue.Queue[tuple[str, str, Any]] = queue.Queue()

    def work(name: str) -> None:
        try:
            with services.queue.place(owner or services.owner("")) as wait:  # each column takes a run slot
                while place := wait(1.0):
                    updates.put((name, "waiting", place))
                run = services.run(name, corpus, question, {}, **({"owner": owner} if owner else {}))
                for event in run:
                    updates.put((name, "event", event))
            updates.put((name, "done", run))
        except Exception as exc:  # noqa: BLE001 - shown in that agent's column; the others go on
            if not isinstance(exc, ValueError | LookupError):
                log.exception("compare: %s failed", name)
            updates.put((name, "error", exc))

    for name in names:
        threading.Thread(target=work, args=(name,), name=f"compare-{name}", daemon=True).start()
    pending = len(names)
    while pending:
        item = updates.get()
        pending -= item[1] in ("done", "error")
        yield item


def build(services: Services, user: gr.components.Component | None = None) -> CompareTab:
    """Lay out the Compare tab and wire its events; runs belong to `user` (the browser's id, ui/users.py)."""
    user = user if user is not None else gr.State("")
    specs = registry.all_specs()
    names = corpus_names(services)
    known = known_questions()
    # One question suits the retrieval agents; the memory agents (TiM and its baselines) need a conversation,
    # so they are offered but not ticked.
    default_agents = [s.name for s in specs if s.needs_corpus]
    with gr.Row(equal_height=True):
        question = gr.Textbox(placeholder="One question for every selected agent…", show_label=False, scale=5,
                              elem_id="compare-question")
        corpus = gr.Dropdown(choices=names, value=default_corpus(names), show_label=False, scale=2,
                             allow_custom_value=True, elem_id="compare-corpus")
        run_btn = gr.Button("Compare", variant="primary", scale=1, min_width=100, elem_id="compare-run")
    agents = gr.CheckboxGroup(choices=agent_choices(), value=default_agents, label="Agents (run at once, "
                              "with default settings)", elem_id="compare-agents")
    with gr.Accordion("Gold answers (optional; filled in for known demo/benchmark questions)", open=False):
        with gr.Row():
            gold_answers = gr.Textbox(value="", label="Gold answers", lines=2,
                                      placeholder="one per line, or separated by |")
            gold_ids = gr.Textbox(value="", label="Gold passage ids", lines=2,
                                  placeholder="e.g. 14d789d29341, dece5e5c8d15")
    examples = load_examples(n=6)
    if examples:
        gr.Examples(examples=[[q] for q in examples[3:6] or examples], inputs=[question], label="Try")
    columns, bots = [], []
    with gr.Row(equal_height=False):
        for spec in specs:
            with gr.Column(visible=spec.name in default_agents, min_width=320) as col:
                gr.Markdown(f"**{spec.title}**", elem_classes=["compare-title"])
                bots.append(gr.Chatbot(label=spec.title, show_label=False, height=440,
                                       elem_id=f"compare-bot-{spec.name}",
                                       layout="panel", feedback_options=None, buttons=[]))
            columns.append(col)
    note = gr.Markdown("", elem_id="compare-note")
    summary = gr.Dataframe(value=summary_frame([], None), interactive=False, label="Summary", wrap=True,
                           column_widths=SUMMARY_WIDTHS, elem_id="compare-summary",
                           elem_classes=["compact-table"])

    agents.change(lambda chosen: [gr.Column(visible=s.name in (chosen or [])) for s in specs], [agents], columns,
                  api_visibility="private", queue=False)

    def known_gold(q: str) -> tuple[Any, Any]:
        gold = known.get(normalise_question(q or ""))
        if gold is None:
            return gr.skip(), gr.skip()
        return "\n".join(gold.answers), ", ".join(gold.gold_ids)

    question.change(known_gold, [question], [gold_answers, gold_ids], api_visibility="private", queue=False,
                    show_progress="hidden")

    def compare(q: str, corpus_name: str, chosen: list[str], answers_text: str, ids_text: str,
                stored_user: str | None = None, request: gr.Request = None  # type: ignore[assignment]
                ) -> Iterator[tuple[Any, ...]]:
        chats: list[list[dict[str, Any]]] = [[] for _ in specs]
        q = (q or "").strip()
        chosen = [s.name for s in specs if s.name in (chosen or [])]
        gold = parse_gold(answers_text, ids_text) or known.get(normalise_question(q))
        rows: list[dict[str, Any]] = []

        def state(text: str = "") -> tuple[Any, ...]:
            return (*chats, summary_frame(rows, gold), text)

        if not q or not chosen or not corpus_name:
            gr.Warning("Type a question, pick a corpus and at least one agent.")
            yield state("")
            return
        gold_note = ""
        if gold:
            gold_note = (f" · gold: {', '.join(gold.answers) or '—'}"
                         f" ({len(gold.gold_ids)} supporting passages)")
        column = {s.name: j for j, s in enumerate(specs)}
        steps = {name: [{"role": "user", "content": plain(q)}] for name in chosen}
        seen = {name: Context() for name in chosen}  # each run's passage titles so far
        running = list(chosen)
        for name in chosen:
            chats[column[name]] = steps[name] + [pending_message(waiting(name))]

        def progress() -> str:
            return f"Running **{', '.join(running)}** ({len(chosen) - len(running)} of {len(chosen)} done){gold_note}"

        yield state(progress())
        owner = services.owner(user_key(stored_user, request))
        for name, kind, payload in stream_runs(services, chosen, corpus_name, q, owner):
            i = column[name]
            if kind == "waiting":
                chats[i] = steps[name] + [pending_message(queue_note(services, payload))]
            elif kind == "event":
                seen[name].titles.update(passage_titles([payload]))
                steps[name].append(event_to_message(payload, seen[name]))
                chats[i] = steps[name] + [pending_message(waiting(name, payload.kind))]
            else:
                running.remove(name)
                if kind == "done":
                    chats[i] = steps[name] + [answer_message(payload)]
                    rows.append(summary_row(name, payload, gold))
                    rows.sort(key=lambda row: chosen.index(row["agent"]))
                else:
                    gr.Warning(html.escape(f"{name}: {payload}"))  # toasts render HTML
                    chats[i] = [steps[name][0], {"role": "assistant", "content": f"⚠️ {plain(payload)}"}]
            if running:
                yield state(progress())
        yield state(f"Done: {len(rows)} agents compared{gold_note}.")

    outputs = [*bots, summary, note]
    inputs = [question, corpus, agents, gold_answers, gold_ids, user]
    limit = handlers_at_once(services)  # each agent's run then waits for a run slot (services.RunQueue)
    run_btn.click(compare, inputs, outputs, api_name="compare", concurrency_id=RUN_CONCURRENCY,
                  concurrency_limit=limit, show_progress="hidden")
    question.submit(compare, inputs, outputs, api_visibility="private", concurrency_id=RUN_CONCURRENCY,
                    concurrency_limit=limit, show_progress="hidden")
    return CompareTab(corpus=corpus)
