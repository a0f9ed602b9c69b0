"""The baseline reading every iterative agent makes, and the rule that settles its answer against the agent's own.

An agent that extends retrieve-then-read should never answer worse than it. So each iterative agent first reads
exactly what the naive baseline reads (the question's own top passages, the same reader prompt), and at the end
keeps that answer unless the baseline gave none, or its own chain's answer is `supported` and the baseline's is
not: the one label measured right at least 80% of the time (docs/labels.md, where this rule was chosen on dev
questions 1-25 over "the stronger label wins" and confirmed on 26-50). Both answers are first labelled against
every passage the run retrieved.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agents.base import Deps, hit_dict, short
from agents.events import GroundingData, HitData, RetrieveData, Step, TraceEvent
from agents.grounding import NO_ANSWER, cut_at_word, widen
from agents.reader import read_step

BASELINE_PASSAGES = 5  # the naive baseline's top_k
BASELINE_TOKENS = 48  # the naive baseline's max_tokens


@dataclass(frozen=True)
class Candidate:
    """One answer the agent could give: the text, its label, the passages it was read from."""

    answer: str
    grounding: GroundingData
    passages: list[str]


@dataclass(frozen=True)
class Settlement:
    """Which answer the agent gives, and why."""

    keep: Literal["chain", "baseline"]
    reason: Literal["same", "supported", "no_baseline_answer", "not_supported", "no_baseline"]
    chain: Candidate
    baseline: Candidate | None

    @property
    def answer(self) -> Candidate:
        """The kept candidate."""
        return self.chain if self.keep == "chain" or self.baseline is None else self.baseline


def settle(chain: Candidate, baseline: Candidate | None, retrieved: Sequence[HitData] = ()) -> Settlement:
    """Keep the baseline reading's answer unless the chain's answer is supported and the baseline's is not, or the
    baseline has no answer and the chain has one; both are labelled against every passage the run `retrieved`
    first (a guess one of them holds becomes found)."""
    chain = dataclasses.replace(chain, grounding=widen(chain.grounding, chain.answer, retrieved))
    if baseline is None:
        return Settlement("chain", "no_baseline", chain, None)
    baseline = dataclasses.replace(baseline, grounding=widen(baseline.grounding, baseline.answer, retrieved))
    if _norm(chain.answer) == _norm(baseline.answer):
        return Settlement("chain", "same", chain, baseline)
    if chain.grounding.get("status") == "supported" != baseline.grounding.get("status"):
        return Settlement("chain", "supported", chain, baseline)
    if baseline.grounding.get("status") == "none" != chain.grounding.get("status"):
        return Settlement("chain", "no_baseline_answer", chain, baseline)  # any answer scores at least no answer
    return Settlement("baseline", "not_supported", chain, baseline)


def settlement_sentence(s: Settlement) -> str:
    """One sentence on which answer is given and why (names the labels compared)."""
    if s.reason == "no_baseline":
        return ""
    if s.reason == "same":
        return "The baseline reading gave the same answer."
    assert s.baseline is not None
    base = f"the baseline reading's ‘{short(s.baseline.answer)}’ ({_label(s.baseline)})"
    if s.keep == "chain":
        why = "the baseline gave none" if s.reason == "no_baseline_answer" else "only its own is stated by a passage"
        return f"It answers with it ({_label(s.chain)}), not {base}: {why}."
    return (f"It answers with {base} instead: its own ({_label(s.chain)}) is not one a passage states, and only "
            "that would replace the baseline's.")


def settled_record(s: Settlement) -> dict[str, Any]:
    """The settlement as stored in the answer step: which answer, why, and both candidates with their labels."""
    def cand(c: Candidate | None) -> dict[str, Any] | None:
        return None if c is None else {"answer": c.answer, "label": c.grounding.get("status", ""),
                                       "passages": c.passages}
    return {"keep": s.keep, "reason": s.reason, "chain": cand(s.chain), "baseline": cand(s.baseline)}


def _label(c: Candidate) -> str:
    status = str(c.grounding.get("status", ""))
    title = cut_at_word(str(c.grounding.get("title", "")), 40)
    return {"supported": f"stated by “{title}”", "found": f"appears in “{title}”",
            "guess": "in no passage it retrieved", "none": "no answer"}.get(status, status)


def _norm(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(".")


def baseline_reading(deps: Deps, state: dict[str, Any], agent: str, floor: float,
                     margin: float) -> tuple[Candidate, list[HitData], list[TraceEvent]]:
    """Search the corpus with the question and read its top passages as the naive baseline does."""
    question, run_id = state["question"], state.get("run_id", "")
    with Step(agent, "retrieve", run_id) as step:
        hits = deps.corpora.search(state["corpus"], question, k=BASELINE_PASSAGES)
        found = [hit_dict(h, i, question) for i, h in enumerate(hits, 1)]
        first = f"; the closest match is “{cut_at_word(found[0]['title'], 50)}”" if found else ""
        event = step.event(f"First reads what the baseline reads: the question's own top {len(found)} passages"
                           f"{first}.", RetrieveData(query=question, hits=found, baseline=True))
    answer, read = read_step(agent, run_id, deps.llm, question, found, BASELINE_TOKENS, deps.corpora, dense=True,
                             floor=floor, margin=margin)
    read = dataclasses.replace(read, explanation="Baseline reading: " + read.explanation,
                               data={**read.data, "baseline": True})
    grounding = read.data.get("grounding") or GroundingData(status="none", reason="abstained")
    return Candidate(answer or NO_ANSWER, grounding, [h["doc_id"] for h in found]), found, [event, read]
