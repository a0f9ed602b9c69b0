"""Plain-text helpers of TiM: the recall query in the thoughts' third person, and the post-think pre-check.

Thoughts are stored in the third person ("The user drives a red Volvo."), but the user asks in the first
("What car do I drive?"). With the small sentence embedder that mismatch costs a lot of cosine (0.39 vs
0.61 for that pair), so the recall query is rewritten into the third person first; the rewrite is shown
in the memory_read event. The pre-check spares the model a decision grammar already settles: a message
that asks (ends with '?') or never speaks of the user (no I / my / we / our) states no fact about them.
"""

from __future__ import annotations

import re

# longest first, so "am I" is rewritten before "I"
_THIRD_PERSON = (
    (r"\bam I\b", "is the user"),
    (r"\bdo I\b", "does the user"),
    (r"\bhave I\b", "has the user"),
    (r"\bI am\b", "the user is"),
    (r"\bI'm\b", "the user is"),
    (r"\bI've\b", "the user has"),
    (r"\bI'd\b", "the user would"),
    (r"\bI'll\b", "the user will"),
    (r"\bI\b", "the user"),
    (r"\bmyself\b", "the user"),
    (r"\bmy\b", "the user's"),
    (r"\bmine\b", "the user's"),
    (r"\bme\b", "the user"),
)
_FIRST_PERSON = re.compile(r"\b(I|I'm|I've|I'd|I'll|my|mine|myself|we|we're|we've|our|ours)\b", re.IGNORECASE)


def third_person(text: str) -> str:
    """'What car do I drive?' -> 'What car does the user drive?' (first-person words only; the rest kept)."""
    out = text
    for pattern, replacement in _THIRD_PERSON:
        out = re.sub(pattern, replacement, out, flags=re.IGNORECASE)
    return out[:1].upper() + out[1:] if out else out


def pre_check(message: str) -> str:
    """'question' if the message asks, 'other' if it never speaks of the user, '' if the model must decide."""
    text = message.strip()
    if text.endswith("?"):
        return "question"
    if not _FIRST_PERSON.search(text.replace("’", "'")):
        return "other"
    return ""
