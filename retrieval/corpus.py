"""Corpora: ingest documents (SQL rows + vectors, atomic per document), delete them, search them."""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retrieval.chunking import chunk_text
from retrieval.embedder import Embedder
from retrieval.readers import IngestError, RawDocument, read_many
from storage.db import ChunkRow, CorpusInfo, Database, DocumentInfo, NotFound, ReadOnlyCorpus
from storage.models import PUBLIC
from storage.vector_store import VectorStore

log = logging.getLogger(__name__)
Progress = Callable[[int, int, str], None]  # done, total, message


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk: ids, title, text and the score that ranked it."""

    chunk_id: str
    doc_id: str
    title: str
    text: str
    score: float


@dataclass
class IngestReport:
    """What an ingest did: documents added, already present, and per-file errors."""

    added: int = 0
    skipped: int = 0
    chunks: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for a person."""
        parts = [f"added {self.added} documents ({self.chunks} chunks)", f"{self.skipped} already present"]
        if self.errors:
            parts.append(f"{len(self.errors)} rejected")
        return ", ".join(parts) + f" in {self.seconds:.1f} s"


class CorpusStore:
    """SQL rows and vectors of every corpus, kept consistent with each other, as one owner sees them.

    Corpus names are per owner. An owner reads its own corpora and the shared (`public`) ones, its own
    first when both have a name; it changes only its own: adding to or deleting a shared corpus raises
    ReadOnlyCorpus, naming another owner's corpus raises NotFound as if it did not exist. The store built by
    the services is the `public` owner's (the operator's: the CLI, benchmarks, the demo corpus, a
    single-user app); `for_owner` gives a user's view of the same store.
    """

    def __init__(self, db: Database, vectors: VectorStore, embedder: Embedder,
                 chunk_words: int = 180, chunk_overlap: int = 30, batch: int = 256) -> None:
        self.db, self.vectors, self.embedder = db, vectors, embedder
        self.chunk_words, self.chunk_overlap, self.batch = chunk_words, chunk_overlap, batch
        self.owner = PUBLIC
        self._write_lock = threading.Lock()

    def for_owner(self, owner: str) -> CorpusStore:
        """This store as `owner` sees it (the same SQL, vectors and write lock)."""
        if owner == self.owner:
            return self
        view = copy.copy(self)
        view.owner = owner
        return view

    # which corpora this owner sees -----------------------------------------------------------------
    def _owners(self) -> tuple[str, ...]:
        return (self.owner,) if self.owner == PUBLIC else (self.owner, PUBLIC)

    def visible(self) -> list[CorpusInfo]:
        """The corpora this owner may read: its own, then the shared ones whose names it does not use."""
        mine = self.db.list_corpora(self.owner)
        names = {c.name for c in mine}
        shared = [c for c in self.db.list_corpora(PUBLIC) if c.name not in names] if self.owner != PUBLIC else []
        return sorted(mine + shared, key=lambda c: c.name.lower())

    def corpus_id(self, corpus: str) -> int:
        """The id of a corpus this owner may read; NotFound names the ones it may."""
        found = self.db.find_corpus(corpus, self._owners())
        if found is None:
            names = [c.name for c in self.visible()]
            raise NotFound(f"unknown corpus {corpus!r}; corpora: {', '.join(names) or '(none yet)'}")
        return found[0]

    def owns(self, corpus: str) -> bool:
        """Whether this owner may change the corpus (it is its own)."""
        found = self.db.find_corpus(corpus, self._owners())
        return found is not None and found[1] == self.owner

    def _own_id(self, corpus: str, create: bool = False) -> int:
        """The id of this owner's corpus (made when `create`); a shared one is ReadOnlyCorpus."""
        found = self.db.find_corpus(corpus, self._owners())
        if found is not None and found[1] == self.owner:
            return found[0]
        if found is not None:
            raise ReadOnlyCorpus(corpus)
        if create:
            return self.db.ensure_corpus(corpus, embedder=self.embedder.name, owner=self.owner)
        return self.corpus_id(corpus)  # NotFound, naming the corpora this owner sees

    def create(self, corpus: str) -> int:
        """Make an empty corpus of this owner (its id; an existing one of its own is kept)."""
        return self._own_id(corpus, create=True)

    def chunk_rows(self, corpus_id: int) -> list[ChunkRow]:
        """Every chunk of a corpus (by the id `corpus_id` returned) in document order, for graph indexes."""
        return self.db.all_chunks(corpus_id)

    def namespace(self, corpus_id: int) -> str:
        """Vector namespace of a corpus for the current embedder."""
        tag = hashlib.sha1(self.embedder.name.encode()).hexdigest()[:8]
        return f"corpus-{corpus_id}-{tag}"

    # ingest --------------------------------------------------------------------------------------
    def ingest_files(self, corpus: str, paths: Sequence[Path], max_bytes: int,
                     progress: Progress | None = None, quota_chars: int = 0) -> IngestReport:
        """Read files and add their documents to this owner's corpus; a bad file is reported and does not
        stop the others."""
        self._own_id(corpus, create=True)  # a shared corpus is refused before any file is read
        docs, errors = read_many(list(paths), max_bytes)
        report = self.ingest_documents(corpus, docs, progress, quota_chars)
        report.errors = errors + report.errors
        return report

    def ingest_documents(self, corpus: str, docs: Sequence[RawDocument], progress: Progress | None = None,
                         quota_chars: int = 0) -> IngestReport:
        """Add documents not yet in this owner's corpus (made if needed), batched; each document is
        all-or-nothing.

        With `quota_chars`, documents that would take the owner's corpora past that much text are left out
        and reported.
        """
        t0 = time.perf_counter()
        report = IngestReport()
        with self._write_lock:
            cid = self._own_id(corpus, create=True)
            self.ensure_vectors(corpus)
            present = self.db.existing_doc_ids(cid)
            fresh: list[RawDocument] = []
            for doc in docs:
                if doc.id in present:
                    report.skipped += 1
                else:
                    present.add(doc.id)
                    fresh.append(doc)
            # Shortest first: each embedding batch then holds passages of similar length, so little
            # compute goes to padding (about 20% fewer tokens than file order on the multihop corpora).
            fresh.sort(key=lambda d: len(d.title) + len(d.text))
            if quota_chars:
                fresh = self._within_quota(fresh, quota_chars, self.owner, report)
            total = len(fresh)
            for start in range(0, total, self.batch):
                batch = fresh[start:start + self.batch]
                self._ingest_batch(cid, batch, report)
                if progress:
                    progress(min(start + self.batch, total), total, f"indexed {min(start + self.batch, total)}/{total}")
        report.seconds = time.perf_counter() - t0
        return report

    def _within_quota(self, docs: list[RawDocument], quota_chars: int, owner: str,
                      report: IngestReport) -> list[RawDocument]:
        """The documents that fit the owner's quota; one error line says how many did not."""
        used = self.db.owner_chars(owner)
        kept, over = [], []
        for doc in docs:
            if used + len(doc.text) <= quota_chars:
                used += len(doc.text)
                kept.append(doc)
            else:
                over.append(doc)
        if over:
            report.errors.append(
                f"{over[0].source or over[0].id}{f' and {len(over) - 1} more' if len(over) > 1 else ''}: not added, "
                f"your corpora would hold more than {quota_chars / 1e6:g} million characters of text "
                "(RAGSCOPE_MAX_USER_MB); delete documents or corpora to make room")
        return kept

    def _ingest_batch(self, cid: int, batch: Sequence[RawDocument], report: IngestReport) -> None:
        """Embed a batch in one call (the embedder sorts by length, so little padding), then write it."""
        pieces = [chunk_text(d.text, self.chunk_words, self.chunk_overlap) or [d.text] for d in batch]
        texts = [f"{d.title}\n{p}" for d, ps in zip(batch, pieces, strict=True) for p in ps]
        vectors = self.embedder.embed(texts)
        try:
            self._write(cid, batch, pieces, vectors)
            report.added += len(batch)
            report.chunks += len(texts)
        except Exception as exc:  # noqa: BLE001 - isolate the failing document, keep the rest
            if len(batch) == 1:
                report.errors.append(f"{batch[0].source or batch[0].id}: could not be stored ({exc})")
                return
            offset = 0
            for doc, ps in zip(batch, pieces, strict=True):
                try:
                    self._write(cid, [doc], [ps], vectors[offset:offset + len(ps)])
                    report.added += 1
                    report.chunks += len(ps)
                except Exception as one:  # noqa: BLE001
                    report.errors.append(f"{doc.source or doc.id}: could not be stored ({one})")
                offset += len(ps)

    def _write(self, cid: int, docs: Sequence[RawDocument], pieces: Sequence[Sequence[str]],
               vectors: np.ndarray) -> None:
        """One SQL transaction plus one vector upsert; either both land or neither does."""
        ids: list[str] = []
        added_vectors = False
        try:
            with self.db.session() as s:
                metadata = []
                for doc, ps in zip(docs, pieces, strict=True):
                    chunk_ids = self.db.add_document(s, cid, doc.id, doc.title, doc.text, doc.source, ps)
                    ids.extend(chunk_ids)
                    metadata.extend({"doc_id": doc.id} for _ in chunk_ids)
                self.vectors.add(self.namespace(cid), ids, vectors, metadata)
                added_vectors = True
        except Exception:
            if added_vectors:
                self.vectors.delete(self.namespace(cid), ids)
            raise

    def ensure_vectors(self, corpus: str) -> int:
        """Re-embed chunks whose vectors are missing (new embedder, wiped Chroma); returns chunks embedded.

        Cheap when the counts agree; otherwise a full `reconcile`.
        """
        cid = self.corpus_id(corpus)
        if self.vectors.count(self.namespace(cid)) == self.db.count_chunks(cid):
            return 0
        return self._reconcile(corpus)[1]

    def reconcile(self, corpus: str) -> tuple[int, int]:
        """Make the vectors hold exactly the corpus's SQL chunks: delete strays, embed the missing.

        SQL is the truth. A process killed between the vector upsert and the SQL commit leaves vectors of a
        document that does not exist; a wiped or new vector store lacks some. Returns (removed, embedded).
        Holds the write lock, so it never mistakes this process's in-flight write for a stray (with several
        processes writing one store, run it when they are idle).
        """
        with self._write_lock:
            return self._reconcile(corpus)

    def _reconcile(self, corpus: str) -> tuple[int, int]:
        cid = self.corpus_id(corpus)
        ns = self.namespace(cid)
        chunks = self.db.all_chunks(cid)
        have = self.vectors.ids(ns)
        stray = sorted(have - {c.chunk_id for c in chunks})
        missing = [c for c in chunks if c.chunk_id not in have]
        if stray:
            log.warning("corpus %r: removing %d vectors without SQL rows", corpus, len(stray))
            self.vectors.delete(ns, stray)
        if missing:
            log.info("corpus %r: embedding %d chunks that have no vector", corpus, len(missing))
        for start in range(0, len(missing), 256):
            rows = missing[start:start + 256]
            vecs = self.embedder.embed([f"{r.title}\n{r.text}" for r in rows])
            self.vectors.add(ns, [r.chunk_id for r in rows], vecs, [{"doc_id": r.doc_id} for r in rows])
        return len(stray), len(missing)

    # delete --------------------------------------------------------------------------------------
    def delete_document(self, corpus: str, doc_id: str) -> int:
        """Remove a document of this owner's corpus from SQL and vectors; returns how many chunks went."""
        with self._write_lock:
            cid = self._own_id(corpus)
            with self.db.session() as s:
                ids = self.db.delete_document(s, cid, doc_id)
                self.vectors.delete(self.namespace(cid), ids)
        return len(ids)

    def delete_corpus(self, corpus: str) -> None:
        """Remove one of this owner's corpora with all its documents and vectors."""
        with self._write_lock:
            cid = self._own_id(corpus)
            self.db.delete_corpus(corpus, self.owner)
            self.vectors.drop(self.namespace(cid))

    # search --------------------------------------------------------------------------------------
    def search(self, corpus: str, query: str, k: int = 5) -> list[Hit]:
        """Dense retrieval: the k chunks nearest the query."""
        if not query.strip():
            raise ValueError("the search query is empty")
        cid = self.corpus_id(corpus)
        vec = self.embedder.embed([query])[0]
        found = self.vectors.query(self.namespace(cid), vec, k)
        return self._hits(cid, [(vid, round(score, 4)) for vid, score in found])

    def hits(self, corpus: str, scored: Sequence[tuple[str, float]]) -> list[Hit]:
        """Hits for (chunk id, score) pairs ranked elsewhere (e.g. by a graph walk), in the given order."""
        return self._hits(self.corpus_id(corpus), [(cid, float(score)) for cid, score in scored])

    def _hits(self, corpus_id: int, scored: Sequence[tuple[str, float]]) -> list[Hit]:
        rows = self.db.chunks(corpus_id, [vid for vid, _ in scored])
        return [  # a chunk whose document is gone never comes back
            Hit(vid, rows[vid].doc_id, rows[vid].title, rows[vid].text, score) for vid, score in scored if vid in rows
        ]


    # reading documents ---------------------------------------------------------------------------
    def documents(self, corpus: str, search: str = "") -> list[DocumentInfo]:
        """A readable corpus's documents, newest first, optionally filtered by title or text."""
        return self.db.list_documents(self.corpus_id(corpus), search=search)

    def document(self, corpus: str, doc_id: str) -> tuple[str, str, str]:
        """(title, text, source) of one document of a readable corpus."""
        return self.db.get_document(self.corpus_id(corpus), doc_id)


__all__ = ["CorpusStore", "Hit", "IngestError", "IngestReport", "NotFound", "ReadOnlyCorpus"]
