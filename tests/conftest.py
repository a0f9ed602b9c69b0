"""Shared fixtures: a corpus store on SQLite in tmp_path, in-memory vectors and a hash embedder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
DEMO = Path(__file__).parents[1] / "data" / "demo"


def pytest_configure(config: pytest.Config) -> None:
    """Before collection imports anything: run offline, no telemetry, one shared model cache."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    # every test home shares one converted model, so the GGUF is converted once per machine
    os.environ.setdefault("RAGSCOPE_MODEL_CACHE", str(Path(__file__).parents[1] / ".ragscope" / "models"))


@pytest.fixture
def services_factory(tmp_path: Path):
    """Build Services on tmp_path with a hash embedder, in-memory vectors and the given LLM."""
    from llm.fake import ScriptedLLM
    from retrieval.embedder import HashEmbedder
    from services import Services
    from settings import Settings
    from storage.vector_store import InMemoryVectorStore

    def make(llm=None, demo: bool = False, **overrides):
        settings = Settings.from_env(home=tmp_path / "home", demo_corpus=demo, **overrides)
        return Services(settings, llm=llm or ScriptedLLM(), embedder=HashEmbedder(64),
                        vectors=InMemoryVectorStore())

    return make


@pytest.fixture
def toy_docs():
    """Five tiny documents about an invented world."""
    from retrieval.readers import RawDocument, doc_id

    texts = {
        "Orvane Guild": "The Orvane Guild was founded by Mira Kesh in the port town of Tallow.",
        "Tallow": "Tallow is a port town on the river Senn, famous for its salt markets.",
        "River Senn": "The river Senn flows from the Grey Hills into the Amber Sea.",
        "Mira Kesh": "Mira Kesh was a navigator who later wrote the Book of Tides.",
        "Grey Hills": "The Grey Hills are home to the Halden observatory.",
    }
    return [RawDocument(id=doc_id(t, x), title=t, text=x, source=f"{t}.txt") for t, x in texts.items()]
