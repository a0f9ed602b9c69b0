"""Text helpers every agent shares: answer normalisation (also the benchmark's), words, sentences, names, and
cutting text short for a sentence."""

from __future__ import annotations

import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower-case, drop punctuation and articles, collapse white space."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


STOPWORDS = frozenset(
    "a an the of in on at to for from by with and or but is was were are be been being as that this these those "
    "which who whom whose what when where why how did does do has have had it its his her their they he she "
    "there than then into onto over under about after before not no also many much one first".split()
)
# a sentence ends after a word of 2+ lower-case letters or digits ("G. Stanley Hall", "St. Louis" do not split)
_SENTENCE = re.compile(r"(?<=[a-z0-9][a-z0-9][.!?])\s+(?=[A-Z0-9\"'(])")
# or, for `sentences(..., after_any=True)`, after any . ! ? (an initial or an abbreviation splits too)
_ANY_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_WORD = re.compile(r"[A-Za-z0-9]+")
# capitalised words that start questions or sentences rather than name something
NOT_NAMES = frozenset(
    "what which who whom whose when where why how in on at the a an of is was were did does do for from by "
    "after before during this that these those it its his her their there yes no several many some most each "
    "every all both another other such since although however according following unlike despite as with while "
    "also then here they he she we".split()
)
# lower-case words that join the capitalised words of one name ("Society for the Exploration of Psychotherapy
# Integration", "Ludwig van Beethoven", "Newcastle upon Tyne", "Leonardo da Vinci")
CONNECTORS = frozenset("of for the and de von van der den du da di del la le y upon on".split())
# words before a surname that give a rank or a form of address, not another given name
HONORIFICS = frozenset(
    "mr mrs ms miss dr sir dame lord lady king queen prince princess president general captain senator "
    "governor judge saint st professor prof father brother sister rev".split()
)


def words(text: str) -> list[str]:
    """Lower-cased alphanumeric tokens."""
    return [w.lower() for w in _WORD.findall(text)]


def content_words(text: str) -> set[str]:
    """Tokens that carry meaning (no stop words)."""
    return {w for w in words(text) if w not in STOPWORDS}


def sentences(text: str, after_any: bool = False) -> list[str]:
    """A passage split into sentences: after a word of two or more lower-case letters or digits and a . ! ?
    (so "G. Stanley Hall" stays whole); `after_any`: after any . ! ? (Auto-RAG's evidence listing)."""
    pattern = _ANY_SENTENCE if after_any else _SENTENCE
    return [s.strip() for s in pattern.split(" ".join(text.split())) if s.strip()]


def short(text: str, n: int = 60, at_word: bool = True) -> str:
    """Text cut to at most n characters, with an ellipsis when cut: at a word boundary and on one line (the
    default), or, with `at_word=False`, at n - 1 characters exactly and as it is."""
    if not at_word:
        return text if len(text) <= n else text[: n - 1] + "…"
    text = " ".join(text.split())
    if len(text) <= n:
        return text
    cut = text[: n - 1]
    if " " in cut[n // 2:] and not text[n - 1].isspace():  # cut at the last space unless it is far back
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:-—") + "…"


def names(text: str) -> list[str]:
    """Runs of capitalised words (a cheap named-entity guess), in order.

    Lower-case connectors inside a run stay in the name; leading function words and trailing connectors go.
    """
    runs: list[list[str]] = [[]]
    for raw in text.split():
        word = raw.strip(".,;:!?()[]\"'`‘’“”")
        if word.endswith("'s") or word.endswith("’s"):
            word = word[:-2]
        joins = bool(runs[-1]) and word.lower() in CONNECTORS and word.islower()
        if word[:1].isupper() or word[:1].isdigit() or joins:
            runs[-1].append(word)
        else:
            runs.append([])
        if raw[-1:] in ".,;:!?)\"”’" or raw.endswith("'s") or raw.endswith("’s"):
            runs.append([])
    out: list[str] = []
    for run in runs:
        while run and run[0].lower() in NOT_NAMES:
            run = run[1:]
        while run and run[-1].lower() in CONNECTORS:
            run = run[:-1]
        name = " ".join(run)
        if name and not name.isdigit() and name.lower() not in (o.lower() for o in out):
            out.append(name)
    return out


def key_entity(text: str) -> str:
    """The longest run of capitalised words in `text` (joined by of/the/de/von), or '': a cruder guess than
    `names` (no run breaks at punctuation), kept as Auto-RAG's fallback query has always used it."""
    runs, current = [], []
    for word in text.replace(",", " ").replace(";", " ").split():
        if word[:1].isupper() or (current and word.lower() in ("of", "the", "de", "von")):
            current.append(word.strip(".:!?()\"'"))
        else:
            runs.append(current)
            current = []
    runs.append(current)
    best = max((r for r in runs if r), key=lambda r: (len(r), len(" ".join(r))), default=[])
    while best and best[-1].lower() in ("of", "the", "de", "von"):
        best.pop()
    return " ".join(best)


def _stem(word: str) -> str:
    """A word without a plural or possessive s ("Eyes" names "Big Eye")."""
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def mentions(text: str, entity: str) -> bool:
    """True when `text` names `entity` (its words as a run, case-insensitive, a plural s aside; a surname alone
    counts, unless the text names another bearer of it: "John H. Taylor" does not name "Corey Taylor")."""
    low, name = f" {' '.join(map(_stem, words(text)))} ", " ".join(map(_stem, words(entity)))
    if not name:
        return False
    if f" {name} " in low:
        return True
    parts = [w for w in name.split() if w not in STOPWORDS]
    return (len(parts) > 1 and f" {parts[-1]} " in low and parts[-1][:1].isalpha() and len(parts[-1]) > 3
            and not other_bearer(text, entity))


def other_bearer(text: str, entity: str) -> bool:
    """True when `text` names someone else with `entity`'s surname: a run of capitalised words (initials
    too) right before the surname that holds none of the entity's given names ("John H. Taylor" for "Corey
    Taylor"). Words that open a sentence or a clause ("In", "The") and honorifics ("President") are no names."""
    names_ = _WORD.findall(entity)
    given = {w.lower() for w in names_[:-1]} - STOPWORDS
    if not given:
        return False
    run = r"((?:[A-Z][A-Za-z'\-]*\.?[ \t]+){1,3})"
    for match in re.finditer(run + re.escape(names_[-1]) + r"(?![A-Za-z])", text):
        before = [w for w in words(match.group(1)) if w not in NOT_NAMES and w not in HONORIFICS]
        if before and not set(before) & given:
            return True
    return False


def mentions_fully(text: str, entity: str) -> bool:
    """True when `text` names `entity` with all its words as a run (a plural s aside): no surname rule, so a
    question's common noun ('the association which…') does not name 'American Psychological Association'."""
    name = " ".join(map(_stem, words(entity)))
    return bool(name) and f" {name} " in f" {' '.join(map(_stem, words(text)))} "
