"""RetroRAG's decisions as typed records, made by pure functions (no LLM call, no sentence: see explain.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from agents.events import EvidenceData, HitData
from agents.grounding import word_coverage
from agents.retro_rag import evidence as ev


class ClaimCandidate(TypedDict, total=False):
    """The sentence discovery took from the chosen passage, and what became of it."""

    claim: str
    passage: int  # the passage's number
    focus: str  # what the sentence was chosen for: the entity-centred query, or the question
    about: list[str]  # question or sought entities it names
    names: list[str]  # other entities it names
    bridge: bool  # it names both
    status: Literal["malformed", "dropped", "kept"]
    problem: str
    id: str  # the evidence id it was kept as
    kept_as: Literal["bridge", "relevant"]


@dataclass(frozen=True)
class Discovery:
    """Discovery's outcome: the chosen passage's candidate claim, and why it was kept or dropped."""

    number: int
    candidate: ClaimCandidate
    duplicate: str | None = None  # the id of the kept claim it repeats
    by_bridge: bool = False  # kept although the model doubts it bears on the question: it is a bridge


def screen(claim: str, evidence: list[EvidenceData], min_words: int, same_claim: float) -> tuple[str, str | None]:
    """('malformed', None) for a sentence under `min_words` words, ('dropped', id) for one repeating a kept
    claim (word overlap at least `same_claim`), else ('', None): it goes on to the relevance check."""
    duplicate = next((e for e in ev.active(evidence) if e.get("kind") == ev.INFERENTIAL
                      and ev.overlap(e["claim"], claim) >= same_claim), None)
    if len(ev.words(claim)) < min_words:
        return "malformed", None
    if duplicate:
        return "dropped", duplicate["id"]
    return "", None


class SlotCheck(TypedDict):
    """One contradiction check: an earlier and a new item giving different values for one slot, each read with
    its own passage alone."""

    earlier: str
    new: str
    slot: str
    earlier_value: str
    new_value: str
    new_passage_prefers_new: float
    earlier_passage_prefers_earlier: float
    log_odds: float
    margin: float
    disagree: bool  # both passages clearly prefer their own value: the earlier item is withdrawn
    conflict: bool  # both prefer their own, not clearly enough: both kept, marked in conflict
    prompt: list[dict[str, str]]


def slot_check(old: EvidenceData, new: EvidenceData, slot: tuple[str, str, str], by_new: float, by_old: float,
               margin: float, prompt: list[dict[str, str]]) -> SlotCheck:
    """The verdict of a contradiction check from the two passages' preferences (log-odds)."""
    name, old_value, new_value = slot
    contradicted = by_new > 0 and by_old > 0 and by_new + by_old > margin
    return SlotCheck(earlier=old["id"], new=new["id"], slot=name, earlier_value=old_value, new_value=new_value,
                     new_passage_prefers_new=by_new, earlier_passage_prefers_earlier=by_old,
                     log_odds=round(by_new + by_old, 3), margin=margin, disagree=contradicted,
                     conflict=by_new > 0 and by_old > 0 and not contradicted, prompt=prompt)


def withdrawn_passages(evidence: list[EvidenceData]) -> set[str]:
    """Doc ids none of whose items is still active."""
    live = {d for e in ev.active(evidence) for d in e.get("passages", [])}
    return {d for e in evidence for d in e.get("passages", []) if d not in live}


def invalidate(drafts: list[dict[str, Any]], gone: set[str], values: list[str], iteration: int,
               coverage: float) -> list[str]:
    """Mark the drafts read from a withdrawn passage, or giving a withdrawn value (more than `coverage` of its
    words), as no longer valid; returns their answers."""
    redone = []
    for d in drafts:
        if d.get("valid", True) and (set(d["passages"]) & gone or any(
                word_coverage(d["answer"], v) > coverage for v in values)):
            d.update(valid=False, withdrawn_at=iteration)
            redone.append(d["answer"])
    return redone


def best_draft(drafts: list[dict[str, Any]]) -> int | None:
    """Index of the kept draft: the earliest valid supported one, else the earliest valid one (None when none).

    A later draft never replaces a supported one, however well supported itself: the loop stops at the first
    reliable answer, as the paper's does (a larger log-odds is no better evidence of being right).
    """
    valid = [i for i, d in enumerate(drafts) if d.get("valid", True)]
    return max(valid, key=lambda i: (drafts[i].get("status") == "supported", -i), default=None)


class Verdict(TypedDict):
    """The kept draft after an answer step: is it reliable (supported)?"""

    reliable: bool
    kept: int  # its index; -1 when no draft is valid (the stored runs' form)
    status: str


def verdict_on(drafts: list[dict[str, Any]], kept: int | None) -> Verdict:
    """The verdict on the kept draft (`kept`: its index, None when no draft is valid)."""
    if kept is None:
        return Verdict(reliable=False, kept=-1, status="")
    return Verdict(reliable=drafts[kept].get("status") == "supported", kept=kept,
                   status=drafts[kept].get("status", ""))


ReadingKind = Literal["own", "second", "again"]


@dataclass(frozen=True)
class Planned:
    """One reading the answerer may make: which passages, and what they are (the question's own; its own with
    the evidence found since; the evidence chain again when nothing new was found)."""

    kind: ReadingKind
    hits: list[HitData]


StopReason = Literal["reliable", "cap", "exhausted"]


def stop_reason(reliable: bool, iteration: int, max_iterations: int) -> StopReason:
    """What ended the loop: a reliable answer, the cap of rounds, or nothing left to search."""
    if reliable:
        return "reliable"
    return "cap" if iteration >= max_iterations else "exhausted"
