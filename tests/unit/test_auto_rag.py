"""Auto-RAG with a scripted LLM: the dialogue loop, the cap, fallbacks, and the transcript."""

from __future__ import annotations

import pytest

from agents.auto_rag import clean_fill, fallback_query, key_entity
from llm.fake import ScriptedLLM

QUESTION = "On which river is the town where the Orvane Guild was founded?"


def _run(services_factory, toy_docs, llm, config=None):
    svc = services_factory(llm=llm)
    svc.ingest_documents("toy", toy_docs)
    run = svc.run("auto_rag", "toy", QUESTION, config)
    events = list(run)
    return run, events


def test_two_refinements_then_final_answer(services_factory, toy_docs) -> None:
    llm = ScriptedLLM(
        replies=[
            "I need to know where the Orvane Guild was founded and which river that town is on.",  # plan
            "The Orvane Guild was founded in the port town of Tallow.",  # read 1
            "Refined Query: Tallow port town river",  # rewrite 1 (prefix is stripped)
            "Tallow is a port town on the river Senn.",  # read 2
            "river Senn",  # rewrite 2
            "The river Senn flows into the Amber Sea.",  # read 3
            "Senn.",  # final answer
        ],
        choices=["no", "no", "yes"],
    )
    run, events = _run(services_factory, toy_docs, llm)

    assert [e.kind for e in events] == ["plan", "retrieve", "read", "rewrite", "retrieve", "read", "rewrite",
                                        "retrieve", "read", "answer"]
    assert run.answer == "Senn" and not run.error
    retrieves = [e for e in events if e.kind == "retrieve"]
    assert [e.data["query"] for e in retrieves] == [QUESTION, "Tallow port town river", "river Senn"]
    # two new passages a turn, never one shown twice; turn 3 has only one unseen passage left
    shown = [h["chunk_id"] for e in retrieves for h in e.data["hits"]]
    assert [len(e.data["hits"]) for e in retrieves] == [2, 2, 1]
    assert len(shown) == len(set(shown)) == 5
    assert retrieves[1].data["skipped_seen"] or retrieves[2].data["skipped_seen"]
    assert run.retrieved_ids == [h["doc_id"] for e in retrieves for h in e.data["hits"]]
    assert "skipped" in retrieves[2].explanation and retrieves[2].explanation.startswith("Turn 3: searches for")
    # decisions carry their scores; the refinements show them
    reads = [e for e in events if e.kind == "read"]
    assert [e.data["decision"]["enough"] for e in reads] == [False, False, True]
    assert reads[0].data["evidence"] == "The Orvane Guild was founded in the port town of Tallow"
    assert reads[0].llm_calls == 2  # one evidence fill + one constrained choice
    rewrites = [e for e in events if e.kind == "rewrite"]
    assert rewrites[0].data["decision"]["log_odds"] == -10.0 and "log-odds" in rewrites[0].explanation
    assert not any(e.data.get("format_failure") for e in events)
    # the answer: reads every passage shown, not parametric, and the paper's transcript
    final = events[-1]
    assert final.data["parametric"] is False and final.data["answer"] == "Senn"
    assert final.data["passages"] == run.used_ids and len(run.used_ids) == 5
    transcript = "\n".join(t["content"] for t in final.data["transcript"])
    for piece in ("Question: " + QUESTION, "Initial Query: " + QUESTION, "Retrieved Document_1:",
                  "Intermediate Answer_1: Based on the Retrieved Document_1, The Orvane Guild was founded",
                  "Refined Query: Tallow port town river", "Retrieved Document_3:", "Final Answer: Senn"):
        assert piece in transcript
    assert [t["role"] for t in final.data["transcript"]][:3] == ["system", "user", "assistant"]
    assert "Answers 'Senn' after 3 turns, from 5 passages" in final.explanation
    assert run.db.get_run(run.run_id)["status"] == "done"


def test_cap_reached_answers_from_parametric_knowledge(services_factory, toy_docs) -> None:
    llm = ScriptedLLM(
        replies=["I need to know the town and its river.", "The guild was founded in Tallow.", "Tallow",
                 "Tallow is on the river Senn.",
                 "The Orvane Guild's town, Tallow, lies on the river Senn.",  # own-knowledge document
                 "Senn"],
        choices=["no", "no"],
    )
    run, events = _run(services_factory, toy_docs, llm, {"max_iterations": 2})
    assert [e.kind for e in events] == ["plan", "retrieve", "read", "rewrite", "retrieve", "read", "answer"]
    final = events[-1]
    assert final.data["parametric"] is True and run.answer == "Senn"
    assert "cap of 2 turns" in final.explanation and "parametric" in final.explanation
    assert final.data["parametric_document"] == "The Orvane Guild's town, Tallow, lies on the river Senn"
    assert "(parametric knowledge)" in "\n".join(t["content"] for t in final.data["transcript"])
    reader_prompt = llm.calls[-1][1][-1]["content"]
    assert "Own knowledge:" in reader_prompt and "Tallow is a port town" in reader_prompt
    assert final.llm_calls == 2 and len(run.used_ids) == 4


def test_empty_fills_fall_back_and_are_counted(services_factory, toy_docs) -> None:
    llm = ScriptedLLM(replies=["", "Founded by Mira Kesh in Tallow.", "  \n", "", "Tallow"],
                      choices=["no", "yes"])
    run, events = _run(services_factory, toy_docs, llm)
    assert [e.kind for e in events] == ["plan", "retrieve", "read", "rewrite", "retrieve", "read", "answer"]
    assert not run.error and run.answer == "Tallow"
    failures = [e.kind for e in events if e.data.get("format_failure")]
    assert failures == ["plan", "rewrite", "read"]
    rewrite = next(e for e in events if e.kind == "rewrite")
    assert rewrite.data["query"] == f"{QUESTION} Mira Kesh"  # question + key entity of the latest note
    assert rewrite.explanation.startswith("Turn 1: falls back to")
    assert events[4].data["query"] == rewrite.data["query"]
    second_read = events[5]  # an empty evidence fill becomes the top passage's title and text
    assert second_read.data["evidence"] == second_read.data["notes"][-1]
    assert second_read.data["evidence"].split(":")[0] in {d.title for d in toy_docs}
    assert run.db.get_run(run.run_id)["status"] == "done"


def test_unusable_final_answer_still_finishes(services_factory, toy_docs) -> None:
    llm = ScriptedLLM(replies=["plan", "Tallow.", "..."], choices=["yes"])
    run, events = _run(services_factory, toy_docs, llm)
    assert events[-1].kind == "answer" and run.answer == "(no answer)"
    assert events[-1].data["format_failure"] is True and not run.error


def test_margin_keeps_searching_until_the_corpus_runs_dry(services_factory, toy_docs) -> None:
    # the scripted "yes" wins by 10 log-odds, below a margin of 15, so the model never stops by itself;
    # the five toy passages run out on turn 4 and it answers (from its own knowledge too)
    llm = ScriptedLLM(default_reply="Tallow", choices=["yes"] * 5)
    run, events = _run(services_factory, toy_docs, llm, {"answer_margin": 15.0, "passages_per_turn": 2})
    kinds = [e.kind for e in events]
    assert kinds.count("retrieve") == 4 and kinds[-1] == "answer"
    assert "finds nothing new" in events[-3].explanation and "no new passages" in events[-2].explanation
    assert events[-1].data["parametric"] is True and events[-1].explanation.startswith("Finds nothing new")
    assert len(run.retrieved_ids) == 5


def test_model_written_first_query(services_factory, toy_docs) -> None:
    llm = ScriptedLLM(replies=["I need the founding town.", "Orvane Guild founding town", "Tallow.", "Tallow"],
                      choices=["yes"])
    run, events = _run(services_factory, toy_docs, llm, {"first_query": "model", "passages_per_turn": 3})
    assert events[0].data["query"] == "Orvane Guild founding town"
    assert events[1].data["query"] == "Orvane Guild founding town" and len(events[1].data["hits"]) == 3
    assert "First query: 'Orvane Guild founding town'" in events[0].explanation


@pytest.mark.parametrize(("raw", "clean"), [
    ("Refined Query: Mira Kesh birthplace\nmore", "Mira Kesh birthplace"),
    ("  \"Tallow river\".", "Tallow river"),
    ("query: x", "x"),
    ("", ""),
])
def test_clean_fill(raw: str, clean: str) -> None:
    assert clean_fill(raw) == clean


def test_key_entity_and_fallback_query() -> None:
    assert key_entity("The guild was founded by Mira Kesh in Tallow.") == "Mira Kesh"
    assert key_entity("Book of the Tides was written") == "Book of the Tides"
    assert key_entity("nothing here") == ""
    hits = [{"title": "Tallow", "text": "..."}, {"title": "Orvane Guild", "text": "..."}]
    assert fallback_query("Where is the Orvane Guild?", ["it was founded in Tallow"], hits) == \
        "Where is the Orvane Guild? Tallow"
    assert fallback_query("Where is X?", [], []) == "Where is X?"
