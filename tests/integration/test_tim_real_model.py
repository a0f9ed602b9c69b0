"""TiM with the real default model and embedder on a three-turn dialogue: remember, update, recall."""

from __future__ import annotations

import pytest

from agents.events import validate_data

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """Real LLM and embedder, SQLite in a temp folder; the converted model comes from RAGSCOPE_MODEL_CACHE."""
    from services import Services
    from settings import Settings

    home = tmp_path_factory.mktemp("tim-real")
    return Services(Settings.from_env(home=home, demo_corpus=False))


def say(services, message: str, history: list[dict[str, str]], config: dict | None = None):
    """One turn of user 'ana'; the turn is appended to `history`."""
    run = services.run("tim", "", message, config or {}, user="ana", conversation="c1", history=history)
    events = list(run)
    assert not run.error, run.error
    for event in events:
        assert validate_data(event.kind, event.data) == [], (event.kind, event.explanation)
    history += [{"role": "user", "content": message}, {"role": "assistant", "content": run.answer}]
    return run


def active(services) -> list[str]:
    return [t.text for t in services.memory.list("ana", status="active")]


def test_tim_remembers_updates_and_recalls_with_the_real_model(services) -> None:
    history: list[dict[str, str]] = []
    first = say(services, "I live in Lisbon.", history)
    assert [e.kind for e in first.events][:3] == ["memory_read", "answer", "memory_write"]
    assert any("Lisbon" in t for t in active(services)), active(services)
    say(services, "Actually, I moved to Berlin last month.", history)
    assert any("Berlin" in t for t in active(services)), active(services)
    # both are filed under 'home', which holds one value: Lisbon is forgotten, not deleted
    assert not any("Lisbon" in t for t in active(services)), active(services)
    assert any("Lisbon" in t.text for t in services.memory.list("ana", status="forgotten"))
    # a fact of another topic forgets nothing (the old pairwise relation check forgot the job here)
    say(services, "I work as a dentist.", history)
    say(services, "On weekends I go caving.", history)
    assert any("dentist" in t for t in active(services)) and any("caving" in t for t in active(services)), active(
        services)
    # a new conversation (no earlier turns shown): only the long-term memory can answer
    probe = say(services, "Which city do I live in now?", [], {"recent_turns": 0})
    recalled = [t["text"] for t in probe.events[0].data["thoughts"]]
    assert any("Berlin" in t for t in recalled), recalled
    assert "Berlin" in probe.answer and "Lisbon" not in probe.answer, probe.answer
