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


def speaks_of_user(message: str) -> bool:
    """Whether a message says I / my / we / our (a question that does may ask about the user's own life)."""
    return bool(_FIRST_PERSON.search(message.replace("’", "'")))


_REQUEST = re.compile(r"^\s*(?:how (?:do|can|could|should|would) (?:i|we)\b|how to\b|why\b|"
                      r"(?:can|could|would|will) you\b|please\b)|\b(?:should|could|can|shall) (?:i|we)\b",
                      re.IGNORECASE)


def asks_for_help(question: str) -> bool:
    """Whether a question asks for a method or advice by its grammar ('How do I ...?', 'What should I ...?', 'Can
    you ...?'), not about a fact of the user's life."""
    return bool(_REQUEST.search(question.replace("’", "'")))


def pre_check(message: str) -> str:
    """'question' if the message asks, 'other' if it never speaks of the user, '' if the model must decide."""
    text = message.strip()
    if text.endswith("?"):
        return "question"
    if not _FIRST_PERSON.search(text.replace("’", "'")):
        return "other"
    return ""


# --- post-think by copy: the user's own words, in the third person by rule --------------------------
# A leading "Actually," / "Sad news:" / "By the way," carries no fact; a clause starts again after ';' or
# after ', and' / ', but' / ',' when a subject (I / we / my / our) follows.
_OPENER = re.compile(r"^\s*(?:(?:actually|well|so|oh|anyway|also|btw|by the way|guess what|fun fact|ok|okay)\b[,!:]?"
                     r"\s*|[^.:;!?]{0,30}:\s+)", re.IGNORECASE)
_CLAUSE = re.compile(r"\s*;\s*|(?<=[.!])\s+|,\s*(?:and\s+|but\s+|so\s+)?(?=(?:I|I'm|I've|we|we're|we've|my|our)\b)",
                     re.IGNORECASE)
_AND_SUBJECT = re.compile(r"\s+and\s+(?=(?:I|we)\s+[a-z])")  # "I live in Tromsø and I work ..." (not "my sister and I")
_HAS_SUBJECT = re.compile(r"\b(I|I'm|I've|we|we're|we've)\b", re.IGNORECASE)
_ADVERBS = (r"(\s+(?:\w+ly|also|now|still|just|never|always|often|sometimes|mostly|really|recently|finally|"
            r"no longer|only|even)\b)*")
_SUBJECT = re.compile(r"\b(I|we)\b" + _ADVERBS + r"\s+([a-z]+)\b", re.IGNORECASE)
_IRREGULAR_3RD = {"be": "is", "am": "is", "are": "is", "have": "has", "do": "does", "go": "goes", "can": "can",
                  "will": "will", "would": "would", "could": "could", "should": "should", "must": "must",
                  "may": "may", "might": "might", "was": "was", "were": "was"}
_PAST = {"sold", "bought", "went", "got", "had", "made", "took", "left", "quit", "began", "became", "found", "gave",
         "moved", "saw", "met", "won", "lost", "ran", "said", "told", "thought", "felt", "kept", "built", "wrote",
         "drove", "fell", "grew", "knew", "put", "set", "sent", "spent", "stood", "taught", "understood", "came",
         "did", "used", "broke", "chose", "forgot", "hurt", "let", "read", "cut", "hit", "paid", "heard"}
_FIRST_PERSON_WORDS = (
    (r"\bI'm\b", "the user is"), (r"\bI am\b", "the user is"), (r"\bI've\b", "the user has"),
    (r"\bI'd\b", "the user would"), (r"\bI'll\b", "the user will"),
    (r"\bwe're\b", "the user is"), (r"\bwe've\b", "the user has"), (r"\bwe are\b", "the user is"),
    (r"\bmyself\b", "the user"), (r"\bourselves\b", "the user"),
    (r"\bmy\b", "the user's"), (r"\bour\b", "the user's"), (r"\bmine\b", "the user's"), (r"\bours\b", "the user's"),
    (r"\bme\b", "the user"), (r"\bus\b", "the user"),
)


def third_singular(verb: str) -> str:
    """'go' -> 'goes', 'live' -> 'lives', 'study' -> 'studies'; past tenses ('moved', 'sold') unchanged."""
    low = verb.lower()
    if low in _IRREGULAR_3RD:
        return _IRREGULAR_3RD[low]
    if low in _PAST or low.endswith("ed"):
        return verb
    if re.search(r"[^aeiou]y$", low):
        return verb[:-1] + "ies"
    if re.search(r"(s|sh|ch|x|z|o)$", low):
        return verb + "es"
    return verb + "s"


def statement_third_person(clause: str) -> str:
    """'On weekends I now go kayaking' -> 'On weekends the user now goes kayaking.' (every word kept but I / my)."""
    text = clause.replace("’", "'").strip(" \t\"'`-*,")
    for pattern, replacement in _FIRST_PERSON_WORDS:
        text = re.sub(pattern, replacement, text, flags=re.IGNORECASE)
    text = _SUBJECT.sub(lambda m: "the user" + (m.group(2) or "") + " " + third_singular(m.group(3)), text)
    text = re.sub(r"\b(I|we)\b", "the user", text, flags=re.IGNORECASE)
    text = text.rstrip(" .!,;:") + "."
    return text[:1].upper() + text[1:]


def copy_thoughts(message: str, limit: int) -> list[str]:
    """The message's clauses as third-person thoughts, in the user's own words (no model: nothing can leak in)."""
    text = " ".join(message.replace("’", "'").split())
    previous = None
    while previous != text:  # "Actually, sad news: ..." loses both openers
        previous, text = text, _OPENER.sub("", text, count=1)
    out: list[str] = []
    clauses: list[str] = []
    for piece in _CLAUSE.split(text):
        parts = _AND_SUBJECT.split(piece or "")
        clauses += parts if len(parts) > 1 and _HAS_SUBJECT.search(parts[0]) else [piece or ""]
    for clause in clauses:
        clause = clause.strip()
        if not clause or clause.endswith("?"):
            continue
        thought = statement_third_person(clause)
        if len(thought.split()) >= 3 and thought.lower() not in (t.lower() for t in out):
            out.append(thought)
    return out[:limit]


_SECOND_PERSON_VERB = {"is": "are", "has": "have", "does": "do", "was": "were", "goes": "go"}


def _second_verb(word: str) -> str:
    low = word.lower()
    if low in _SECOND_PERSON_VERB:
        return _SECOND_PERSON_VERB[low]
    if low.endswith("ies") and len(low) > 4:
        return word[:-3] + "y"
    if re.search(r"(sh|ch|x|z|o|ss)es$", low):
        return word[:-2]
    if low.endswith("s") and not low.endswith("ss") and not low.endswith("us"):
        return word[:-1]
    return word


_USER_VERB = re.compile(r"\bthe user" + _ADVERBS + r"\s+([a-z]+)\b", re.IGNORECASE)


def second_person(thought: str) -> str:
    """'The user now goes kayaking.' -> 'you now go kayaking.'; 'The user's dog' -> 'your dog' (to quote a thought)."""
    text = re.sub(r"\bthe user's\b", "your", thought, flags=re.IGNORECASE)
    text = _USER_VERB.sub(lambda m: "you" + (m.group(1) or "") + " " + _second_verb(m.group(2)), text)
    return re.sub(r"\bthe user\b", "you", text, flags=re.IGNORECASE)


_NOT_NAMES = {"the", "a", "an", "on", "in", "at", "since", "these", "this", "that", "those", "every", "each", "now",
              "today", "yesterday", "last", "next", "user", "user's", "i", "my", "we", "our", "and", "but", "so",
              "after", "before", "when", "while", "then", "also", "sad", "news", "actually", "she", "he", "they",
              "it", "its", "his", "her", "their", "there", "here", "monday", "tuesday", "wednesday", "thursday",
              "friday", "saturday", "sunday", "january", "february", "march", "april", "may", "june", "july",
              "august", "september", "october", "november", "december", "you", "your"}


def names_in(thought: str) -> set[str]:
    """Capitalised words that are not sentence glue: the head entities a thought names ('Bruno', 'Noor')."""
    words = re.findall(r"\b[A-Z][\w'-]*", thought)
    names = {w.removesuffix("'s") for w in words}
    return {w for w in names if w.lower() not in _NOT_NAMES and w.lower().removesuffix("s") not in _NOT_NAMES}
