"""SQLAlchemy tables: corpora, their documents and chunks, runs and their trace events, TiM memories."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

PUBLIC = "public"  # owner of shared data; per-user data sets another owner


class Base(DeclarativeBase):
    """Declarative base for every ragscope table."""


class Corpus(Base):
    """A named collection of documents, searched as one."""

    __tablename__ = "corpora"
    __table_args__ = (UniqueConstraint("owner", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(100), default=PUBLIC)
    embedder: Mapped[str] = mapped_column(String(300), default="")
    created: Mapped[float] = mapped_column(Float, default=time.time)
    documents: Mapped[list[Document]] = relationship(back_populates="corpus", cascade="all, delete-orphan")


class Document(Base):
    """One source document (a file, or one passage of a jsonl corpus); `doc_id` is its content id."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("corpus_id", "doc_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    corpus_id: Mapped[int] = mapped_column(ForeignKey("corpora.id", ondelete="CASCADE"), index=True)
    doc_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(500), default="")
    text: Mapped[str] = mapped_column(Text)
    created: Mapped[float] = mapped_column(Float, default=time.time)
    corpus: Mapped[Corpus] = relationship(back_populates="documents")
    chunks: Mapped[list[Chunk]] = relationship(back_populates="document", cascade="all, delete-orphan")


class Chunk(Base):
    """A retrievable piece of a document; `chunk_id` is `<doc_id>:<n>` and is the vector's id."""

    __tablename__ = "chunks"
    __table_args__ = (UniqueConstraint("corpus_id", "chunk_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    corpus_id: Mapped[int] = mapped_column(ForeignKey("corpora.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    chunk_id: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    document: Mapped[Document] = relationship(back_populates="chunks")


class Run(Base):
    """One agent run on one question; its id is the share link."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100), default=PUBLIC)
    agent: Mapped[str] = mapped_column(String(100), index=True)
    corpus: Mapped[str] = mapped_column(String(200), index=True)
    question: Mapped[str] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    answer: Mapped[str] = mapped_column(Text, default="")
    retrieved_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="running")  # running | done | error
    error: Mapped[str] = mapped_column(Text, default="")
    started: Mapped[float] = mapped_column(Float, default=time.time, index=True)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    llm_calls: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    events: Mapped[list[Event]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="Event.seq"
    )


class Event(Base):
    """One stored TraceEvent of a run, in order."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_run_seq", "run_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    run: Mapped[Run] = relationship(back_populates="events")


class Memory(Base):
    """One user's long-term memory: the LSH shape and its random matrices, so buckets survive restarts."""

    __tablename__ = "memories"

    user: Mapped[str] = mapped_column(String(100), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    buckets: Mapped[int] = mapped_column(Integer)
    tables: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    matrices: Mapped[bytes] = mapped_column(LargeBinary)  # float32 (tables, dim, buckets/2)
    created: Mapped[float] = mapped_column(Float, default=time.time)
    version: Mapped[int] = mapped_column(BigInteger, default=0)  # renewed by every change to the user's thoughts


class Thought(Base):
    """A TiM thought; forgotten or merged thoughts keep their row and status, so old traces still resolve."""

    __tablename__ = "thoughts"
    __table_args__ = (Index("ix_thoughts_user_status", "user", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float32, unit norm
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | forgotten | merged
    related: Mapped[str] = mapped_column(String(32), default="")  # merged into / superseded by this thought
    source_run: Mapped[str] = mapped_column(String(32), default="")
    source_turn: Mapped[str] = mapped_column(Text, default="")  # the user turn it was thought from
    conversation: Mapped[str] = mapped_column(String(64), default="")
    created: Mapped[float] = mapped_column(Float, default=time.time)
    updated: Mapped[float] = mapped_column(Float, default=time.time)
    # the fact record (storage/thoughts.py upgrades databases made before these columns)
    subject: Mapped[str] = mapped_column(String(200), default="")  # "user", "user's dog", ...
    attribute: Mapped[str] = mapped_column(String(200), default="")  # "home city", "name"; '' for a rule fill
    value: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[str] = mapped_column(Text, default="")  # the user's message, verbatim
    origin: Mapped[str] = mapped_column(String(20), default="")  # model | rule | legacy
    buckets: Mapped[list[ThoughtBucket]] = relationship(cascade="all, delete-orphan")


class ThoughtBucket(Base):
    """The bucket of a thought in one hash table; indexed by (user, table, bucket) for recall."""

    __tablename__ = "thought_buckets"
    __table_args__ = (Index("ix_thought_buckets_lookup", "user", "table_no", "bucket"),)

    thought_id: Mapped[str] = mapped_column(ForeignKey("thoughts.id", ondelete="CASCADE"), primary_key=True)
    table_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    user: Mapped[str] = mapped_column(String(100))
    bucket: Mapped[int] = mapped_column(Integer)


class BenchResult(Base):
    """One stored `bench` result: the summary per agent and the per-question rows (with run ids), as JSON."""

    __tablename__ = "bench_results"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100), default=PUBLIC, index=True)
    dataset: Mapped[str] = mapped_column(String(300))  # a name for people: the questions file's folder or name
    corpus: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20), default="cli")  # cli | tab
    created: Mapped[float] = mapped_column(Float, default=time.time, index=True)
    results: Mapped[dict[str, Any]] = mapped_column(JSON)


class RunGold(Base):
    """What a run should have found: gold passage ids (and answers), from a benchmark or a user's annotation."""

    __tablename__ = "run_gold"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    gold_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    answers: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(300), default="")  # "bench <dataset>" | "annotated"


class RunLink(Base):
    """A replay: `run_id` re-ran the question of `source_run` with another agent or settings."""

    __tablename__ = "run_links"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    source_run: Mapped[str] = mapped_column(String(32), index=True)
