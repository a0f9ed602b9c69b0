"""Auto-RAG with a scripted LLM: the dialogue loop, the cap, fallbacks, and the transcript."""

from __future__ import annotations

import pytest

from agents.auto_rag import clean_fill, fallback_query, key_entity
from agents.auto_rag.nodes import leaked, sentences
from llm.base import Choice
from llm.fake import ScriptedLLM

QUESTION = "On which river is the town where the Orvane Guild was founded?"


class PolicyLLM(ScriptedLLM):
    """Scripted replies; evidence picks the first sentence; the support check gives the answer only for
    `supported`, else 'unknown'."""

    def __init__(self, replies, supported: tuple[str, ...] = ()) -> None:
        super().__init__(replies=replies)
        self.supported = supported

    def choose(self, messages, options):
        """The answer when it is in `supported`, else 'unknown'; the first sentence for evidence."""
        self.calls.append(("choose", list(messages)))
        if len(options) == 2 and options[1] == "unknown":
            option = options[0] if options[0] in self.supported else "unknown"
        else:
            option = options[0]
        return Choice(option=option, scores={o: (0.0 if o == option else -9.0) for o in options})


def _run(services_factory, toy_docs, llm, config=None):
    svc = services_factory(llm=llm)
    svc.ingest_documents("toy", toy_docs)
    run = svc.run("auto_rag", "toy", QUESTION, {"first_turn_passages": 2, **(config or {})})
    events = list(run)
    assert [e.kind for e in events[:2]] == ["retrieve", "read"] and all(e.data["baseline"] for e in events[:2])
    return run, events[2:]  # the loop's own steps, after the baseline reading (tested on its own below)


def test_stops_when_a_passage_states_the_answer(services_factory, toy_docs) -> None:
    llm = PolicyLLM(replies=["unknown",
        "I need to know where the Orvane Guild was founded and which river that town is on.",  # plan
        "unknown",  # turn 1: the model cannot answer yet
        "Refined Query: Tallow river",  # rewrite (prefix is stripped)
        "Senn.",  # turn 2: an answer a passage states
    ], supported=("Senn",))
    run, events = _run(services_factory, toy_docs, llm, {"passages_per_turn": 2})

    assert [e.kind for e in events] == ["plan", "retrieve", "read", "rewrite", "retrieve", "read", "answer"]
    assert run.answer == "Senn" and not run.error
    retrieves = [e for e in events if e.kind == "retrieve"]
    assert [e.data["query"] for e in retrieves] == [QUESTION, "Tallow river"]
    shown = [h["chunk_id"] for e in retrieves for h in e.data["hits"]]
    assert len(shown) == len(set(shown)) == 4  # never one passage twice
    assert "“" in retrieves[0].explanation and "passage:" not in retrieves[0].explanation
    reads = [e for e in events if e.kind == "read"]
    assert [e.data["decision"]["enough"] for e in reads] == [False, True]
    assert reads[0].data["grounding"]["reason"] == "abstained" and "searches again" in reads[0].explanation
    # evidence is a sentence copied from a passage read that turn, never generated
    texts = {h["title"]: h["text"] for h in retrieves[0].data["hits"]}
    title, sentence = reads[0].data["evidence"].split(": ", 1)
    assert sentence in texts[title]
    assert "stops searching" in reads[1].explanation and "over “unknown”" in reads[1].explanation
    assert "log-odds" not in " ".join(e.explanation for e in events)
    final = events[-1]
    assert final.data["grounding"]["status"] == "supported" and final.data["parametric"] is False
    assert run.used_ids[0] == final.data["grounding"]["doc_id"]  # the supporting passage first
    assert "a passage gives it" in final.explanation and "stated by “Tallow”" in final.explanation
    transcript = "\n".join(t["content"] for t in final.data["transcript"])
    for piece in ("Question: " + QUESTION, "Initial Query: " + QUESTION, "Retrieved Document_1:",
                  "Intermediate Answer_1: Based on the Retrieved Document_1, ", "Refined Query: Tallow river",
                  "Retrieved Document_2:", "Final Answer: Senn"):
        assert piece in transcript
    assert run.db.get_run(run.run_id)["status"] == "done"


def test_at_the_cap_the_last_answer_is_labelled_a_guess(services_factory, toy_docs) -> None:
    llm = PolicyLLM(replies=["unknown", "plan", "Tallow", "Tallow river", "Tallow"])  # the check never confirms
    run, events = _run(services_factory, toy_docs, llm, {"max_iterations": 2, "passages_per_turn": 2})
    assert [e.kind for e in events] == ["plan", "retrieve", "read", "rewrite", "retrieve", "read", "answer"]
    final = events[-1]
    assert run.answer == "Tallow" and final.data["grounding"]["status"] == "found"  # in a passage, not verified
    assert "limit of 2 turns" in final.explanation and "The answer appears in “" in final.explanation
    assert final.data["settled"] == {"keep": "chain", "reason": "no_baseline_answer", "chain": {
        "answer": "Tallow", "label": "found", "passages": run.used_ids}, "baseline": {
        "answer": "(no answer)", "label": "none", "passages": final.data["settled"]["baseline"]["passages"]}}


def test_no_answer_when_the_passages_never_answer_and_the_corpus_runs_dry(services_factory, toy_docs) -> None:
    llm = PolicyLLM(replies=["unknown", "plan"], )
    llm.default_reply = "unknown"
    run, events = _run(services_factory, toy_docs, llm, {"max_iterations": 5, "passages_per_turn": 3})
    kinds = [e.kind for e in events]
    assert kinds.count("retrieve") == 3 and kinds[-1] == "answer"  # 2 + 3 passages, then nothing new
    assert "nothing new to read" in events[-2].explanation
    assert run.answer == "(no answer)" and "it has no answer of its own" in events[-1].explanation
    assert len(run.retrieved_ids) == 5


def test_parametric_knowledge_is_an_option_and_labelled_a_guess(services_factory, toy_docs) -> None:
    llm = PolicyLLM(replies=["unknown", "plan", "unknown", "Tallow river", "unknown",
                             "The Orvane Guild's town, Tallow, lies on the river Senn.", "Senn"])
    run, events = _run(services_factory, toy_docs, llm, {"max_iterations": 2, "parametric_fallback": True})
    final = events[-1]
    assert final.data["parametric"] is True and run.answer == "Senn"
    assert final.data["grounding"]["status"] == "found" and "wrote what it knows itself" in final.explanation
    assert "(parametric knowledge)" in "\n".join(t["content"] for t in final.data["transcript"])


def test_example_names_never_leak_into_the_plan_or_queries(services_factory, toy_docs) -> None:
    llm = PolicyLLM(replies=["unknown",
        "I need to know who founded the Orlen Society.",  # the worked example's names: discarded
        "unknown", "Petra Vask birthplace",  # a query from the example: falls back
        "unknown", QUESTION,  # a query that repeats an earlier search: falls back too
        "Senn"], supported=("Senn",))
    run, events = _run(services_factory, toy_docs, llm, {"passages_per_turn": 1})
    plan, rewrites = events[0], [e for e in events if e.kind == "rewrite"]
    assert "Orlen" not in plan.data["analysis"] and "borrowed Orlen from" in plan.explanation
    assert "Petra" not in rewrites[0].data["query"] and "borrowed Petra, Vask" in rewrites[0].explanation
    assert rewrites[1].data["query"] != QUESTION and "repeated an earlier search" in rewrites[1].explanation
    assert run.answer == "Senn"


def test_model_written_first_query(services_factory, toy_docs) -> None:
    llm = PolicyLLM(replies=["unknown", "I need the founding town.", "Orvane Guild founding town", "Tallow."],
                    supported=("Tallow",))
    run, events = _run(services_factory, toy_docs, llm, {"first_query": "model", "first_turn_passages": 3})
    assert events[0].data["query"] == "Orvane Guild founding town"
    assert events[1].data["query"] == "Orvane Guild founding town" and len(events[1].data["hits"]) == 3
    assert "First search: 'Orvane Guild founding town'" in events[0].explanation


def test_sentences_and_leaks() -> None:
    hits = [{"title": "Tallow", "text": "Tallow is a port town. It lies on the river Senn. Salt is sold there."}]
    assert sentences("Which river is Tallow on?", hits, limit=2) == [
        ("Tallow", "Tallow is a port town."), ("Tallow", "It lies on the river Senn.")]
    assert leaked("Petra Vask birthplace", "Where was Mira born?") == ["Petra", "Vask"]
    assert leaked("Petra Vask birthplace", "Petra Vask founded it") == []


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


def test_when_the_passages_never_answer_a_last_read_without_the_way_out_is_labelled(services_factory,
                                                                                      toy_docs) -> None:
    llm = PolicyLLM(replies=["unknown", "plan", "unknown", "Tallow river", "unknown", "Tallow"])
    run, events = _run(services_factory, toy_docs, llm, {"max_iterations": 2})
    final = events[-1]
    assert run.answer == "Tallow" and final.data["grounding"]["status"] == "found"
    assert "its best-checked one" in final.explanation and "The answer appears in" in final.explanation
    last_read = [m for kind, m in llm.calls if kind == "chat"][-1][-1]["content"]
    assert "reply: unknown" not in last_read  # the last read may not decline


def test_at_the_cap_the_best_supported_answer_is_kept_over_a_later_drift(services_factory, toy_docs) -> None:
    class Graded(PolicyLLM):
        def choose(self, messages, options):
            if len(options) == 2 and options[1] == "unknown":  # Tallow is better supported than Senn, both < 5
                self.calls.append(("choose", list(messages)))
                odds = {"Tallow": 3.0, "Senn": 1.0}.get(options[0], -9.0)
                return Choice(option=options[0], scores={options[0]: odds, "unknown": 0.0})
            return super().choose(messages, options)

    llm = Graded(replies=["unknown", "plan", "Tallow", "Tallow river", "Senn"])
    run, events = _run(services_factory, toy_docs, llm, {"max_iterations": 2})
    assert run.answer == "Tallow" and "best-checked one (turn 1)" in events[-1].explanation


def test_an_answer_repeating_the_question_is_neither_checked_nor_kept_nor_a_reason_to_stop(
        services_factory, toy_docs) -> None:
    class Graded(PolicyLLM):
        def choose(self, messages, options):
            if len(options) == 2 and options[1] == "unknown":  # the check would pass "Orvane Guild" if asked
                self.calls.append(("choose", list(messages)))
                self.checked.append(options[0])
                odds = {"Tallow": 3.0, "Orvane Guild": 9.0}.get(options[0], -9.0)
                return Choice(option=options[0], scores={options[0]: odds, "unknown": 0.0})
            return super().choose(messages, options)

    llm = Graded(replies=["unknown", "plan", "Tallow", "Orvane Guild river", "Orvane Guild"])
    llm.checked = []
    run, events = _run(services_factory, toy_docs, llm, {"max_iterations": 2})
    reads = [e for e in events if e.kind == "read"]
    assert "Tallow" in llm.checked and "Orvane Guild" not in llm.checked  # never checked, though it would pass
    assert reads[1].data["grounding"]["restates"] is True and reads[1].data["grounding"]["checks"] == []
    assert "only repeats words of the question" in reads[1].explanation
    assert run.answer == "Tallow" and "best-checked one (turn 1)" in events[-1].explanation
    # the same words answer a question that offers them as a choice
    from agents.grounding import restates_question
    assert restates_question("the Orvane Guild", QUESTION) and not restates_question("Tallow", QUESTION)
    assert not restates_question("Tallow", "Which is older, Tallow or the Orvane Guild?")


def test_no_relevant_passage_means_no_answer(services_factory, toy_docs) -> None:
    llm = PolicyLLM(replies=["unknown", "plan"])
    llm.default_reply = "Tallow"
    run, events = _run(services_factory, toy_docs, llm, {"max_iterations": 2, "relevance_floor": 0.99})
    assert run.answer == "(no answer)" and events[-1].data["grounding"]["reason"] == "nothing_relevant"
    assert "No passage was close enough to the question" in events[-1].explanation


class PassagePicker(PolicyLLM):
    """Like PolicyLLM, but asked which passage answers, it picks the passage titled `title` ('0' = none)."""

    def __init__(self, replies, title: str) -> None:
        super().__init__(replies=replies)
        self.title = title
        self.asked: list[list[str]] = []

    def choose(self, messages, options):
        if "Which passage answers the question?" in messages[0]["content"]:
            self.calls.append(("choose", list(messages)))
            self.asked.append(list(options))
            listing = messages[-1]["content"]
            pick = next((o for o in options[1:] if f"[{o}] {self.title}:" in listing), "0")
            return Choice(option=pick, scores={o: (0.0 if o == pick else -9.0) for o in options})
        return super().choose(messages, options)


def test_a_refined_search_that_finds_the_answer_stops_when_the_model_picks_that_passage(
        services_factory, toy_docs) -> None:
    llm = PassagePicker(replies=["unknown", "plan", "Tallow", "River Senn", "Senn"], title="River Senn")
    run, events = _run(services_factory, toy_docs, llm, {"max_iterations": 4, "passages_per_turn": 2,
                                                          "first_turn_passages": 1})
    retrieves = [e for e in events if e.kind == "retrieve"]
    assert "River Senn" not in [h["title"] for h in retrieves[0].data["hits"]]
    assert "River Senn" in [h["title"] for h in retrieves[1].data["hits"]]
    assert [e.kind for e in events] == ["plan", "retrieve", "read", "rewrite", "retrieve", "read", "answer"]
    reads = [e for e in events if e.kind == "read"]
    assert "confirm" not in reads[0].data["decision"]  # the first search is the question's, not a refined one
    confirm = reads[1].data["decision"]["confirm"]
    assert confirm["confirmed"] and confirm["picked"] == "River Senn" and "River Senn" in confirm["holding"]
    assert llm.asked == [[str(i) for i in range(len(confirm["passages"]) + 1)]]  # a number, or 0 for none
    assert "This search found “River Senn”" in reads[1].explanation and "stops searching" in reads[1].explanation
    final = events[-1]
    assert run.answer == "Senn" and final.data["grounding"]["status"] == "found"  # the label stays honest
    assert "its last search found “River Senn”" in final.explanation and "not verified" in final.explanation


def test_picking_no_passage_or_one_without_the_answer_keeps_searching(services_factory, toy_docs) -> None:
    for title in ("nothing", "Mira Kesh"):
        llm = PassagePicker(replies=[
            "unknown", "plan", "Tallow", "River Senn", "Senn", "Grey Hills", "Senn"], title=title)
        run, events = _run(services_factory, toy_docs, llm, {"max_iterations": 3, "passages_per_turn": 2,
                                                              "first_turn_passages": 1})
        reads = [e for e in events if e.kind == "read"]
        assert reads[1].data["decision"]["confirm"]["confirmed"] is False
        assert "so it searches again" in reads[1].explanation
        assert "limit of 3 turns" in events[-1].explanation


def test_the_passage_check_is_an_option(services_factory, toy_docs) -> None:
    llm = PassagePicker(replies=["unknown", "plan", "Tallow", "River Senn", "Senn"], title="River Senn")
    run, events = _run(services_factory, toy_docs, llm, {"max_iterations": 2, "confirm_stop": False,
                                                          "first_turn_passages": 1})
    assert llm.asked == [] and "limit of 2 turns" in events[-1].explanation


class LeaningLLM(PolicyLLM):
    """Like PolicyLLM, but the support check scores the answer `lean` above 'unknown' (a passage that leans
    towards the answer without clearing the support margin when 0 < lean < 5; against it when lean < 0)."""

    def __init__(self, replies, lean: float) -> None:
        super().__init__(replies=replies)
        self.lean = lean

    def choose(self, messages, options):
        if len(options) == 2 and options[1] == "unknown":
            self.calls.append(("choose", list(messages)))
            option = options[0] if self.lean > 0 else "unknown"
            return Choice(option=option, scores={options[0]: self.lean, "unknown": 0.0})
        return super().choose(messages, options)


def test_the_signals_agree_stop_when_the_answer_holds_and_its_passage_does_not_reject_it(
        services_factory, toy_docs) -> None:
    llm = LeaningLLM(replies=[
        "unknown", "plan", "Tallow", "Tallow river", "Tallow.", "Tallow town", "Tallow"], lean=2.0)
    run, events = _run(services_factory, toy_docs, llm, {"max_iterations": 4, "confirm_stop": False,
                                                          "passages_per_turn": 1, "agree_turns": 3})  # margin -2
    reads = [e for e in events if e.kind == "read"]
    assert len(reads) == 3 and events[-1].kind == "answer"  # stopped at turn 3 of 4
    agree = [r.data["decision"]["agree"] for r in reads]
    assert [a["same_turns"] for a in agree] == [1, 2, 3] and [a["stop"] for a in agree] == [False, False, True]
    assert agree[-1]["in_passage"] and agree[-1]["log_odds"] == 2.0 and agree[-1]["not_rejected"]
    assert "stayed the same for 3 turns" in reads[-1].explanation and "stops searching" in reads[-1].explanation
    assert "searches again" in reads[1].explanation
    final = events[-1]
    assert run.answer == "Tallow" and final.data["grounding"]["status"] == "found"  # not "supported": honest label
    assert "stayed the same over 3 turns" in final.explanation and "not verified" in final.explanation
    assert "log-odds" not in " ".join(e.explanation for e in events)


def test_no_agreement_stop_when_the_passage_rejects_it_the_answer_changes_or_it_is_off(
        services_factory, toy_docs) -> None:
    cases = [
        (["plan", "Tallow", "q2", "Tallow", "q3", "Tallow"], -3.0, 2),  # the passage rejects it for "unknown"
        (["plan", "Tallow", "q2", "Senn", "q3", "Tallow"], 2.0, 2),  # the answer changed each turn
        (["plan", "Tallow", "q2", "Tallow", "q3", "Tallow"], 2.0, 0),  # the stop is off
    ]
    for replies, lean, turns in cases:
        llm = LeaningLLM(replies=replies, lean=lean)
        run, events = _run(services_factory, toy_docs, llm, {"max_iterations": 3, "agree_turns": turns,
                                                              "confirm_stop": False,
                                                              "first_turn_passages": 1, "passages_per_turn": 1})
        assert sum(e.kind == "retrieve" for e in events) == 3, (replies, lean, turns)
        assert "limit of 3 turns" in events[-1].explanation


def test_the_agreement_stop_needs_the_answer_in_a_relevant_passage(services_factory, toy_docs) -> None:
    llm = LeaningLLM(replies=[
        "unknown", "plan", "Halvard", "q2", "Halvard", "q3", "Halvard"], lean=9.0)  # in no passage
    run, events = _run(services_factory, toy_docs, llm, {"max_iterations": 3, "agree_turns": 2,
                                                          "confirm_stop": False,
                                                          "passages_per_turn": 1})
    reads = [e for e in events if e.kind == "read"]
    assert len(reads) == 3 and not reads[1].data["decision"]["agree"]["in_passage"]
