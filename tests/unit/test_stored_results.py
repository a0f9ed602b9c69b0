"""Every bench result is stored (summary, rows, run ids, where each answer was lost) and listed per owner;
the new tables appear in a database made before them; reference results are read from JSON files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from evaluation.bench import run_bench
from evaluation.stored import (
    calibration,
    find_result,
    gold_for_run,
    parse_questions,
    points,
    question_rows,
    reference_results,
    visible_results,
)
from storage.db import Database, NotFound
from storage.results import ResultStore
from tests.unit.test_bench_concurrency import SlowOracle, write_bench


def test_a_bench_is_stored_with_its_rows_gold_and_where_each_answer_was_lost(services_factory, toy_docs,
                                                                            tmp_path) -> None:
    corpus, questions = write_bench(tmp_path, toy_docs)
    services = services_factory(llm=SlowOracle())
    results = run_bench(services, ["naive"], corpus, questions, show_progress=False)
    stored = ResultStore(services.db).get_bench(results["result_id"])
    assert stored["source"] == "cli" and stored["owner"] == "public" and stored["dataset"] == tmp_path.name
    rows = stored["results"]["per_question"]["naive"]
    assert len(rows) == 8 and all(r["run_id"] and r["lost"] in ("right", "wrong", "not_read", "not_retrieved")
                                  for r in rows)
    assert sum(stored["results"]["agents"]["naive"]["lost"].values()) == 8
    gold = gold_for_run(services, services.db.get_run(rows[0]["run_id"]))
    assert gold is not None and gold.answers == tuple(rows[0]["answers"]) and gold.source == f"bench {tmp_path.name}"
    # the point and its questions, as the Benchmarks tab shows them
    (point,) = [p for p in points(visible_results(services, folder=tmp_path / "none")) if p["agent"] == "naive"]
    counts = stored["results"]["agents"]["naive"]["labels"]
    shown = " · ".join(f"{k} {v['right']}/{v['n']}" for k, v in counts.items() if v["n"]) + " right"
    assert point["n"] == 8 and point["labels"] == shown and point["lost"].startswith("naive")
    entry = find_result(services, results["result_id"], folder=tmp_path / "none")
    assert [r["run"] for r in question_rows(entry, "naive")] == [r["run_id"] for r in rows]


def test_results_are_listed_per_owner(services_factory, toy_docs, tmp_path) -> None:
    services = services_factory(llm=SlowOracle())
    store = ResultStore(services.db)
    store.save_bench({"agents": {}, "per_question": {}}, "mine", owner="ana", source="tab")
    store.save_bench({"agents": {}, "per_question": {}}, "theirs", owner="bo", source="tab")
    store.save_bench({"agents": {}, "per_question": {}}, "shared", owner="public")
    assert {e["dataset"] for e in store.list_bench("ana")} == {"mine", "shared"}
    assert {e["dataset"] for e in visible_results(services, "ana", folder=tmp_path)} == {"mine", "shared"}
    theirs = next(e for e in store.list_bench(None) if e["dataset"] == "theirs")
    with pytest.raises(NotFound):
        find_result(services, theirs["id"], "ana", folder=tmp_path)
    single = services_factory(llm=SlowOracle(), single_user=True)
    assert len(visible_results(single, "ana", folder=tmp_path)) == 3


def test_new_tables_are_made_in_a_database_created_before_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    from storage.models import Base

    engine = create_engine(url)
    old = [t for name, t in Base.metadata.tables.items() if name not in ("bench_results", "run_gold", "run_links")]
    Base.metadata.create_all(engine, tables=old)
    assert "bench_results" not in inspect(engine).get_table_names()
    engine.dispose()
    db = Database(url)
    assert {"bench_results", "run_gold", "run_links"} <= set(inspect(db.engine).get_table_names())
    assert ResultStore(db).list_bench(None) == []


def test_reference_results_and_calibration_without_labels(tmp_path: Path) -> None:
    (tmp_path / "dialogues.json").write_text(json.dumps({"agents": {"tim": {}}}))  # not a multi-hop result
    (tmp_path / "musique.json").write_text(json.dumps({
        "questions": "../shared/data/multihop/musique/questions.jsonl", "llm": "m",
        "agents": {"naive": {"n": 2, "f1": 0.5, "labels": {"supported": {"n": 4, "right": 3},
                                                             "guess": {"n": 0, "right": 0}}}},
        "per_question": {"naive": []}}))
    (entry,) = reference_results(tmp_path)
    assert entry["dataset"] == "musique" and entry["source"] == "reference" and entry["id"] == "file:musique.json"
    assert calibration(entry["results"]["agents"]["naive"]) == "supported 3/4 right"
    assert calibration({}) == "no measurement"


def test_parse_questions_names_the_bad_line() -> None:
    qs = parse_questions('{"question": "Who?", "answers": ["A"]}\n\n{"id": "x", "question": "Where?", '
                         '"gold_ids": ["g1"]}\n')
    assert [(q.id, q.answers, q.gold_ids) for q in qs] == [("1", ("A",), ()), ("x", (), ("g1",))]
    for text, message in [("{not json", "line 1 is not valid JSON"), ('{"answers": []}', 'line 1 has no "question"'),
                          ("", "no questions"), ('{"question": "a", "answers": "A"}', "must be lists")]:
        with pytest.raises(ValueError, match=message):
            parse_questions(text)
    with pytest.raises(ValueError, match="at most 1"):
        parse_questions('{"question": "a"}\n{"question": "b"}', limit=1)
