"""'Why not this passage?' ranks per query (re-scored now, the run's cut-off beside it), ownership of the corpus,
and the step-aligned diff of two runs."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.diff import align, diff_runs, first_divergence
from evaluation.why_not import NotAllowed, why_not
from llm.fake import ScriptedLLM


def test_why_not_ranks_a_passage_in_every_query_with_the_steps_cut_off(services_factory, toy_docs) -> None:
    svc = services_factory(llm=ScriptedLLM(replies=["Tallow"]))
    svc.ingest_documents("toy", toy_docs)
    run = svc.run("naive", "toy", "Where was the Orvane Guild founded?", {"top_k": 2})
    list(run)
    stored = svc.db.get_run(run.run_id)
    hits = stored["events"][0]["data"]["hits"]
    kept = hits[0]["doc_id"]
    missed = next(d.id for d in toy_docs if d.id not in {h["doc_id"] for h in hits})
    (row,) = why_not(svc, stored, kept, "public")
    assert row.retrieved and row.seen_rank == 1 and row.rank == 1 and row.measure == "cosine"
    assert row.sentence().startswith("Retrieved at rank 1 (cosine ")
    (row,) = why_not(svc, stored, missed, "public")
    # the same ranking the vector store gives now, by hand: cosine to the question over every chunk
    q = svc.embedder.embed(["Where was the Orvane Guild founded?"])[0]
    scores = {d.id: float(np.dot(q, svc.embedder.embed([f"{d.title}\n{d.text}"])[0])) for d in toy_docs}
    order = sorted(scores, key=scores.get, reverse=True)
    assert not row.retrieved and row.rank == order.index(missed) + 1 and row.of == len(toy_docs)
    assert row.score == pytest.approx(scores[missed], abs=1e-4)
    assert row.kept == 2 and row.cutoff == pytest.approx(hits[-1]["score"])
    assert f"Rank {row.rank} of {len(toy_docs)}" in row.sentence() and "the step kept the top 2" in row.sentence()
    with pytest.raises(LookupError, match="no passage"):
        why_not(svc, stored, "nope", "public")


def test_a_private_corpus_is_only_searched_by_its_owner(services_factory, toy_docs) -> None:
    svc = services_factory(llm=ScriptedLLM(replies=["Tallow"]))
    svc.ingest_documents("mine", toy_docs, owner="ana")
    run = svc.run("naive", "mine", "Where was the Orvane Guild founded?", owner="ana")
    list(run)
    stored = svc.db.get_run(run.run_id)
    assert why_not(svc, stored, toy_docs[0].id, "ana")
    with pytest.raises(NotAllowed):
        why_not(svc, stored, toy_docs[0].id, "bo")


def ev(kind: str, **data) -> dict:
    return {"kind": kind, "explanation": f"{kind} {data}", "data": data}


def hits(*docs: str) -> list[dict]:
    return [{"doc_id": d, "title": d.upper(), "rank": i} for i, d in enumerate(docs, 1)]


def test_align_pairs_steps_by_kind_and_finds_where_answers_diverged() -> None:
    a = {"answer": "Tallow", "llm_calls": 2, "prompt_tokens": 100, "seconds": 1.0,
         "events": [ev("retrieve", query="q", hits=hits("x", "y")), ev("read", answer="Tallow", passages=["x"])]}
    b = {"answer": "Senn", "llm_calls": 5, "prompt_tokens": 400, "seconds": 3.0,
         "events": [ev("plan", query="q"), ev("retrieve", query="q", hits=hits("x", "y")),
                    ev("retrieve", query="q2", hits=hits("z")), ev("read", answer="Senn", passages=["x", "z"])]}
    pairs = align(a["events"], b["events"])
    shape = [(p.a.kind if p.a else None, p.b.kind if p.b else None, p.same) for p in pairs]
    assert shape == [(None, "plan", False), ("retrieve", "retrieve", True), (None, "retrieve", False),
                     ("read", "read", False)]
    diff = diff_runs(a, b)
    assert diff.diverged_at == 0 and diff.only_b == ["z"] and diff.both == ["x", "y"] and diff.only_a == []
    assert ("LLM calls", 2.0, 5.0) in diff.cost and ("retrieval steps", 1.0, 2.0) in diff.cost
    assert diff.titles["z"] == "Z"
    assert "B's step 1 (plan)" in first_divergence(diff)
    same = diff_runs(a, a)
    assert same.diverged_at is None and "same answer" in first_divergence(same)
    changed = dict(a, events=[a["events"][0], ev("read", answer="Lyon", passages=["x"])], answer="Lyon")
    assert "wrote different answers (‘Tallow’ vs ‘Lyon’)" in first_divergence(diff_runs(a, changed))


def test_a_search_and_a_graph_walk_pair_up_as_retrieval_steps() -> None:
    a = {"events": [ev("retrieve", query="q", hits=hits("x", "y")), ev("read", answer="Amsel", passages=["x"])]}
    b = {"events": [ev("graph_walk", query="q", hits=hits("y", "x")), ev("read", answer="Amsel", passages=["y"])]}
    diff = diff_runs(a, b)
    assert [(p.a.kind, p.b.kind, p.same) for p in diff.pairs] == [("retrieve", "graph_walk", False),
                                                                  ("read", "read", True)]
    assert first_divergence(diff) == ("The runs first differ at A's step 1 (retrieve) and B's step 1 (graph_walk): "
                                      "they retrieved different passages.")
