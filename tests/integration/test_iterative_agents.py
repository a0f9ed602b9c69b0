"""Auto-RAG and Iter-RetGen with the real default model on the bundled demo corpus."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DEMO_QUESTIONS = Path(__file__).parents[2] / "data" / "demo" / "questions.jsonl"
REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """Real LLM and embedder; SQLite and Chroma in a temp folder; the converted model shared with the app."""
    from services import Services
    from settings import Settings

    home = Path(os.environ.get("RAGSCOPE_HOME", REPO / ".ragscope"))  # models/ is converted once, here
    tmp = tmp_path_factory.mktemp("iterative")
    settings = Settings.from_env(home=home, db_url=f"sqlite:///{tmp / 'ragscope.db'}",
                                 chroma_path=tmp / "chroma")
    svc = Services(settings)
    svc.ensure_demo_corpus()
    return svc


def _two_hop_question() -> str:
    rows = [json.loads(line) for line in DEMO_QUESTIONS.read_text().splitlines() if line.strip()]
    return next(r["question"] for r in rows if r["type"] == "2-hop")


@pytest.mark.parametrize(("agent", "config", "expected_kinds"), [
    ("auto_rag", {"max_iterations": 2}, {"plan", "retrieve", "read", "answer"}),
    ("iter_retgen", {"iterations": 2}, {"retrieve", "read", "answer"}),
])
def test_iterative_agent_runs_with_the_real_model(services, agent, config, expected_kinds) -> None:
    run = services.run(agent, "demo", _two_hop_question(), config)
    events = list(run)
    kinds = [e.kind for e in events]
    assert not run.error, run.error
    assert "error" not in kinds
    assert expected_kinds <= set(kinds)
    assert kinds[-1] == "answer"
    assert run.answer and run.answer == events[-1].data["answer"]
    assert run.retrieved_ids and run.used_ids
    assert all(e.explanation for e in events)
    assert sum(e.llm_calls for e in events) >= 2
    stored = services.db.get_run(run.run_id)
    assert stored["status"] == "done" and len(stored["events"]) == len(events)
