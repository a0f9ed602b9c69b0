"""How an answer is grounded: supported by a passage, the model's own guess, or nothing relevant was found.

The support check, in two gates per passage (a string match alone is not evidence):
1. relevance: the passage's similarity to the question (cosine of the question and passage embeddings,
   whatever retriever found it) must reach a floor; below it the passage is off-topic.
2. support: most of the answer's words must appear in the passage, and then, given the question and that
   passage alone (with leave to reply "unknown"), the model must prefer the answer over "unknown" by a margin
   of log-likelihood (a constrained choice between the two). The best candidates (most answer words, then
   most relevant) are checked first. (A yes/no question "does the passage state it?" was tried first: the
   0.5B model preferred "no" for right and wrong answers alike, so it told them apart no better than chance;
   benchmarks/RESULTS.md.)
An answer is `supported` by the first passage that passes both; otherwise it is the model's `guess`.
An answer that only repeats words of the question ("Euro" to "What currency predated the Euro …?") is a `guess`
without a check: every passage about the question holds those words, so finding them there proves nothing. A
question that offers a choice ("A or B?") is the exception: its answer is one of the question's own words.
When no read passage reaches the floor the run gives no answer (`nothing_relevant`), and a reader that
declines to answer gives `abstained`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from agents.base import short
from agents.events import GroundingCheck, GroundingData, HitData, Step
from agents.text import normalize_answer
from llm.base import LLM, Message
from retrieval.corpus import CorpusStore

Status = Literal["supported", "guess", "abstained", "nothing_relevant"]
RELEVANCE_FLOOR = 0.30  # MiniLM cosine; the dev questions' best passage scores 0.39 or more, an off-topic one ~0.2
FLOOR_HELP = ("Least similarity to the question (0-1) a passage needs to count as evidence; when no passage "
              "reaches it the agent gives no answer.")
SUPPORT_MARGIN = 5.0  # the answer must beat "unknown" by this much log-likelihood (set on 17 MuSiQue answers)
MAX_CHECKS = 2  # support checks per answer (each costs one short prefill)
NO_ANSWER = "(no answer)"
ABSTAIN_REPLIES = ("unknown", "not found", "not in the passages", "no answer", "not mentioned", "none")

SUPPORT_USER = (
    "Answer the question using the passage. Reply with the answer only, a few words. If the passage does not "
    "contain the answer, reply: unknown\n\nPassages:\n[1] {title}: {text}\n\nQuestion: {question}"
)
UNKNOWN = "unknown"
_STOPWORDS = frozenset("of in on at to for and or by with from is was de la le von van".split())

LABELS: dict[str, str] = {
    "supported": "Supported by “{title}”",
    "guess": "Not found in your documents — the model's own guess",
    "abstained": "Not found in your documents — the model did not answer",
    "nothing_relevant": "No answer — nothing in your documents is relevant to the question",
}


def answer_words(answer: str) -> list[str]:
    """The answer's content words (SQuAD-normalised, without small function words)."""
    return [w for w in normalize_answer(answer).split() if w not in _STOPWORDS]


def word_coverage(answer: str, text: str) -> float:
    """Share of the answer's content words found among the text's words (0 when the answer has none)."""
    words = answer_words(answer)
    if not words:
        return 0.0
    present = set(normalize_answer(text).split())
    return sum(w in present for w in words) / len(words)


def restates_question(answer: str, question: str) -> bool:
    """True when every content word of the answer is already in the question, and the question offers no choice
    ('… A or B?', whose answer is one of its own words): such an answer repeats the question, it does not answer it."""
    words, asked = answer_words(answer), normalize_answer(question).split()
    if not words or "or" in asked:
        return False
    return set(words) <= set(asked)


def is_abstention(answer: str) -> bool:
    """True when a reply declines to answer ('unknown', 'not in the passages', empty)."""
    norm = normalize_answer(answer)
    return not norm or norm == normalize_answer(NO_ANSWER) or any(norm.startswith(r) for r in ABSTAIN_REPLIES)


def relevance(corpora: CorpusStore | None, question: str, hits: Sequence[HitData], dense: bool) -> list[float]:
    """Each hit's similarity to the question: the dense score itself, or a fresh cosine for other retrievers."""
    if dense or corpora is None:
        return [float(h["score"]) for h in hits]
    if not hits:
        return []
    vectors = corpora.embedder.embed([question, *(f"{h['title']}: {h['text']}" for h in hits)])
    q = vectors[0]
    out = []
    for v in vectors[1:]:
        norm = math.sqrt(float((q * q).sum()) * float((v * v).sum())) or 1.0
        out.append(round(float((q * v).sum()) / norm, 4))
    return out


def relevant_hits(hits: Sequence[HitData], scores: Sequence[float], floor: float) -> list[HitData]:
    """The hits whose relevance reaches the floor, in their order."""
    return [h for h, s in zip(hits, scores, strict=True) if s >= floor]


def support_messages(question: str, hit: HitData | dict[str, Any]) -> list[Message]:
    """The single-passage reader prompt the answer is checked against (it may reply 'unknown')."""
    return [{"role": "user", "content": SUPPORT_USER.format(title=hit["title"], text=hit["text"],
                                                            question=question)}]


def check_support(llm: LLM, step: Step, question: str, answer: str, hits: Sequence[HitData],
                  scores: Sequence[float], floor: float = RELEVANCE_FLOOR, margin: float = SUPPORT_MARGIN,
                  max_checks: int = MAX_CHECKS) -> GroundingData:
    """Ground `answer` in `hits` (relevance floor, answer words, then support checks); counts LLM calls on `step`."""
    scored = [(h, s) for h, s in zip(hits, scores, strict=True)]
    best = max(scores, default=0.0)
    base = GroundingData(status="guess", floor=floor, best_relevance=round(best, 4), margin=margin, checks=[])
    if is_abstention(answer):
        return {**base, "status": "abstained"}
    if not any(s >= floor for _, s in scored):
        return {**base, "status": "nothing_relevant"}
    if restates_question(answer, question):
        return {**base, "restates": True}
    candidates = sorted(((word_coverage(answer, f"{h['title']} {h['text']}"), s, h) for h, s in scored
                         if s >= floor), key=lambda c: (-c[0], -c[1]))
    candidates = [c for c in candidates if c[0] > 0.5][:max_checks]
    checks: list[GroundingCheck] = []
    for coverage, score, hit in candidates:
        choice = step.add(llm.choose(support_messages(question, hit), [answer, UNKNOWN]))
        odds = float(choice.scores.get(answer, 0.0)) - float(choice.scores.get(UNKNOWN, 0.0))
        ok = odds > margin
        checks.append(GroundingCheck(doc_id=hit["doc_id"], title=hit["title"], relevance=round(score, 4),
                                     coverage=round(coverage, 3), log_odds=round(odds, 3), supported=ok))
        if ok:
            return {**base, "status": "supported", "doc_id": hit["doc_id"], "title": hit["title"], "checks": checks}
    return {**base, "checks": checks}


def grounding_label(grounding: GroundingData | dict[str, Any]) -> str:
    """The one-line label shown with an answer: 'Supported by “Title”', 'Not found … own guess', …"""
    status = str(grounding.get("status", ""))
    template = LABELS.get(status, "")
    return template.format(title=cut_at_word(str(grounding.get("title", "")), 60)) if template else ""


def grounding_sentence(grounding: GroundingData | dict[str, Any]) -> str:
    """The plain-words account of the check, for the step that made it."""
    status = grounding.get("status")
    checks = grounding.get("checks", [])
    floor = float(grounding.get("floor", RELEVANCE_FLOOR))
    if status == "nothing_relevant":
        return (f"No passage was close enough to the question to count as evidence (best match "
                f"{_percent(grounding.get('best_relevance', 0.0))}, needed {_percent(floor)}), so it gives no answer.")
    if status == "abstained":
        return "The model said the passages do not hold the answer."
    if status == "supported":
        return (f"Checked the answer against the passages: “{cut_at_word(str(grounding.get('title', '')), 60)}” "
                f"contains it, and reading that passage alone the model gives this answer rather than "
                f"“unknown”.")
    if grounding.get("restates"):
        return ("The answer only repeats words of the question, so a passage holding those words does not show it "
                "answers it: it is the model's own guess.")
    if not checks:
        return ("The answer's words appear in none of the relevant passages, so it is the model's own guess, "
                "not something found in your documents.")
    names = ", ".join(f"“{cut_at_word(c['title'], 40)}”" for c in checks)
    return (f"The answer's words appear in {names}, but reading {'that passage' if len(checks) == 1 else 'each'} "
            f"alone the model does not clearly give this answer, so it is the model's own guess.")


def cut_at_word(text: str, n: int) -> str:
    """Text cut to at most n characters at a word boundary, with an ellipsis when cut."""
    return short(text, n)


def _percent(value: Any) -> str:
    return f"{round(float(value) * 100)}%"
