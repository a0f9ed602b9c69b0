"""SIGKILL ingest at random moments, many times: SQL rows, Chroma ids and the HippoRAG graph still agree.

Each round starts tests/crash_ingest.py on the same home (real SQLite, embedded Chroma, hash embedder),
reads what the stores hold after the start-up reconciliation, then kills the process while it ingests.
RAGSCOPE_CRASH_KILLS sets the number of rounds (default 20); RAGSCOPE_CRASH_SEED fixes the delays.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from crash_ingest import DOCS_PER_JOB, job_documents  # noqa: E402

from retrieval.chunking import chunk_text  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "crash_ingest.py"
pytestmark = pytest.mark.integration


def _expected_chunks(jobs: int) -> dict[str, int]:
    """doc id -> number of chunks, for every document of jobs 0..jobs-1."""
    return {d.id: len(chunk_text(d.text, 180, 30) or [d.text]) for j in range(jobs) for d in job_documents(j)}


def _start(home: Path, jobs: int, out: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1", "RAGSCOPE_CHUNK_WORDS": "180",
           "RAGSCOPE_CHUNK_OVERLAP": "30"}
    return subprocess.Popen([sys.executable, str(SCRIPT), str(home), str(jobs), str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _wait_ready(proc: subprocess.Popen[str]) -> None:
    line = proc.stdout.readline() if proc.stdout else ""
    if line.strip() != "ready":
        proc.kill()
        raise AssertionError(f"crash_ingest did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")


def _consistent(state: dict, expected: dict[str, int]) -> list[str]:
    """What is wrong with a state: every store must hold the same chunks, of whole known documents."""
    problems = []
    sql, vectors, graph = set(state["sql_chunks"]), set(state["vectors"]), set(state["graph"])
    if vectors != sql:
        problems.append(f"vectors differ from SQL: {len(vectors - sql)} extra, {len(sql - vectors)} missing")
    if graph != sql:
        problems.append(f"graph differs from SQL: {len(graph - sql)} extra, {len(sql - graph)} missing")
    for doc, n in state["documents"].items():
        if expected.get(doc) != n:
            problems.append(f"document {doc} has {n} chunks, expected {expected.get(doc)}")
    return problems


def test_sigkill_during_ingest_leaves_stores_consistent_and_a_rerun_completes(tmp_path: Path) -> None:
    kills = int(os.environ.get("RAGSCOPE_CRASH_KILLS", "20"))
    rng = random.Random(int(os.environ.get("RAGSCOPE_CRASH_SEED", str(time.time_ns()))))
    home = tmp_path / "home"
    problems: list[str] = []
    killed_mid_run = repaired = 0
    longest = 0.8  # longest wait before the kill; it adapts so kills keep landing mid-ingest on a slow or busy CPU
    for round_ in range(kills):
        jobs = 2 + round_ // 2  # a new job every other round, plus whatever the last kill cut short
        out = tmp_path / f"state-{round_}.json"
        proc = _start(home, jobs, out)
        _wait_ready(proc)
        state = json.loads(out.read_text())
        problems += [f"round {round_}: {p}" for p in _consistent(state, _expected_chunks(jobs))]
        repaired += sum(state["reconciled"])
        time.sleep(rng.uniform(0.0, longest))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed_mid_run += 1
            longest = min(0.8, longest * 1.25)
        else:
            longest *= 0.5
        proc.wait(timeout=60)
    jobs = 2 + kills // 2
    proc = _start(home, jobs, tmp_path / "final-run.json")  # the re-run completes the job ...
    _wait_ready(proc)
    assert proc.wait(timeout=300) == 0 and proc.stdout and "done" in proc.stdout.read()
    proc = _start(home, jobs, tmp_path / "final.json")  # ... and a fresh start finds it all, consistent
    _wait_ready(proc)
    proc.wait(timeout=300)
    final = json.loads((tmp_path / "final.json").read_text())
    expected = _expected_chunks(jobs)
    problems += [f"final: {p}" for p in _consistent(final, expected)]
    print(f"crash safety: {kills} rounds, {killed_mid_run} killed mid-ingest, {repaired} vectors reconciled, "
          f"{len(problems)} inconsistencies; final {len(final['documents'])}/{len(expected)} documents")
    assert not problems, problems
    assert set(final["documents"]) == set(expected) and len(expected) == jobs * DOCS_PER_JOB
    assert killed_mid_run >= kills // 4  # rounds with little left to ingest may finish before the kill
