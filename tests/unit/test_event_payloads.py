"""The event contract: every agent's events validate against their kind's typed payload."""

from __future__ import annotations

import pytest

from agents import registry
from agents.events import KINDS, PAYLOADS, validate_data
from llm.fake import ScriptedLLM
from retrieval.hipporag.store import HippoRAGStore
from tests.unit.test_hipporag_agent import CapitalisedExtractor

QUESTION = "On which river is the town where the Orvane Guild was founded?"
# every agent, plus the iterative ones searching through the knowledge graph
CASES = [(name, {}) for name in registry.names()] + [
    ("auto_rag", {"retriever": "hipporag"}), ("iter_retgen", {"retriever": "hipporag"}),
    ("hipporag", {"linking": "triple"}), ("retro_rag", {"retriever": "hipporag"}),
]


def test_every_kind_has_a_payload() -> None:
    assert set(PAYLOADS) == set(KINDS)


@pytest.mark.parametrize(("agent", "config"), CASES, ids=[f"{a}-{'-'.join(c.values()) or 'default'}" for a, c in CASES])
def test_agent_events_match_their_schema(services_factory, toy_docs, tmp_path, agent, config) -> None:
    svc = services_factory(llm=ScriptedLLM(default_reply="Tallow"))
    svc.hipporag = HippoRAGStore(tmp_path / "hr", svc.corpora, CapitalisedExtractor)
    svc.deps.graph = svc.hipporag
    svc.ingest_documents("toy", toy_docs)
    run = svc.run(agent, "toy", QUESTION, config)
    events = list(run)
    assert not run.error, run.error
    assert events and events[-1].kind in ("answer", "read", "memory_write")
    for event in events:
        assert event.agent == agent
        assert validate_data(event.kind, event.data) == [], (event.kind, event.explanation)


def test_the_validator_reports_missing_unknown_and_mistyped_keys() -> None:
    hit = {"rank": 1, "chunk_id": "d:0", "doc_id": "d", "title": "T", "text": "x", "score": 0.5, "query": "q"}
    assert validate_data("retrieve", {"query": "q", "hits": [hit]}) == []
    problems = validate_data("retrieve", {"hits": [{**hit, "score": "high"}], "surprise": 1, "turn": True})
    assert "retrieve: missing 'query'" in problems
    assert "retrieve: unknown key 'surprise'" in problems
    assert "retrieve.hits[0].score: expected float, got str" in problems
    assert "retrieve.turn: expected int, got bool" in problems
    assert validate_data("teleport", {}) == ["unknown event kind 'teleport'"]
