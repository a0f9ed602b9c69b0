"""Every event fixture rendered through the UI's public functions, compared with outputs stored before the UI's
renderers were reorganised (issue 26): the same events must read the same, to the character.

Regenerate only on purpose (a change meant to alter what a person sees): `python -m tests.unit.test_ui_golden`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from agents.events import TraceEvent
from evaluation.calibration import Calibration
from tests.unit import ui_events as fx

GOLDEN = Path(__file__).parent / "golden" / "ui_render.json"
OLD_SUPPORTED = {"status": "supported", "doc_id": fx.GUILD, "title": "Guild of Tidewardens",
                 "checks": [{"doc_id": fx.GUILD, "title": "Guild of Tidewardens", "coverage": 1.0, "log_odds": 6.0,
                             "supported": True}]}
NEW_SUPPORTED = {"status": "supported", "doc_id": fx.GUILD, "title": "Guild of Tidewardens", "checks": [fx.CHECK],
                 "holders": [fx.GUILD]}
MEMORY_LABEL = {"status": "not_in_memory", "sentence": "Not in memory: nothing about you is remembered yet <yet>."}


def events() -> dict[str, TraceEvent]:
    """Every event fixture of the UI tests, and a few more kinds and shapes (old stored groundings among them)."""
    recall, write = fx.tim_events()
    out = {"retrieve": fx.retrieve_event(), "read": fx.read_event(), "graph": fx.graph_event(),
           "plan": fx.plan_event(), "auto_rag_read": fx.auto_rag_read_event(),
           "hipporag_walk": fx.hipporag_walk_event(),
           "tim_recall": recall, "tim_write": write, "retro_revise": fx.retro_revise_event()}
    before = [{"id": "e1", "claim": "The Orvane Guild was founded in Tallow.", "kind": "source", "entity": "Orvane",
               "numbers": [1], "passages": ["d1"], "status": "active"}]
    after = [{**before[0], "status": "withdrawn", "withdrawn_by": "e3", "reason": "passage 3 gives Pellow"},
             {"id": "e3", "claim": "The Orvane Guild was founded in Pellow.", "kind": "source", "entity": "Charters",
              "numbers": [3], "passages": ["d3"], "status": "active", "conflicts": ["e1"]}]
    more = [
        TraceEvent(agent="retro_rag", kind="revise", explanation="Withdrew e1.",
                   data={"before": before, "after": after, "passages": ["d1", "d3"], "operation": "retroact",
                         "withdrawn": ["e1"], "added": [], "checks": [
                             {"earlier": "e1", "new": "e3", "option": "yes", "log_odds": 2.5, "disagree": True}]}),
        TraceEvent(agent="retro_rag", kind="evidence", explanation="The set.",
                   data={"before": [], "after": before, "passages": ["d1"]}),
        TraceEvent(agent="naive", kind="error", explanation="The run failed: boom", data={"error": "boom <b>"}),
        TraceEvent(agent="auto_rag", kind="rewrite", explanation="Next: who founded it?",
                   data={"query": "Who founded the Guild?", "previous_query": "Which guild?", "turn": 2,
                         "reply": "Who founded the Guild?", "prompt": [{"role": "user", "content": "Rewrite."}]},
                   llm_calls=1, prompt_tokens=40, completion_tokens=6, seconds=0.8),
        TraceEvent(agent="x", kind="plan", explanation="Planned.", data={"decision": "retrieve", "n": 2}),
        TraceEvent(agent="auto_rag", kind="answer", explanation="Answers 'Corwen Halloway'.",
                   data={"answer": "Corwen Halloway", "passages": [fx.VILLAGE, fx.GUILD], "grounding": NEW_SUPPORTED,
                         "queries": ["Which guild?", "Who founded the Guild?"], "notes": ["a note"],
                         "settled": {"given": "chain", "why": "the chain's label is stronger"}},
                   llm_calls=1, prompt_tokens=300, completion_tokens=4, seconds=2.0),
        TraceEvent(agent="auto_rag", kind="answer", explanation="Answers (stored before the labels).",
                   data={"answer": "Corwen Halloway", "passages": [fx.GUILD], "grounding": OLD_SUPPORTED}),
        TraceEvent(agent="auto_rag", kind="answer", explanation="No answer.",
                   data={"answer": "(no answer)", "passages": [], "grounding": {"status": "nothing_relevant"}}),
        TraceEvent(agent="tim", kind="answer", explanation="Replies.",
                   data={"answer": "You haven't told me.", "passages": [], "memory": {
                       **MEMORY_LABEL, "checks": [{"id": "a", "text": "t", "log_odds": -1.2, "passed": False}]}}),
        TraceEvent(agent="tim", kind="memory_write", explanation="Forgot …", data={
            "operation": "forget", "before": [{"id": "a", "text": "Lives in Lisbon.", "status": "active"}],
            "after": [{"id": "a", "text": "Lives in Lisbon.", "status": "forgotten"}],
            "decision": {"relation": "update", "checks": [{"id": "a", "cosine": 0.8, "option": "update"}]}}),
        TraceEvent(agent="naive", kind="read", explanation="Baseline read.",
                   data={"passages": [fx.GUILD], "answer": "Halloway", "baseline": True,
                         "grounding": {"status": "found", "doc_id": fx.GUILD, "title": "Guild of Tidewardens",
                                       "holders": [fx.GUILD]}}),
    ]
    out.update({f"extra_{i}_{e.kind}": e for i, e in enumerate(more)})
    return out


def runs() -> dict[str, Any]:
    """Runs as chat holds them (objects) and as the viewer loads them from the database (dicts of event dicts)."""
    ev = events()
    walk, read, answer, old, none, memory, baseline = (ev["hipporag_walk"], ev["auto_rag_read"], ev["extra_5_answer"],
                                                       ev["extra_6_answer"], ev["extra_7_answer"],
                                                       ev["extra_8_answer"], ev["extra_10_read"])
    stored = {"id": "r9", "owner": "public", "question": "Who founded the guild?", "answer": "Corwen Halloway",
              "status": "done", "agent": "auto_rag", "corpus": "demo", "error": "",
              "config": {"max_turns": 3, "top_k": 5}, "retrieved_ids": [fx.GUILD, fx.VILLAGE], "started": fx.CREATED,
              "seconds": 20.5, "llm_calls": 4, "prompt_tokens": 1465, "completion_tokens": 16}
    return {
        "live": SimpleNamespace(events=[walk, read, answer], answer="Corwen Halloway", run_id="r1", error="",
                                used_ids=[fx.VILLAGE, fx.GUILD], seconds=18.0),
        "memory": SimpleNamespace(events=[memory], answer="You haven't told me.", run_id="r2", error="", used_ids=[],
                                  seconds=0.1),
        "failed": SimpleNamespace(events=[ev["retrieve"], ev["extra_2_error"]], answer="", run_id="", error="boom",
                                  used_ids=[], seconds=0.0),
        "stored": {**stored, "events": [e.to_dict() for e in (walk, read, answer)]},
        "stored_old": {**stored, "events": [e.to_dict() for e in (ev["retrieve"], old)]},
        "stored_none": {**stored, "answer": "(no answer)", "events": [e.to_dict() for e in (ev["retrieve"], none)]},
        "stored_cited": {**stored, "events": [e.to_dict() for e in (ev["retrieve"], ev["read"])]},
        "stored_baseline": {**stored, "events": [e.to_dict() for e in (walk, baseline, read)]},
        "stored_used": {**stored, "used_ids": [fx.GUILD], "events": [e.to_dict() for e in (walk, answer)]},
        "stored_error": {**stored, "status": "error", "answer": "", "error": "boom",
                         "events": [e.to_dict() for e in (ev["retrieve"], ev["extra_2_error"])]},
    }


def _step(event: TraceEvent | dict[str, Any], ctx: Any) -> dict[str, Any]:
    """One step through every public function that renders a step (chat message, figure, viewer panes)."""
    from ui import details, messages

    e = messages.as_event(event)
    message, bare = messages.event_to_message(event, ctx), messages.event_to_message(event)
    return {"message": message, "message_no_ctx": "same" if bare == message else bare,
            "figure": messages.figure_message(event), "title": messages.step_title(e), "usage": messages.usage_line(e),
            "primary": details.primary_markdown(event, ctx),
            "primary_no_search": details.primary_markdown(event, ctx, search=False),
            "details_prompts": details.details_markdown(event, ctx, prompts=True),
            "chat_is_in_message": details.chat_markdown(event, ctx) in message["content"],
            "inputs": details.inputs_markdown(event, ctx),
            "outputs": details.outputs_markdown(event, ctx.titles, "Europe/Lisbon"),
            "header": details.step_header(event, 1, 3)}


def render() -> dict[str, Any]:
    """Everything the UI's public rendering functions make of the fixtures (text and HTML only), with a fixed
    calibration in place of the shipped results' (which change whenever a benchmark is added)."""
    from unittest import mock

    calibration = Calibration({"found": (3, 10), "supported": (41, 50)}, ("MuSiQue questions",))
    with mock.patch("ui.messages.reference", return_value=calibration):
        return _render(calibration)


def _render(calibration: Calibration) -> dict[str, Any]:
    from ui import details, messages, viewer
    from ui.stored import upgrade_run

    ev = events()
    every = list(ev.values())
    ctx = details.context(every, "Europe/Lisbon")
    out: dict[str, Any] = {"timeline_choices": details.timeline_choices(every),
                           "timeline_markdown": details.timeline_markdown(every, 2),
                           "passage_titles": details.passage_titles(every)}
    for name, e in ev.items():
        out[name] = _step(e, ctx)
        assert _step(e.to_dict(), ctx) == out[name], name  # a stored event's dict reads as the event
    for name, run in runs().items():
        run = upgrade_run(run) if isinstance(run, dict) else run  # as the viewer loads a stored run (ui/stored.py)
        run_events = messages.run_events(run)
        grounding = messages.grounding_of(run_events)
        item: dict[str, Any] = {"answer": messages.answer_message(run), "grounding": grounding,
                                "grounding_line": messages.grounding_line(grounding, calibration),
                                "memory_label": messages.memory_label(run_events),
                                "passages": messages.passages_of(run_events)}
        if isinstance(run, dict):
            item["header"] = viewer.run_header(run, "UTC")
            steps = []
            for step in range(1, len(run["events"]) + 1):
                radio, header, inputs, outputs, raw, _plot, graph = viewer.step_updates(run, step, "UTC")
                steps.append({"choices": [list(c) if isinstance(c, tuple) else c for c in radio.choices],
                              "value": radio.value, "header": header, "inputs": inputs, "outputs": outputs,
                              "raw": hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:16],
                              "graph": graph.value})
            item["steps"] = steps
        out[f"run/{name}"] = item
    for name, g in {"old_supported": OLD_SUPPORTED, "new_supported": NEW_SUPPORTED, "guess": fx.GROUNDING,
                    "abstained": {"status": "abstained"}, "empty": {}}.items():
        out[f"grounding/{name}"] = [messages.grounding_line(g, calibration), messages.grounding_line(g, Calibration())]
    return json.loads(json.dumps(out, default=str))


def test_rendering_is_unchanged() -> None:
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    got = render()
    assert sorted(got) == sorted(expected)
    for key in expected:
        assert got[key] == expected[key], key


if __name__ == "__main__":
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(render(), ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)")
