"""Auto-RAG, Iter-RetGen and HippoRAG with the real default model (and spaCy OpenIE) on the demo corpus."""

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


@pytest.mark.parametrize(("agent", "config", "expected_kinds", "min_llm_calls"), [
    ("auto_rag", {"max_iterations": 2}, {"plan", "retrieve", "read", "answer"}, 2),
    ("iter_retgen", {"iterations": 2}, {"retrieve", "read", "answer"}, 2),
    ("hipporag", {}, {"graph_walk", "read"}, 1),
    ("iter_retgen", {"iterations": 2, "retriever": "hipporag"}, {"retrieve", "read", "answer"}, 2),
])
def test_agent_runs_with_the_real_model(services, agent, config, expected_kinds, min_llm_calls) -> None:
    run = services.run(agent, "demo", _two_hop_question(), config)
    events = list(run)
    kinds = [e.kind for e in events]
    assert not run.error, run.error
    assert "error" not in kinds
    assert expected_kinds <= set(kinds)
    assert kinds[-1] in ("answer", "read")
    assert run.answer and run.answer == events[-1].data["answer"]
    assert run.retrieved_ids and run.used_ids
    assert all(e.explanation for e in events)
    assert sum(e.llm_calls for e in events) >= min_llm_calls
    stored = services.db.get_run(run.run_id)
    assert stored["status"] == "done" and len(stored["events"]) == len(events)


def test_hipporag_walks_the_demo_graph_to_the_bridge(services) -> None:
    """The real spaCy graph of the demo corpus links the question's entity and ranks its passage first."""
    run = services.run("hipporag", "demo", "Who founded the guild whose hall is in the village of Mirrowdale?",
                       {"top_k": 5})
    events = list(run)
    walk = next(e for e in events if e.kind == "graph_walk")
    assert "mirrowdale" in " ".join(walk.data["entities"]).lower(), walk.explanation
    assert walk.data["graph"]["passages"] >= 40 and walk.data["subgraph"]["nodes"]
    titles = [h["title"] for h in walk.data["hits"]]
    assert any("Mirrowdale" in t for t in titles[:3]), titles


def test_retro_rag_keeps_a_typed_evidence_set_with_the_real_model(services) -> None:
    """RetroRAG on one demo question: source evidence per passage, a judged answer, and what ended the loop."""
    from agents.events import validate_data

    run = services.run("retro_rag", "demo", _two_hop_question(), {"max_iterations": 2})
    events = list(run)
    kinds = [e.kind for e in events]
    assert not run.error, run.error
    assert kinds[:2] == ["retrieve", "evidence"] and "read" in kinds and kinds[-1] == "answer"
    assert all(validate_data(e.kind, e.data) == [] for e in events)
    discover = events[1]
    assert discover.data["operation"] == "discover" and discover.data["candidate"]["claim"]
    assert [e["kind"] for e in discover.data["before"]] == ["source"] * len(events[0].data["hits"])
    shown = [str(h["rank"]) for h in events[0].data["hits"]]
    assert discover.data["decision"]["passage"]["option"] in shown  # the passage chosen by its number
    number = discover.data["candidate"]["passage"]
    assert discover.data["candidate"]["claim"].rstrip("…") in " ".join(
        next(h["text"] for h in events[0].data["hits"] if h["rank"] == number).split())  # copied, never invented
    reads = [e for e in events if e.kind == "read"]
    assert all("reliable" in e.data["decision"] and e.data["grounding"]["status"] for e in reads)
    # the first answer reads the question's own top passages, as the naive baseline does
    baseline = events[kinds.index("read") - 1]
    assert baseline.kind == "retrieve" and baseline.data["query"] == _two_hop_question()
    assert reads[0].data["passages"] == [h["doc_id"] for h in baseline.data["hits"]]
    final = events[-1]
    assert final.data["decision"]["stopped"] in ("reliable", "cap", "exhausted")
    assert run.answer and run.answer == final.data["answer"] and run.retrieved_ids and run.used_ids
    assert services.db.get_run(run.run_id)["status"] == "done"


def test_retro_rag_weighs_drafts_under_each_real_reading(services) -> None:
    """RetroRAG's draft comparison with the real model: each draft scored under each reading, probabilities
    averaged; the passages read change the scores, and the pick is the best average."""
    import math

    from agents.base import hit_dict, short
    from agents.events import Step
    from agents.reader import read_messages
    from agents.retro_rag.nodes import compare_drafts, marginal

    question = _two_hop_question()
    hits = [hit_dict(h, i, question) for i, h in enumerate(services.corpora.search("demo", question, k=4), 1)]
    readings = [read_messages(question, hits[:2]), read_messages(question, hits[2:])]
    options = [hits[0]["title"], hits[2]["title"]]
    with Step("retro_rag", "answer", "") as step:
        out = compare_drafts(services.llm, step, readings, options, "sum", ["draft 1", "draft 2"])
    assert step.llm_calls == 2 and out["constrained"] and len(out["readings"]) == 2
    per = [r["scores"] for r in out["readings"]]
    assert all(math.isfinite(v) and v < 0 for r in per for v in r.values())
    assert per[0] != per[1]  # the passages read move the scores
    assert out["scores"] == marginal(per, options) and out["option"] == max(options, key=out["scores"].get)
    prefers = [r["prefers"] for r in out["readings"]]
    assert prefers == [max(options, key=r.get) for r in per]
    assert ("each set alone prefers it too" if len(set(prefers)) == 1 else
            f"reading the passages of draft 1 alone, it prefers '{short(prefers[0], 40)}'") in out["how"]
