"""The grounding label and sources of an answer message, and the plain-word step details."""

from __future__ import annotations

from agents.events import TraceEvent
from evaluation.calibration import Calibration
from ui.details import duration, timeline_choices
from ui.messages import answer_message, grounding_line


def _hit(doc: str, score: float) -> dict:
    return {"rank": 1, "chunk_id": f"{doc}:0", "doc_id": doc, "title": f"Title {doc}", "text": f"text {doc}",
            "score": score, "query": "q"}


def _run(grounding: dict, answer: str = "Senn") -> dict:
    retrieve = TraceEvent(agent="auto_rag", kind="retrieve", explanation="x",
                          data={"query": "q", "hits": [_hit("a", 0.41), _hit("b", 0.62), _hit("c", 0.55)]})
    final = TraceEvent(agent="auto_rag", kind="answer", explanation="y",
                       data={"answer": answer, "passages": ["a", "b", "c"], "grounding": grounding})
    return {"answer": answer, "run_id": "r1", "used_ids": ["a", "b", "c"], "events": [retrieve, final]}


def test_supported_answer_names_its_passage_first_then_sources_by_score() -> None:
    msg = answer_message(_run({"status": "supported", "doc_id": "a", "title": "Title a", "checks": [],
                               "holders": []}))["content"]
    assert "✅ “Title a” states it as the answer &#40;" in msg and "★ = states the answer" in msg
    order = [msg.index(f"] Title {d}") for d in "abc"]
    assert order[0] < order[1] < order[2]  # the supporting one, then 0.62, then 0.55
    assert "[1] Title a ★" in msg and ":0" not in msg  # titles, not chunk ids


def test_guess_found_and_no_answer_labels_with_how_often_each_was_right() -> None:
    guess = answer_message(_run({"status": "guess", "checks": [], "holders": []}))["content"]
    assert "⚠️ Not in the passages it retrieved — the model's own knowledge" in guess and "★" not in guess
    found = answer_message(_run({"status": "found", "doc_id": "b", "title": "Title b", "holders": []}))["content"]
    assert "📄 Appears in “Title b” — not verified as the answer" in found and "★ = holds the answer's words" in found
    none = answer_message(_run({"status": "nothing_relevant"}, answer="(no answer)"))["content"]
    assert "_(no answer)_" in none and "🚫 No answer" in none and "**(no answer)**" not in none
    assert grounding_line({}) == ""
    calibration = Calibration({"found": (3, 10)}, ("MuSiQue questions",))
    assert grounding_line({"status": "found", "title": "T", "holders": []}, calibration).endswith(
        "(answers labelled like this were right 3 of 10 times on MuSiQue questions)")
    assert "no benchmark has measured" in grounding_line({"status": "guess", "holders": []}, Calibration())


def test_a_label_stored_before_the_labels_is_read_as_what_it_checked() -> None:
    old = {"status": "supported", "doc_id": "a", "title": "Title a",
           "checks": [{"doc_id": "a", "title": "Title a", "coverage": 1.0, "log_odds": 6.0, "supported": True}]}
    assert grounding_line(old, Calibration()).startswith("📄 Appears in “Title a”")


def test_durations_and_timeline_lines() -> None:
    assert duration(0.0421) == "0.0 s" and duration(12.4) == "12 s" and duration(271.3) == "4 min 31 s"
    events = [TraceEvent(agent="a", kind="read", explanation="word " * 40, seconds=3.14159)]
    (line,) = timeline_choices(events)
    assert line.startswith("1. 📖 read · ") and line.endswith(" · 3.1 s") and "…" in line
