"""Build the app's services from settings: SQL, vectors, embedder, LLM, corpora, agent runs."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from agents.base import Deps
from agents.runner import AgentRun, RunLimits
from llm.base import LLM
from llm.lazy import LazyLLM
from memory.store import ThoughtStore
from retrieval.corpus import CorpusStore, IngestReport, Progress
from retrieval.embedder import Embedder, LazyEmbedder
from retrieval.hipporag.openie import Extractor
from retrieval.hipporag.store import HippoRAGStore
from retrieval.readers import RawDocument, read_corpus
from settings import Settings
from storage.db import Database
from storage.models import PUBLIC
from storage.vector_store import ChromaVectorStore, VectorStore

log = logging.getLogger(__name__)
DEMO_CORPUS = "demo"
DEMO_DIR = Path(__file__).parent / "data" / "demo"
STALE_RUN_S = 15 * 60  # a run still "running" after this long died with its process; it no longer counts


class LimitError(ValueError):
    """A request over one of the documented limits; the message names the setting."""


class Services:
    """Everything the UI and CLI use, built once per process."""

    def __init__(self, settings: Settings, llm: LLM | None = None, embedder: Embedder | None = None,
                 vectors: VectorStore | None = None) -> None:
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.db_url)
        self.embedder = embedder or LazyEmbedder(settings.embedder)
        self.vectors = vectors or ChromaVectorStore(settings.chroma_path, settings.chroma_host, settings.chroma_port)
        self.corpora = CorpusStore(self.db, self.vectors, self.embedder, settings.chunk_words,
                                   settings.chunk_overlap)
        self.llm = llm or LazyLLM(self._make_llm, name=settings.llm_model)
        self.hipporag = HippoRAGStore(settings.home / "hipporag", self.corpora, self._make_extractor)
        self.memory = ThoughtStore(self.db, self.embedder)
        self.deps = Deps(llm=self.llm, corpora=self.corpora, graph=self.hipporag, memory=self.memory)
        self.demo_state = "not indexed"
        self._demo_lock = threading.Lock()
        self._runs_lock = threading.Lock()

    def _make_extractor(self) -> Extractor:
        from retrieval.hipporag.openie import LLMExtractor, SpacyExtractor

        match self.settings.openie:
            case "spacy":
                return SpacyExtractor()
            case "llm":
                return LLMExtractor(self.llm)
            case other:
                raise ValueError(f"unknown RAGSCOPE_OPENIE {other!r}; valid: spacy, llm")

    def _make_llm(self) -> LLM:
        from llm.factory import make_llm

        return make_llm(self.settings)

    @property
    def max_bytes(self) -> int:
        """Largest file ingest accepts."""
        return int(self.settings.max_file_mb * 1024 * 1024)

    def warm_up(self) -> None:
        """Start loading the embedder and LLM and indexing the demo corpus, in the background."""
        threading.Thread(target=self._warm, name="warm-up", daemon=True).start()

    def _warm(self) -> None:
        try:
            if self.settings.demo_corpus:
                self.ensure_demo_corpus()
            else:
                getattr(self.embedder, "get", lambda: None)()
            self.reconcile()
        except Exception:  # noqa: BLE001 - shown in the UI's status line
            log.exception("warm-up failed")
        if isinstance(self.llm, LazyLLM):
            self.llm.start_loading()

    def reconcile(self) -> dict[str, tuple[int, int]]:
        """After a crash: make every corpus's vectors match its SQL rows; returns (removed, embedded) per corpus."""
        return {c.name: self.corpora.reconcile(c.name) for c in self.db.list_corpora()}

    def ensure_demo_corpus(self, progress: Progress | None = None) -> IngestReport:
        """Index the bundled demo corpus once; later calls find it present and add nothing."""
        with self._demo_lock:
            self.demo_state = "indexing"
            report = self.corpora.ingest_documents(DEMO_CORPUS, read_corpus(DEMO_DIR / "corpus.jsonl"), progress)
            self.demo_state = "ready"
            return report

    def ingest(self, corpus: str, paths: list[Path], progress: Progress | None = None,
               owner: str = PUBLIC) -> IngestReport:
        """Add uploaded files to a corpus, within the upload and per-user limits."""
        limit = self.settings.max_files
        if limit and len(paths) > limit:
            raise LimitError(f"{len(paths)} files in one upload; at most {limit} are allowed (RAGSCOPE_MAX_FILES)")
        quota = int(self.settings.max_user_mb * 1_000_000)
        return self.corpora.ingest_files(corpus, paths, self.max_bytes, progress, quota, owner)

    def ingest_documents(self, corpus: str, docs: list[RawDocument],
                         progress: Progress | None = None) -> IngestReport:
        """Add already-read documents to a corpus."""
        return self.corpora.ingest_documents(corpus, docs, progress)

    def delete_corpus(self, corpus: str) -> None:
        """Delete a corpus from every store (the demo corpus is re-indexed on its next question)."""
        self.corpora.delete_corpus(corpus)
        if corpus == DEMO_CORPUS:
            self.demo_state = "not indexed"

    def run(self, agent: str, corpus: str, question: str, config: dict[str, Any] | None = None,
            owner: str = PUBLIC, user: str = "", conversation: str = "",
            history: list[dict[str, str]] | None = None) -> AgentRun:
        """A new agent run (iterate it to execute and stream its events), within the per-run and per-user limits.

        Chat agents also get `user` (whose memory), the conversation id and its earlier turns."""
        if corpus == DEMO_CORPUS and self.settings.demo_corpus and self.demo_state != "ready":
            self.ensure_demo_corpus()
        s = self.settings
        limits = RunLimits(question_chars=s.max_question_chars, tokens=s.max_run_tokens, steps=s.max_run_steps)
        with self._runs_lock:
            self._check_runs_in_flight(owner)
            return AgentRun(self.deps, self.db, agent, corpus, question, config, owner, limits, user=user,
                            conversation=conversation, history=history)

    def owner(self, user: str) -> str:
        """Who owns what this user creates: the user's key, or `public` in single-user mode (or without a key)."""
        return PUBLIC if self.settings.single_user or not user else user

    def runs_of(self, user: str) -> str | None:
        """The owner whose runs this user may list: their own; None (every run) in single-user mode."""
        return None if self.settings.single_user else user  # no key yet: '' owns nothing

    def _check_runs_in_flight(self, owner: str) -> None:
        """LimitError when a user (not the key-less public one) already has the most runs in flight."""
        limit = self.settings.max_runs_per_user
        if not limit or owner == PUBLIC:
            return
        running = self.db.running_runs(owner, since=time.time() - STALE_RUN_S)
        if running >= limit:
            raise LimitError(f"you have {running} runs in flight; at most {limit} at once "
                             "(RAGSCOPE_MAX_RUNS_PER_USER): wait for one to finish")
