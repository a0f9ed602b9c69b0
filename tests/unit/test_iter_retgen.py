"""Iter-RetGen with a scripted LLM: T rounds, query composition, new vs seen passages, answer changes."""

from __future__ import annotations

from agents.iter_retgen import change_phrase, compose_query
from llm.fake import ScriptedLLM

QUESTION = "On which river is the town where the Orvane Guild was founded?"


def _run(services_factory, toy_docs, llm, config=None, question=QUESTION):
    svc = services_factory(llm=llm)
    svc.ingest_documents("toy", toy_docs)
    run = svc.run("iter_retgen", "toy", question, config)
    events = list(run)
    assert [e.kind for e in events[:2]] == ["retrieve", "read"] and all(e.data["baseline"] for e in events[:2])
    return run, events[2:]  # the iterations' own steps, after the baseline reading (tests/unit/test_baseline.py)


def test_three_iterations_compose_queries_and_track_new_passages(services_factory, toy_docs) -> None:
    llm = ScriptedLLM(replies=["unknown",
        "The Orvane Guild was founded in Tallow.", "Tallow",  # iteration 1: rationale, answer
        "Tallow is a port town on the river Senn.", "river Senn",  # iteration 2
        "Tallow lies on the river Senn.", "Senn.",  # iteration 3
    ])
    run, events = _run(services_factory, toy_docs, llm, {"iterations": 3, "top_k": 3})

    assert [e.kind for e in events] == ["retrieve", "read"] * 3 + ["answer"]
    assert run.answer == "Senn" and not run.error
    retrieves = [e for e in events if e.kind == "retrieve"]
    # iteration 1 searches with the question alone, later ones append the previous generation
    assert [e.data["query"] for e in retrieves] == [
        QUESTION,
        f"{QUESTION} The Orvane Guild was founded in Tallow.",  # the answer is inside the rationale
        f"{QUESTION} Tallow is a port town on the river Senn.",
    ]
    assert retrieves[0].explanation.startswith("Iteration 1: searches with the question alone — 3 passages, 3 new")
    assert retrieves[1].explanation.startswith(
        "Iteration 2: searches with the question plus the draft 'The Orvane Guild was founded in Tallow.'")
    # new vs seen: each iteration's hits split into new and already seen, and only new ones are appended
    seen: set[str] = set()
    for e in retrieves:
        ids = [h["doc_id"] for h in e.data["hits"]]
        assert e.data["new"] == [i for i in ids if i not in seen]
        assert e.data["seen"] == [i for i in ids if i in seen]
        assert f"{len(e.data['new'])} new" in e.explanation
        seen.update(ids)
    # the run's passages: the baseline reading's first (what naive reads), then each iteration's new ones
    assert set(run.retrieved_ids) >= seen and len(run.retrieved_ids) == len(set(run.retrieved_ids))
    # how the answer changed
    reads = [e for e in events if e.kind == "read"]
    assert [e.data["answer"] for e in reads] == ["Tallow", "river Senn", "Senn"]
    assert "answers 'Tallow'" in reads[0].explanation
    assert "changes the answer from 'Tallow' to 'river Senn'" in reads[1].explanation
    assert reads[1].data["previous"] == "Tallow" and reads[1].data["changed"] is True
    assert all(e.llm_calls - len(e.data["grounding"]["checks"]) == 2 for e in reads)  # + support checks
    # the reader saw this iteration's passages and the rationale
    prompt = [m for kind, m in llm.calls if kind == "chat"][2][-1]["content"]  # after the baseline read, rationale 1
    assert "Reasoning so far: The Orvane Guild was founded in Tallow." in prompt
    final = events[-1]
    assert final.data["drafts"] == ["Tallow", "river Senn", "Senn"]
    assert "after 3 iterations (the answer changed 2 times" in final.explanation
    assert run.used_ids == [h["doc_id"] for h in retrieves[-1].data["hits"]]
    assert not any(e.data.get("format_failure") for e in events)


def test_answer_only_generation_appends_the_answer(services_factory, toy_docs) -> None:
    llm = ScriptedLLM(replies=["unknown", "Tallow", "Senn"])
    run, events = _run(services_factory, toy_docs, llm, {"iterations": 2, "generation": "answer"})
    assert [e.kind for e in events] == ["retrieve", "read", "retrieve", "read", "answer"]
    assert events[2].data["query"] == f"{QUESTION} Tallow"
    assert events[1].llm_calls - len(events[1].data["grounding"]["checks"]) == 1 and run.answer == "Senn"


def test_empty_generation_keeps_previous_answer(services_factory, toy_docs) -> None:
    llm = ScriptedLLM(replies=["unknown", "Tallow", "", "Senn"])
    run, events = _run(services_factory, toy_docs, llm, {"iterations": 3, "generation": "answer"})
    reads = [e for e in events if e.kind == "read"]
    assert reads[1].data["format_failure"] is True and reads[1].data["answer"] == "Tallow"
    assert "keeps the answer 'Tallow'" in reads[1].explanation
    assert events[4].data["query"] == f"{QUESTION} Tallow"
    assert run.answer == "Senn" and not run.error


def test_query_composition_and_change_phrases() -> None:
    assert compose_query("Q?", "") == "Q?"
    assert compose_query("Q?", "Tallow") == "Q? Tallow"
    assert change_phrase("", "A") == "answers 'A'"
    assert change_phrase("a", "A") == "keeps the answer 'A'"
    assert change_phrase("A", "B") == "changes the answer from 'A' to 'B'"


def test_the_best_supported_draft_is_kept_over_an_unsupported_last_one(services_factory, toy_docs) -> None:
    # draft 1 'Tallow' is confirmed by its passage; draft 2 'Senn' is found in passages but judged unsupported
    town = "In which town was the Orvane Guild founded?"
    llm = ScriptedLLM(replies=["unknown", "Tallow", "Senn"], choices=["Tallow", "unknown", "unknown"])
    run, events = _run(services_factory, toy_docs, llm, {"iterations": 2, "generation": "answer"}, town)
    reads = [e for e in events if e.kind == "read"]
    assert [r.data["grounding"]["status"] for r in reads] == ["supported", "found"]
    assert run.answer == "Tallow" and events[-1].data["grounding"]["status"] == "supported"
    assert "iteration 1 is kept" in events[-1].explanation
    assert run.used_ids == reads[0].data["passages"]
    llm = ScriptedLLM(replies=["unknown", "Tallow", "Senn"], choices=["Tallow", "unknown", "unknown"])
    run, _ = _run(services_factory, toy_docs, llm, {"iterations": 2, "generation": "answer", "keep": "last"}, town)
    assert run.answer == "Senn"


def test_a_town_is_not_supported_as_the_answer_to_a_question_about_its_river(services_factory, toy_docs) -> None:
    # the passage saying where the guild was founded answers a sub-question: it says nothing of a river
    llm = ScriptedLLM(replies=["unknown", "Tallow", "Senn"], choices=["Tallow", "Tallow", "Senn", "Senn"])
    _run_, events = _run(services_factory, toy_docs, llm, {"iterations": 2, "generation": "answer", "keep": "last"})
    reads = [e for e in events if e.kind == "read"]
    tallow, senn = (r.data["grounding"] for r in reads)
    assert tallow["status"] == "found"
    why = {c["title"]: c["chain"] for c in tallow["checks"]}
    assert "river" in why["Orvane Guild"]["missing"]  # where the guild was founded: no river said
    assert why["Tallow"]["bridge"]  # the town's own passage names the town as its subject, not as an answer
    assert senn["status"] == "supported" and senn["title"] == "Tallow"  # the river stands beside the town's name
