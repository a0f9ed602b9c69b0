"""Helpers the tabs share: corpus choices, agent config widgets, example and gold questions, status."""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from agents import registry
from agents.base import AgentSpec, describe
from ui.markdown import plain

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
DEMO_QUESTIONS = ROOT / "data" / "demo" / "questions.jsonl"
DEFAULT_CORPUS = "demo"
RUN_CONCURRENCY = "agent-run"  # chat, compare and the API share this gradio queue


def runs_at_once(services: Services) -> int:
    """How many runs (of every user together) go at once: the services' run slots (services.RunQueue)."""
    return int(services.queue.slots)


def handlers_at_once(services: Services) -> int:
    """How many run handlers gradio starts at once: more than the run slots, so a question is shown at once
    and waits in the services' line with its place shown; past this many, gradio's own queue holds them."""
    return max(64, 4 * runs_at_once(services))


def queue_note(services: Services, place: int) -> str:
    """'Waiting for a free run slot: 2nd in line (16 runs going, 16 at once)'."""
    suffix = "th" if 10 <= place % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(place % 10, "th")
    return (f"Waiting for a free run slot: {place}{suffix} in line ({services.queue.going} runs going, "
            f"{services.queue.slots} at once)")


def corpus_names(services: Services, user: str = "") -> list[str]:
    """Names of the corpora this user (a key from ui/users.py; '' before the page load) may use: their own
    and the shared ones, the demo corpus first (listed even before it is indexed)."""
    return services.corpus_names(services.owner(user))


def default_corpus(names: list[str]) -> str | None:
    """'demo' when present, else the first corpus."""
    return DEFAULT_CORPUS if DEFAULT_CORPUS in names else (names[0] if names else None)


def agent_choices() -> list[tuple[str, str]]:
    """(label, name) of every registered agent, for dropdowns and checkbox groups."""
    return [(f"{s.title}", s.name) for s in registry.all_specs()]


def agent_card(name: str) -> str:
    """Markdown: an agent's title, summary and paper."""
    try:
        spec = registry.get(name or "")
    except KeyError:
        return ""
    return f"**{spec.title}** — {spec.summary}<br><small>📄 {spec.paper}</small>"


def load_examples(path: Path = DEMO_QUESTIONS, n: int = 6) -> list[str]:
    """The first n questions of a questions.jsonl (empty when the file is missing)."""
    out: list[str] = []
    try:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    out.append(json.loads(line)["question"])
                if len(out) >= n:
                    break
    except (OSError, ValueError, KeyError):
        log.warning("could not read example questions from %s", path)
    return out


@dataclass(frozen=True)
class Gold:
    """A known question's gold answers and supporting passage ids."""

    answers: tuple[str, ...]
    gold_ids: tuple[str, ...]


def known_questions(root: Path = ROOT / "data") -> dict[str, Gold]:
    """Normalised question text -> gold, from every questions.jsonl under data/."""
    out: dict[str, Gold] = {}
    for path in sorted(root.rglob("questions.jsonl")):
        try:
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    d = json.loads(line)
                    out[normalise_question(d["question"])] = Gold(tuple(d.get("answers", [])),
                                                                  tuple(d.get("gold_ids", [])))
        except (OSError, ValueError, KeyError):
            log.warning("skipping unreadable questions file %s", path)
    return out


def normalise_question(text: str) -> str:
    """Lower-case, single-spaced, without a trailing question mark."""
    return " ".join(text.lower().split()).rstrip("?").strip()


# --- agent config widgets -----------------------------------------------------------------------
@dataclass
class ConfigWidgets:
    """The config inputs of every agent: one group per agent, shown when that agent is selected."""

    groups: dict[str, gr.Group] = field(default_factory=dict)
    inputs: list[gr.components.Component] = field(default_factory=list)
    keys: list[tuple[str, str]] = field(default_factory=list)  # (agent, field) per input

    def values(self, agent: str, raw: tuple[Any, ...]) -> dict[str, Any]:
        """The chosen agent's config dict from the flat input values."""
        return {f: v for (a, f), v in zip(self.keys, raw, strict=True) if a == agent and v is not None}

    def visibility(self, agent: str) -> list[Any]:
        """Updates showing only `agent`'s group."""
        return [gr.update(visible=name == agent) for name in self.groups]


def config_widget(f: dataclasses.Field[Any], spec: AgentSpec) -> gr.components.Component:
    """One input for one config field: dropdown for choices, checkbox for bools, number otherwise."""
    label = f.name.replace("_", " ")
    info = describe(f) or None
    meta = f.metadata
    if meta.get("choices"):
        return gr.Dropdown(choices=list(meta["choices"]), value=f.default, label=label, info=info,
                           elem_id=f"cfg-{spec.name}-{f.name}")
    if isinstance(f.default, bool):
        return gr.Checkbox(value=f.default, label=label, info=info, elem_id=f"cfg-{spec.name}-{f.name}")
    if isinstance(f.default, (int, float)):
        return gr.Number(value=f.default, label=label, info=info, minimum=meta.get("min"), maximum=meta.get("max"),
                         precision=0 if isinstance(f.default, int) else None,
                         step=1 if isinstance(f.default, int) else 0.05, elem_id=f"cfg-{spec.name}-{f.name}")
    return gr.Textbox(value=str(f.default), label=label, info=info, elem_id=f"cfg-{spec.name}-{f.name}")


def config_widgets(selected: str) -> ConfigWidgets:
    """Build (in the current Blocks context) the config inputs of every registered agent."""
    out = ConfigWidgets()
    for spec in registry.all_specs():
        with gr.Group(visible=spec.name == selected) as group:
            fields = dataclasses.fields(spec.config_cls)
            if not fields:
                gr.Markdown("_This agent has no settings._")
            for f in fields:  # stacked: the side panel is narrow and each field has a description
                out.inputs.append(config_widget(f, spec))
                out.keys.append((spec.name, f.name))
        out.groups[spec.name] = group
    return out


# --- status --------------------------------------------------------------------------------------
def status_line(services: Services, corpus: str | None = DEFAULT_CORPUS) -> str:
    """'Model: ready · Demo corpus: ready' (the demo corpus's state only while it is the corpus chosen)."""
    state = str(getattr(services.llm, "state", "ready"))
    icon = "🟢" if state == "ready" else ("🔴" if state.startswith("failed") else "🟡")
    model = getattr(services.llm, "name", "llm")
    if state == "not loaded":
        state = "not loaded yet"
    line = f"{icon} Model `{model}`: {state}"
    if corpus and corpus != DEFAULT_CORPUS:
        return f"{line} &nbsp;·&nbsp; 📚 Corpus: {plain(corpus)}"
    demo = services.demo_state if getattr(services.settings, "demo_corpus", False) else "off"
    dicon = "🟢" if demo == "ready" else ("⚪" if demo == "off" else "🟡")
    return f"{line} &nbsp;·&nbsp; {dicon} Demo corpus: {demo}"


def settled(services: Services) -> bool:
    """Whether model and demo corpus are done loading (the status line stops polling then)."""
    state = str(getattr(services.llm, "state", "ready"))
    demo_done = (not getattr(services.settings, "demo_corpus", False)) or services.demo_state == "ready"
    return demo_done and (state == "ready" or state.startswith("failed"))
