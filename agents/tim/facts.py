"""TiM's fact records: a model-written subject / attribute / value record beside the user's own words.

Pure functions, no model and no store. A record is kept only if its value stands in the user's message
(`validate`); otherwise the rule fill (`rule_facts`) keeps the user's clause itself. Replies are rendered from
a record by `reply_sentence`: the user's own clause turned to the second person when it names the value and
no superseded value, else "Your <attribute> is <value>.". `not_told` turns a question into "You haven't told me
where you live yet.".
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from agents.tim.text import copy_thoughts, statement_third_person

# the JSON schema a model's record is decoded under (grammar-constrained where the backend supports it)
FACT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "facts": {
            "type": "array",
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {
                    "subject": {"type": "string", "maxLength": 40},
                    "attribute": {"type": "string", "maxLength": 40},
                    "value": {"type": "string", "maxLength": 60},
                },
                "required": ["subject", "attribute", "value"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["facts"],
    "additionalProperties": False,
}


def spans(message: str, longest: int = 6) -> list[str]:
    """Every run of 1 to `longest` consecutive words of the message (punctuation at the edges dropped), first seen
    first: the values a record may hold, so that a value is the user's own words by construction."""
    words = [w.strip(".,;:!?\"()") for w in message.replace("’", "'").split()]
    words = [w for w in words if w]
    out = (" ".join(words[i:i + n]) for n in range(1, longest + 1) for i in range(len(words) - n + 1))
    return list(dict.fromkeys(out))


def fact_schema(message: str) -> dict[str, Any]:
    """FACT_SCHEMA with the value held to the message's own word runs (an enum the grammar enforces)."""
    schema = json.loads(json.dumps(FACT_SCHEMA))
    schema["properties"]["facts"]["items"]["properties"]["value"] = {"enum": spans(message) or [""]}
    return schema


@dataclass(frozen=True)
class Fact:
    """One fact about the user: who it is about, what kind of fact, its value, the user's words it came from.

    `origin` says who wrote the record: "model" (subject, attribute and value written by the model, the value
    found in the user's words) or "rule" (the user's clause itself, no attribute)."""

    subject: str
    attribute: str
    value: str
    evidence: str
    origin: str = "model"

    @property
    def key(self) -> str:
        """'the user's dog's name': what the fact is about, without its value ('' for a rule fill)."""
        if not self.attribute:
            return ""
        return f"{possessive(self.subject)} {self.attribute}"

    def text(self) -> str:
        """The thought as stored, shown and embedded: the user's clause that names the value, in the third person
        ("The user lives in Osaka."); "The user's home city: Osaka" when no clause names it; a rule fill: itself."""
        if not self.attribute:
            return self.value
        clause = clause_with(self.value, self.evidence)
        if clause and len(clause.split()) >= 3:
            return statement_third_person(clause)
        return f"{self.key[:1].upper()}{self.key[1:]}: {self.value}"

    def as_dict(self) -> dict[str, str]:
        """The record for an event payload."""
        return asdict(self)


def possessive(subject: str) -> str:
    """'user' -> "the user's"; "user's dog" / 'my dog' / 'dog' -> "the user's dog's"."""
    s = " ".join(subject.replace("’", "'").split()).strip(" .").lower()
    s = re.sub(r"^(the |my |our |your )", "", s)
    if s in ("", "user", "the user", "i", "me", "we", "you"):
        return "the user's"
    s = re.sub(r"^(user's|users'|user)\s*", "", s).strip()
    s = s.removesuffix("'s")
    return f"the user's {s}'s" if s else "the user's"


def subject_words(subject: str) -> str:
    """The subject as a noun phrase: 'user' -> 'the user', "user's dog" -> "the user's dog"."""
    p = possessive(subject)
    return "the user" if p == "the user's" else p.removesuffix("'s")


def parse_facts(text: str) -> list[dict[str, str]] | None:
    """The records of a model reply (JSON text), or None when it is not JSON of the schema's shape."""
    text = text.strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(text[start:end + 1])
    except json.JSONDecodeError:
        return None
    facts = data.get("facts") if isinstance(data, dict) else None
    if not isinstance(facts, list):
        return None
    out = []
    for f in facts:
        if not isinstance(f, dict) or not all(isinstance(f.get(k), str) for k in ("subject", "attribute", "value")):
            return None
        out.append({k: " ".join(f[k].split()) for k in ("subject", "attribute", "value")})
    return out


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.replace("’", "'").lower()).split())


def in_words(value: str, text: str) -> bool:
    """Whether `value` stands in `text` as whole words (case and punctuation aside)."""
    v, t = _norm(value), _norm(text)
    return bool(v) and f" {v} " in f" {t} "


def validate(record: dict[str, str], message: str) -> str:
    """'' if the record may be kept, else why not: its value must stand in the user's words, its attribute be named."""
    if not record["value"]:
        return "no value"
    if not in_words(record["value"], message):
        return f"the value '{record['value']}' is not in the message"
    if not _norm(record["attribute"]):
        return "no attribute"
    return ""


_NOT_SUBJECT_WORDS = {"user", "users", "the", "my", "our", "his", "her", "their", "a", "an", "of", "new"}


def grounded_subject(subject: str, message: str) -> bool:
    """Whether every word of the record's subject (but 'user', 'my', ...) stands in the user's message: "user's
    dog" is grounded in "My dog is called Bruno", "user's pet" is not in "My sister's name is Keiko"."""
    words = [w.removesuffix("'s") for w in _norm(subject.replace("'s", " ")).split()]
    return all(in_words(w, message) or in_words(w + "s", message) or in_words(w.removesuffix("s"), message)
               for w in words if w and w not in _NOT_SUBJECT_WORDS)


def rule_facts(message: str, limit: int) -> list[Fact]:
    """The rule fill: each clause of the message in the third person, kept whole (no attribute, no value split)."""
    return [Fact("user", "", clause, message, origin="rule") for clause in copy_thoughts(message, limit)]


# --- replies ---------------------------------------------------------------------------------------
_SECOND = (
    (r"\bI'm\b", "you're"), (r"\bI am\b", "you are"), (r"\bI've\b", "you've"), (r"\bI'd\b", "you'd"),
    (r"\bI'll\b", "you'll"), (r"\bI was\b", "you were"), (r"\bwe're\b", "you're"), (r"\bwe've\b", "you've"),
    (r"\bwe are\b", "you are"), (r"\bwe were\b", "you were"), (r"\bmyself\b", "yourself"),
    (r"\bourselves\b", "yourselves"), (r"\bmine\b", "yours"), (r"\bours\b", "yours"), (r"\bmy\b", "your"),
    (r"\bour\b", "your"), (r"\bme\b", "you"), (r"\bus\b", "you"), (r"\bI\b", "you"), (r"\bwe\b", "you"),
)
_CLAUSES = re.compile(r"\s*[;:]\s*|(?<=[.!?])\s+|,\s*(?:and|but|so)?\s*")
_OPENERS = re.compile(r"^(?:actually|well|so|oh|anyway|also|btw|by the way|honestly|sad news|guess what|ok|okay)\b"
                      r"[,!:]?\s*", re.IGNORECASE)


def second_person(text: str) -> str:
    """The user's own words said back to them: 'I play chess on Sundays' -> 'you play chess on Sundays'."""
    out = text.replace("’", "'")
    for pattern, repl in _SECOND:
        out = re.sub(pattern, repl, out, flags=re.IGNORECASE)
    return out


def clause_with(value: str, evidence: str) -> str:
    """The shortest clause of the user's message that names the value ('' if none does)."""
    clauses = [_OPENERS.sub("", c).strip(" ,.!") for c in _CLAUSES.split(evidence.replace("’", "'"))]
    named = [c for c in clauses if c and in_words(value, c)]
    return min(named, key=len) if named else ""


def sentence(text: str) -> str:
    """First letter up, one full stop."""
    text = text.strip().rstrip(".!,;:")
    return text[:1].upper() + text[1:] + "." if text else ""


def reply_sentence(fact: Fact, superseded: list[str]) -> tuple[str, str]:
    """(the sentence that tells the user this fact, how it was made: 'own words' | 'record').

    The user's own clause in the second person when it names the value and none of the superseded values;
    else "Your <attribute> is <value>." from the record."""
    if fact.origin == "rule":
        return sentence(second_person_third(fact.value)), "own words"
    clause = clause_with(fact.value, fact.evidence)
    if clause and len(clause.split()) >= 3 and not any(in_words(s, clause) for s in superseded if s):
        return sentence(second_person(clause)), "own words"
    owner = possessive(fact.subject).replace("the user's", "your", 1)
    return sentence(f"{owner} {fact.attribute} is {fact.value}"), "record"


def second_person_third(thought: str) -> str:
    """A third-person rule thought ('The user lives in Lisbon.') back to the second person ('you live in Lisbon.')."""
    from agents.tim.text import second_person as third_to_second

    return third_to_second(thought)


# --- "you haven't told me" -------------------------------------------------------------------------
_AUX_FIRST = re.compile(r"^(?P<wh>(?:what|which|where|who|whom|when|how|why)(?: \w+)?) (?P<aux>do|does|did|am|is|are|"
                        r"was|were|have|has|can|should|would) (?P<rest>.+)$", re.IGNORECASE)
_WH_IS = re.compile(r"^(?P<wh>what|which|where|who|when|how)'s (?P<rest>.+)$", re.IGNORECASE)
_YES_NO = re.compile(r"^(?P<aux>do|does|did|am|is|are|was|were|have|has) (?P<rest>.+)$", re.IGNORECASE)
_AFTER_SUBJECT = {"now", "these", "today", "currently", "again", "called", "named", "like", "at", "in", "on", "for",
                  "with", "from", "to", "this", "still"}
_AUX_SECOND = {"am": "are", "is": "is", "are": "are", "was": "were", "were": "were", "have": "have", "has": "has",
               "can": "can", "should": "should", "would": "would"}


def not_told(question: str) -> str:
    """"Where do I live?" -> "You haven't told me where you live yet." (else "You haven't told me that yet.")."""
    q = " ".join(question.replace("’", "'").split()).rstrip("?!. ")
    q = re.sub(r"^(?:and|so|hey|tell me|remind me)[,:]?\s*", "", q, flags=re.IGNORECASE)
    known = re.match(r"^(?:do|can) you (?:know|remember|recall) (?P<rest>(?:my|our) .+)$", q, flags=re.IGNORECASE)
    if known:  # "Do you remember my cat's name?" -> "You haven't told me your cat's name yet."
        return f"You haven't told me {second_person(known.group('rest'))} yet."
    m = _AUX_FIRST.match(q) or _WH_IS.match(q) or _YES_NO.match(q)
    if not m:
        return "You haven't told me that yet."
    groups = m.groupdict()
    wh, aux = (groups.get("wh") or "whether").lower(), (groups.get("aux") or "is").lower()
    words = second_person(m.group("rest")).split()
    if aux in ("do", "did"):
        body = words  # "where do I live" -> "where you live"
    elif aux == "does" or not words:
        return "You haven't told me that yet."
    elif words[0].lower() in ("you", "there", "it"):
        verb = "are" if words[0].lower() == "you" and aux in ("am", "is") else _AUX_SECOND.get(aux, aux)
        body = [words[0], verb, *words[1:]]  # "who am I married to" -> "who you are married to"
    elif words[0].lower() == "your":
        n = 1
        while n < len(words) and words[n].lower() not in _AFTER_SUBJECT:
            n += 1
        body = [*words[:n], _AUX_SECOND.get(aux, aux), *words[n:]]  # "where is my home now" -> "where your home is now"
    else:
        return "You haven't told me that yet."
    if not any(w.lower() in ("you", "your", "yours") for w in body):
        return "You haven't told me that yet."
    if len(body) > 2 and body[-1].lower() == "now":
        body = body[:-1]  # "... you live in now yet" reads badly
    return f"You haven't told me {wh} {' '.join(body)} yet."
