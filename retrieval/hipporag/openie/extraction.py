"""What OpenIE produces and how it is cached: `Extraction`, the `Extractor` protocol, phrase normalisation,
and `ExtractionCache`, keyed by sha1(extractor name + passage text) so nothing is extracted twice."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

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
    return dedupe_phrases(found)


def dedupe_phrases(items: Iterable[str]) -> list[str]:
    """Stripped items, the first of each normalised phrase kept, in order."""
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
    """("title", "body") when the text starts with a short first line ("title\\ntext" corpora), else ("", text)."""
    head, sep, body = text.partition("\n")
    if sep and body.strip() and 0 < len(head.strip()) <= max_title_chars:
        return head.strip(), body.strip()
    return "", text.strip()


def title_entity(title: str) -> str:
    """A title as an entity: without a trailing disambiguation like " (album)"."""
    return re.sub(r"\s*\([^)]*\)\s*$", "", title).strip() or title
