"""Every documented limit is enforced with a message that names its setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm.fake import ScriptedLLM
from services import LimitError


def test_too_many_files_and_the_user_quota_are_refused_with_the_setting(services_factory, tmp_path: Path) -> None:
    svc = services_factory(max_files=2, max_user_mb=0.0001)  # 100 characters
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"f{i}.txt")
        paths[-1].write_text(f"File {i} " + "word " * 12, encoding="utf-8")
    with pytest.raises(ValueError, match="3 files in one upload; at most 2 are allowed \\(RAGSCOPE_MAX_FILES\\)"):
        svc.ingest("mine", paths)
    report = svc.ingest("mine", paths[:2])
    assert report.added == 1
    assert len(report.errors) == 1 and "RAGSCOPE_MAX_USER_MB" in report.errors[0]
    assert report.errors[0].startswith("f1.txt: not added")


def test_a_long_question_is_refused_before_it_is_stored(services_factory, toy_docs) -> None:
    svc = services_factory(max_question_chars=20)
    svc.ingest_documents("toy", toy_docs)
    with pytest.raises(ValueError, match="21 characters; at most 20 are allowed \\(RAGSCOPE_MAX_QUESTION_CHARS\\)"):
        svc.run("naive", "toy", "x" * 21)
    assert svc.db.list_runs() == []
    assert list(svc.run("naive", "toy", "x" * 20))


def test_a_run_over_its_token_budget_stops_with_a_stored_error(services_factory, toy_docs) -> None:
    svc = services_factory(llm=ScriptedLLM(replies=["Tallow."]), max_run_tokens=10)
    svc.ingest_documents("toy", toy_docs)
    run = svc.run("naive", "toy", "Where was the Orvane Guild founded?")
    events = list(run)
    assert events[-1].kind == "error" and "RAGSCOPE_MAX_RUN_TOKENS" in events[-1].explanation
    assert events[-1].explanation.startswith("The run stopped: it used ")
    stored = svc.db.get_run(run.run_id)
    assert stored["status"] == "error" and "over the limit of 10 per run" in stored["error"]


def test_a_run_over_its_step_budget_stops_with_a_stored_error(services_factory, toy_docs) -> None:
    svc = services_factory(max_run_steps=1)
    svc.ingest_documents("toy", toy_docs)
    run = svc.run("naive", "toy", "Where was the Orvane Guild founded?")
    kinds = [e.kind for e in run]
    assert kinds == ["retrieve", "error"]
    assert "more than 1 steps" in run.error and "RAGSCOPE_MAX_RUN_STEPS" in run.error


def test_runs_in_flight_per_user(services_factory, toy_docs) -> None:
    svc = services_factory(max_runs_per_user=2)
    svc.ingest_documents("toy", toy_docs)
    first, second = (svc.run("naive", "toy", f"q{i}?", owner="ann") for i in range(2))
    message = r"you have 2 runs in flight; at most 2 at once \(RAGSCOPE_MAX_RUNS_PER_USER\)"
    with pytest.raises(LimitError, match=message):
        svc.run("naive", "toy", "q3?", owner="ann")
    assert list(svc.run("naive", "toy", "q3?", owner="bob"))  # another user is not held up
    list(first)
    assert list(svc.run("naive", "toy", "q4?", owner="ann"))  # a finished run frees its place
    del second
