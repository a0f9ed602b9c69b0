"""Grounding: the relevance floor, answer words, the yes/no support check, and the labels."""

from __future__ import annotations

from agents.events import HitData, Step, validate_data
from agents.grounding import (
    check_support,
    cut_at_word,
    grounding_label,
    grounding_sentence,
    is_abstention,
    word_coverage,
)
from agents.reader import read_messages, read_step
from llm.fake import ScriptedLLM


def _hit(title: str, text: str, score: float, rank: int = 1) -> HitData:
    return HitData(rank=rank, chunk_id=f"{title}:0", doc_id=title.lower(), title=title, text=text, score=score,
                   query="q")


HITS = [_hit("Pellowick", "Pellowick is set on both banks of the River Amsel.", 0.52),
        _hit("Ansel Valley", "The River Ansel runs through the Ansel Valley far to the south.", 0.41, 2)]


def test_word_coverage_and_abstention() -> None:
    assert word_coverage("River Amsel", HITS[0]["text"]) == 1.0
    assert word_coverage("the River Ansel", HITS[0]["text"]) == 0.5  # a look-alike is not a match
    assert word_coverage("", "anything") == 0.0
    assert is_abstention("Unknown.") and is_abstention("") and is_abstention("(no answer)")
    assert not is_abstention("Amsel")


def test_a_look_alike_answer_is_not_supported_by_the_passage_that_has_the_real_one() -> None:
    llm = ScriptedLLM(choices=["River Ansel"])
    step = Step("t", "read")
    g = check_support(llm, step, "On which river is Pellowick?", "River Ansel", HITS, [0.52, 0.41])
    # only the passage that holds all the answer's words is checked, and the model confirms it
    assert g["status"] == "supported" and g["title"] == "Ansel Valley"
    assert [c["title"] for c in g["checks"]] == ["Ansel Valley"] and step.llm_calls == 1


def test_the_model_saying_no_makes_it_a_guess() -> None:
    llm = ScriptedLLM(choices=["unknown"])
    g = check_support(llm, Step("t", "read"), "On which river is Pellowick?", "River Amsel", HITS, [0.52, 0.41])
    assert g["status"] == "guess" and g["checks"][0]["supported"] is False
    assert "own guess" in grounding_label(g) and "“Pellowick”" in grounding_sentence(g)
    assert validate_data("read", {"passages": [], "grounding": g}) == []


def test_answer_words_in_no_passage_is_a_guess_without_asking_the_model() -> None:
    llm = ScriptedLLM()
    g = check_support(llm, Step("t", "read"), "Who directed Black Hawk Down?", "Ridley Scott", HITS, [0.52, 0.41])
    assert g["status"] == "guess" and g["checks"] == [] and llm.calls == []
    assert grounding_label(g) == "Not found in your documents — the model's own guess"


def test_below_the_floor_nothing_is_read_and_there_is_no_answer() -> None:
    llm = ScriptedLLM(replies=["Carrowdene Observatory"])
    hits = [_hit("Carrowdene Observatory", "The observatory stands on a hill.", 0.18)]
    answer, event = read_step("naive", "r", llm, "Who directed the film Black Hawk Down?", hits, 16)
    assert answer == "(no answer)" and llm.calls == [] and event.llm_calls == 0
    assert event.data["grounding"]["status"] == "nothing_relevant"
    assert "18%" in event.explanation and "30%" in event.explanation
    assert grounding_label(event.data["grounding"]).startswith("No answer")
    assert validate_data("read", event.data) == []


def test_an_abstaining_reader_gives_no_answer() -> None:
    llm = ScriptedLLM(replies=["unknown"])
    answer, event = read_step("naive", "r", llm, "Who founded Pellowick?", HITS, 16)
    assert answer == "(no answer)" and event.data["grounding"]["status"] == "abstained"


def test_reader_prompts() -> None:
    plain = read_messages("Q?", HITS)
    assert len(plain) == 1 and plain[0]["content"].startswith("Answer the question using the passages.")
    assert "[1] Pellowick:" in plain[0]["content"] and plain[0]["content"].endswith("Question: Q?")
    assert "unknown" in read_messages("Q?", HITS, "plain_abstain")[0]["content"]
    assert read_messages("Q?", HITS, "one_shot")[2]["content"] == "Palle"


def test_cut_at_word() -> None:
    assert cut_at_word("The Orvane Guild of Tallow", 14) == "The Orvane…"
    assert cut_at_word("short", 14) == "short"
