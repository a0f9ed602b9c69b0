"""Knowledge graph construction, synonymy edges, incremental add/delete and serialisation."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.embedder import HashEmbedder
from retrieval.hipporag.graph import INVERSE, KnowledgeGraph, oriented, passage_phrases, synonym_pairs
from retrieval.hipporag.openie import Extraction

EXTRACTIONS = {
    "p1": Extraction(("Alice Smith", "Paris"), (("Alice Smith", "born in", "Paris"),)),
    "p2": Extraction(("Paris", "France"), (("Paris", "capital of", "France"), ("Paris", "in", "France"))),
    "p3": Extraction(("Bob",), (("Bob", "lives in", "Paris"),)),
}


def _graph(**kw: object) -> KnowledgeGraph:
    g = KnowledgeGraph(**kw)  # type: ignore[arg-type]
    g.add_passages(EXTRACTIONS, HashEmbedder(32).embed)
    return g


def _snapshot(g: KnowledgeGraph) -> tuple:
    return (sorted(g.phrases), sorted(g.passages), g.edge_list(),
            {p: np.round(g.embeddings[g.phrase_index[p]], 6).tobytes() for p in g.phrases},
            {p: frozenset(s) for p, s in g.phrase_passages.items()})


def test_passage_phrases_normalises_and_labels_relations() -> None:
    phrases, relations = passage_phrases(Extraction(("The  Beatles!",), (("The Beatles", "formed in", "Liverpool"),)))
    assert phrases == ["the beatles", "liverpool"]
    # the pair is stored sorted; the label keeps the triple's direction (the beatles -> liverpool)
    assert relations == {("liverpool", "the beatles"): [INVERSE + "formed in"]}
    assert oriented(("liverpool", "the beatles"), relations[("liverpool", "the beatles")][0]) == (
        "the beatles", "formed in", "liverpool")


def test_build_nodes_edges_and_specificity() -> None:
    g = _graph()
    assert set(g.phrases) == {"alice smith", "paris", "france", "bob"}
    assert g.passages == ["p1", "p2", "p3"]
    edges = g.edge_list()
    assert ("relation", "phrase:france", "phrase:paris", 2.0) in edges  # two triples support it
    assert ("relation", "phrase:alice smith", "phrase:paris", 1.0) in edges
    assert ("contains", "passage:p2", "phrase:france", 1.0) in edges
    assert g.phrase_passages["paris"] == {"p1", "p2", "p3"}
    spec = dict(zip(g.phrases, g.specificity()))
    assert spec["paris"] == pytest.approx(1 / 3) and spec["bob"] == 1.0
    a = g.adjacency(True)
    assert a.shape == (7, 7) and (a != a.T).nnz == 0
    assert g.adjacency(False)[g.phrase_index["paris"], 4:].nnz == 0  # no passage edges in HippoRAG 1 mode
    contains = g.passage_phrase_matrix()
    assert contains[g.passage_index["p2"], g.phrase_index["france"]] == 1.0


def test_adjacency_is_cached_until_a_change() -> None:
    g = _graph()
    a, m = g.adjacency(), g.transition()
    assert g.adjacency() is a and g.transition() is m
    g.add_passages({"p4": Extraction(("Rome",), ())}, HashEmbedder(32).embed)
    assert g.adjacency() is not a and g.adjacency().shape == (9, 9)


def test_facts_and_memo_are_rebuilt_after_a_change() -> None:
    g = _graph()
    assert g.fact_triples() == [("alice smith", "born in", "paris"), ("bob", "lives in", "paris"),
                                ("paris", "capital of", "france"), ("paris", "in", "france")]
    built = []
    first = g.memo("facts", lambda: built.append(1) or g.fact_triples())
    assert g.memo("facts", lambda: built.append(1) or []) is first and built == [1]
    g.remove_passages(["p3"])
    assert ("bob", "lives in", "paris") not in g.memo("facts", g.fact_triples) and built == [1]


def _vector_embed(table: dict[str, list[float]]):
    def embed(texts: list[str]) -> np.ndarray:
        v = np.array([table[t] for t in texts], dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)
    return embed


def test_synonymy_edges_from_hand_made_vectors() -> None:
    table = {"new york city": [1, 0, 0], "nyc": [0.95, 0.31, 0], "new york": [0.9, 0, 0.43], "london": [0, 0, 1]}
    g = KnowledgeGraph()
    g.add_passages({"a": Extraction(("New York City", "London"), ())}, _vector_embed(table))
    assert g.synonyms == {}
    g.add_passages({"b": Extraction(("NYC", "New York"), ())}, _vector_embed(table))
    cos = lambda a, b: float(np.dot(table[a], table[b]) / np.linalg.norm(table[a]) / np.linalg.norm(table[b]))  # noqa: E731
    assert set(g.synonyms) == {("new york city", "nyc"), ("new york", "new york city"), ("new york", "nyc")}
    assert g.synonyms[("new york city", "nyc")] == pytest.approx(cos("nyc", "new york city"), abs=1e-6)
    assert all(w >= 0.8 for w in g.synonyms.values())


def test_synonymy_neighbour_cap_and_blocking() -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_normal(8)
    v = base + 0.05 * rng.standard_normal((30, 8))
    v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    capped = synonym_pairs(v[20:], v, 20, threshold=0.8, max_neighbours=5)
    assert len(capped) == 10 * 5
    for row in range(20, 30):
        mine = sorted((w for r, _, w in capped if r == row), reverse=True)
        others = sorted((float(v[row] @ v[c]) for c in range(30) if c != row), reverse=True)
        np.testing.assert_allclose(mine, others[:5], rtol=1e-5)
    full = synonym_pairs(v[20:], v, 20, threshold=0.8, max_neighbours=100, block=256)
    tiny = synonym_pairs(v[20:], v, 20, threshold=0.8, max_neighbours=100, block=3)
    assert len(full) == 10 * 29
    assert [(r, c) for r, c, _ in sorted(full)] == [(r, c) for r, c, _ in sorted(tiny)]
    np.testing.assert_allclose([w for *_, w in sorted(full)], [w for *_, w in sorted(tiny)], atol=1e-5)


def test_short_phrases_get_no_synonyms() -> None:
    g = KnowledgeGraph()
    g.add_passages({"a": Extraction(("US", "us"), ())}, lambda t: np.ones((len(t), 4), np.float32) / 2)
    assert g.synonyms == {}


def test_add_then_delete_restores_graph() -> None:
    g = _graph()
    before = _snapshot(g)
    embed = HashEmbedder(32).embed
    g.add_passages({"p4": Extraction(("Paris", "Eiffel Tower"), (("Eiffel Tower", "located in", "Paris"),
                                                                  ("Alice Smith", "visited", "France")))}, embed)
    assert "eiffel tower" in g.phrases and len(g.passages) == 4
    assert g.remove_passages(["p4", "missing"]) == 1
    assert _snapshot(g) == before
    assert g.adjacency().shape == (7, 7)


def test_delete_keeps_shared_phrases_and_edges() -> None:
    g = _graph()
    g.remove_passages(["p1"])
    assert "alice smith" not in g.phrases and "paris" in g.phrases
    assert g.phrase_passages["paris"] == {"p2", "p3"}
    assert ("alice smith", "paris") not in g.relations
    assert len(g.embeddings) == len(g.phrases)
    g.remove_passages(["p2"])
    assert ("france", "paris") not in g.relations and "france" not in g.phrases


def test_synonymy_edges_of_deleted_phrases_go() -> None:
    table = {"new york city": [1, 0], "nyc": [0.95, 0.31], "london": [0, 1]}
    g = KnowledgeGraph()
    g.add_passages({"a": Extraction(("New York City", "London"), ())}, _vector_embed(table))
    g.add_passages({"b": Extraction(("NYC",), ())}, _vector_embed(table))
    assert g.synonyms
    g.remove_passages(["b"])
    assert g.synonyms == {}


def test_json_round_trip() -> None:
    g = _graph(synonym_threshold=0.1)
    g2 = KnowledgeGraph.from_json(g.to_json(), g.embeddings)
    assert _snapshot(g2) == _snapshot(g)
    assert g2.synonym_threshold == 0.1
    assert (g2.adjacency() != g.adjacency()).nnz == 0
    g2.remove_passages(["p1"])
    g.remove_passages(["p1"])
    assert _snapshot(g2) == _snapshot(g)
