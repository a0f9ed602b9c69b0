"""Split long documents into overlapping chunks on sentence boundaries; short ones stay whole."""

from __future__ import annotations

import re

# A sentence ends at . ! or ? (optionally followed by a closing quote or bracket) before whitespace,
# or at a blank line (paragraph break).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"'\u201d\u2019)\]])\s+|\n\s*\n")


def chunk_text(text: str, words: int = 180, overlap: int = 30) -> list[str]:
    """Chunks of at most `words` words, neighbours sharing about `overlap` words; short text is one chunk."""
    if words < 1 or overlap < 0 or overlap >= words:
        raise ValueError(f"need words >= 1 and 0 <= overlap < words, got words={words}, overlap={overlap}")
    if not text.strip():
        return []
    if len(text.split()) <= words:
        return [text]
    units = _units(text, max(1, words - overlap))
    return [" ".join(w for unit in chunk for w in unit) for chunk in _pack(units, words, overlap)]


def split_sentences(text: str) -> list[str]:
    """Sentences (and paragraphs without end punctuation), whitespace-trimmed, empty ones dropped."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _units(text: str, limit: int) -> list[list[str]]:
    """Sentences as word lists, any sentence longer than `limit` words cut into pieces."""
    units: list[list[str]] = []
    for sentence in split_sentences(text):
        tokens = sentence.split()
        units.extend(tokens[i : i + limit] for i in range(0, len(tokens), limit))
    return units


def _pack(units: list[list[str]], words: int, overlap: int) -> list[list[list[str]]]:
    """Greedily fill chunks with whole units, each chunk starting with the previous chunk's tail."""
    chunks: list[list[list[str]]] = []
    i = 0
    while i < len(units):
        chunk = _tail(chunks[-1], overlap) if chunks else []
        size = sum(len(u) for u in chunk)
        start = i
        while i < len(units) and (size + len(units[i]) <= words or i == start):
            chunk.append(units[i])
            size += len(units[i])
            i += 1
        chunks.append(chunk)
    return chunks


def _tail(chunk: list[list[str]], overlap: int) -> list[list[str]]:
    """The last whole sentences of a chunk within `overlap` words, or its last `overlap` words."""
    if overlap == 0:
        return []
    tail: list[list[str]] = []
    size = 0
    for unit in reversed(chunk):
        if size + len(unit) > overlap:
            break
        tail.insert(0, unit)
        size += len(unit)
    if size * 2 >= overlap:
        return tail
    flat = [w for unit in chunk for w in unit]
    return [flat[-overlap:]]
