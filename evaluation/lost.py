"""Where was the answer lost? A pure reading of a run's stored events against its gold passages and answers.

At each retrieval step (a `retrieve` or `graph_walk` event), the rank and score of every gold passage, or
"not retrieved"; then one verdict for the run, by the first place the gold went missing:
  not_retrieved  a gold passage never came back from any search;
  not_read       every gold passage came back, but one was never given to the model (no read or answer step
                 lists it);
  wrong          the model was given every gold passage and still answered wrong;
  right          the answer is right (exact match, or token F1 >= 0.5: the bar `bench`'s label calibration uses);
  unjudged       every gold passage was read, and there is no reference answer to judge the answer by.
A right answer is `right` whatever was retrieved. Gold ids are document ids, as `bench` and questions.jsonl
use them; a document split into chunks counts at the rank of its best chunk.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evaluation.metrics import exact_match, f1_score

RETRIEVAL_KINDS = ("retrieve", "graph_walk")
READ_KINDS = ("read", "answer")
RIGHT_F1 = 0.5  # an answer with token F1 >= 0.5 counts as right, as in bench's label calibration
VERDICTS = ("not_retrieved", "not_read", "wrong", "right", "unjudged")
VERDICT_TITLES = {
    "not_retrieved": "never retrieved", "not_read": "retrieved but not read", "wrong": "read but answered wrong",
    "right": "right", "unjudged": "read (no reference answer)",
}


@dataclass(frozen=True)
class GoldRank:
    """One gold passage at one retrieval step: its rank and score there, or None when the step missed it."""

    doc_id: str
    rank: int | None
    score: float | None


@dataclass(frozen=True)
class RetrievalStep:
    """A retrieval step of the run (1-based step number in the run's events) and its gold passages."""

    step: int
    kind: str
    query: str
    kept: int  # passages the step returned
    gold: list[GoldRank]


@dataclass(frozen=True)
class LostReport:
    """Where the answer was lost, with the numbers behind the verdict."""

    verdict: str  # one of VERDICTS
    sentence: str
    steps: list[RetrievalStep]
    gold_ids: list[str]
    titles: dict[str, str] = field(default_factory=dict)  # gold doc id -> title, where the run saw it
    retrieved: list[str] = field(default_factory=list)  # gold ids some step returned
    read: list[str] = field(default_factory=list)  # gold ids given to the model
    correct: bool | None = None  # None without reference answers

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for JSON (bench rows, the viewer)."""
        return {"verdict": self.verdict, "sentence": self.sentence, "gold_ids": self.gold_ids,
                "retrieved": self.retrieved, "read": self.read, "correct": self.correct,
                "steps": [{"step": s.step, "kind": s.kind, "query": s.query, "kept": s.kept,
                           "gold": [{"doc_id": g.doc_id, "rank": g.rank, "score": g.score} for g in s.gold]}
                          for s in self.steps]}


def is_right(prediction: str, answers: Sequence[str]) -> bool:
    """Exact match, or token F1 of at least RIGHT_F1."""
    return bool(exact_match(prediction, answers)) or f1_score(prediction, answers) >= RIGHT_F1


def _payload(event: Any) -> tuple[str, Mapping[str, Any]]:
    """(kind, data) of a stored event dict or a TraceEvent."""
    if isinstance(event, Mapping):
        return str(event.get("kind", "")), event.get("data") or {}
    return str(getattr(event, "kind", "")), getattr(event, "data", None) or {}


def retrieval_steps(events: Sequence[Any], gold_ids: Sequence[str]) -> tuple[list[RetrievalStep], dict[str, str]]:
    """Every retrieval step with each gold passage's best rank and score in it; and the titles seen."""
    steps, titles = [], {}
    for number, event in enumerate(events, 1):
        kind, data = _payload(event)
        hits = data.get("hits")
        if kind not in RETRIEVAL_KINDS or not isinstance(hits, list):
            continue
        best: dict[str, tuple[int, float | None]] = {}
        for position, hit in enumerate(hits, 1):
            doc = str(hit.get("doc_id", ""))
            rank = int(hit.get("rank") or position)
            if doc in gold_ids and (doc not in best or rank < best[doc][0]):
                score = hit.get("score")
                best[doc] = (rank, float(score) if isinstance(score, (int, float)) else None)
                titles.setdefault(doc, str(hit.get("title", "")))
        gold = [GoldRank(d, *best[d]) if d in best else GoldRank(d, None, None) for d in gold_ids]
        steps.append(RetrievalStep(number, kind, str(data.get("query", "")), len(hits), gold))
    return steps, titles


def passages_read(events: Iterable[Any]) -> set[str]:
    """Document ids the model was given: those listed by read and answer steps."""
    out: set[str] = set()
    for event in events:
        kind, data = _payload(event)
        if kind in READ_KINDS:
            out.update(str(d) for d in data.get("passages") or [])
    return out


def where_lost(events: Sequence[Any], gold_ids: Sequence[str], answers: Sequence[str] = (),
               prediction: str = "") -> LostReport | None:
    """The report for one run, or None when there is nothing to judge by (no gold ids and no answers)."""
    gold_ids = list(dict.fromkeys(str(g) for g in gold_ids if g))
    answers = [a for a in answers if a]
    if not gold_ids and not answers:
        return None
    steps, titles = retrieval_steps(events, gold_ids)
    retrieved = [d for d in gold_ids if any(g.doc_id == d and g.rank is not None for s in steps for g in s.gold)]
    read = [d for d in gold_ids if d in passages_read(events)]
    correct = is_right(prediction, answers) if answers else None
    missing = [d for d in gold_ids if d not in retrieved]
    unread = [d for d in gold_ids if d in retrieved and d not in read]

    def names(ids: list[str]) -> str:
        return ", ".join(f"“{titles[d]}”" if titles.get(d) else d for d in ids)

    if correct:
        verdict = "right"
        sentence = f"Right: answered ‘{prediction}’" + (
            f", though {len(missing)} of {len(gold_ids)} gold passages never came back from a search."
            if missing else ".")
    elif missing:
        verdict = "not_retrieved"
        share = ("no gold passage" if len(missing) == len(gold_ids)
                 else f"{len(missing)} of {len(gold_ids)} gold passages")
        sentence = (f"Never retrieved: {share} came back from any of its {len(steps)} searches ({names(missing)})."
                    if steps else "Never retrieved: the run made no search.")
    elif unread:
        verdict = "not_read"
        sentence = (f"Retrieved but not read: {names(unread)} came back from a search but was never given to "
                    "the model.")
    elif correct is None:
        verdict = "unjudged"
        sentence = "Read, unjudged: every gold passage was retrieved and read; no reference answer to judge by."
    elif not gold_ids:
        verdict = "wrong"
        sentence = f"Answered wrong: ‘{prediction or '—'}’, expected ‘{answers[0]}’; no gold passages are known."
    else:
        verdict = "wrong"
        sentence = (f"Read but answered wrong: the model was given every gold passage and answered "
                    f"‘{prediction or '—'}’ (expected ‘{answers[0]}’).")
    return LostReport(verdict, sentence, steps, gold_ids, titles, retrieved, read, correct)


def tally(verdicts: Iterable[str]) -> dict[str, int]:
    """How many runs got each verdict (every verdict listed, zeros included)."""
    counts = Counter(verdicts)
    return {v: counts.get(v, 0) for v in VERDICTS}


def tally_sentence(agent: str, counts: Mapping[str, int]) -> str:
    """'naive lost 21 of 50 at retrieval, 12 at reading, 5 read but answered wrong; 12 right'."""
    n = sum(counts.values())
    if not n:
        return f"{agent}: no measurement"
    parts = [f"{counts.get('not_retrieved', 0)} at retrieval", f"{counts.get('not_read', 0)} at reading",
             f"{counts.get('wrong', 0)} read but answered wrong"]
    tail = f"; {counts.get('right', 0)} right"
    if counts.get("unjudged"):
        tail += f", {counts['unjudged']} unjudged"
    return f"{agent} lost {n - counts.get('right', 0) - counts.get('unjudged', 0)} of {n}: " + ", ".join(parts) + tail
