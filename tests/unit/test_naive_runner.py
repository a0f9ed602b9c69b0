"""The baseline agent through the runner, with a scripted LLM: events, storage, and bad input."""

from __future__ import annotations

import pytest

from llm.fake import ScriptedLLM
from storage.db import NotFound


def test_naive_run_streams_and_stores_events(services_factory, toy_docs) -> None:
    llm = ScriptedLLM(replies=["Tallow.\nextra text"])
    svc = services_factory(llm=llm)
    svc.ingest_documents("toy", toy_docs)
    run = svc.run("naive", "toy", "  Where was the Orvane Guild founded?  ", {"top_k": 3})
    events = list(run)
    assert [e.kind for e in events] == ["retrieve", "read"]
    assert run.answer == "Tallow"
    assert events[0].data["hits"][0]["title"] == "Orvane Guild"
    assert events[0].explanation.startswith("Searched for 'Where was the Orvane Guild founded?' — 3 passages")
    assert "Tallow" in events[1].explanation and events[1].llm_calls == 2  # read + one support check
    assert events[1].data["grounding"]["status"] == "supported"
    assert events[1].data["grounding"]["title"] == "Orvane Guild"
    assert len(run.retrieved_ids) == 3 and run.used_ids == run.retrieved_ids
    stored = svc.db.get_run(run.run_id)
    assert stored["status"] == "done" and stored["answer"] == "Tallow"
    assert [e["kind"] for e in stored["events"]] == ["retrieve", "read"]
    assert all(e["run_id"] == run.run_id for e in stored["events"])
    assert stored["llm_calls"] == 2 and stored["prompt_tokens"] > 0
    # the reader saw the question and the retrieved passages
    prompt = llm.calls[0][1][-1]["content"]
    assert "Orvane Guild" in prompt and "Where was the Orvane Guild founded?" in prompt


@pytest.mark.parametrize(
    ("agent", "corpus", "question", "config", "error", "message"),
    [
        ("naive", "toy", "   ", None, ValueError, "the question is empty"),
        ("nope", "toy", "q?", None, LookupError, "valid agents: naive"),
        ("naive", "missing", "q?", None, NotFound, "unknown corpus 'missing'; corpora: toy"),
        ("naive", "toy", "q?", {"top_k": 0}, ValueError, "top_k=0 is outside"),
        ("naive", "toy", "q?", {"colour": 1}, ValueError, "unknown config field"),
        ("naive", "toy", "q?", {"top_k": "banana"}, ValueError, "top_k must be an integer, not 'banana'"),
        ("naive", "toy", "q?", {"top_k": 2.5}, ValueError, "top_k must be an integer, not 2.5"),
        ("naive", "toy", "q?", {"top_k": True}, ValueError, "top_k must be an integer"),
    ],
)
def test_bad_input_is_rejected_before_storing(services_factory, toy_docs, agent, corpus, question, config,
                                              error, message) -> None:
    svc = services_factory()
    svc.ingest_documents("toy", toy_docs)
    with pytest.raises(error, match=message):
        svc.run(agent, corpus, question, config)
    assert svc.db.list_runs() == []


def test_failure_inside_the_graph_becomes_an_error_event(services_factory, toy_docs) -> None:
    def explode(_messages):
        raise RuntimeError("model crashed")

    svc = services_factory(llm=ScriptedLLM(replies=[explode]))
    svc.ingest_documents("toy", toy_docs)
    run = svc.run("naive", "toy", "Where is Tallow?")
    kinds = [e.kind for e in run]
    assert kinds == ["retrieve", "error"]
    assert "model crashed" in run.error
    assert svc.db.get_run(run.run_id)["status"] == "error"


def test_config_values_convert_by_field_type() -> None:
    from dataclasses import dataclass, field

    from agents.base import config_from_dict

    @dataclass(frozen=True)
    class Config:
        k: int = field(default=3, metadata={"min": 1, "max": 9})
        margin: float = 0.5
        strict: bool = False
        mode: str = "a"

    assert config_from_dict(Config, {"k": "4", "margin": "0.25", "strict": "yes", "mode": "b"}) == \
        Config(4, 0.25, True, "b")
    assert config_from_dict(Config, {"k": 5.0, "margin": 1, "strict": False}) == Config(5, 1.0, False, "a")
    for values, message in (({"margin": "wide"}, "margin must be a number"),
                            ({"margin": float("nan")}, "margin must be a number"),
                            ({"strict": "maybe"}, "strict must be true or false"),
                            ({"mode": 3}, "mode must be a string")):
        with pytest.raises(ValueError, match=message):
            config_from_dict(Config, values)
