"""The baseline rule: an iterative agent keeps the baseline reading's answer unless its own is supported and the
baseline's is not, or the baseline has none; both are labelled against every passage the run retrieved."""

from __future__ import annotations

from agents.baseline import Candidate, settle, settlement_sentence
from llm.base import Choice
from llm.fake import ScriptedLLM


def _c(answer: str, status: str) -> Candidate:
    return Candidate(answer, {"status": status, "title": "T"}, ["d"])


def test_only_a_supported_answer_or_no_baseline_answer_replaces_the_baseline() -> None:
    assert settle(_c("Senn", "supported"), _c("Tallow", "found")).keep == "chain"
    assert settle(_c("Senn", "supported"), _c("Tallow", "supported")).keep == "baseline"
    assert settle(_c("Senn", "found"), _c("Tallow", "found")).keep == "baseline"
    assert settle(_c("Senn", "found"), _c("Tallow", "guess")).keep == "baseline"  # found is not verified either
    assert settle(_c("Senn", "guess"), _c("Tallow", "found")).answer.answer == "Tallow"
    assert settle(_c("Senn", "found"), _c("(no answer)", "none")).reason == "no_baseline_answer"
    assert settle(_c("(no answer)", "none"), _c("(no answer)", "none")).keep == "chain"  # the same: no answer
    assert settle(_c("Senn", "found"), _c("senn.", "guess")).reason == "same"
    assert settle(_c("Senn", "found"), None).reason == "no_baseline"


def test_the_sentence_names_both_answers_and_their_labels() -> None:
    kept = settlement_sentence(settle(_c("Senn", "guess"), _c("Tallow", "found")))
    assert "baseline reading's ‘Tallow’ (appears in “T”)" in kept and "in no passage it retrieved" in kept
    assert "is not one a passage states" in kept
    assert settlement_sentence(settle(_c("Senn", "found"), _c("Senn", "found"))) == \
        "The baseline reading gave the same answer."


class Baseline(ScriptedLLM):
    """Confirms only 'Senn' in the support check; every other choice takes the first option."""

    def choose(self, messages, options):
        self.calls.append(("choose", list(messages)))
        option = options[0] if options[-1] != "unknown" or options[0] == "Senn" else "unknown"
        return Choice(option=option, scores={o: (0.0 if o == option else -9.0) for o in options})


def test_auto_rag_keeps_the_baseline_answer_over_its_weaker_own(services_factory, toy_docs) -> None:
    llm = Baseline(replies=["Senn", "plan", "Tallow", "Tallow river", "Tallow"])
    svc = services_factory(llm=llm)
    svc.ingest_documents("toy", toy_docs)
    run = svc.run("auto_rag", "toy", "On which river is the town where the Orvane Guild was founded?",
                  {"max_iterations": 2, "first_turn_passages": 2, "passages_per_turn": 2})
    events = list(run)
    assert [e.kind for e in events[:2]] == ["retrieve", "read"] and events[1].data["baseline"]
    assert events[0].data["query"] == run.question and len(events[0].data["hits"]) == 5  # what naive reads
    assert events[1].data["grounding"]["status"] == "supported"
    final = events[-1]
    assert run.answer == "Senn" and final.data["settled"]["keep"] == "baseline"
    assert final.data["settled"]["chain"]["answer"] == "Tallow" and final.data["grounding"]["status"] == "supported"
    assert "answers with the baseline reading's ‘Senn’" in final.explanation


def test_a_guess_a_retrieved_passage_holds_is_labelled_found_before_settling() -> None:
    shown = [{"rank": 1, "chunk_id": "c", "doc_id": "p9", "title": "Tallow", "score": 0.4, "query": "q",
              "text": "Tallow is a port town on the river Senn."}]
    settled = settle(_c("Dunmore", "found"), _c("Senn", "guess"), shown)
    assert settled.keep == "baseline" and settled.answer.grounding["status"] == "found"
    assert settled.answer.grounding["doc_id"] == "p9"
    assert settle(_c("Dunmore", "found"), _c("Avon", "guess"), shown).answer.grounding["status"] == "guess"
