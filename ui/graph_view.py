"""What of a HippoRAG walk is drawn: one node per entity, only entities, each labelled where its label fits.

The walk's subgraph (retrieval/hipporag/subgraph.py) has phrase nodes ("mirrowdale", lower-cased by the index)
beside passage nodes named by their titles ("Mirrowdale"), phrases the index links as synonyms, and phrases that
are no entity at all ("heart", "banks", from "in the heart of Brannoch"). For a person the picture merges each
entity's nodes (case-folded names, and the index's synonymy edges), keeps the phrases that the passages and the
question write as a name (capitalised inside a sentence), drops nodes left without an edge, and places labels so
that none overlaps another label or a node.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

STOP_WORDS = frozenset(
    "a an the it its he him his she her they them their we us our you your i me my this that these those who whom "
    "whose which what there here one ones some any each all both other another such".split())
CHAR_WIDTH = 6.2  # px per character of a 10 px label (generous for sans-serif), for placing labels
LABEL_HEIGHT = 12.0


@dataclass
class Entity:
    """One drawn node: the walk's nodes that name the same thing, merged."""

    id: str  # the id of the best-scoring member (edges and tooltips refer to it)
    label: str
    score: float
    passage: bool  # a passage node is among its members (drawn as a square)
    seed: bool  # a seed of the walk is among its members (drawn ringed)
    names: list[str] = field(default_factory=list)  # every member's name, for the tooltip

    @property
    def kind(self) -> str:
        """'passage' | 'seed' | 'phrase' (the colour)."""
        return "passage" if self.passage else "seed" if self.seed else "phrase"


def fold(text: str) -> str:
    """A name case-folded, single-spaced."""
    return " ".join(str(text).casefold().split())


def _sentence_start(text: str, at: int) -> bool:
    before = text[:at].rstrip(" \t\"'“‘(")
    return not before or before[-1] in ".!?\n:;"


def written_as(phrase: str, texts: Iterable[str]) -> tuple[str | None, bool | None]:
    """How the texts write a phrase: (its capitalised form, if any; whether it is a name there).

    A name is capitalised where it stands inside a sentence; a phrase the texts write in lower case there (and
    capitalise at most at a sentence's start) is no name; one they never contain, or only at a sentence's start,
    is given the benefit of the doubt."""
    words = phrase.split()
    if not words:
        return None, False
    pattern = re.compile(r"(?<![\w-])" + r"[\s-]+".join(re.escape(w) for w in words) + r"(?![\w-])", re.IGNORECASE)
    lower = capital_inside = False
    form = None
    for text in texts:
        for m in pattern.finditer(text):
            if not m.group()[:1].isupper():
                lower = True
            else:
                form = form or m.group()
                if not _sentence_start(text, m.start()):
                    capital_inside = True
                    form = m.group()
    if capital_inside:
        return form, True
    if lower:
        return None, False
    return form, None


def entities(subgraph: dict[str, Any], texts: Sequence[str] = ()) -> tuple[list[Entity], list[tuple[str, str, float]]]:
    """The entities to draw and the edges between them (ids of `Entity.id`, weight), from a walk's subgraph and
    the texts it came from (the question and the passages' text)."""
    nodes = [n for n in subgraph.get("nodes", []) if isinstance(n, dict) and "id" in n]
    ids = {n["id"] for n in nodes}
    edges = [e for e in subgraph.get("edges", []) if isinstance(e, dict) and e.get("source") in ids
             and e.get("target") in ids]
    parent = {n["id"]: n["id"] for n in nodes}

    def root(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(a: str, b: str) -> None:
        parent[root(a)] = root(b)

    by_name: dict[str, str] = {}
    for n in nodes:  # one node per name, case-folded
        key = fold(n.get("label") or n["id"])
        if key in by_name:
            join(n["id"], by_name[key])
        else:
            by_name[key] = n["id"]
    for e in edges:  # and the index's synonymy joins names it found to mean the same
        if e.get("type") == "synonym":
            join(e["source"], e["target"])
    groups: dict[str, list[dict[str, Any]]] = {}
    for n in nodes:
        groups.setdefault(root(n["id"]), []).append(n)
    texts = [t for t in texts if t]
    drawn: dict[str, Entity] = {}
    member_of: dict[str, str] = {}
    for members in groups.values():
        members.sort(key=lambda n: -float(n.get("score", 0) or 0))
        passages = [n for n in members if n.get("type") == "passage"]
        names = list(dict.fromkeys(str(n.get("label") or n["id"]) for n in members))
        label = str(passages[0].get("label") or passages[0]["id"]) if passages else names[0]
        if not passages:
            if fold(label) in STOP_WORDS or not any(c.isalnum() for c in label):
                continue
            form, is_name = written_as(label, texts)
            if is_name is False and not any(n.get("type") == "seed" for n in members):
                continue
            label = form or label
        entity = Entity(id=members[0]["id"], label=label, score=max(float(n.get("score", 0) or 0) for n in members),
                        passage=bool(passages), seed=any(n.get("type") == "seed" for n in members), names=names)
        drawn[entity.id] = entity
        member_of.update({n["id"]: entity.id for n in members})
    links: dict[tuple[str, str], float] = {}
    for e in edges:
        a, b = member_of.get(e["source"]), member_of.get(e["target"])
        if a and b and a != b:
            pair = (min(a, b), max(a, b))
            links[pair] = max(links.get(pair, 0.0), float(e.get("weight", 1) or 1))
    linked = {i for pair in links for i in pair}
    kept = [d for d in drawn.values() if d.id in linked]
    if not kept and drawn:  # a walk that reached nothing linked: its best node alone
        kept = [max(drawn.values(), key=lambda d: d.score)]
    kept.sort(key=lambda d: -d.score)
    return kept, [(a, b, w) for (a, b), w in links.items()]


def walk_texts(data: dict[str, Any]) -> list[str]:
    """The texts a walk's names come from: its search and the passages it found (they tell names from words)."""
    hits = data.get("hits") or []
    return [str(data.get("query") or "")] + [str(h.get("text") or "") for h in hits if isinstance(h, dict)]


def entities_table_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The drawn entities as rows (name, kind, score), best first: the picture in words, for screen readers."""
    sub = data.get("subgraph")
    found, _ = entities(sub if isinstance(sub, dict) else {}, walk_texts(data))
    kinds = {"passage": "passage", "seed": "entity (where the walk starts)", "phrase": "entity"}
    return [{"name": e.label, "kind": kinds[e.kind], "score": f"{e.score:.3f}"} for e in found]


Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def text_box(x: float, y: float, text: str, anchor: str = "middle") -> Box:
    """The box a 10 px label takes, its baseline at (x, y)."""
    w = CHAR_WIDTH * len(text)
    x0 = x - w / 2 if anchor == "middle" else x if anchor == "start" else x - w
    return x0, y - LABEL_HEIGHT + 2, x0 + w, y + 3


def place_labels(points: Sequence[tuple[str, float, float, float, str]], width: float, height: float
                 ) -> dict[str, tuple[float, float, str]]:
    """Where each label goes: (x, y, text-anchor) per id, trying below, above, right and left of its node (best
    nodes first), so that no label overlaps another label, another node, or the edge of the picture; a label with
    no free place is left out (the node's tooltip still names it). `points`: (id, x, y, radius, label)."""
    nodes: list[Box] = [(x - r, y - r, x + r, y + r) for _, x, y, r, _ in points]
    placed: list[Box] = []
    out: dict[str, tuple[float, float, str]] = {}
    for i, (pid, x, y, r, label) in enumerate(points):
        options = [(x, y + r + 11, "middle"), (x, y - r - 4, "middle"), (x + r + 3, y + 4, "start"),
                   (x - r - 3, y + 4, "end"), (x + r + 2, y + r + 10, "start"), (x - r - 2, y + r + 10, "end"),
                   (x + r + 2, y - r - 2, "start"), (x - r - 2, y - r - 2, "end"), (x, y + r + 23, "middle"),
                   (x, y - r - 16, "middle")]
        for lx, ly, anchor in options:
            box = text_box(lx, ly, label, anchor)
            inside = box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height
            if inside and not any(_overlaps(box, b) for b in placed) and not any(
                    _overlaps(box, n) for j, n in enumerate(nodes) if j != i):
                placed.append(box)
                out[pid] = (lx, ly, anchor)
                break
    return out
