"""HippoRAG with the real spaCy extractor and the bundled MiniLM embedder on a tiny two-hop corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PASSAGES = [
    ("novel", "A Clockwork Orange (novel)\nA Clockwork Orange is a dystopian novel written by Anthony Burgess. "
              "It was published in 1962."),
    ("burgess", "Anthony Burgess\nAnthony Burgess was an English writer and composer. He was born in Manchester "
                "in 1917."),
    ("kubrick", "Stanley Kubrick\nStanley Kubrick was an American film director who made The Shining."),
    ("manchester", "Manchester United F.C.\nManchester United is a football club based in Old Trafford, Greater "
                   "Manchester."),
    ("orange", "Orange (fruit)\nThe orange is the fruit of various citrus species in the family Rutaceae."),
    ("shining", "The Shining (film)\nThe Shining is a 1980 horror film produced and directed by Stanley Kubrick."),
]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from retrieval.embedder import load_embedder
    from retrieval.hipporag.index import HippoRAGIndex
    from retrieval.hipporag.openie import SpacyExtractor

    folder = Path(tmp_path_factory.mktemp("hipporag"))
    idx = HippoRAGIndex(folder, load_embedder(), SpacyExtractor())
    assert idx.add_passages(PASSAGES) == len(PASSAGES)
    return idx


def test_spacy_extraction_finds_entities_and_triples(index) -> None:  # type: ignore[no-untyped-def]
    g = index.graph
    assert {"stanley kubrick", "anthony burgess", "clockwork orange", "manchester"} <= set(g.phrases)
    assert g.relations and all(g.passage_phrase_map[pid] for pid, _ in PASSAGES)
    assert ("anthony burgess", "manchester") in g.relations  # "He was born in Manchester": he -> title


def test_two_hop_question_ranks_bridge_passage(index) -> None:  # type: ignore[no-untyped-def]
    # Burgess is never named in the question: his passage is reached through the graph (bridge entity).
    r = index.retrieve("In which city was the author of A Clockwork Orange born?", k=3)
    assert "clockwork orange" in r.entities
    assert r.links["clockwork orange"][0] == "clockwork orange"
    assert [pid for pid, _ in r.passages[:2]] == ["novel", "burgess"], (r.passages, r.seeds)
    assert any(n["id"] == "passage:burgess" for n in r.subgraph["nodes"])


def test_save_load_keeps_ranking(index) -> None:  # type: ignore[no-untyped-def]
    from retrieval.hipporag.index import HippoRAGIndex

    index.save()
    loaded = HippoRAGIndex.load(index.folder, index.embedder, index.extractor)
    q = "Who directed The Shining?"
    assert [p for p, _ in loaded.retrieve(q).passages] == [p for p, _ in index.retrieve(q).passages]
    assert {p for p, _ in loaded.retrieve(q).passages[:2]} == {"shining", "kubrick"}
