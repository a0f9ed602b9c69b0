"""The SQL side of storage: one Database object over any SQLAlchemy URL (SQLite by default)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from storage.models import PUBLIC, Base, Chunk, Corpus, Document, Event, Run


class NotFound(LookupError):
    """A corpus, document or run that does not exist; the message names it."""


class ReadOnlyCorpus(ValueError):
    """A change to a corpus its asker does not own: a shared (public) one; the message says what to do."""

    def __init__(self, name: str) -> None:
        super().__init__(f"corpus {name!r} is shared by everyone and read-only: create your own corpus to add "
                         "or delete documents")


@dataclass(frozen=True)
class ChunkRow:
    """A chunk with its document's id and title, as retrieval returns it."""

    chunk_id: str
    doc_id: str
    title: str
    text: str


@dataclass(frozen=True)
class CorpusInfo:
    """A corpus and how much it holds."""

    name: str
    documents: int
    chunks: int
    embedder: str
    owner: str = PUBLIC


@dataclass(frozen=True)
class DocumentInfo:
    """A document's identity and size, for listings."""

    doc_id: str
    title: str
    source: str
    chunks: int
    chars: int


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()


class Database:
    """Corpora, documents, chunks, runs and events behind short, typed methods."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.engine = create_engine(url, future=True)
        if url.startswith("sqlite"):
            _sqlite_pragmas(self.engine)
        Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: commits on success, rolls back on any error."""
        with self._sessions() as s, s.begin():
            yield s

    # corpora -------------------------------------------------------------------------------------
    def ensure_corpus(self, name: str, embedder: str = "", owner: str = PUBLIC) -> int:
        """The id of corpus `name`, creating it if needed."""
        name = name.strip()
        if not name:
            raise ValueError("a corpus needs a name")
        with self.session() as s:
            corpus = s.scalar(select(Corpus).where(Corpus.name == name, Corpus.owner == owner))
            if corpus is None:
                corpus = Corpus(name=name, owner=owner, embedder=embedder)
                s.add(corpus)
                s.flush()
            return corpus.id

    def corpus_id(self, name: str, owner: str = PUBLIC) -> int:
        """The id of an existing corpus of this owner; NotFound lists the corpora that exist."""
        with self.session() as s:
            cid = s.scalar(select(Corpus.id).where(Corpus.name == name, Corpus.owner == owner))
        if cid is None:
            names = [c.name for c in self.list_corpora(owner)]
            raise NotFound(f"unknown corpus {name!r}; corpora: {', '.join(names) or '(none yet)'}")
        return cid

    def find_corpus(self, name: str, owners: Sequence[str]) -> tuple[int, str] | None:
        """(id, owner) of the corpus `name` of the first owner in `owners` that has one, or None."""
        with self.session() as s:
            rows = dict(s.execute(select(Corpus.owner, Corpus.id).where(
                Corpus.name == name, Corpus.owner.in_(list(owners)))).tuples().all())
        return next(((rows[o], o) for o in owners if o in rows), None)

    def list_corpora(self, owner: str | Sequence[str] | None = PUBLIC) -> list[CorpusInfo]:
        """The corpora of an owner (or of several; None: of everyone) with their document and chunk counts."""
        with self.session() as s:
            docs = (select(Document.corpus_id, func.count().label("n")).group_by(Document.corpus_id)).subquery()
            chunks = (select(Chunk.corpus_id, func.count().label("n")).group_by(Chunk.corpus_id)).subquery()
            q = (select(Corpus.name, func.coalesce(docs.c.n, 0), func.coalesce(chunks.c.n, 0), Corpus.embedder,
                        Corpus.owner)
                 .outerjoin(docs, docs.c.corpus_id == Corpus.id)
                 .outerjoin(chunks, chunks.c.corpus_id == Corpus.id)
                 .order_by(Corpus.name, Corpus.owner))
            if isinstance(owner, str):
                q = q.where(Corpus.owner == owner)
            elif owner is not None:
                q = q.where(Corpus.owner.in_(list(owner)))
            rows = s.execute(q).all()
        return [CorpusInfo(*row) for row in rows]

    def delete_corpus(self, name: str, owner: str = PUBLIC) -> list[str]:
        """Delete a corpus and everything in it; returns its chunk ids (for the vector store)."""
        cid = self.corpus_id(name, owner)
        with self.session() as s:
            ids = list(s.scalars(select(Chunk.chunk_id).where(Chunk.corpus_id == cid)))
            s.delete(s.get(Corpus, cid))
        return ids

    def owner_chars(self, owner: str = PUBLIC) -> int:
        """Characters of document text in every corpus of an owner (for the per-user quota)."""
        with self.session() as s:
            total = s.scalar(select(func.coalesce(func.sum(func.length(Document.text)), 0))
                             .join(Corpus, Document.corpus_id == Corpus.id).where(Corpus.owner == owner))
        return int(total or 0)

    # documents -----------------------------------------------------------------------------------
    def has_document(self, corpus_id: int, doc_id: str) -> bool:
        """Whether the corpus already holds this content id."""
        with self.session() as s:
            q = select(Document.id).where(Document.corpus_id == corpus_id, Document.doc_id == doc_id)
            return s.scalar(q) is not None

    def existing_doc_ids(self, corpus_id: int) -> set[str]:
        """Every content id in a corpus."""
        with self.session() as s:
            return set(s.scalars(select(Document.doc_id).where(Document.corpus_id == corpus_id)))

    def add_document(
        self, s: Session, corpus_id: int, doc_id: str, title: str, text: str, source: str,
        chunks: Sequence[str],
    ) -> list[str]:
        """Stage one document and its chunks in session `s`; returns the chunk ids."""
        doc = Document(corpus_id=corpus_id, doc_id=doc_id, title=title, text=text, source=source)
        ids = [f"{doc_id}:{i}" for i in range(len(chunks))]
        doc.chunks = [
            Chunk(corpus_id=corpus_id, chunk_id=cid, position=i, text=t)
            for i, (cid, t) in enumerate(zip(ids, chunks, strict=True))
        ]
        s.add(doc)
        s.flush()
        return ids

    def list_documents(self, corpus_id: int, search: str = "", limit: int = 500) -> list[DocumentInfo]:
        """Documents of a corpus, newest first, optionally filtered by title or text."""
        with self.session() as s:
            q = (
                select(Document.doc_id, Document.title, Document.source, func.count(Chunk.id),
                       func.length(Document.text))
                .outerjoin(Chunk, Chunk.document_id == Document.id)
                .where(Document.corpus_id == corpus_id)
                .group_by(Document.id)
                .order_by(Document.created.desc(), Document.id.desc())
                .limit(limit)
            )
            if search.strip():
                like = f"%{search.strip()}%"
                q = q.where(or_(Document.title.ilike(like), Document.text.ilike(like)))
            return [DocumentInfo(*row) for row in s.execute(q).all()]

    def get_document(self, corpus_id: int, doc_id: str) -> tuple[str, str, str]:
        """(title, text, source) of one document."""
        with self.session() as s:
            doc = s.scalar(select(Document).where(Document.corpus_id == corpus_id, Document.doc_id == doc_id))
            if doc is None:
                raise NotFound(f"no document {doc_id!r} in this corpus")
            return doc.title, doc.text, doc.source

    def delete_document(self, s: Session, corpus_id: int, doc_id: str) -> list[str]:
        """Stage the deletion of a document in `s`; returns its chunk ids."""
        doc = s.scalar(select(Document).where(Document.corpus_id == corpus_id, Document.doc_id == doc_id))
        if doc is None:
            raise NotFound(f"no document {doc_id!r} in this corpus")
        ids = [c.chunk_id for c in doc.chunks]
        s.delete(doc)
        s.flush()
        return ids

    def chunks(self, corpus_id: int, chunk_ids: Sequence[str]) -> dict[str, ChunkRow]:
        """Chunks by id (missing ids are left out), with their document's id and title."""
        if not chunk_ids:
            return {}
        with self.session() as s:
            rows = s.execute(
                select(Chunk.chunk_id, Document.doc_id, Document.title, Chunk.text)
                .join(Document, Chunk.document_id == Document.id)
                .where(Chunk.corpus_id == corpus_id, Chunk.chunk_id.in_(list(chunk_ids)))
            ).all()
        return {r[0]: ChunkRow(*r) for r in rows}

    def count_chunks(self, corpus_id: int) -> int:
        """How many chunks a corpus holds."""
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(Chunk).where(Chunk.corpus_id == corpus_id)) or 0)

    def all_chunks(self, corpus_id: int) -> list[ChunkRow]:
        """Every chunk of a corpus in document order (for BM25 and graph indexes)."""
        with self.session() as s:
            rows = s.execute(
                select(Chunk.chunk_id, Document.doc_id, Document.title, Chunk.text)
                .join(Document, Chunk.document_id == Document.id)
                .where(Chunk.corpus_id == corpus_id)
                .order_by(Document.id, Chunk.position)
            ).all()
        return [ChunkRow(*r) for r in rows]

    # runs ----------------------------------------------------------------------------------------
    def create_run(self, agent: str, corpus: str, question: str, config: dict[str, Any],
                   owner: str = PUBLIC) -> str:
        """Store a new running run; returns its id (the share link)."""
        run_id = uuid.uuid4().hex  # 122 random bits: a share link nobody guesses
        with self.session() as s:
            s.add(Run(id=run_id, agent=agent, corpus=corpus, question=question, config=config, owner=owner,
                      started=time.time()))
        return run_id

    def running_runs(self, owner: str, since: float) -> int:
        """How many of an owner's runs started after `since` are still running."""
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(Run).where(
                Run.owner == owner, Run.status == "running", Run.started >= since)) or 0)

    def add_event(self, run_id: str, seq: int, payload: dict[str, Any]) -> None:
        """Append one event to a run."""
        with self.session() as s:
            s.add(Event(run_id=run_id, seq=seq, payload=payload))

    def finish_run(self, run_id: str, **fields: Any) -> None:
        """Set a run's final fields (answer, status, totals...)."""
        with self.session() as s:
            run = s.get(Run, run_id)
            if run is None:
                raise NotFound(f"no run {run_id!r}")
            for key, value in fields.items():
                setattr(run, key, value)

    def get_run(self, run_id: str) -> dict[str, Any]:
        """A run and its events as plain dicts."""
        with self.session() as s:
            run = s.get(Run, run_id)
            if run is None:
                raise NotFound(f"no run {run_id!r}")
            out = _run_dict(run)
            out["events"] = [e.payload for e in run.events]
            return out

    def list_runs(self, search: str = "", agent: str = "", corpus: str = "", since: float = 0.0,
                  limit: int = 200, owner: str | None = None) -> list[dict[str, Any]]:
        """Stored runs, newest first, filtered by text in the question/answer, agent, corpus, date and owner."""
        q = select(Run).order_by(Run.started.desc()).limit(limit)
        if owner is not None:
            q = q.where(Run.owner == owner)
        if search.strip():
            like = f"%{search.strip()}%"
            q = q.where(or_(Run.question.ilike(like), Run.answer.ilike(like), Run.id == search.strip()))
        if agent:
            q = q.where(Run.agent == agent)
        if corpus:
            q = q.where(Run.corpus == corpus)
        if since:
            q = q.where(Run.started >= since)
        with self.session() as s:
            return [_run_dict(r) for r in s.scalars(q)]


def _run_dict(run: Run) -> dict[str, Any]:
    keys = ("id", "owner", "agent", "corpus", "question", "config", "answer", "retrieved_ids", "status",
            "error", "started", "seconds", "llm_calls", "prompt_tokens", "completion_tokens")
    return {k: getattr(run, k) for k in keys}
