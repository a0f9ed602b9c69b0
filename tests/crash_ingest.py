"""Run by tests/integration/test_crash_safety.py in a subprocess that it kills with SIGKILL at random moments.

`python tests/crash_ingest.py HOME JOBS STATE`: open the stores as the app does at start-up (reconciling
vectors and graph with SQL), write what they hold to STATE (JSON), print "ready", then ingest jobs 0..JOBS-1
(documents already present are skipped) with a graph sync after each job, and print "done".
Real SQLite and embedded Chroma, the hash embedder and a capitalised-words extractor: no model.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CORPUS = "crash"
DOCS_PER_JOB = 40
WORDS = ("Orvane Tallow Senn Amber Halden Kesh Mira Grey river guild port salt tide hill sea star book "
         "founded wrote flows home famous markets observatory navigator").split()


def job_documents(job: int) -> list:
    """The documents of one job: deterministic, of varied length (some span several chunks)."""
    import random

    from retrieval.readers import RawDocument, doc_id

    rng = random.Random(job)
    docs = []
    for i in range(DOCS_PER_JOB):
        title = f"Job {job} document {i}"
        text = " ".join(rng.choice(WORDS) for _ in range(rng.choice((12, 40, 260, 600)))) + "."
        docs.append(RawDocument(id=doc_id(title, text), title=title, text=text, source=f"job{job}.jsonl:line {i}"))
    return docs


class CapitalisedExtractor:
    """Entities are capitalised words; triples link neighbouring entities. Fast and deterministic."""

    name = "capitalised-v1"

    def extract(self, passages: list[tuple[str, str]]) -> dict:
        """One Extraction per passage."""
        from retrieval.hipporag.openie import Extraction

        out = {}
        for pid, text in passages:
            ents = tuple(dict.fromkeys(w.strip(".") for w in text.split() if w[:1].isupper()))
            out[pid] = Extraction(ents, tuple((a, "near", b) for a, b in zip(ents, ents[1:], strict=False)))
        return out

    def query_entities(self, question: str) -> list[str]:
        """Capitalised words of the question."""
        return [w for w in question.split() if w[:1].isupper()]


def open_services(home: Path):  # noqa: ANN201 - Services, imported lazily
    """Services on HOME with SQLite, embedded Chroma, the hash embedder and the fast extractor."""
    from llm.fake import ScriptedLLM
    from retrieval.embedder import HashEmbedder
    from retrieval.hipporag.store import HippoRAGStore
    from services import Services
    from settings import Settings

    settings = Settings.from_env(home=home, demo_corpus=False, db_url=f"sqlite:///{home / 'ragscope.db'}",
                                 chroma_path=home / "chroma", chroma_host="")
    svc = Services(settings, llm=ScriptedLLM(), embedder=HashEmbedder(32))
    svc.corpora.batch = 8  # many small transactions: more places to be killed in
    svc.hipporag = HippoRAGStore(home / "hipporag", svc.corpora, CapitalisedExtractor)
    return svc


def state(svc) -> dict:  # noqa: ANN001
    """What each store holds, after the start-up reconciliation."""
    from storage.db import NotFound

    try:
        cid = svc.db.corpus_id(CORPUS)
    except NotFound:
        return {"documents": {}, "sql_chunks": [], "vectors": [], "graph": [], "reconciled": [0, 0]}
    reconciled = svc.reconcile()[CORPUS]  # what the app's warm-up does at start
    index, _ = svc.hipporag.index(CORPUS)
    chunks = svc.db.all_chunks(cid)
    documents: dict[str, int] = {}
    for c in chunks:
        documents[c.doc_id] = documents.get(c.doc_id, 0) + 1
    return {
        "documents": documents,
        "sql_chunks": sorted(c.chunk_id for c in chunks),
        "vectors": sorted(svc.vectors.ids(svc.corpora.namespace(cid))),
        "graph": sorted(index.graph.passage_index),
        "reconciled": list(reconciled),
    }


def main() -> None:
    """Check, then ingest (see the module docstring)."""
    home, jobs, out = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    svc = open_services(home)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(state(svc)))
    os.replace(tmp, out)
    print("ready", flush=True)
    for job in range(jobs):
        svc.corpora.ingest_documents(CORPUS, job_documents(job))
        svc.hipporag.index(CORPUS)
    print("done", flush=True)


if __name__ == "__main__":
    main()
