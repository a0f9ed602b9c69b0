"""Chat tab: ask an agent a question and watch each step appear as a collapsible message."""

from __future__ import annotations

import html
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

import gradio as gr

from agents import registry
from ui import hints
from ui.common import (
    DEFAULT_CORPUS,
    RUN_CONCURRENCY,
    ConfigWidgets,
    agent_card,
    agent_choices,
    config_widgets,
    corpus_names,
    default_corpus,
    handlers_at_once,
    queue_note,
    settled,
    status_line,
)
from ui.details import passage_titles
from ui.glossary import Context
from ui.markdown import plain
from ui.messages import answer_message, event_to_message, figure_message, pending_message, share_link
from ui.users import user_key

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger(__name__)


class RunResult(TypedDict):
    """What the API's /run returns."""

    run_id: str  # the stored run; open it with /open_run or the share link
    share_link: str  # "?run=<run_id>", relative to the app's URL
    answer: str  # the agent's answer ("" when the run failed)
    error: str  # why the run failed ("" when it did not)
    used_ids: list[str]  # passages the answer was read from
    retrieved_ids: list[str]  # every passage retrieved, in order
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    events: list[dict[str, Any]]  # every trace event: kind, explanation, typed data, timing


@dataclass
class ChatTab:
    """The components other tabs and the page load need."""

    corpus: gr.Dropdown
    status: gr.Markdown
    timer: gr.Timer
    chatbot: gr.Chatbot
    question: gr.Textbox
    restore: Any = None  # (prefs, stored user, request) -> updates of restore_outputs: the choices kept in the browser
    restore_inputs: list[Any] | None = None
    restore_outputs: list[Any] | None = None


def ask_stream(services: Services, question: str, history: list[dict[str, Any]] | None, corpus: str, agent: str,
               config: dict[str, Any], user: str = "", conversation: str = "",
               turns: list[dict[str, str]] | None = None) -> Iterator[list[dict[str, Any]]]:
    """Run one agent on one question, yielding the growing message list after every event.

    Chat agents get the user's key, the conversation id and its earlier `turns`; the finished turn is
    appended to `turns` (in place)."""
    history = list(history or [])
    question = (question or "").strip()
    if not question:
        gr.Warning("Type a question first.")
        yield history
        return
    history.append({"role": "user", "content": plain(question)})  # shown as typed: no markdown, no HTML
    indexing = services.demo_state == "indexing" and corpus == DEFAULT_CORPUS
    waiting = "Indexing the demo corpus…" if indexing else hints.waiting(agent)  # names what comes first
    yield history + [pending_message(waiting)]  # the question shows at once, whatever is ahead of it
    owner = services.owner(user)
    try:
        if not corpus and registry.get(agent).needs_corpus:
            raise ValueError("choose a corpus first (create one in the Corpora tab)")
        with services.queue.place(owner) as wait:
            while place := wait(1.0):  # every second: its place in line, until a run slot is free
                yield history + [pending_message(queue_note(services, place))]
            run = services.run(agent, corpus or "", question, config, owner=owner, user=user,
                               conversation=conversation, history=list(turns or []))
            ctx = Context()  # the run's passage titles so far: a step names passages, never their ids
            for event in run:
                ctx.titles.update(passage_titles([event]))
                history.append(event_to_message(event, ctx))
                picture = figure_message(event)  # a graph walk's picture, as in the viewer
                if picture:
                    history.append(picture)
                yield history + [pending_message(hints.waiting(agent, event.kind))]
    except (ValueError, LookupError) as exc:
        message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)  # a KeyError's quotes
        gr.Warning(html.escape(message))  # toasts render HTML
        history.append({"role": "assistant", "content": f"⚠️ {plain(message)}"})
        yield history
        return
    history.append(answer_message(run))
    if turns is not None and not run.error:
        turns += [{"role": "user", "content": question}, {"role": "assistant", "content": run.answer}]
    yield history


PREFS_KEY = "ragscope-chat-choices"
# the live character count under the question box (runs in the browser; LIMIT is replaced by the limit, 0 = none)
COUNT_JS = """(q) => { const n = [...(q || "").trim()].length, limit = LIMIT;
  if (!n) return "";
  const shown = n.toLocaleString("en") + (limit ? " / " + limit.toLocaleString("en") : "") + " characters";
  return limit && n > limit ? "⚠️ " + shown + ": shorten the question to ask it" : shown; }"""


def setting_fits(widget: gr.components.Component, value: Any) -> bool:
    """Whether a kept setting can still go into its input: the same kind of value, and one of its choices."""
    if value is None:
        return False
    if isinstance(widget, gr.Checkbox):
        return isinstance(value, bool)
    if isinstance(widget, gr.Number):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(widget, gr.Dropdown):
        return value in [c[1] if isinstance(c, tuple) else c for c in (widget.choices or [])]
    return isinstance(value, str)


def build(services: Services, user: gr.components.Component | None = None) -> ChatTab:
    """Lay out the Chat tab (inside the current Tab context) and wire its events; `user` holds the
    browser's id (ui/users.py): runs and chat agents' memories are that user's."""
    names = corpus_names(services)
    specs = registry.all_specs()
    first = specs[0].name if specs else None
    history = gr.State([])
    turns = gr.State([])  # this conversation's user turns and answers, for chat agents
    conversation = gr.State(lambda: uuid.uuid4().hex[:12])
    user = user if user is not None else gr.State("")
    prefs = gr.BrowserState({}, storage_key=PREFS_KEY)  # agent, corpus and settings, kept across reloads
    shown = hints.examples(services, default_corpus(names), first or "", services.owner(""))
    examples = gr.State(shown)  # the example questions now offered (a click on one fills the box)
    limit = int(getattr(services.settings, "max_question_chars", 0) or 0)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300, elem_classes=["side-panel"]):
            corpus = gr.Dropdown(choices=names, value=default_corpus(names), label="Corpus", allow_custom_value=True,
                                 elem_id="chat-corpus")
            agent = gr.Dropdown(choices=agent_choices(), value=first, label="Agent", elem_id="chat-agent")
            card = gr.Markdown(agent_card(first or ""), elem_classes=["agent-card"])
            with gr.Accordion("Agent settings", open=False):
                widgets: ConfigWidgets = config_widgets(first or "")
            status = gr.Markdown(lambda: status_line(services), elem_id="chat-status",  # read at each page load
                                 elem_classes=["status-line"])
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(
                label="Agent trace", show_label=False, height=560, elem_id="chat-bot", buttons=[], layout="panel",
                placeholder=hints.hint(services, default_corpus(names), first or "", services.owner("")),
                feedback_options=None,
            )
            with gr.Row():
                question = gr.Textbox(placeholder="Ask a question and press Enter…", show_label=False, scale=6,
                                      elem_id="chat-question", autofocus=True, max_lines=4)
                send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="chat-send")
                new = gr.Button("New chat", scale=1, min_width=80, elem_id="chat-new")
            count = gr.Markdown("", elem_id="chat-count", elem_classes=["char-count"])
            example_set = gr.Dataset(components=[question], samples=[[q] for q in shown], type="index",
                                     label="Example questions", elem_id="chat-examples", samples_per_page=8)
    timer = gr.Timer(3.0)  # every page polls until settled (a build-time value would freeze a stale status)

    def on_agent(name: str) -> list[Any]:
        return [agent_card(name), *widgets.visibility(name)]

    agent.change(on_agent, [agent], [card, *widgets.groups.values()], api_visibility="private", queue=False)

    def follow(corpus_name: str | None, agent_name: str, stored_user: str, request: gr.Request) -> tuple[Any, ...]:
        """The hint, example questions and status line for the corpus and agent now chosen."""
        owner = services.owner(user_key(stored_user, request))
        offered = hints.examples(services, corpus_name, agent_name, owner)
        return (gr.Chatbot(placeholder=hints.hint(services, corpus_name, agent_name, owner)),
                gr.Dataset(samples=[[q] for q in offered]), offered, status_line(services, corpus_name))

    followers = [chatbot, example_set, examples, status]
    gr.on([corpus.change, agent.change], follow, [corpus, agent, user], followers, api_visibility="private",
          show_progress="hidden")
    example_set.click(lambda i, offered: offered[i] if i is not None and i < len(offered) else gr.skip(),
                      [example_set, examples], [question], api_visibility="private", queue=False)
    question.change(None, [question], [count], js=COUNT_JS.replace("LIMIT", str(limit)), queue=False)

    def save(agent_name: str, corpus_name: str | None, *values: Any) -> dict[str, Any]:
        """What this browser keeps: the agent, the corpus and every agent setting, by 'agent.field'."""
        config = {f"{a}.{f}": v for (a, f), v in zip(widgets.keys, values, strict=True)}
        return {"agent": agent_name, "corpus": corpus_name, "config": config}

    gr.on([agent.input, corpus.input, *(w.input for w in widgets.inputs)], save, [agent, corpus, *widgets.inputs],
          [prefs], api_visibility="private", queue=False)

    def restore(kept: Any, stored_user: str, request: gr.Request) -> tuple[Any, ...]:
        """The agent, corpus and settings this browser chose before (each only if still valid)."""
        kept = kept if isinstance(kept, dict) else {}
        known = [s.name for s in specs]
        corpora = corpus_names(services, user_key(stored_user, request))
        config = kept.get("config") if isinstance(kept.get("config"), dict) else {}
        updates = [gr.Dropdown(value=kept["agent"]) if kept.get("agent") in known else gr.skip(),
                   gr.Dropdown(value=kept["corpus"]) if kept.get("corpus") in corpora else gr.skip()]
        for (a, f), widget in zip(widgets.keys, widgets.inputs, strict=True):
            value = config.get(f"{a}.{f}")
            updates.append(gr.update(value=value) if setting_fits(widget, value) else gr.skip())
        return tuple(updates)

    def ask(question_text: str, hist: list[dict[str, Any]], corpus_name: str, agent_name: str,
            conversation_id: str, past: list[dict[str, str]], stored_user: str | None = None,
            request: gr.Request = None, *cfg: Any) -> Iterator[tuple[Any, ...]]:  # type: ignore[assignment]
        # the browser's id is optional in the API (question, corpus, agent[, user, …]): a client without one
        # is its session's user (ui/users.py)
        grown = list(past or [])
        for messages in ask_stream(services, question_text, hist, corpus_name, agent_name,
                                   widgets.values(agent_name, cfg), user_key(stored_user, request), conversation_id,
                                   grown):
            yield messages, [m for m in messages if (m.get("metadata") or {}).get("status") != "pending"], "", grown

    inputs = [question, history, corpus, agent, conversation, turns, user, *widgets.inputs]
    outputs = [chatbot, history, question, turns]

    def ask_in_page(question_text: str, hist: list[dict[str, Any]], corpus_name: str, agent_name: str,
                    conversation_id: str, past: list[dict[str, str]], stored_user: str | None = None,
                    request: gr.Request = None, *cfg: Any) -> Iterator[dict[Any, Any]]:  # type: ignore[assignment]
        """`ask` for the page: the box is emptied once, when the question is taken, so a question typed while
        this one runs stays in the box (and is asked next: see trigger_mode below), never wiped by a step. A
        question over the limit is not taken: it stays in the box, to be shortened."""
        n = len((question_text or "").strip())
        if limit and n > limit:
            gr.Warning(f"Your question has {n:,} characters; at most {limit:,} are allowed. Shorten it (it is still "
                       "in the box) and press Enter again.")
            yield {question: gr.skip()}
            return
        steps = ask(question_text, hist, corpus_name, agent_name, conversation_id, past, stored_user, request, *cfg)
        for i, (messages, shown, _, grown) in enumerate(steps):
            yield {chatbot: messages, history: shown, turns: grown, **({question: ""} if i == 0 else {})}

    # gradio starts more handlers than there are run slots: each question shows at once, then waits in the
    # services' line (services.RunQueue) with its place shown. Enter and the button are one event, so a question
    # sent while this page's run streams waits for it ("always_last": the latest one runs next, with the chat so far)
    # instead of running beside it on the same chat.
    event = gr.on([question.submit, send.click], ask_in_page, inputs, outputs, api_visibility="private",
                  trigger_mode="always_last", concurrency_id=RUN_CONCURRENCY,
                  concurrency_limit=handlers_at_once(services), show_progress="hidden")
    event.then(lambda name: status_line(services, name), [corpus], [status], api_visibility="private", queue=False)
    # the API's "ask" (gradio_client): the same generator, from a button the page never shows; the agent's settings
    # come as one `config` dict (as /run takes them), not as every agent's widgets
    api_config = gr.JSON(None, visible=False, label="config")

    def ask_api(question: str, history: list[dict[str, Any]], corpus: str, agent: str, conversation: str,
                turns: list[dict[str, str]], config: dict[str, Any] | None = None,
                request: gr.Request = None) -> Iterator[tuple[Any, ...]]:  # type: ignore[assignment]
        """Ask `agent` about `corpus` in this session's chat; streams the chat's messages after every step.
        `config` holds the agent's settings by field name (see /run); the chat goes on across calls."""
        grown = list(turns or [])
        for messages in ask_stream(services, question, history, corpus, agent, dict(config or {}),
                                   user_key("", request), conversation, grown):
            yield messages, [m for m in messages if (m.get("metadata") or {}).get("status") != "pending"], "", grown

    api_ask = gr.Button(visible=False, elem_id="chat-api-ask")
    api_ask.click(ask_api, [question, history, corpus, agent, conversation, turns, api_config], outputs,
                  api_name="ask", concurrency_id=RUN_CONCURRENCY, concurrency_limit=handlers_at_once(services),
                  show_progress="hidden")
    # a new conversation; the long-term memory of chat agents (TiM) stays
    new.click(lambda: ([], [], "", [], uuid.uuid4().hex[:12]), None, [chatbot, history, question, turns, conversation],
              api_visibility="private", queue=False)

    def run_api(question: str, corpus: str = "demo", agent: str = "naive", config: dict[str, Any] | None = None,
                request: gr.Request = None) -> RunResult:  # type: ignore[assignment] - gradio passes it
        """Run an agent on a question to the end and return the stored run as JSON.

        Args:
            question: the question to answer
            corpus: the corpus to search ("demo" is the bundled one)
            agent: naive, auto_rag, iter_retgen, hipporag, retro_rag, tim, window or full_history
            config: the agent's settings by field name, e.g. {"top_k": 3}; a bad value names the field and its type
        Returns:
            run_id, share_link, answer, error, used_ids, retrieved_ids, llm_calls, prompt_tokens,
            completion_tokens, seconds, events
        """
        key = user_key("", request)  # an API client's session (one per gradio_client Client)
        owner = services.owner(key)
        try:
            with services.queue.place(owner) as wait:
                while wait(60.0):
                    pass
                run = services.run(agent, corpus, question, config or {}, owner=owner, user=key)
                events = [e.to_dict() for e in run]
        except (ValueError, LookupError) as exc:
            message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)  # a KeyError's quotes
            raise gr.Error(message) from exc
        return RunResult(run_id=run.run_id, share_link=share_link(run.run_id), answer=run.answer, error=run.error,
                         used_ids=run.used_ids, retrieved_ids=run.retrieved_ids, llm_calls=run.llm_calls,
                         prompt_tokens=run.prompt_tokens, completion_tokens=run.completion_tokens,
                         seconds=round(run.seconds, 3), events=events)

    run_api.__annotations__["return"] = RunResult  # gradio reads the raw annotation (a string under __future__)
    gr.api(run_api, api_name="run", concurrency_id=RUN_CONCURRENCY, concurrency_limit=handlers_at_once(services))

    def tick(corpus_name: str | None) -> tuple[str, Any]:
        return status_line(services, corpus_name), gr.Timer(active=not settled(services))

    timer.tick(tick, [corpus], [status, timer], api_visibility="private", show_progress="hidden")
    return ChatTab(corpus=corpus, status=status, timer=timer, chatbot=chatbot, question=question, restore=restore,
                   restore_inputs=[prefs, user], restore_outputs=[agent, corpus, *widgets.inputs])
