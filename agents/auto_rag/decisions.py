"""Auto-RAG's decisions as typed records, made by pure functions (no LLM call, no sentence: see explain.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from agents.events import GroundingData, HitData
from agents.grounding import NO_ANSWER, word_coverage
from agents.text import normalize_answer


@dataclass(frozen=True)
class Evidence:
    """The sentence the model picked from a turn's new passages, and the choice's scores."""

    title: str
    sentence: str
    scores: dict[str, float]

    @property
    def note(self) -> str:
        """'Title: sentence', as the evidence is noted."""
        return f"{self.title}: {self.sentence}"


class Confirmation(TypedDict):
    """The confirm stop: which passage the model says answers the question, among the ones shown."""

    passages: list[str]  # titles shown
    holding: list[str]  # titles shown that are new this turn and hold the answer
    choice: int  # the number picked (0: none)
    picked: str  # its title ('' for none)
    scores: dict[str, float]
    prompt: list[dict[str, str]]
    confirmed: bool


class Agreement(TypedDict):
    """The agreement stop's three signals (see `agreement`)."""

    same_turns: int
    needed: int
    stable: bool
    in_passage: bool
    title: str
    log_odds: float | None
    margin: float
    not_rejected: bool
    stop: bool


class ReadDecision(TypedDict, total=False):
    """What a turn's reading decided: stop (`enough`) or search again; `exhausted` when nothing new came."""

    enough: bool
    exhausted: bool
    draft: str
    status: str
    checks: list[dict[str, Any]]
    margin: float
    evidence_scores: dict[str, float]
    confirm: Confirmation
    agree: Agreement


StopReason = Literal["supported", "confirmed", "agreed", "exhausted", "cap"]


@dataclass(frozen=True)
class StopDecision:
    """Why the loop ended, with what the sentence about it names."""

    reason: StopReason
    turns: int
    answer: str
    max_iterations: int
    parametric: bool = False
    document: str = ""  # what the model wrote from its own knowledge (parametric)
    best_turn: int | None = None  # the turn of the best-checked answer
    picked: str = ""  # confirmed: the passage the model pointed at
    same_turns: int = 0  # agreed: turns the answer stayed the same
    title: str = ""  # agreed: the passage holding it


# A draft's rank among the turns' answers: no answer < an answer repeating the question < an answer no passage
# was checked for < a checked one, checked ones by their best check's log-odds
DraftRank = tuple[int, float]


def draft_rank(draft: str, grounding: GroundingData) -> DraftRank:
    """How well a turn's answer is supported, for keeping the best one (see DraftRank)."""
    checks = grounding.get("checks", [])
    if checks:
        return 3, max(c["log_odds"] for c in checks)
    return (0 if draft == NO_ANSWER else 1 if grounding.get("restates") else 2), 0.0


def holders(draft: str, hits: list[HitData], scores: list[float], new: set[str], floor: float,
            coverage: float) -> list[HitData]:
    """The passages new this turn that are relevant (score at least `floor`) and hold more than `coverage` of
    the answer's words."""
    return [h for h, s in zip(hits, scores, strict=True) if h["chunk_id"] in new and s >= floor
            and word_coverage(draft, f"{h['title']} {h['text']}") > coverage]


def agreement(drafts: list[str], grounding: GroundingData, turns: int, margin: float) -> Agreement:
    """The agreement stop's three signals: the answer unchanged over the last `turns` turns, the answer's
    words in a relevant passage (a support check ran on it), and that passage not rejecting it (the check's
    answer-vs-"unknown" log-odds at least `margin`)."""
    draft = drafts[-1]
    norm = normalize_answer(draft)
    same = 1
    for earlier in reversed(drafts[:-1]):
        if normalize_answer(earlier) != norm:
            break
        same += 1
    checks = grounding.get("checks", [])
    best = max(checks, key=lambda c: c["log_odds"]) if checks else None
    stable = draft != NO_ANSWER and bool(norm) and same >= turns
    not_rejected = best is not None and best["log_odds"] >= margin
    return Agreement(same_turns=same, needed=turns, stable=stable, in_passage=best is not None,
                     title=best["title"] if best else "", log_odds=best["log_odds"] if best else None,
                     margin=margin, not_rejected=not_rejected, stop=stable and not_rejected)


def stop_decision(answer: str, turns: int, decision: ReadDecision, enough: bool, max_iterations: int,
                  parametric: bool, document: str, best_turn: int | None) -> StopDecision:
    """Why the loop ended: a passage gives the answer, the model confirmed it, the signals agree, nothing new
    was left to read, or the cap."""
    confirm, agree = decision.get("confirm") or {}, decision.get("agree") or {}
    common = {"turns": turns, "answer": answer, "max_iterations": max_iterations, "parametric": parametric,
              "document": document, "best_turn": best_turn}
    if enough:
        return StopDecision("supported", **common)
    if confirm.get("confirmed"):
        return StopDecision("confirmed", picked=confirm["picked"], **common)
    if agree.get("stop"):
        return StopDecision("agreed", same_turns=agree["same_turns"], title=agree["title"], **common)
    return StopDecision("exhausted" if decision.get("exhausted") else "cap", **common)


@dataclass(frozen=True)
class Reading:
    """A turn's answer from every passage read so far, with the passages' relevance and its grounding."""

    prompt: list[dict[str, str]]
    reply: str
    draft: str
    scores: list[float]
    grounding: GroundingData


@dataclass(frozen=True)
class FinalReading:
    """The answer the final step gives before settling against the baseline, and how it came about: the kept
    draft as is, a reading without the way out, or one with the model's own knowledge (parametric)."""

    answer: str
    grounding: GroundingData
    prompt: list[dict[str, str]] = field(default_factory=list)
    reply: str = ""
    parametric: bool = False
    document: str = ""
    knowledge_reply: str = ""
    turns: list[dict[str, str]] = field(default_factory=list)


def passage_order(hits: list[HitData], grounding: GroundingData) -> list[str]:
    """The doc ids read, the one grounding the answer first, then by score."""
    score = {h["doc_id"]: h["score"] for h in hits}
    return sorted(dict.fromkeys(h["doc_id"] for h in hits),
                  key=lambda d: (d != grounding.get("doc_id"), -score.get(d, 0.0)))
