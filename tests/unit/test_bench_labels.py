"""The bench's label table and its independent check that an answer stands in a retrieved passage."""

from __future__ import annotations

from types import SimpleNamespace

from evaluation.bench import label_table, stands_in_retrieved


def _event(kind: str, **data):
    return SimpleNamespace(kind=kind, data=data)


def _hit(text: str) -> dict:
    return {"rank": 1, "chunk_id": "c", "doc_id": "d", "title": "T", "text": text, "score": 0.5, "query": "q"}


def test_an_answer_stands_in_a_retrieved_passage_only_word_for_word() -> None:
    events = [_event("retrieve", hits=[_hit("The Guild of Tidewardens was founded in 1744 by Corwen Halloway.")]),
              _event("answer", answer="Corwen Halloway")]
    assert stands_in_retrieved("Corwen Halloway", events)
    assert stands_in_retrieved("the corwen halloway.", events)  # SQuAD normalisation: case, articles, punctuation
    assert not stands_in_retrieved("Halloway Corwen", events)  # the words, not in that order
    assert not stands_in_retrieved("Corwen Hall", events)  # a prefix of a word is not the word
    assert not stands_in_retrieved("", events)
    assert not stands_in_retrieved("Corwen Halloway", [_event("answer", answer="Corwen Halloway")])


def test_label_table_counts_right_answers_by_em_or_half_f1() -> None:
    rows = [{"label": "supported", "em": 1, "f1": 1.0}, {"label": "supported", "em": 0, "f1": 0.5},
            {"label": "found", "em": 0, "f1": 0.4}, {"label": "guess", "em": 0, "f1": 0.0}]
    table = label_table(rows)
    assert table["supported"] == {"n": 2, "right": 2}
    assert table["found"] == {"n": 1, "right": 0}
    assert table["guess"] == {"n": 1, "right": 0}
    assert table["none"] == {"n": 0, "right": 0}
