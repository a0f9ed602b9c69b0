"""The hipporag agent with a fake extractor and scripted LLM: graph walk, read, incremental sync."""

from __future__ import annotations

from retrieval.hipporag.openie import Extraction, normalize_phrase
from retrieval.hipporag.store import HippoRAGStore


class CapitalisedExtractor:
    """Entities are capitalised word runs; triples link consecutive entities in a passage."""

    name = "fake-caps"

    def _ents(self, text: str) -> list[str]:
        import re

        return [m for m in re.findall(r"(?:[A-Z][a-z]+)(?: [A-Z][a-z]+)*", text) if m not in ("The", "Where", "Who", "What")]

    def extract(self, passages):
        out = {}
        for pid, text in passages:
            ents = self._ents(text)
            triples = tuple((a, "related to", b) for a, b in zip(ents, ents[1:]))
            out[pid] = Extraction(tuple(ents), triples)
        return out

    def query_entities(self, question: str) -> list[str]:
        return [normalize_phrase(e) for e in self._ents(question)]


def test_hipporag_walks_the_graph_then_reads(services_factory, toy_docs, tmp_path) -> None:
    from llm.fake import ScriptedLLM

    svc = services_factory(llm=ScriptedLLM(replies=["Tallow"]))
    svc.hipporag = HippoRAGStore(tmp_path / "hr", svc.corpora, CapitalisedExtractor)
    svc.deps.graph = svc.hipporag
    svc.ingest_documents("toy", toy_docs)
    run = svc.run("hipporag", "toy", "Where was the Orvane Guild founded?", {"top_k": 2, "dense_fusion": False})
    events = list(run)
    assert [e.kind for e in events] == ["graph_walk", "read"], [e.explanation for e in events]
    walk = events[0]
    assert "Looked up “orvane guild” from the question in the knowledge graph" in walk.explanation
    assert "First added 5 new passages to the knowledge graph" in walk.explanation
    assert "PageRank" not in walk.explanation and "passage:" not in walk.explanation
    assert walk.data["hits"][0]["title"] == "Orvane Guild"
    assert {n["type"] for n in walk.data["subgraph"]["nodes"]} >= {"seed", "passage"}
    assert run.answer == "Tallow" and run.retrieved_ids[0] == walk.data["hits"][0]["doc_id"]

    # deleting a document removes its passage node on the next use, without rebuilding the rest
    guild = next(d for d in toy_docs if d.title == "Orvane Guild")
    svc.corpora.delete_document("toy", guild.id)
    index, sync = svc.hipporag.index("toy")
    assert (sync.added, sync.removed) == (0, 1) and len(index) == 4
    # a fresh store reloads the saved graph from disk instead of re-extracting
    again = HippoRAGStore(tmp_path / "hr", svc.corpora, CapitalisedExtractor)
    index2, sync2 = again.index("toy")
    assert sync2.loaded_from_disk and (sync2.added, sync2.removed) == (0, 0) and len(index2) == 4


def test_iterative_agents_can_search_through_the_graph(services_factory, toy_docs, tmp_path) -> None:
    """retriever=hipporag: Iter-RetGen's searches are graph walks, and their events carry the subgraph."""
    from llm.fake import ScriptedLLM

    svc = services_factory(llm=ScriptedLLM(replies=["unknown"] + ["Mira Kesh founded it.", "Mira Kesh"] * 2))
    svc.hipporag = HippoRAGStore(tmp_path / "hr", svc.corpora, CapitalisedExtractor)
    svc.deps.graph = svc.hipporag
    svc.ingest_documents("toy", toy_docs)
    run = svc.run("iter_retgen", "toy", "Who founded the Orvane Guild?",
                  {"iterations": 2, "top_k": 2, "retriever": "hipporag"})
    events = list(run)
    searches = [e for e in events if e.kind == "retrieve" and not e.data.get("baseline")]
    assert len(searches) == 2
    assert searches[0].data["retriever"] == "hipporag"
    assert searches[0].data["entities"] == ["orvane guild"]
    assert searches[0].data["hits"][0]["title"] == "Orvane Guild"
    assert any(n["type"] == "seed" for n in searches[0].data["subgraph"]["nodes"])
    # the second search adds the draft: its entity 'mira kesh' seeds the walk too
    assert "mira kesh" in searches[1].data["entities"]
    assert run.answer == "Mira Kesh"


def test_hipporag_triple_linking_explains_the_matched_facts(services_factory, toy_docs, tmp_path) -> None:
    from llm.fake import ScriptedLLM

    svc = services_factory(llm=ScriptedLLM(replies=["Tallow"]))
    svc.hipporag = HippoRAGStore(tmp_path / "hr", svc.corpora, CapitalisedExtractor)
    svc.deps.graph = svc.hipporag
    svc.ingest_documents("toy", toy_docs)
    run = svc.run("hipporag", "toy", "Where was the Orvane Guild founded?", {"top_k": 2, "linking": "triple"})
    walk = list(run)[0]
    assert "Matched the question to facts in the knowledge graph, such as “(" in walk.explanation
    assert len(walk.data["facts"]) == 5 and walk.data["facts"][0][1] >= walk.data["facts"][-1][1]
    phrase_seeds = {s for s in walk.data["seeds"] if not s.startswith("passage:")}
    assert phrase_seeds and phrase_seeds <= set(walk.data["entities"])


def test_a_graph_save_cut_short_by_a_crash_is_rebuilt_from_the_corpus(services_factory, toy_docs, tmp_path) -> None:
    import numpy as np

    from retrieval.hipporag.persistence import EMBEDDINGS_FILE, GRAPH_FILE

    svc = services_factory()
    svc.ingest_documents("toy", toy_docs)
    store = HippoRAGStore(tmp_path / "hr", svc.corpora, CapitalisedExtractor)
    index, _ = store.index("toy")
    folder = store.folder(svc.db.corpus_id("toy"))
    np.save(folder / EMBEDDINGS_FILE, index.graph.embeddings[:2])  # the new graph file, the old embeddings
    torn, sync = HippoRAGStore(tmp_path / "hr", svc.corpora, CapitalisedExtractor).index("toy")
    assert not sync.loaded_from_disk and sync.added == 5 and len(torn) == 5
    (folder / GRAPH_FILE).write_bytes(b"\x1f\x8b truncated")  # a graph file cut short
    broken, sync = HippoRAGStore(tmp_path / "hr", svc.corpora, CapitalisedExtractor).index("toy")
    assert not sync.loaded_from_disk and len(broken) == 5
