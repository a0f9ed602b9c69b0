"""Build the app's services from settings: SQL, vectors, embedder, LLM, corpora, agent runs."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from storage.db import CorpusInfo, Database, DocumentInfo, ReadOnlyCorpus
from storage.models import PUBLIC
from storage.vector_store import ChromaVectorStore, VectorStore

log = logging.getLogger(__name__)
DEMO_CORPUS = "demo"
DEMO_DIR = Path(__file__).parent / "data" / "demo"
STALE_RUN_S = 15 * 60  # a run still "running" after this long died with its process; it no longer counts


class LimitError(ValueError):
    """A request over one of the documented limits; the message names the setting."""


class RunQueue:
    """The app's run slots: at most `slots` runs (of every user together) go at once, the rest wait in line,
    first come first served, each knowing its place.

    `with queue.place(owner) as wait:` takes a place in line (LimitError when that owner already has
    `per_owner` runs waiting or running); `wait(timeout)` returns 0 once the run may go, else its place in
    line (1: it goes next). Leaving the block frees the place or the slot.
    """

    def __init__(self, slots: int, per_owner: int = 0) -> None:
        self.slots, self.per_owner = max(1, slots), per_owner
        self._cond = threading.Condition()
        self._line: list[object] = []  # waiting tickets, first in line first
        self._going: set[object] = set()
        self._owners: dict[object, str] = {}

    @property
    def waiting(self) -> int:
        """Runs waiting for a slot now."""
        return len(self._line)

    @property
    def going(self) -> int:
        """Runs holding a slot now."""
        return len(self._going)

    @contextmanager
    def place(self, owner: str = PUBLIC) -> Iterator[Callable[[float], int]]:
        """A place in line for one run (see the class)."""
        ticket = object()
        with self._cond:
            held = sum(o == owner for o in self._owners.values())
            if self.per_owner and owner != PUBLIC and held >= self.per_owner:
                raise LimitError(f"you have {held} runs waiting or running; at most {self.per_owner} at once "
                                 "(RAGSCOPE_MAX_RUNS_PER_USER): wait for one to finish")
            self._owners[ticket] = owner
            self._line.append(ticket)
            self._admit()

        def wait(timeout: float) -> int:
            with self._cond:
                if ticket not in self._going:
                    self._cond.wait_for(lambda: ticket in self._going, timeout)
                return 0 if ticket in self._going else self._line.index(ticket) + 1

        try:
            yield wait
        finally:
            with self._cond:
                if ticket in self._line:
                    self._line.remove(ticket)
                self._going.discard(ticket)
                self._owners.pop(ticket, None)
                self._admit()

    def _admit(self) -> None:
        """Move the first in line to a free slot (call with the condition held)."""
        while self._line and len(self._going) < self.slots:
            self._going.add(self._line.pop(0))
        self._cond.notify_all()


class Services:
    """Everything the UI and CLI use, built once per process."""

    def __init__(self, settings: Settings, llm: LLM | None = None, embedder: Embedder | None = None,
                 vectors: VectorStore | None = None) -> None:
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.db_url)
        self.embedder = embedder or LazyEmbedder(settings.embedder, settings.embedder_precision)
        self.vectors = vectors or ChromaVectorStore(settings.chroma_path, settings.chroma_host, settings.chroma_port)
        self.corpora = CorpusStore(self.db, self.vectors, self.embedder, settings.chunk_words,
                                   settings.chunk_overlap)
        self.llm = llm or LazyLLM(self._make_llm, name=settings.llm_model)
        self.hipporag = HippoRAGStore(settings.home / "hipporag", self.corpora, self._make_extractor)
        self.memory = ThoughtStore(self.db, self.embedder)
        self.deps = Deps(llm=self.llm, corpora=self.corpora, graph=self.hipporag, memory=self.memory)
        # runs at once: as many as the engine decodes together, at least 4 (their LLM calls batch); more wait
        self.queue = RunQueue(max(4, settings.engine_max_batch), settings.max_runs_per_user)
        self.tracer = self._make_tracer()  # None unless RAGSCOPE_OTLP_ENDPOINT is set
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

    def _make_tracer(self) -> Any:
        """Runs streamed as OpenInference spans to the configured OTLP collector, or None."""
        if not self.settings.otlp_endpoint:
            return None
        from tracing.openinference import Tracer, otlp_exporter

        return Tracer(otlp_exporter(self.settings.otlp_endpoint), model=self.settings.llm_model)

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
        """After a crash: make every corpus's vectors match its SQL rows; returns (removed, embedded) per
        corpus (keyed by name, `name (owner)` for a user's corpus)."""
        return {c.name if c.owner == PUBLIC else f"{c.name} ({c.owner})":
                self.corpora.for_owner(c.owner).reconcile(c.name) for c in self.db.list_corpora(None)}

    def ensure_demo_corpus(self, progress: Progress | None = None) -> IngestReport:
        """Index the bundled demo corpus once; later calls find it present and add nothing."""
        with self._demo_lock:
            self.demo_state = "indexing"
            report = self.corpora.ingest_documents(DEMO_CORPUS, read_corpus(DEMO_DIR / "corpus.jsonl"), progress)
            self.demo_state = "ready"
            return report

    # corpora, as one owner sees them (retrieval/corpus.py: own ones read-write, shared ones read-only) -----
    def corpora_of(self, owner: str = PUBLIC) -> CorpusStore:
        """The corpus store as `owner` sees it."""
        return self.corpora.for_owner(owner)

    def corpus_list(self, owner: str = PUBLIC) -> list[CorpusInfo]:
        """The corpora `owner` may read (its own and the shared ones), by name."""
        return self.corpora_of(owner).visible()

    def corpus_names(self, owner: str = PUBLIC) -> list[str]:
        """Names of the corpora `owner` may read, the demo corpus first (listed even before it is indexed)."""
        names = [c.name for c in self.corpus_list(owner)]
        if self.settings.demo_corpus and DEMO_CORPUS not in names:
            names.append(DEMO_CORPUS)
        return sorted(names, key=lambda n: (n != DEMO_CORPUS, n.lower()))

    def can_change(self, corpus: str, owner: str = PUBLIC) -> bool:
        """Whether `owner` may add to or delete from this corpus: its own, or a name no corpus it sees has
        (the demo corpus's name stays the operator's, even before it is indexed)."""
        found = self.db.find_corpus(corpus, (owner, PUBLIC))
        if found is None:
            return owner == PUBLIC or not (corpus == DEMO_CORPUS and self.settings.demo_corpus)
        return found[1] == owner

    def create_corpus(self, corpus: str, owner: str = PUBLIC) -> None:
        """Make an empty corpus of `owner`'s; ReadOnlyCorpus when the name is a shared corpus."""
        corpus = corpus.strip()
        if not corpus:
            raise ValueError("a corpus needs a name")
        if len(corpus) > 200:
            raise ValueError("a corpus name may have at most 200 characters")
        if not self.can_change(corpus, owner):
            raise ReadOnlyCorpus(corpus)
        self.corpora_of(owner).create(corpus)

    def ingest(self, corpus: str, paths: list[Path], progress: Progress | None = None,
               owner: str = PUBLIC) -> IngestReport:
        """Add uploaded files to one of `owner`'s corpora (made if needed), within the upload and per-user
        limits; a shared corpus is refused (ReadOnlyCorpus) unless `owner` is the operator (`public`)."""
        limit = self.settings.max_files
        if limit and len(paths) > limit:
            raise LimitError(f"{len(paths)} files in one upload; at most {limit} are allowed (RAGSCOPE_MAX_FILES)")
        if not self.can_change(corpus, owner):
            raise ReadOnlyCorpus(corpus)
        quota = int(self.settings.max_user_mb * 1_000_000)
        return self.corpora_of(owner).ingest_files(corpus, paths, self.max_bytes, progress, quota)

    def ingest_documents(self, corpus: str, docs: list[RawDocument],
                         progress: Progress | None = None, owner: str = PUBLIC) -> IngestReport:
        """Add already-read documents to one of `owner`'s corpora."""
        return self.corpora_of(owner).ingest_documents(corpus, docs, progress)

    def documents(self, corpus: str, owner: str = PUBLIC, search: str = "") -> list[DocumentInfo]:
        """The documents of a corpus `owner` may read, newest first."""
        return self.corpora_of(owner).documents(corpus, search)

    def document(self, corpus: str, doc_id: str, owner: str = PUBLIC) -> tuple[str, str, str]:
        """(title, text, source) of a document in a corpus `owner` may read."""
        return self.corpora_of(owner).document(corpus, doc_id)

    def delete_document(self, corpus: str, doc_id: str, owner: str = PUBLIC) -> int:
        """Delete a document of one of `owner`'s corpora; returns its chunk count."""
        return self.corpora_of(owner).delete_document(corpus, doc_id)

    def delete_corpus(self, corpus: str, owner: str = PUBLIC) -> None:
        """Delete one of `owner`'s corpora from every store (the demo corpus is re-indexed on its next question)."""
        self.corpora_of(owner).delete_corpus(corpus)
        if corpus == DEMO_CORPUS and owner == PUBLIC:
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
        corpora = self.corpora_of(owner)  # the run reads the corpora its owner may read, no others
        graph = self.deps.graph.for_corpora(corpora) if self.deps.graph is not None else None
        deps = dataclasses.replace(self.deps, corpora=corpora, graph=graph)
        with self._runs_lock:
            self._check_runs_in_flight(owner)
            run = AgentRun(deps, self.db, agent, corpus, question, config, owner, limits, user=user,
                           conversation=conversation, history=history)
        return self.tracer.live(run) if self.tracer is not None else run  # each step also sent as a span

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
