"""Where was the answer lost: gold ranks per retrieval step and one verdict, from stored events alone."""

from __future__ import annotations

from evaluation.lost import tally, tally_sentence, where_lost


def hit(doc: str, rank: int, score: float, title: str = "") -> dict:
    return {"rank": rank, "chunk_id": f"{doc}:0", "doc_id": doc, "title": title or doc.upper(), "text": "",
            "score": score, "query": "q"}


def retrieve(query: str, *hits: dict, kind: str = "retrieve") -> dict:
    return {"kind": kind, "data": {"query": query, "hits": list(hits)}}


def read(*docs: str) -> dict:
    return {"kind": "read", "data": {"passages": list(docs), "answer": "x"}}


def test_ranks_per_step_and_never_retrieved() -> None:
    events = [retrieve("first", hit("a", 1, 0.8), hit("b", 2, 0.5)),
              retrieve("second", hit("c", 1, 0.7), hit("a", 2, 0.6)), read("a", "b", "c")]
    report = where_lost(events, ["a", "g"], ["Paris"], "Lyon")
    assert report is not None and report.verdict == "not_retrieved"
    assert [(s.step, s.query, s.kept) for s in report.steps] == [(1, "first", 2), (2, "second", 2)]
    assert [(g.doc_id, g.rank, g.score) for g in report.steps[0].gold] == [("a", 1, 0.8), ("g", None, None)]
    assert [(g.doc_id, g.rank) for g in report.steps[1].gold] == [("a", 2), ("g", None)]
    assert report.retrieved == ["a"] and report.read == ["a"]
    assert "1 of 2 gold passages" in report.sentence and "2 searches" in report.sentence and "g" in report.sentence


def test_retrieved_but_not_read() -> None:
    events = [retrieve("q", hit("a", 1, 0.8), hit("g", 7, 0.3, "Gold Title")), read("a")]
    report = where_lost(events, ["g"], ["Paris"], "Lyon")
    assert report.verdict == "not_read" and "“Gold Title”" in report.sentence
    assert report.steps[0].gold[0].rank == 7


def test_read_but_wrong_and_right_and_graph_walk_steps() -> None:
    events = [retrieve("q", hit("g", 3, 0.01), kind="graph_walk"),
              {"kind": "answer", "data": {"answer": "Lyon", "passages": ["g"]}}]
    wrong = where_lost(events, ["g"], ["Paris"], "Lyon")
    assert wrong.verdict == "wrong" and "‘Lyon’" in wrong.sentence and "‘Paris’" in wrong.sentence
    assert wrong.steps[0].kind == "graph_walk"
    right = where_lost(events, ["g"], ["the city of Paris"], "Paris city")  # F1 0.8: right without exact match
    assert right.verdict == "right" and right.correct is True


def test_right_answer_is_right_even_without_the_gold_passage() -> None:
    report = where_lost([retrieve("q", hit("a", 1, 0.9)), read("a")], ["g"], ["Paris"], "Paris")
    assert report.verdict == "right" and "never came back" in report.sentence


def test_no_answers_is_unjudged_and_nothing_to_judge_is_none() -> None:
    events = [retrieve("q", hit("g", 1, 0.9)), read("g")]
    assert where_lost(events, ["g"]).verdict == "unjudged"
    assert where_lost(events, []) is None
    no_gold = where_lost(events, [], ["Paris"], "Lyon")
    assert no_gold.verdict == "wrong" and "no gold passages" in no_gold.sentence


def test_a_chunked_document_counts_at_its_best_chunk_and_events_may_be_trace_events() -> None:
    from agents.events import TraceEvent

    events = [TraceEvent(agent="naive", kind="retrieve", explanation="",
                         data={"query": "q", "hits": [hit("g", 4, 0.2), hit("g", 2, 0.4)]})]
    report = where_lost(events, ["g"], ["x"], "y")
    assert (report.steps[0].gold[0].rank, report.steps[0].gold[0].score) == (2, 0.4)
    assert report.verdict == "not_read"


def test_tally_sentence() -> None:
    counts = tally(["not_retrieved"] * 21 + ["not_read"] * 12 + ["wrong"] * 5 + ["right"] * 12)
    assert tally_sentence("naive", counts) == ("naive lost 38 of 50: 21 at retrieval, 12 at reading, "
                                               "5 read but answered wrong; 12 right")
    assert tally_sentence("naive", tally([])) == "naive: no measurement"
