"""HippoRAGIndex end to end with a fake extractor and the hash embedder; OpenIE helpers and the LLM extractor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm.fake import ScriptedLLM
from retrieval.embedder import HashEmbedder
from retrieval.hipporag.index import HippoRAGIndex
from retrieval.hipporag.openie import (
    Extraction,
    ExtractionCache,
    LLMExtractor,
    cache_key,
    fallback_entities,
    first_json_object,
    normalize_phrase,
    split_title,
)
from retrieval.hipporag.ranking import min_max

CORPUS = {
    "alice": ("Alice Smith\nAlice Smith was born in Lyon.", [("Alice Smith", "born in", "Lyon")]),
    "lyon": ("Lyon\nLyon is a city on the Rhone river.", [("Lyon", "city on", "Rhone river")]),
    "bob": ("Bob Jones\nBob Jones lives in Berlin.", [("Bob Jones", "lives in", "Berlin")]),
    "berlin": ("Berlin\nBerlin is the capital of Germany.", [("Berlin", "capital of", "Germany")]),
    "rhone": ("Rhone river\nThe Rhone river flows to the Mediterranean.", [("Rhone river", "flows to", "Mediterranean")]),
    "germany": ("Germany\nGermany borders France.", [("Germany", "borders", "France")]),
}


class FakeExtractor:
    """Looks extractions up by text; query entities from a table; counts the passages it was asked about."""

    name = "fake-v1"

    def __init__(self) -> None:
        self.table = {text: Extraction(tuple({x for t in triples for x in (t[0], t[2])}), tuple(triples))
                      for text, triples in CORPUS.values()}
        self.seen: list[str] = []

    def extract(self, passages: list[tuple[str, str]]) -> dict[str, Extraction]:
        """Table look-up."""
        self.seen += [pid for pid, _ in passages]
        return {pid: self.table.get(text, Extraction((), ())) for pid, text in passages}

    def query_entities(self, question: str) -> list[str]:
        """Capitalised words."""
        return fallback_entities(question)


def _index(passage_nodes: bool = True, folder: Path | None = None) -> tuple[HippoRAGIndex, FakeExtractor]:
    ex = FakeExtractor()
    idx = HippoRAGIndex(folder, HashEmbedder(64), ex, passage_nodes=passage_nodes)
    idx.add_passages([(pid, text) for pid, (text, _) in CORPUS.items()])
    return idx, ex


@pytest.mark.parametrize("passage_nodes", [True, False])
def test_two_hop_question_ranks_entity_then_bridge_passage(passage_nodes: bool) -> None:
    idx, _ = _index(passage_nodes)
    r = idx.retrieve("Which river runs through the city where Alice Smith was born?", k=3)
    assert r.entities == ["alice smith"]
    assert r.links["alice smith"] == ("alice smith", pytest.approx(1.0, abs=1e-5))
    assert [p for p, _ in r.passages[:2]] == ["alice", "lyon"]
    assert r.seeds == {"alice smith": 1.0}
    assert r.top_nodes[0][0] == "alice smith"
    assert set(r.timings) >= {"ner", "linking", "ppr", "total"}
    assert r.reason == ""


def test_given_query_entities_skip_ner_and_specificity_weights_seeds() -> None:
    idx, _ = _index()
    r = idx.retrieve("anything", query_entities=["Berlin", "Lyon"], k=6)
    assert r.seeds == {"berlin": pytest.approx(0.5), "lyon": pytest.approx(0.5)}  # each in two passages
    assert {p for p, _ in r.passages[:4]} == {"alice", "lyon", "bob", "berlin"}


def test_dense_fusion_seeds_passage_nodes() -> None:
    idx, _ = _index()
    dense = {pid: (1.0 if pid == "germany" else 0.0) for pid in CORPUS}
    plain = idx.retrieve("Where was Alice Smith born?", k=6)
    fused = idx.retrieve("Where was Alice Smith born?", k=6, dense_scores=dense, dense_weight=5.0)
    assert fused.seeds["passage:germany"] == pytest.approx(5.0)
    rank = lambda r: [p for p, _ in r.passages]  # noqa: E731
    assert rank(fused).index("germany") < rank(plain).index("germany") if "germany" in rank(plain) else True
    assert rank(fused)[0] == "germany"


def test_fallbacks_without_links() -> None:
    idx, _ = _index()
    r = idx.retrieve("where?", query_entities=[])
    assert r.passages == [] and "no query entities" in r.reason
    r = idx.retrieve("where?", query_entities=[], dense_scores={"bob": 0.9, "lyon": 0.2}, k=2)
    assert [p for p, _ in r.passages] == ["bob", "lyon"] and "dense" in r.reason
    empty = HippoRAGIndex(None, HashEmbedder(16), FakeExtractor())
    assert empty.retrieve("Who is Alice Smith?").passages == []


def test_subgraph_is_small_and_json_serialisable() -> None:
    idx, _ = _index()
    r = idx.retrieve("Where was Alice Smith born?", k=3)
    sg = json.loads(json.dumps(r.subgraph))
    ids = {n["id"] for n in sg["nodes"]}
    assert 0 < len(ids) <= 40
    assert {n["type"] for n in sg["nodes"]} <= {"seed", "phrase", "passage"}
    assert any(n["type"] == "seed" and n["id"] == "alice smith" for n in sg["nodes"])
    assert any(n["id"] == "passage:alice" and n["label"] == "Alice Smith" for n in sg["nodes"])
    assert all(e["source"] in ids and e["target"] in ids for e in sg["edges"])
    assert {e["type"] for e in sg["edges"]} <= {"relation", "synonym", "contains"}
    assert any(e.get("label") == "born in" for e in sg["edges"])


def test_add_skips_existing_ids_and_extraction_is_cached() -> None:
    idx, ex = _index()
    calls: list[tuple[int, int]] = []
    added = idx.add_passages([("alice", "changed"), ("copy", CORPUS["bob"][0]), ("new", "Zed\nZed.")],
                             progress=lambda d, t: calls.append((d, t)))
    assert added == 2
    assert ex.seen[6:] == ["new"]  # "alice" exists already; "copy" has bob's text, so the cache answers
    assert calls[-1] == (2, 2)
    n_seen = len(ex.seen)
    assert idx.delete_passages(["copy", "bob", "new"]) == 3
    idx.add_passages([("bob", CORPUS["bob"][0]), ("new", "Zed\nZed.")])
    assert len(ex.seen) == n_seen  # re-indexing: everything served from the cache
    assert "bob" in idx and len(idx) == 7


def test_delete_then_retrieve() -> None:
    idx, _ = _index()
    assert idx.delete_passages(["alice", "nope"]) == 1
    r = idx.retrieve("Where was Alice Smith born?", k=3)
    assert "alice" not in [p for p, _ in r.passages]
    assert "alice smith" not in idx.graph.phrases


def test_save_load_round_trip(tmp_path: Path) -> None:
    idx, ex = _index(folder=tmp_path)
    idx.save()
    loaded = HippoRAGIndex.load(tmp_path, HashEmbedder(64), ex)
    assert loaded.graph.edge_list() == idx.graph.edge_list()
    assert loaded.graph.phrases == idx.graph.phrases and loaded.labels == idx.labels
    assert len(loaded.cache) == len(idx.cache)
    q = "Which river runs through the city where Alice Smith was born?"
    assert loaded.retrieve(q).passages == pytest.approx(idx.retrieve(q).passages)
    with pytest.raises(ValueError):
        HippoRAGIndex.load(tmp_path, HashEmbedder(8), ex)
    phrase_only = HippoRAGIndex.load(tmp_path, HashEmbedder(64), ex, passage_nodes=False)
    assert not phrase_only.passage_nodes


def test_load_leaves_garbage_collection_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from retrieval.hipporag import persistence

    idx, ex = _index(folder=tmp_path)
    idx.save()
    seen = []
    real = persistence.KnowledgeGraph.from_json
    monkeypatch.setattr(persistence.KnowledgeGraph, "from_json", lambda *a: seen.append(gc.isenabled()) or real(*a))
    HippoRAGIndex.load(tmp_path, HashEmbedder(64), ex)
    assert seen == [True]  # other threads keep their garbage collector while a graph loads


def test_min_max() -> None:
    assert list(min_max(__import__("numpy").array([1.0, 3.0, 2.0]))) == [0.0, 1.0, 0.5]
    assert list(min_max(__import__("numpy").array([2.0, 2.0]))) == [1.0, 1.0]


# ------------------------------------------------------------------------------------------ OpenIE helpers


def test_normalize_phrase() -> None:
    assert normalize_phrase("  The Beatles' \"Abbey Road\"!  ") == "the beatles abbey road"
    assert normalize_phrase("Jean-Paul O'Neil, Jr.") == "jean-paul o'neil jr"
    assert normalize_phrase("-- state-of-the-art --") == "state-of-the-art"


def test_split_title_and_fallback_entities() -> None:
    assert split_title("Lyon\nLyon is a city.") == ("Lyon", "Lyon is a city.")
    assert split_title("no title here") == ("", "no title here")
    assert fallback_entities('Who directed "The Third Man" with Orson Welles?') == ["The Third Man", "Orson Welles"]


def test_first_json_object_is_lenient() -> None:
    assert first_json_object('Sure! {"a": [1, "}"]} trailing {"b": 2}') == {"a": [1, "}"]}
    assert first_json_object('{broken {"ok": "x\\"y"}') == {"ok": 'x"y'}
    assert first_json_object("no json") is None


def test_extraction_cache_round_trip() -> None:
    cache = ExtractionCache()
    ex = FakeExtractor()
    text = CORPUS["alice"][0]
    assert cache.extract(ex, [("a", text)])["a"].triples == (("Alice Smith", "born in", "Lyon"),)
    cache.extract(ex, [("b", text)])
    assert ex.seen == ["a"]
    again = ExtractionCache.from_json(json.loads(json.dumps(cache.to_json())))
    assert again.entries == cache.entries and cache_key("fake-v1", text) in again.entries


def test_llm_extractor_two_step_prompts_and_failures() -> None:
    llm = ScriptedLLM([
        'Here you go: {"named_entities": ["Alice Smith", "Lyon"]}',
        '{"triples": [["Alice Smith", "born in", "Lyon"], ["bad"], ["Lyon", "in", 1990]]}',
        "I cannot do that",
        '{"named_entities": ["Berlin"]}',
        '{"triples": [["Berlin", "capital of", "Germany"]',
        '{"named_entities": ["Alice Smith"]}',
    ])
    ex = LLMExtractor(llm)
    out = ex.extract([("a", "Alice Smith was born in Lyon."), ("b", "..."), ("c", "Berlin is the capital.")])
    assert out["a"] == Extraction(("Alice Smith", "Lyon"), (("Alice Smith", "born in", "Lyon"), ("Lyon", "in", "1990")))
    assert out["b"] == Extraction((), ())
    assert out["c"] == Extraction(("Berlin",), (("Berlin", "capital of", "Germany"),))  # salvaged from a cut reply
    assert ex.failures == 2
    triple_prompt = llm.calls[1][1][-1]["content"]
    assert "Alice Smith was born in Lyon." in triple_prompt and '"named_entities": ["Alice Smith", "Lyon"]' in triple_prompt
    assert ex.query_entities("Where was Alice Smith born?") == ["Alice Smith"]
    assert ex.query_entities("Where was Bob Jones born?") == ["Bob Jones"]  # unparsable reply: fallback
    assert ex.failures == 3


def test_triple_linking_seeds_the_nearest_facts_and_embeds_new_facts_only() -> None:
    idx, _ = _index()
    r = idx.retrieve("Bob Jones lives in which city?", k=2, linking="triple", fact_top_k=1)
    assert r.facts[0][0] == "(bob jones, lives in, berlin)"
    assert r.entities == ["bob jones", "berlin"]
    assert set(r.seeds) == {"bob jones", "berlin"}
    assert {pid for pid, _ in r.passages} == {"bob", "berlin"}

    embedded: list[str] = []
    inner = idx.embedder.embed
    idx.embedder.embed = lambda texts: (embedded.extend(texts), inner(texts))[1]  # type: ignore[method-assign]
    idx.add_passages([("carol", "Carol Reed\nCarol Reed lives in Berlin.")])
    idx.facts()
    assert [t for t in embedded if " lives in " in t] == []  # no fact for carol: the fake extractor has none
    with pytest.raises(ValueError, match="unknown linking"):
        idx.retrieve("x", linking="graph")
