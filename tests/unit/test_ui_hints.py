"""The Chat tab follows what was chosen: examples and hint by corpus and agent, a waiting step naming what comes."""

from __future__ import annotations

from types import SimpleNamespace

from ui import hints
from ui.common import load_examples


class Corpora:
    """Services with one user corpus of three documents."""

    def documents(self, corpus: str, owner: str) -> list:
        if corpus != "lighthouses":
            raise LookupError(corpus)
        return [SimpleNamespace(title=t) for t in ("Greyhollow Light", "Keepers <b>log</b>", "greyhollow light")]


def test_examples_follow_the_corpus_and_the_agent() -> None:
    services = Corpora()
    assert hints.examples(services, "demo", "naive", "ann") == load_examples(n=hints.EXAMPLES)
    assert hints.examples(services, "lighthouses", "auto_rag", "ann") == [
        "Tell me about Greyhollow Light.", "Tell me about Keepers <b>log</b>."]  # its own titles, once each
    assert hints.examples(services, "lighthouses", "tim", "ann") == hints.MEMORY_EXAMPLES
    assert hints.examples(services, "gone", "naive", "ann") == [] and hints.examples(services, None, "x", "a") == []


def test_the_hint_names_the_chosen_corpus_or_memory_and_escapes_it() -> None:
    services = Corpora()
    assert "demo corpus" in hints.hint(services, "demo", "naive", "ann")
    lights = hints.hint(services, "lighthouses", "hipporag", "ann")
    assert "lighthouses" in lights and "3 documents" in lights and "demo" not in lights
    assert "tell it something about yourself" in hints.hint(services, "demo", "tim", "ann")
    assert "&#60;b&#62;" in hints.hint(services, "<b>x</b>", "naive", "ann")


def test_the_waiting_step_names_what_the_agent_does_next() -> None:
    assert hints.waiting("auto_rag") == ("Auto-RAG: planning (the model reads the question and decides what to "
                                         "search for first)…")
    assert hints.waiting("retro_rag", "retrieve").endswith("weighing the new passages as evidence…")
    assert hints.waiting("naive", "retrieve").endswith("reading the passages found…")
    from agents import registry

    for name in registry.names():  # every agent has a first step that says what it does
        assert name in hints.FIRST_STEP
