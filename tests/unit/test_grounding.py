"""Labels: each claims only what its check found (supported / found / guess / none)."""

from __future__ import annotations

from agents.events import HitData, Step, validate_data
from agents.grounding import (
    cut_at_word,
    ground,
    grounding_label,
    grounding_sentence,
    is_abstention,
    upgrade,
    word_coverage,
)
from agents.reader import read_messages, read_step
from llm.fake import ScriptedLLM


def _hit(title: str, text: str, score: float, rank: int = 1) -> HitData:
    return HitData(rank=rank, chunk_id=f"{title}:0", doc_id=title.lower(), title=title, text=text, score=score,
                   query="q")


HITS = [_hit("Pellowick", "Pellowick is set on both banks of the River Amsel.", 0.52),
        _hit("Ansel Valley", "The River Ansel runs through the Ansel Valley far to the south.", 0.41, 2)]
Q = "On which river is Pellowick?"


def test_word_coverage_and_abstention() -> None:
    assert word_coverage("River Amsel", HITS[0]["text"]) == 1.0
    assert word_coverage("the River Ansel", HITS[0]["text"]) == 0.5  # a look-alike is not a match
    assert word_coverage("", "anything") == 0.0
    assert is_abstention("Unknown.") and is_abstention("") and is_abstention("(no answer)")
    assert not is_abstention("Amsel")


def test_supported_needs_the_relation_the_chain_and_the_passage_alone() -> None:
    llm = ScriptedLLM(choices=["River Amsel"])
    step = Step("t", "read")
    g = ground(llm, step, Q, "River Amsel", HITS, [0.52, 0.41])
    # only the passage holding every word of the answer is checked: one model call (answer vs "unknown")
    assert g["status"] == "supported" and g["title"] == "Pellowick"
    (check,) = g["checks"]
    assert check["title"] == "Pellowick" and step.llm_calls == 1
    assert check["chain"]["relation"] == ["river"] and check["chain"]["entities"] == ["Pellowick"]
    assert grounding_label(g) == "“Pellowick” states it as the answer"
    assert "beside the question's words “river…” and names Pellowick" in grounding_sentence(g)
    assert validate_data("read", {"passages": [], "grounding": g}) == []


def test_a_passage_not_tied_to_the_question_is_found_not_supported() -> None:
    llm = ScriptedLLM(choices=["River Ansel"])
    g = ground(llm, Step("t", "read"), Q, "River Ansel", HITS, [0.52, 0.41])
    # "Ansel Valley" holds the answer and the model would pass it, but it names nothing the question names
    assert g["status"] == "found" and not g["checks"][0]["supported"]
    assert "not tied to the question's names" in grounding_sentence(g)
    assert grounding_label(g) == "Appears in “Ansel Valley” — not verified as the answer"


def test_a_chain_through_a_passage_read_with_it_ties_the_answer_to_the_question() -> None:
    guild = _hit("Guild of Tidewardens", "The Guild of Tidewardens was founded in 1744 by Corwen Halloway.", 0.5)
    village = _hit("Mirrowdale", "Mirrowdale is a village whose hall is the hall of the Guild of Tidewardens.", 0.6)
    q = "Who founded the guild whose hall is in the village of Mirrowdale?"
    g = ground(ScriptedLLM(), Step("t", "read"), q, "Corwen Halloway", [village, guild], [0.6, 0.5])
    assert g["status"] == "supported" and g["checks"][0]["chain"]["via"]["title"] == "Mirrowdale"
    assert "is named by “Mirrowdale”" in grounding_sentence(g)


def test_an_answer_beside_none_of_the_questions_words_is_found() -> None:
    suite = _hit("The Lantern Suite", "The Lantern Suite was written by Marisol Estrange. It was first performed "
                 "at Opal Hall in Duvessa.", 0.7)
    q = "In which town was the composer of The Lantern Suite born?"
    g = ground(ScriptedLLM(), Step("t", "read"), q, "Duvessa", [suite], [0.7])
    assert g["status"] == "found" and g["checks"][0]["chain"]["relation"] == []
    assert "no word of what the question asks stands beside it" in grounding_sentence(g)


def test_unknown_beating_the_answer_leaves_it_found() -> None:
    llm = ScriptedLLM(choices=["unknown"])
    g = ground(llm, Step("t", "read"), Q, "River Amsel", HITS, [0.52, 0.41])
    assert g["checks"][0]["chain"]["passed"]
    assert g["status"] == "found" and "does not clearly prefer it" in grounding_sentence(g)


def test_a_yes_or_no_answer_is_a_guess_said_as_a_judgement() -> None:
    g = ground(ScriptedLLM(), Step("t", "read"), "Is Pellowick on the River Amsel?", "yes", HITS, [0.52, 0.41])
    assert g["status"] == "guess" and g["judgement"] and "yes-or-no" in grounding_label(g)


def test_an_answer_in_no_passage_is_a_guess_without_asking_the_model() -> None:
    llm = ScriptedLLM()
    g = ground(llm, Step("t", "read"), "Who directed Black Hawk Down?", "Ridley Scott", HITS, [0.52, 0.41])
    assert g["status"] == "guess" and g["checks"] == [] and llm.calls == []
    assert grounding_label(g) == "Not in the passages it retrieved — the model's own knowledge"


def test_an_answer_in_a_retrieved_passage_not_read_is_found_there() -> None:
    other = _hit("Senn", "The river Senn flows past Tallow.", 0.2, 3)
    g = ground(ScriptedLLM(), Step("t", "read"), Q, "river Senn", HITS, [0.52, 0.41], retrieved=[other])
    assert g["status"] == "found" and g["title"] == "Senn" and g["read"] is False
    assert "did not read for this answer" in grounding_sentence(g)


def test_a_partial_match_is_a_guess_that_names_where_some_words_are() -> None:
    g = ground(ScriptedLLM(), Step("t", "read"), Q, "River Thames", HITS, [0.52, 0.41])
    assert g["status"] == "guess" and g["partial"]["coverage"] == 0.5
    assert "holds some of its words" in grounding_sentence(g)


def test_an_answer_repeating_the_question_is_found_but_never_checked() -> None:
    hit = _hit("Euro", "The Euro replaced the markka in Finland.", 0.5)
    llm = ScriptedLLM()
    g = ground(llm, Step("t", "read"), "What currency predated the Euro in Finland?", "Euro", [hit], [0.5])
    assert g["status"] == "found" and g["restates"] and llm.calls == []


def test_below_the_floor_nothing_is_read_and_there_is_no_answer() -> None:
    llm = ScriptedLLM(replies=["Carrowdene Observatory"])
    hits = [_hit("Carrowdene Observatory", "The observatory stands on a hill.", 0.18)]
    answer, event = read_step("naive", "r", llm, "Who directed the film Black Hawk Down?", hits, 16)
    assert answer == "(no answer)" and llm.calls == [] and event.llm_calls == 0
    g = event.data["grounding"]
    assert g["status"] == "none" and g["reason"] == "nothing_relevant"
    assert "0.18" in event.explanation and "0.30" in event.explanation
    assert grounding_label(g).startswith("No answer")
    assert validate_data("read", event.data) == []


def test_an_abstaining_reader_gives_no_answer() -> None:
    llm = ScriptedLLM(replies=["unknown"])
    answer, event = read_step("naive", "r", llm, "Who founded Pellowick?", HITS, 16)
    assert answer == "(no answer)" and event.data["grounding"]["status"] == "none"
    assert event.data["grounding"]["reason"] == "abstained"


def test_stored_labels_from_before_are_read_as_what_they_checked() -> None:
    assert upgrade({"status": "nothing_relevant"}) == {"status": "none", "reason": "nothing_relevant"}
    full = {"status": "supported", "doc_id": "p", "title": "P", "checks": [{"coverage": 1.0, "doc_id": "p",
                                                                             "title": "P"}]}
    assert upgrade(full)["status"] == "found"  # the old check was weaker than 'supported' now is
    part = {"status": "guess", "checks": [{"coverage": 0.6, "doc_id": "p", "title": "P"}]}
    assert upgrade(part)["status"] == "guess"
    assert upgrade({"status": "found", "holders": []})["status"] == "found"


def test_reader_prompts() -> None:
    plain = read_messages("Q?", HITS)
    assert len(plain) == 1 and plain[0]["content"].startswith("Answer the question using the passages.")
    assert "[1] Pellowick:" in plain[0]["content"] and plain[0]["content"].endswith("Question: Q?")
    assert "unknown" in read_messages("Q?", HITS, "plain_abstain")[0]["content"]
    assert read_messages("Q?", HITS, "one_shot")[2]["content"] == "Palle"


def test_cut_at_word() -> None:
    assert cut_at_word("The Orvane Guild of Tallow", 14) == "The Orvane…"
    assert cut_at_word("short", 14) == "short"
