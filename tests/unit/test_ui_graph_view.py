"""What of a graph walk is drawn: one node per entity, no words that are no name, no node without an edge, and
labels that overlap nothing."""

from __future__ import annotations

from tests.unit.ui_events import hipporag_walk_event
from ui.graph_view import _overlaps, entities, place_labels, text_box, walk_texts, written_as


def test_one_node_per_entity_merging_case_and_the_index_synonyms() -> None:
    data = hipporag_walk_event().data
    drawn, links = entities(data["subgraph"], walk_texts(data))
    names = {e.label: e for e in drawn}
    assert set(names) == {"Mirrowdale", "River Ansel", "Guild of Tidewardens", "Corwen Halloway"}
    village = names["Mirrowdale"]  # the seed phrase and the passage titled with its name: one node
    assert village.passage and village.seed and village.names == ["mirrowdale", "Mirrowdale"]
    assert names["River Ansel"].names == ["river ansel", "the river ansel"]  # a synonymy edge of the index
    assert "River Ansel" == names["River Ansel"].label  # written as the passages write it
    ids = {e.id for e in drawn}
    assert all(a in ids and b in ids and a != b for a, b, _ in links)


def test_no_stop_words_no_common_nouns_no_isolated_nodes() -> None:
    data = hipporag_walk_event().data
    drawn, _ = entities(data["subgraph"], walk_texts(data))
    labels = {e.label.lower() for e in drawn}
    assert not labels & {"it", "heart", "banks", "small farming village"}  # no names: lower case in the text
    assert "march" not in labels  # a name ("the March"), but left without an edge once "heart" is gone


def test_how_the_texts_write_a_phrase_tells_a_name_from_a_word() -> None:
    texts = ["The Guild of Tidewardens met in the heart of the town.", "Heart of oak. Pilots of the March."]
    assert written_as("guild of tidewardens", texts) == ("Guild of Tidewardens", True)
    assert written_as("heart", texts) == (None, False)  # capitalised only where a sentence starts
    assert written_as("heart", texts[1:]) == ("Heart", None)  # only there: the benefit of the doubt
    assert written_as("march", texts) == ("March", True)
    assert written_as("unseen", texts) == (None, None)  # never written: the benefit of the doubt


def test_labels_overlap_no_label_no_node_and_stay_inside() -> None:
    points = [(f"n{i}", 100 + 8 * i, 100 + 5 * (i % 3), 8.0, f"a long entity name {i}") for i in range(8)]
    spots = place_labels(points, 640, 420)
    assert spots  # some labels fit
    boxes = {pid: text_box(x, y, label, anchor) for pid, _, _, _, label in points
             if pid in spots for x, y, anchor in [spots[pid]]}
    nodes = {pid: (x - r, y - r, x + r, y + r) for pid, x, y, r, _ in points}
    for pid, box in boxes.items():
        assert 0 <= box[0] and box[2] <= 640 and 0 <= box[1] and box[3] <= 420
        assert not any(_overlaps(box, other) for q, other in boxes.items() if q != pid)
        assert not any(_overlaps(box, n) for q, n in nodes.items() if q != pid)
