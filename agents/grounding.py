"""What an answer's label claims, and only that: a passage states it, the answer appears in one, or in none.

Each label names the check behind it (benchmarks/RESULTS.md measures how often answers with each label are right):
- `supported`: a relevant passage read for the answer holds every word of it, and states it as this question's
  answer: its sentence with the answer holds a word of what the question asks (founded, born, river…), the passage
  is tied to the question (it names one of the question's names, or a passage read with it names one of them and
  this passage's subject: the chain of a multi-hop question, whose answer is then not that subject), the chain says
  every relation word of the question (not only a sub-question's), and the model, given the question and that
  passage alone, prefers the answer to "unknown" by `SUPPORT_MARGIN`.
- `found`: a passage the agent retrieved holds every word of the answer, but the checks above did not all pass (or
  were not made: an answer that only repeats words of the question proves nothing by appearing in a passage).
- `guess`: no passage the agent retrieved holds every word of the answer, so it came from the model itself (a
  yes-or-no answer is a `guess` too: no passage can hold it, and it is said so).
- `none`: no answer: the model declined (`abstained`), or no passage read was similar enough to the question
  to count as evidence (`nothing_relevant`; the agent then does not ask the model at all).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from agents.base import short
from agents.events import ChainCheck, GroundingCheck, GroundingData, HitData, PassageMatch, Step
from agents.text import mentions, names, normalize_answer, sentences
from llm.base import LLM, Message
from retrieval.corpus import CorpusStore

Label = Literal["supported", "found", "guess", "none"]
LABELS: tuple[Label, ...] = ("supported", "found", "guess", "none")
RELEVANCE_FLOOR = 0.30  # MiniLM cosine; chosen as docs/labels.md says
FLOOR_HELP = ("Least similarity to the question (0-1) a passage needs to count as evidence; when no passage "
              "reaches it the agent gives no answer.")
# the least log-likelihood margin (answer over "unknown") at which 'supported' answers were right at least 80% of the
# time on both dev sets' questions 1-25 (docs/labels.md)
SUPPORT_MARGIN = 8.0
MAX_CHECKS = 2  # passages holding the answer that are checked (each check costs one short model call)
NO_ANSWER = "(no answer)"
ABSTAIN_REPLIES = ("unknown", "not found", "not in the passages", "no answer", "not mentioned", "none")

SUPPORT_USER = (
    "Answer the question using the passage. Reply with the answer only, a few words. If the passage does not "
    "contain the answer, reply: unknown\n\nPassages:\n[1] {title}: {text}\n\nQuestion: {question}"
)
UNKNOWN = "unknown"
_STOPWORDS = frozenset("of in on at to for and or by with from is was de la le von van".split())

ICONS: dict[str, str] = {"supported": "✅", "found": "📄", "guess": "⚠️", "none": "🚫"}


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


def holders(answer: str, hits: Sequence[HitData], scores: Sequence[float | None], read: bool) -> list[PassageMatch]:
    """Every passage with its share of the answer's words (1.0: it holds them all), most covered first."""
    out = [PassageMatch(doc_id=h["doc_id"], title=h["title"], coverage=round(word_coverage(answer, f"{h['title']} "
                                                                                         f"{h['text']}"), 3),
                        relevance=None if s is None else round(float(s), 4), read=read)
           for h, s in zip(hits, scores, strict=True)]
    return sorted(out, key=lambda m: -m["coverage"])


def none(reason: str, floor: float, best: float) -> GroundingData:
    """The grounding of no answer: the model declined, or nothing read was about the question."""
    return GroundingData(status="none", reason=reason, floor=floor, best_relevance=round(best, 4), checks=[])


WH_WORDS = frozenset("what which who whom whose when where why how".split())
_RELATION_STOP = frozenset(
    "is was were are be been the of in on at to for and or by with from a an did does do that this as its it his her "
    "their has have had which what who whom whose when where why how name named".split())
STEM = 5  # letters of a word compared when looking for the question's words beside the answer ("founded" ~ "found")


def question_entities(question: str) -> list[str]:
    """The names a question mentions (capitalised runs, not its opening question word)."""
    return [n for n in names(question) if n.split()[0].lower() not in WH_WORDS]


def relation_words(question: str) -> set[str]:
    """What the question asks about the entities: its content words outside its names, cut to their stems."""
    named = " ".join(question_entities(question)).lower().split()
    return {w[:STEM] for w in normalize_answer(question).split()
            if w not in _RELATION_STOP and w not in named and len(w) > 2}


def answer_sentence(answer: str, hit: HitData | dict[str, Any]) -> str:
    """The passage's first sentence that holds every word of the answer (else its first sentence)."""
    parts = sentences(hit["text"]) or [hit["text"]]
    return next((s for s in parts if word_coverage(answer, s) == 1.0), parts[0])


def chain_check(question: str, answer: str, hit: HitData, read: Sequence[HitData]) -> ChainCheck:
    """Does the passage holding the answer state it as the answer to this question? String checks, no model: its
    sentence with the answer holds a word of the question's relation (founded, born, river…); the passage is tied
    to the question: it names one of the question's entities, or a passage read with it names one of them and this
    passage's subject (its title) — the chain of a multi-hop question (a question naming nothing ties nothing), and
    then the answer is not that subject (the link between the passages answers the first hop, not the question); and
    the chain says everything the question asks: each of the question's relation words stands in the answer's
    sentence or in a sentence of the chain that names a question entity or the answer passage's subject (a passage
    that answers a sub-question, "the county where X is", leaves "borders" unsaid)."""
    sentence = answer_sentence(answer, hit)
    asked = relation_words(question)
    shared = sorted(asked & _stems(sentence))
    entities = question_entities(question)
    direct = [e for e in entities if mentions(f"{hit['title']} {hit['text']}", e)]
    via = next((p for p in read if p["doc_id"] != hit["doc_id"] and mentions(p["text"], hit["title"])
                and any(mentions(f"{p['title']} {p['text']}", e) for e in entities)), None)
    said = _stems(sentence)
    for passage in (hit, via) if via else (hit,):
        for s in sentences(passage["text"]) or [passage["text"]]:
            if any(mentions(s, e) for e in (*entities, hit["title"])):
                said |= _stems(s)
    missing = sorted(asked - said)
    bridge = bool(via) and not direct and set(answer_words(answer)) <= set(answer_words(hit["title"]))
    return ChainCheck(sentence=sentence, relation=shared, entities=direct,
                      via={"doc_id": via["doc_id"], "title": via["title"]} if via else None, missing=missing,
                      bridge=bridge,
                      passed=bool(shared) and bool(direct or via or not entities) and not missing and not bridge)


def _stems(text: str) -> set[str]:
    """A text's words cut to their stems, as relation_words cuts the question's."""
    return {w[:STEM] for w in normalize_answer(text).split()}


def check_passage(llm: LLM, step: Step, question: str, answer: str, hit: HitData, score: float,
                  read: Sequence[HitData], margin: float) -> GroundingCheck:
    """The support check of one passage holding the answer: does it state it as this question's answer (the chain
    check), and, given the question and that passage alone, does the model prefer the answer to "unknown"?"""
    chain = chain_check(question, answer, hit, read)
    choice = step.add(llm.choose(support_messages(question, hit), [answer, UNKNOWN]))
    odds = float(choice.scores.get(answer, 0.0)) - float(choice.scores.get(UNKNOWN, 0.0))
    return GroundingCheck(doc_id=hit["doc_id"], title=hit["title"], relevance=round(score, 4),
                          coverage=round(word_coverage(answer, f"{hit['title']} {hit['text']}"), 3),
                          log_odds=round(odds, 3), margin=margin, chain=chain,
                          supported=chain["passed"] and odds > margin)


def ground(llm: LLM, step: Step, question: str, answer: str, hits: Sequence[HitData], scores: Sequence[float],
           retrieved: Sequence[HitData] = (), floor: float = RELEVANCE_FLOOR, margin: float = SUPPORT_MARGIN,
           max_checks: int = MAX_CHECKS, on_topic: bool = False) -> GroundingData:
    """Label `answer`, read from `hits` (with their relevance `scores`); `retrieved` are the run's other passages,
    which count for 'found' and 'guess' but are not checked. `on_topic`: the caller knows the question's own
    search found a relevant passage, so no answer is dismissed as 'nothing relevant'. Counts the model calls on
    `step`."""
    best = max(scores, default=0.0)
    if is_abstention(answer):
        return none("abstained", floor, best)
    if not on_topic and not any(s >= floor for s in scores):
        return none("nothing_relevant", floor, best)
    read_ids = {h["doc_id"] for h in hits}
    others = list({h["doc_id"]: h for h in retrieved if h["doc_id"] not in read_ids}.values())
    matches = holders(answer, hits, scores, True) + holders(answer, others, [None] * len(others), False)
    full = [m for m in matches if m["coverage"] == 1.0]
    base = GroundingData(status="guess", floor=floor, best_relevance=round(best, 4), margin=margin, checks=[],
                         holders=full[:5])
    if not full:
        partial = max(matches, key=lambda m: m["coverage"], default=None)
        judgement = normalize_answer(answer) in ("yes", "no")
        out = {**base, "judgement": True} if judgement else base
        return {**out, "partial": partial} if partial and partial["coverage"] > 0 and not judgement else out
    first = next((m for m in full if m["read"]), full[0])
    found: GroundingData = {**base, "status": "found", "doc_id": first["doc_id"], "title": first["title"],
                            "read": first["read"]}
    if restates_question(answer, question):
        return {**found, "restates": True}
    by_id = {h["doc_id"]: (h, s) for h, s in zip(hits, scores, strict=True)}
    candidates = sorted((by_id[m["doc_id"]] for m in full if m["read"] and by_id[m["doc_id"]][1] >= floor),
                        key=lambda hs: -hs[1])[:max_checks]
    checks: list[GroundingCheck] = []
    for hit, score in candidates:
        checks.append(check_passage(llm, step, question, answer, hit, score, hits, margin))
        if checks[-1]["supported"]:
            return {**found, "status": "supported", "doc_id": hit["doc_id"], "title": hit["title"], "read": True,
                    "checks": checks}
    return {**found, "checks": checks}


def widen(grounding: GroundingData, answer: str, retrieved: Sequence[HitData]) -> GroundingData:
    """A `guess` labelled against some passages, labelled against every passage the run `retrieved`: `found` when
    one holds every word of the answer (what `ground` gives with them all; no model call decides it)."""
    if grounding.get("status") != "guess" or grounding.get("judgement"):
        return grounding
    full = [m for m in holders(answer, retrieved, [None] * len(retrieved), False) if m["coverage"] == 1.0]
    if not full:
        return grounding
    widened = {k: v for k, v in grounding.items() if k != "partial"}
    return GroundingData(**{**widened, "status": "found", "doc_id": full[0]["doc_id"], "title": full[0]["title"],
                            "read": False, "holders": full[:5]})


def grounding_label(grounding: GroundingData | dict[str, Any]) -> str:
    """The one-line label shown with an answer, without its icon."""
    g = upgrade(grounding)
    title = cut_at_word(str(g.get("title", "")), 60)
    match g.get("status"):
        case "supported":
            return f"“{title}” states it as the answer"
        case "found":
            return f"Appears in “{title}” — not verified as the answer"
        case "guess" if g.get("judgement"):
            return "A yes-or-no judgement — no passage holds it, so it was not checked"
        case "guess":
            return "Not in the passages it retrieved — the model's own knowledge"
        case "none" if g.get("reason") == "nothing_relevant":
            return "No answer — nothing in your documents is about the question"
        case "none":
            return "No answer — the model found none in the passages"
    return ""


def grounding_sentence(grounding: GroundingData | dict[str, Any]) -> str:
    """The plain-words account of what was checked, for the step that checked it."""
    g = upgrade(grounding)
    status, checks = g.get("status"), g.get("checks", [])
    title = f"“{cut_at_word(str(g.get('title', '')), 60)}”"
    if status == "none" and g.get("reason") == "nothing_relevant":
        return (f"No passage was close enough to the question to count as evidence (best similarity "
                f"{float(g.get('best_relevance', 0.0)):.2f}, needed {float(g.get('floor', RELEVANCE_FLOOR)):.2f}), "
                "so it gives no answer.")
    if status == "none":
        return "The model said the passages do not hold the answer."
    if status == "guess" and g.get("judgement"):
        return "The answer is a yes-or-no judgement: no passage can hold it word for word, so it was not checked."
    if status == "guess":
        part = g.get("partial")
        some = (f" (“{cut_at_word(part['title'], 40)}” holds some of its words)" if part else "")
        return f"No passage it retrieved holds all of the answer's words{some}, so the answer is the model's own."
    where = "" if g.get("read", True) else " (a passage it retrieved but did not read for this answer)"
    if g.get("restates"):
        return (f"The answer appears in {title}{where}, but it only repeats words of the question, so finding it "
                "there does not show that it answers the question.")
    if status == "supported":
        return f"Checked: {title} {_chain_phrase(checks[-1])}, and read alone it gives this answer over “unknown”."
    if not checks:
        return f"The answer appears in {title}{where}; it was not checked as the answer."
    last = checks[-1]
    chain = last.get("chain")
    if chain and not chain["passed"]:
        unsaid = ", ".join(f"“{w}…”" for w in chain.get("missing", [])[:3])
        why = ("no word of what the question asks stands beside it" if not chain["relation"] else
               "the passage is not tied to the question's names, directly or through another passage read"
               if not (chain["entities"] or chain["via"]) else
               "it is the subject of the passage that links the chain: the answer to the first step, not the "
               "question" if chain.get("bridge") else
               f"neither it nor the passage tying it to the question says what the question asks about {unsaid} "
               "(it may answer only part of the question)")
    else:
        why = "read alone, the model does not clearly prefer it to “unknown”"
    return f"The answer appears in {title}, but {why}, so it is not verified as the answer."


def _chain_phrase(check: GroundingCheck | dict[str, Any]) -> str:
    """'gives it beside "founded" and names Mirrowdale' / '… and is named by “Mirrowdale”, which the question names'."""
    chain = check.get("chain") or {}
    words = ", ".join(f"“{w}…”" for w in chain.get("relation", [])[:3])
    tie = (f"names {', '.join(chain['entities'][:2])}" if chain.get("entities") else
           f"is named by “{cut_at_word(chain['via']['title'], 40)}”, which names the question's subject"
           if chain.get("via") else "")
    return f"gives it beside the question's words {words}" + (f" and {tie}" if tie else "")


def upgrade(grounding: GroundingData | dict[str, Any]) -> dict[str, Any]:
    """A grounding stored before the labels, read as the labels say. An old 'no answer' status becomes `none`
    with its reason. An old 'supported' or 'guess' was a weaker check: it reads as `found` when one of its
    checked passages held every word of the answer, else as `guess` (no passage is known to hold them all)."""
    g = dict(grounding or {})
    status = g.get("status")
    if status in ("abstained", "nothing_relevant"):
        return {**g, "status": "none", "reason": status}
    if status not in ("supported", "guess") or "holders" in g:
        return g
    full = [c for c in g.get("checks", []) if float(c.get("coverage", 0.0)) >= 1.0]
    if full:
        return {**g, "status": "found", "doc_id": full[0].get("doc_id", ""), "title": full[0].get("title", ""),
                "checks": [], "read": True}
    return {**g, "status": "guess", "checks": []}


def cut_at_word(text: str, n: int) -> str:
    """Text cut to at most n characters at a word boundary, with an ellipsis when cut."""
    return short(text, n)
