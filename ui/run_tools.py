"""The trace viewer's tools for the open run: where was the answer lost, why not this passage, replay with another
agent or settings (and the step-aligned diff), and the run as OpenTelemetry spans."""

from __future__ import annotations

import dataclasses
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from agents import registry
from evaluation.diff import RETRIEVAL_KINDS, diff_runs, first_divergence
from evaluation.lost import where_lost
from evaluation.stored import gold_for_run
from evaluation.why_not import NotAllowed, readable_corpus, why_not
from storage.models import PUBLIC
from storage.results import ResultStore
from ui.markdown import Markup, cell, plain, table
from ui.messages import share_link
from ui.stored import load_run
from ui.users import user_key

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger(__name__)
VERDICT_ICONS = {"not_retrieved": "🔍❌", "not_read": "📖❌", "wrong": "✍️❌", "right": "✅", "unjudged": "📖"}
_EXPORT_DIR = Path(tempfile.gettempdir()) / "ragscope-exports"
NO_GOLD = ("No gold passage is known for this run (it is not from a benchmark). Find the passage that answers it "
           "under **Why not this passage?** and mark it: this section then shows where the answer was lost.")


def _viewer(services: Services, stored_user: str, request: gr.Request | None) -> str:
    return services.owner(user_key(stored_user, request))


def _may_change(services: Services, run: dict[str, Any], viewer: str) -> bool:
    """Whether `viewer` may annotate this run: its owner (anyone in single-user mode)."""
    return services.settings.single_user or (run.get("owner") or PUBLIC) == viewer


def _titles(services: Services, run: dict[str, Any], viewer: str, ids: list[str]) -> dict[str, str]:
    """Titles of documents of the run's corpus (ids it cannot read stay ids)."""
    try:
        store = readable_corpus(services, run, viewer)
    except (LookupError, PermissionError):
        return {}
    out = {}
    for doc in ids:
        try:
            out[doc] = store.document(run["corpus"], doc)[0]
        except LookupError:
            continue
    return out


# --- where was the answer lost ------------------------------------------------------------------------
def lost_markdown(services: Services, run: dict[str, Any] | None, viewer: str = PUBLIC) -> str:
    """The verdict and, per retrieval step, each gold passage's rank and score (or 'not retrieved')."""
    if not run:
        return ""
    if not run.get("corpus"):
        return "This run used no corpus: there are no passages to judge it by."
    gold = gold_for_run(services, run)
    if gold is None or not (gold.gold_ids or gold.answers):
        return NO_GOLD
    report = where_lost(run.get("events") or [], gold.gold_ids, gold.answers, run.get("answer") or "")
    if report is None:
        return NO_GOLD
    titles = {**_titles(services, run, viewer, [d for d in report.gold_ids if d not in report.titles]),
              **report.titles}
    verdict, _, rest = report.sentence.partition(": ")
    head = (f"**{VERDICT_ICONS[report.verdict]} {plain(verdict)}:** {plain(rest)}\n\n<small>Gold from "
            f"{plain(gold.source)}"
            + (f" · expected answer: {plain(' | '.join(gold.answers))}" if gold.answers else "") + "</small>")
    if not report.gold_ids:
        return head
    columns = ["step", "query"] + [f"“{titles.get(d) or d}”" for d in report.gold_ids]
    rows = []
    for step in report.steps:
        row: dict[str, Any] = {"step": f"{step.step} · {step.kind}", "query": step.query}
        for g, column in zip(step.gold, columns[2:], strict=True):
            row[column] = Markup(f"rank {g.rank}" + (f" ({g.score:.3f})" if g.score is not None else "")
                                 if g.rank is not None else "not retrieved")
        rows.append(row)
    read = ", ".join(f"“{plain(titles.get(d) or d)}”" for d in report.read) or "none"
    return (head + "\n\n" + table(rows, columns, max_rows=30) +
            f"\n\n<small>Gold passages given to the model: {read}.</small>")


# --- why not this passage ------------------------------------------------------------------------------
def passage_choices(services: Services, run: dict[str, Any] | None, viewer: str,
                    search: str = "") -> list[tuple[str, str]]:
    """(label, doc id) of passages of the run's corpus matching `search` (the gold passages first, unsearched)."""
    if not run or not run.get("corpus"):
        return []
    store = readable_corpus(services, run, viewer)
    if search.strip():
        wanted = search.strip().lower()
        docs = sorted(store.documents(run["corpus"], search.strip()), key=lambda d: wanted not in d.title.lower())
        return [(f"{d.title} ({d.doc_id})", d.doc_id) for d in docs[:30]]  # title matches first
    gold = gold_for_run(services, run)
    ids = list(gold.gold_ids) if gold else []
    titles = _titles(services, run, viewer, ids)
    return [(f"{titles.get(d, d)} ({d}) · gold", d) for d in ids if d in titles]


def why_not_markdown(services: Services, run: dict[str, Any], doc_id: str, viewer: str) -> str:
    """Where one passage stood in every query of the run."""
    rows = why_not(services, run, doc_id, viewer)
    title = _titles(services, run, viewer, [doc_id]).get(doc_id, doc_id)
    if not rows:
        return f"This run made no search, so “{plain(title)}” could not have been retrieved."
    out = [{"step": f"{r.step} · {r.kind}", "query": r.query,
            "score": Markup("—" if r.score is None else f"{r.measure} {r.score:.4g}"),
            "rank": Markup("—" if r.rank is None else f"{r.rank:,} of {r.of:,}"),
            "cut-off": Markup(f"top {r.kept}" + (f", ≥ {r.cutoff:.4g}" if r.cutoff is not None else "")),
            "verdict": r.sentence()} for r in rows]
    hit = sum(r.retrieved for r in rows)
    if len(rows) == 1:
        lead = "came back from the run's one search." if hit else "did not come back from the run's one search."
    else:
        lead = (f"came back from {hit} of the run's {len(rows)} searches." if hit else
                f"did not come back from any of the run's {len(rows)} searches.")
    lead = f"**“{plain(title)}”** {lead}"
    return (lead + "\n\n" + table(out, ["step", "query", "score", "rank", "cut-off", "verdict"], max_rows=40)
            + "\n\n<small>Scores and ranks are recomputed now (cosine similarity to each query for dense searches; "
              "PageRank for graph walks, re-walked with the run's settings); a changed corpus can rank differently "
              "than the run saw.</small>")


# --- replay and diff ------------------------------------------------------------------------------------
def parse_config(text: str) -> dict[str, str]:
    """'top_k=8, linking=triple' (commas or new lines) as a dict; ValueError naming a bad pair."""
    out = {}
    for pair in re.split(r"[,\n]+", text or ""):
        if not pair.strip():
            continue
        if "=" not in pair:
            raise ValueError(f"settings are key=value pairs; got {pair.strip()!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def settings_help(agent: str) -> str:
    """The agent's settings with their defaults, for the replay box."""
    try:
        spec = registry.get(agent or "")
    except KeyError:
        return ""
    fields = dataclasses.fields(spec.config_cls)
    listed = "; ".join(f"`{f.name}` ({plain(f.default)})" for f in fields) or "none"
    return f"<small>Settings of {plain(spec.name)} (key=value, comma-separated; empty = defaults): {listed}</small>"


def diff_markdown(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Run A (the source) against run B (the replay): where they diverged, answers, cost, passages, steps."""
    d = diff_runs(a, b)

    def names(ids: list[str]) -> str:
        return ", ".join(f"“{plain(d.titles.get(i) or i)}”" for i in ids) or "—"

    def config(run: dict[str, Any]) -> str:
        return ", ".join(f"{k}={v}" for k, v in (run.get("config") or {}).items()) or "defaults"

    head = (f"**A** = [`{a['id'][:8]}`]({share_link(a['id'])}) {plain(a['agent'])} ({cell(config(a), 160)}) · "
            f"**B** = [`{b['id'][:8]}`]({share_link(b['id'])}) {plain(b['agent'])} ({cell(config(b), 160)})\n\n"
            f"**{plain(first_divergence(d))}**\n\n"
            f"| | A | B |\n|---|---|---|\n| answer | {cell(d.answer_a or '—')} | {cell(d.answer_b or '—')} |\n"
            + "".join(f"| {name} | {x:g} | {y:g} |\n" for name, x, y in d.cost)
            + f"\nPassages only A retrieved: {names(d.only_a)}  \nBoth: {names(d.both)}  \n"
              f"Only B retrieved: {names(d.only_b)}\n\n")

    def side(s: Any) -> str:
        if s is None:
            return "—"
        if s.kind in RETRIEVAL_KINDS:
            what = "; ".join(plain(d.titles.get(p) or p) for p in s.passages[:5]) or "nothing"
            return f"{s.number}. {s.kind}: {what}"
        if s.answer is not None:
            return f"{s.number}. {s.kind}: ‘{cell(s.answer, 60)}’"
        return f"{s.number}. {s.kind}: {cell(s.explanation, 80)}"

    rows = [{"#": str(i + 1), "A": Markup(side(p.a)), "B": Markup(side(p.b)), "same": "✓" if p.same else "✗"}
            for i, p in enumerate(d.pairs)]
    return head + "**Steps, aligned**\n\n" + table(rows, ["#", "A", "B", "same"], max_rows=60)


def replay_markdown(services: Services, run: dict[str, Any] | None) -> str:
    """For a replay: its diff against the run it replays; for a replayed run: its replays, diffed to the last."""
    if not run:
        return ""
    results = ResultStore(services.db)
    source = results.replay_of(run["id"])
    if source:
        try:
            return "This run is a replay.\n\n" + diff_markdown(load_run(services, source), run)
        except LookupError:
            return "This run replays a run that no longer exists."
    replays = results.replays(run["id"])
    if not replays:
        return ""
    links = ", ".join(f"[`{r[:8]}`]({share_link(r)})" for r in replays)
    last = load_run(services, replays[-1])
    return f"Replays of this run: {links}. The latest:\n\n" + diff_markdown(run, last)


def build(services: Services, run_state: gr.State, user: gr.components.Component, open_run: Callable[[str], Any],
          open_outputs: list[Any]) -> None:
    """Lay out the tools under the viewer's steps and wire them to the open run (`run_state`)."""
    corpus_agents = [(s.title, s.name) for s in registry.all_specs() if s.needs_corpus]
    with gr.Accordion("🎯 Where was the answer lost?", open=True, elem_id="viewer-lost-box"):
        lost = gr.Markdown("", elem_id="viewer-lost", elem_classes=["io-box"])
    with gr.Accordion("🔎 Why not this passage?", open=False, elem_id="viewer-whynot-box"):
        gr.Markdown("Pick a passage of this run's corpus: for every search the run made, its similarity and rank, "
                    "and the cut-off that kept it out (PageRank for graph walks).")
        with gr.Row(equal_height=True):
            search = gr.Textbox(placeholder="Search the corpus by title or text…", show_label=False, scale=3,
                                elem_id="viewer-whynot-search")
            picked = gr.Dropdown(choices=[], value=None, show_label=False, scale=3, elem_id="viewer-whynot-pick")
            check = gr.Button("Why not?", scale=1, min_width=90, elem_id="viewer-whynot-check")
        whynot = gr.Markdown("", elem_id="viewer-whynot", elem_classes=["io-box"])
        mark = gr.Button("✔ This passage answers the question (mark it as gold)", size="sm",
                         elem_id="viewer-whynot-mark")
    with gr.Accordion("🔁 Replay with another agent or settings", open=False, elem_id="viewer-replay-box") as box:
        with gr.Row(equal_height=True):
            agent = gr.Dropdown(choices=corpus_agents, value="hipporag", label="Agent", scale=1,
                                elem_id="viewer-replay-agent")
            settings = gr.Textbox(label="Settings", placeholder="e.g. top_k=8", scale=2,
                                  elem_id="viewer-replay-settings")
            replay = gr.Button("Replay", variant="primary", scale=0, min_width=100, elem_id="viewer-replay-run")
        settings_info = gr.Markdown(settings_help("hipporag"), elem_id="viewer-replay-help")
        gr.Markdown(f"<small>Model: `{plain(getattr(services.llm, 'name', 'llm'))}`, the one this app serves "
                    "(replaying with another model needs an app configured with it).</small>")
        status = gr.Markdown("", elem_id="viewer-replay-status")
        diff = gr.Markdown("", elem_id="viewer-replay-diff", elem_classes=["io-box"])
    with gr.Accordion("📡 OpenTelemetry (Phoenix)", open=False, elem_id="viewer-otel-box"):
        endpoint = services.settings.otlp_endpoint
        gr.Markdown(f"The run as OpenInference spans. Collector: `{plain(endpoint)}` (every run is sent live)."
                    if endpoint else "Set `RAGSCOPE_OTLP_ENDPOINT` (e.g. Phoenix at `http://127.0.0.1:6006`) to "
                                     "send runs to a collector; the file below is the same trace as OTLP/JSON.")
        with gr.Row():
            send = gr.Button("Send this run to the collector", interactive=bool(endpoint), elem_id="viewer-otel-send")
            download = gr.DownloadButton("⬇ OTLP JSON", value=None, interactive=False, elem_id="viewer-otel-json")
        sent = gr.Markdown("", elem_id="viewer-otel-status")

    def refresh(run: dict[str, Any] | None, stored_user: str = "", request: gr.Request = None  # type: ignore[assignment]
                ) -> tuple[Any, ...]:
        viewer = _viewer(services, stored_user, request)
        try:
            choices = passage_choices(services, run, viewer)
        except (LookupError, PermissionError) as exc:
            choices, note = [], f"⚠️ {plain(exc)}"
        else:
            note = ""
        replayed = replay_markdown(services, run)
        return (lost_markdown(services, run, viewer), gr.Dropdown(choices=choices, value=None), note, replayed,
                gr.Accordion(open=True) if replayed else gr.skip())  # a replay opens with its diff shown

    run_state.change(refresh, [run_state, user], [lost, picked, whynot, diff, box],
                     api_visibility="private", show_progress="hidden")

    def find(run: dict[str, Any] | None, text: str, stored_user: str = "",
             request: gr.Request = None) -> Any:  # type: ignore[assignment]
        try:
            choices = passage_choices(services, run, _viewer(services, stored_user, request), text)
        except (LookupError, PermissionError) as exc:
            gr.Warning(plain(exc))
            return gr.skip()
        if not choices:
            gr.Info("No passage matches.")
        return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)

    search.submit(find, [run_state, search, user], [picked], api_visibility="private")

    def explain(run: dict[str, Any] | None, doc_id: str | None, stored_user: str = "",
                request: gr.Request = None) -> str:  # type: ignore[assignment]
        if not run or not doc_id:
            return "Open a run, then pick a passage."
        try:
            return why_not_markdown(services, run, doc_id, _viewer(services, stored_user, request))
        except NotAllowed as exc:
            return f"⚠️ {plain(exc)}."
        except LookupError as exc:
            return f"⚠️ {plain(exc)}"

    check.click(explain, [run_state, picked, user], [whynot], api_visibility="private")
    picked.input(explain, [run_state, picked, user], [whynot], api_visibility="private")

    def mark_gold(run: dict[str, Any] | None, doc_id: str | None, stored_user: str = "",
                  request: gr.Request = None) -> str:  # type: ignore[assignment]
        viewer = _viewer(services, stored_user, request)
        if not run or not doc_id:
            gr.Warning("Pick a passage first.")
            return gr.skip()
        if not _may_change(services, run, viewer):
            gr.Warning("Only the person who made this run can mark its gold passage.")
            return gr.skip()
        known = gold_for_run(services, run)
        ids = list(dict.fromkeys([*(known.gold_ids if known else ()), doc_id]))
        ResultStore(services.db).set_gold(run["id"], ids, list(known.answers) if known else [], "your annotation")
        gr.Info("Marked as a gold passage of this run.")
        return lost_markdown(services, run, viewer)

    mark.click(mark_gold, [run_state, picked, user], [lost], api_visibility="private")
    agent.change(settings_help, [agent], [settings_info], api_visibility="private", queue=False)

    def do_replay(run: dict[str, Any] | None, agent_name: str, text: str, stored_user: str = "",
                  request: gr.Request = None  # type: ignore[assignment]
                  ) -> Iterator[tuple[Any, ...]]:
        idle = tuple(gr.skip() for _ in open_outputs)
        viewer = _viewer(services, stored_user, request)
        try:
            if not run:
                raise ValueError("open a run first")
            if not registry.get(run["agent"]).needs_corpus:
                raise ValueError("replay is for agents that answer from a corpus; this is a chat agent's run")
            readable_corpus(services, run, viewer)
            config = parse_config(text)
            with services.queue.place(viewer) as wait:
                while place := wait(1.0):
                    yield (f"⏳ Waiting for a free run slot ({place} in line)…", *idle)
                replay_run = services.run(agent_name, run["corpus"], run["question"], config, owner=viewer)
                ResultStore(services.db).link_replay(replay_run.run_id, run["id"])
                for event in replay_run:
                    yield (f"⏳ Replaying with {plain(agent_name)}: {plain(event.kind)} — "
                           f"{cell(event.explanation, 140)}", *idle)
        except (ValueError, LookupError, PermissionError) as exc:
            gr.Warning(plain(exc))
            yield (f"⚠️ {plain(exc)}", *idle)
            return
        yield (f"✅ Replay stored as run [`{replay_run.run_id}`]({share_link(replay_run.run_id)}) (its share link "
               f"shows this diff too); {time.strftime('%H:%M:%S')}.", *open_run(replay_run.run_id))

    replay.click(do_replay, [run_state, agent, settings, user], [status, *open_outputs], api_visibility="private")

    def to_collector(run: dict[str, Any] | None) -> str:
        if not run or services.tracer is None:
            return "Open a run (and set RAGSCOPE_OTLP_ENDPOINT)."
        if not services.tracer.export_run(run):
            return f"⚠️ The collector at `{plain(services.settings.otlp_endpoint)}` did not take the spans."
        return f"Sent: trace `{run['id']}` (the run id) with {len(run.get('events') or [])} steps."

    send.click(to_collector, [run_state], [sent], api_visibility="private")

    def otlp_file(run: dict[str, Any] | None) -> Any:
        from tracing.openinference import otlp_json

        if not run:
            return gr.skip()
        _EXPORT_DIR.mkdir(parents=True, exist_ok=True)
        path = _EXPORT_DIR / f"ragscope-trace-{run['id']}.json"
        path.write_text(otlp_json(run, getattr(services.llm, "name", "")), encoding="utf-8")
        return gr.DownloadButton(value=str(path), interactive=True)

    run_state.change(otlp_file, [run_state], [download], api_visibility="private", show_progress="hidden")
