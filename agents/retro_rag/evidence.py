"""RetroRAG's evidence set as pure functions: no LLM, no store; lists of EvidenceData in, lists out."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

from agents.events import EvidenceData
from agents.retro_rag.prompts import BLANK
from agents.text import (  # noqa: F401 - the shared text helpers, used here and re-exported for the agent
    CONNECTORS,
    HONORIFICS,
    NOT_NAMES,
    STOPWORDS,
    content_words,
    mentions,
    mentions_fully,
    names,
    other_bearer,
    sentences,
    short,
    words,
)
from retrieval.hipporag.openie.spacy_extractor import kept_entity, spacy_pipeline
from settings import Settings

ACTIVE, WITHDRAWN = "active", "withdrawn"
SOURCE, INFERENTIAL = "source", "inferential"

MIN_CLAIM_WORDS = 3


def overlap(a: str, b: str) -> float:
    """Jaccard overlap of two texts' content words."""
    x, y = content_words(a), content_words(b)
    return len(x & y) / len(x | y) if x and y else 0.0


def best_sentence(text: str, question: str, n: int = 220) -> str:
    """The passage's sentence sharing most content words with the question (the first one on a tie)."""
    terms = content_words(question)
    options = sentences(text) or [text]
    best = max(options, key=lambda s: (len(content_words(s) & terms), -options.index(s)))
    return short(best, n, at_word=False)


@functools.lru_cache(maxsize=1)
def _spacy() -> Any:
    """The spaCy pipeline HippoRAG's OpenIE uses (en_core_web_sm, one copy per process), or None where it is not
    installed or RAGSCOPE_RETRO_NER turns it off."""
    if Settings.from_env().retro_ner != "spacy":
        return None
    try:
        return spacy_pipeline()
    except ImportError:
        return None


def ner_available() -> bool:
    """True when entities() uses spaCy's named entities (else capitalised runs alone)."""
    return _spacy() is not None


def _clean(name: str) -> str:
    """A named entity without a leading article, surrounding quotes or punctuation, or a trailing 's."""
    name = name.strip(" .,;:!?()[]\"'`‘’“”")
    name = re.sub(r"(?:'s|’s)$", "", name).strip(" .,;:!?()[]\"'`‘’“”")
    return re.sub(r"^(?:the|The|a|an|An)\s+", "", name)


@functools.lru_cache(maxsize=4096)
def typed_entities(text: str) -> tuple[tuple[str, str], ...]:
    """(name, spaCy label) of each named entity of a text, in order; label '' for a capitalised run the tagger
    missed (or for every name where spaCy is not installed)."""
    nlp = _spacy()
    if nlp is None:
        return tuple((n, "") for n in names(text))
    doc = nlp(text)
    found: list[tuple[int, str, str]] = []
    for ent in doc.ents:
        if not kept_entity(ent):  # no bare numbers; dates only with a digit, as HippoRAG's phrases
            continue
        name = _clean(ent.text)
        if name and not name.isdigit() and name.lower() not in NOT_NAMES:
            found.append((ent.start_char, name, ent.label_))
    for name in names(text):  # a person's name the tagger cut or split ("Sergio" + "Tolento Hernández") is one run
        parts = [f for f in found if f[1] in name and f[1] != name]
        if (parts and any(f[2] == "PERSON" for f in parts) and len(name.split()) <= 4
                and all(w[:1].isupper() for w in name.split())):
            found = [f for f in found if f not in parts] + [(min(f[0] for f in parts), name, "PERSON")]
    starts = {s.start_char for s in doc.sents} | {0}
    low = [n.lower() for _, n, _ in found]
    for name in names(text):  # capitalised runs the tagger missed (invented or rare names), not a sentence's first word
        at = text.find(name)
        if any(name.lower() in o or o in name.lower() for o in low) or (at in starts and " " not in name):
            continue
        found.append((at, name, ""))
        low.append(name.lower())
    out: list[tuple[str, str]] = []
    for _, name, label in sorted(found):
        if name.lower() not in (o.lower() for o, _ in out):
            out.append((name, label))
    return tuple(out)


def entities(text: str) -> list[str]:
    """Named entities of a text, in order: spaCy's (as HippoRAG's OpenIE finds them, numbers and ordinals left
    out) plus capitalised runs it missed; capitalised runs alone where spaCy is not installed."""
    return [n for n, _ in typed_entities(text)]


# What a question's bridge nouns ask for ("the country where…", "Barry Wesson's team"), as spaCy labels.
BRIDGE_TYPES = {
    **dict.fromkeys("country nation state city town village area region county province place location capital "
                    "island continent district municipality".split(), ("GPE", "LOC")),
    **dict.fromkeys("team club party school university college company band group organization organisation "
                    "association league network label publisher firm agency institution newspaper magazine "
                    "station airline church".split(), ("ORG",)),
    **dict.fromkeys("person man woman director president wife husband spouse father mother son daughter brother "
                    "sister singer performer author writer founder player actor actress composer producer "
                    "creator leader king queen owner artist coach".split(), ("PERSON",)),
    **dict.fromkeys("film movie song album book novel opera".split(), ("WORK_OF_ART",)),
}
# labels never searched for as a bridge: dates, times and adjectives of nationality are no page of their own
NOT_BRIDGES = frozenset({"DATE", "TIME", "NORP"})


def bridge_types(question: str) -> set[str]:
    """spaCy labels the question's bridge nouns ask for; the words just after the question word (what the
    answer is: 'Who was president…', 'What is the native language…') are left out."""
    tokens = words(question)[3:]
    inside = {w for name in entities(question) for w in words(name)}  # 'series' in "World Series" asks nothing
    return {label for w in tokens if w not in inside for label in BRIDGE_TYPES.get(w, ())}


def links(sentence: str, anchors: Iterable[str], question: str, title: str = "") -> tuple[list[str], list[str]]:
    """(anchors the sentence is about, other entities it names): a bridge sentence has both.

    The sentence is about an anchor (a question entity, or an entity searched for) when it names it, or when
    its passage is titled by it; the other entities are those neither the question nor the anchors name.
    """
    anchors = [a for a in anchors if a]
    about = [a for a in anchors if mentions(sentence, a) or (title and (mentions(title, a) or mentions(a, title)))]
    named = [e for e in entities(sentence)
             if not mentions(question, e) and not any(mentions(a, e) or mentions(e, a) for a in anchors)]
    return about, named


def bridge_sentence(text: str, focus: str, anchors: Iterable[str], question: str, title: str = "",
                    n: int = 220) -> str:
    """The passage's sentence to keep as a claim: most content words shared with `focus`, one more when it
    is a bridge (about an anchor and naming another entity); the first one on a tie."""
    anchors, terms = list(anchors), content_words(focus)
    options = sentences(text) or [text]

    def score(s: str) -> tuple[int, int]:
        about, named = links(s, anchors, question, title)
        return len(content_words(s) & terms) + (1 if about and named else 0), -options.index(s)

    best = max(options, key=score)
    return short(best, n, at_word=False)


def unsupported_names(claim: str, sources: Iterable[str]) -> list[str]:
    """Names in a claim that no source text mentions (an invented or copied name)."""
    text = " ".join(sources).lower()
    return [n for n in names(claim) if n.lower() not in text]


def containment(claim: str, text: str) -> float:
    """Share of the claim's content words that occur in `text` (1.0: every word is there)."""
    need = content_words(claim)
    return len(need & set(words(text))) / len(need) if need else 0.0


_NUMBER = re.compile(r"\b\d[\d,.]*\b")


def values(text: str) -> list[str]:
    """The names and numbers of a claim, in order: the things a fact can give a different value for."""
    found = [(text.find(n), n) for n in names(text)]
    found += [(m.start(), m.group().rstrip(".,")) for m in _NUMBER.finditer(text)]
    out: list[str] = []
    for _, value in sorted(found):
        if value and not any(value.lower() in o.lower() or o.lower() in value.lower() for o in out):
            out.append(value)
    return out


def _same_kind(a: str, b: str) -> bool:
    """True when both values are numbers or both are names."""
    return a[:1].isdigit() == b[:1].isdigit()


def slot_pair(old: EvidenceData, new: EvidenceData, question: str) -> tuple[str, str, str] | None:
    """(slot, old value, new value) when two claims give different values of one kind; else None.

    The slot is the earlier claim with its value blanked. Values named in the question, or the items'
    entities, are what the claims are *about*, not values; a new value the earlier claim also names is not new.
    """
    about = [question.lower(), old.get("entity", "").lower(), new.get("entity", "").lower()]

    def candidates(claim: str, other: str) -> list[str]:
        return [v for v in values(claim) if v.lower() not in other.lower()
                and not any(v.lower() in a or (a and a in v.lower()) for a in about)]

    olds, news = candidates(old["claim"], ""), candidates(new["claim"], old["claim"])
    capital = [v for v in news if new["claim"].startswith(v) and " " not in v]  # 'Old charters…': no name
    for allowed in ([v for v in news if v not in capital], news):
        for old_value in reversed(olds):  # the last value of a claim is most often what it says of its subject
            new_value = next((v for v in allowed if _same_kind(v, old_value)), None)
            if new_value:
                return old["claim"].replace(old_value, BLANK, 1), old_value, new_value
    return None


def slot_coverage(slot: str, text: str) -> float:
    """Share of the slot's content words (the blank left out) that `text` holds: does it state the same relation?"""
    return containment(slot.replace(BLANK, " "), text)


def active(evidence: list[EvidenceData]) -> list[EvidenceData]:
    """The items not withdrawn."""
    return [e for e in evidence if e.get("status", ACTIVE) == ACTIVE]


def linked(a: EvidenceData, b: EvidenceData) -> bool:
    """True when two items are about the same key entity (one's entity is the other's or is named in its claim)."""
    ea, eb = a.get("entity", "").lower(), b.get("entity", "").lower()
    if not ea or not eb:
        return False
    return ea == eb or ea in b["claim"].lower() or eb in a["claim"].lower()


def check_pairs(evidence: list[EvidenceData], new_ids: list[str],
                limit: int) -> list[tuple[EvidenceData, EvidenceData]]:
    """(earlier, new) pairs of active items about the same entity from different passages, closest first."""
    live = active(evidence)
    fresh = [e for e in live if e["id"] in new_ids]
    earlier = [e for e in live if e["id"] not in new_ids]
    pairs = [(old, new) for new in fresh for old in earlier
             if linked(old, new) and not set(old.get("numbers", [])) & set(new.get("numbers", []))]
    pairs.sort(key=lambda p: -overlap(p[0]["claim"], p[1]["claim"]))
    return pairs[:limit]


def flag_conflict(evidence: list[EvidenceData], first: str, second: str) -> None:
    """Mark two items as giving different values for one slot, a conflict left unsettled (both stay active)."""
    for item, other in ((first, second), (second, first)):
        for e in evidence:
            if e["id"] == item and other not in e.get("conflicts", []):
                e["conflicts"] = [*e.get("conflicts", []), other]


def withdraw(evidence: list[EvidenceData], item_id: str, by: str, reason: str, iteration: int,
             value: str = "") -> list[str]:
    """Withdraw an item and, in cascade, what rested on it; returns the withdrawn ids in order.

    What rested on it: items of its own passage, and items found through it that are about its withdrawn
    `value` (the passage searched for that town or person), then everything found through those. The
    superseding item `by` and its passage are never withdrawn.
    """
    keep = {d for e in evidence if e["id"] == by for d in e.get("passages", [])}
    root = next((e for e in evidence if e["id"] == item_id), None)
    root_passages = set(root.get("passages", [])) if root else set()
    out: list[str] = []
    queue = [(item_id, by, reason)]
    while queue:
        current, cause, why = queue.pop(0)
        item = next((e for e in evidence if e["id"] == current), None)
        if item is None or item.get("status") == WITHDRAWN or set(item.get("passages", [])) & keep:
            continue
        item.update(status=WITHDRAWN, withdrawn_by=cause, reason=why, withdrawn_at=iteration)
        out.append(current)
        for child in evidence:
            if current not in child.get("derived_from", []) or child.get("status", ACTIVE) != ACTIVE:
                continue
            same_passage = bool(set(child.get("passages", [])) & root_passages)
            about_value = bool(value) and value.lower() in child.get("entity", "").lower()
            if not set(item.get("passages", [])) & root_passages or same_passage or about_value:
                queue.append((child["id"], current, f"it rested on {current}, which was withdrawn"))
    return out

def table(evidence: list[EvidenceData]) -> list[EvidenceData]:
    """A deep-enough copy of the evidence set for an event (later changes must not alter it)."""
    return [EvidenceData(**{k: (list(v) if isinstance(v, list) else v) for k, v in e.items()})  # type: ignore[typeddict-item]
            for e in evidence]
