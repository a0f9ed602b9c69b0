"""No app-wide one-run-at-a-time slot: two users' runs, and Compare's columns, overlap in time (fake slow LLM)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from llm.base import Completion, Message
from tests.doubles import DemoOracleLLM
from tests.harness import message_text

pytestmark = pytest.mark.integration

QUESTIONS = ["Which comet was first sighted at Carrowdene Observatory?",
             "In what year was the Guild of Tidewrights chartered?"]


class OverlapOracle(DemoOracleLLM):
    """The demo oracle, slow, counting how many of its calls are in flight at once."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay=delay)
        self.active = 0
        self.most = 0
        self._count = threading.Lock()

    def chat(self, messages: Sequence[Message], max_tokens: int = 256, stop: Sequence[str] | None = None
             ) -> Completion:
        """The oracle's reply, while counting overlap."""
        with self._count:
            self.active += 1
            self.most = max(self.most, self.active)
        try:
            return super().chat(messages, max_tokens, stop)
        finally:
            with self._count:
                self.active -= 1


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    from tests.harness import start_app

    running = start_app(tmp_path_factory.mktemp("ui-concurrency") / "home", llm=OverlapOracle(delay=0.4))
    yield running
    running.close()


def test_two_users_runs_overlap(app) -> None:
    from gradio_client import Client

    llm = app.services.llm
    llm.most = 0
    clients = [Client(app.url, verbose=False) for _ in QUESTIONS]
    t0 = time.perf_counter()
    jobs = [c.submit(q, "demo", "naive", api_name="/ask") for c, q in zip(clients, QUESTIONS, strict=True)]
    answers = [message_text(job.result(timeout=120)[0][-1]) for job in jobs]
    assert llm.most >= 2  # the second user's run did not wait for the first one's
    assert answers[0].startswith("**Grey Lantern**")
    assert time.perf_counter() - t0 > 0


def test_compare_runs_its_columns_concurrently(app) -> None:
    from gradio_client import Client

    llm = app.services.llm
    llm.most = 0
    job = Client(app.url, verbose=False).submit(QUESTIONS[0], "demo", ["naive", "iter_retgen"], "", "",
                                                api_name="/compare")
    updates = list(job)
    result = job.result(timeout=120)
    assert llm.most >= 2  # both agents were calling the LLM at the same time
    summary = result[-2]
    assert sorted(row[0] for row in summary["data"]) == ["iter_retgen", "naive"]
    notes = [u[-1] for u in updates]
    assert any("naive" in n and "iter_retgen" in n for n in notes)  # both columns streamed while running
