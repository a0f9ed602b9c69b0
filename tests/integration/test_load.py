"""Several gradio_client sessions asking at once: every answer arrives, each session sees only its own chat and
runs, and each question is shown at once, with its place in line while it waits for a run slot.

The first test uses the slow demo oracle with 4 run slots and 8 sessions, so half of them wait; the second
uses the real default model with 3 sessions (benchmarks/bench_load.py measures 1, 4 and 8 with the real
model and reports the latencies).
"""

from __future__ import annotations

import html
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.harness import message_text

pytestmark = pytest.mark.integration

QUESTIONS = [
    "Which comet was first sighted at Carrowdene Observatory?",
    "In what year was the Guild of Tidewrights chartered?",
    "On which river stands the town that hosts the Feast of Reeds?",
    "Who founded the guild whose hall is in the village of Mirrowdale?",
    "Which is the easternmost of the Quillmarch Isles?",
    "Who designed the Saltspine Railway?",
    "What is Brannoch known for?",
    "Where is the Collegium of Duvessa?",
]
PLACE = re.compile(r"Waiting for a free run slot: (\d+)\w\w in line")


@dataclass
class Session:
    """One gradio_client session asking one question, with what it saw and when."""

    question: str
    updates: list[tuple[float, list[dict[str, Any]]]] = field(default_factory=list)
    started: float = 0.0
    final: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""

    def ask(self, client: Any) -> None:
        """Submit the question and record every streamed update (seconds since submitting, messages)."""
        try:
            self.started = time.perf_counter()
            job = client.submit(self.question, "demo", "naive", api_name="/ask")
            for messages, _box in job:
                self.updates.append((time.perf_counter() - self.started, messages))
            self.final = job.result(timeout=600)[0]
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = f"{type(exc).__name__}: {exc}"

    def texts(self, messages: list[dict[str, Any]]) -> list[str]:
        return [html.unescape(message_text(m)) for m in messages]

    @property
    def places(self) -> list[int]:
        """Every place in line this session was told, in order."""
        return [int(m.group(1)) for _, msgs in self.updates for msg in msgs
                if (m := PLACE.search(str((msg.get("metadata") or {}).get("title", ""))))]

    @property
    def run_id(self) -> str:
        return self.texts(self.final)[-1].split("?run=")[1][:32]


def ask_all(url: str, questions: list[str]) -> list[Session]:
    """One new gradio_client session per question, all asking at once."""
    from gradio_client import Client

    clients = [Client(url, verbose=False) for _ in questions]
    sessions = [Session(q) for q in questions]
    threads = [threading.Thread(target=s.ask, args=(c,)) for s, c in zip(sessions, clients, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(900)
    return sessions


def check_isolated(services: Any, sessions: list[Session]) -> None:
    """Every answer arrived; each chat holds only its own question; each run is its own session's."""
    owners = set()
    for s in sessions:
        assert not s.error, s.error
        users = [t for m, t in zip(s.final, s.texts(s.final), strict=True) if m["role"] == "user"]
        assert users == [s.question]  # its own question and nobody else's
        run = services.db.get_run(s.run_id)
        assert run["status"] == "done" and run["question"] == s.question and run["answer"], run
        assert [r["id"] for r in services.db.list_runs(owner=services.runs_of(run["owner"]))] == [s.run_id]
        owners.add(run["owner"])
    assert len(owners) == len(sessions) and all(o.startswith("browser-") for o in owners)


@pytest.fixture(scope="module")
def queued_app(tmp_path_factory: pytest.TempPathFactory):
    from tests.doubles import DemoOracleLLM
    from tests.harness import start_app

    # 4 run slots (the fewest there are) and a slow model: of 8 sessions, 4 wait in line
    running = start_app(tmp_path_factory.mktemp("load-queued") / "home", llm=DemoOracleLLM(delay=1.0),
                        engine_max_batch=4)
    yield running
    running.close()


def test_eight_sessions_at_once_each_shown_at_once_with_its_place(queued_app) -> None:
    assert queued_app.services.queue.slots == 4
    sessions = ask_all(queued_app.url, QUESTIONS)
    check_isolated(queued_app.services, sessions)
    for s in sessions:
        seconds, first = s.updates[0]
        assert seconds < 3 and s.texts(first)[0] == s.question  # the question shows at once…
    waited = [s for s in sessions if s.places]
    assert len(waited) >= 3  # …and those behind the 4 running say where they stand
    assert {s.places[0] for s in waited} >= {1, 2, 3}
    assert all(s.places == sorted(s.places, reverse=True) for s in waited)  # the line only moves forward
    assert queued_app.services.queue.going == queued_app.services.queue.waiting == 0


def test_three_sessions_at_once_with_the_real_model(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.harness import start_app

    app = start_app(tmp_path_factory.mktemp("load-real") / "home", real_llm=True)
    try:
        app.services.llm.start_loading()
        sessions = ask_all(app.url, QUESTIONS[:3])
        check_isolated(app.services, sessions)
        for s in sessions:
            assert s.updates[0][0] < 10  # shown at once, while the model works on the others
            assert any("retrieve" in str((m.get("metadata") or {}).get("title", "")) for m in s.final)
    finally:
        app.close()
