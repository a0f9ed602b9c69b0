"""RetroRAG's sentences: each step's explanation, in plain words, from the records the nodes decided."""

from __future__ import annotations

from typing import Any

from agents.base import short
from agents.events import EvidenceData, HitData
from agents.grounding import grounding_sentence
from agents.retro_rag.decisions import Discovery, Planned, SlotCheck, StopReason


def key_entities(entities: list[str]) -> str:
    """The question's key entities, or 'none named'."""
    return ", ".join(entities) or "none named"


def collate(iteration: int, query: str, found: list[HitData], skipped: int) -> str:
    """Which new passages a search filed as source evidence."""
    if not found:
        return f"Round {iteration}: searches for '{short(query)}' and finds no passage it does not hold."
    listed = ", ".join(f"[{h['rank']}] {h['title']}" for h in found)
    return (f"Round {iteration}: collates evidence for '{short(query)}' — {len(found)} new passages "
            f"({skipped} already held skipped): {listed}; each is filed as source evidence about its title.")


def no_new_passages(iteration: int, entities: list[str]) -> str:
    """Discovery with nothing new to read."""
    return (f"Round {iteration}: no new passages, so nothing new to infer (key entities: "
            f"{key_entities(entities)}).")


def discovery(iteration: int, entities: list[str], label: str, d: Discovery) -> str:
    """Which passage discovery chose, and whether its sentence was kept (and why) or dropped (and why)."""
    c = d.candidate
    if c["status"] == "malformed":
        verdict = (f"chooses {label}, whose sentence '{short(c['claim'], 80)}' is malformed ({c['problem']}), so "
                   f"it is recorded and skipped")
    elif d.duplicate:
        verdict = f"chooses {label} but drops its sentence: it repeats {d.duplicate}"
    elif c["status"] == "kept":
        odds = (f"the model is unsure it bears on the question, but it links {', '.join(c['about'])} to "
                f"{', '.join(c['names'][:3])}, which may lead to the answer" if d.by_bridge else
                "the model judges it relevant to the question")
        verdict = (f"chooses {label} and keeps '{short(c['claim'], 90)}' as {c['id']}"
                   + (f", as a bridge: {odds}" if d.by_bridge else f": {odds}"))
    else:
        why = (f"not even as a bridge to {', '.join(c['names'][:3])}" if c["bridge"] else
               "it is no bridge (names " + ("no other entity" if c["about"] else "neither a question entity nor "
                                            "the entity sought") + ")")
        verdict = (f"chooses {label} but drops '{short(c['claim'], 90)}': it does not bear on the question (the "
                   f"model judges it not relevant; {why})")
    return f"Round {iteration}: key entities {key_entities(entities)}; {verdict}."


def withdrawal(old: EvidenceData, where: str, check: SlotCheck, also: list[str]) -> str:
    """Why an earlier item was withdrawn (and the items resting on it)."""
    source = ", ".join(f"passage {n}" for n in old.get("numbers", []))
    sentence = (f"Withdrew '{short(old['claim'], 90)}' (from {source}): {where} gives '{check['new_value']}', not "
                f"'{check['earlier_value']}' (read with each passage, the model clearly prefers that passage's "
                f"value)")
    if also:
        sentence += f"; {len(also)} item(s) resting on it withdrawn too ({', '.join(also)})"
    return sentence + "."


def conflict(c: SlotCheck) -> str:
    """Two items kept and marked in conflict."""
    return (f"Conflict: {c['earlier']} says '{c['earlier_value']}' and {c['new']} says '{c['new_value']}' for "
            f"'{short(c['slot'], 80)}'; each passage read alone prefers its own value, but not clearly enough to "
            f"settle it, so both are kept and marked as in conflict.")


def retroact(iteration: int, checks: list[SlotCheck], sentences: list[str], redone: list[str]) -> str:
    """What retroactive revision withdrew or flagged, or that nothing contradicts."""
    if sentences:
        return " ".join(sentences) + (f" The answer '{short(redone[0])}' rested on it and is redone." if redone
                                      else "")
    compared = ", ".join(f"{c['earlier_value']} vs {c['new_value']}" for c in checks)
    return (f"Round {iteration}: checks {len(checks)} new item(s) against earlier evidence that names another "
            f"value in the same kind of statement ({compared}): read alone, the passages do not each prefer their "
            "own value, so nothing contradicts and nothing is withdrawn.")


def baseline(iteration: int, baseline: list[HitData], fresh: list[HitData]) -> str:
    """The question's own top passages, taken before the first answer."""
    return (f"Round {iteration}: before answering, takes the question's own top {len(baseline)} passages, which "
            f"every answer reads first ({len(fresh)} not yet held: {', '.join(h['title'] for h in fresh) or 'none'}).")


def where(planned: Planned, own: list[HitData], first: list[HitData], evidence_first: bool,
          why_again: list[str]) -> str:
    """Which passages an answer reads: the question's own, the evidence chain then the question's own, the
    question's own and those found by entity-centred search, or the evidence chain again."""
    hits = planned.hits
    if planned.kind == "again":
        return "the evidence chain again, bridge first: " + ", then ".join(why_again)
    if planned.kind == "own":
        return f"the question's own {len(hits)} passage(s)"
    if evidence_first and first:
        return (f"the evidence chain first ({', '.join(h['title'] for h in first)}), then the question's own "
                f"passages ({len(hits)} in all)")
    lead = len([h for h in hits if h not in own])
    return f"the question's own {len(own)} passage(s) and {lead} found by entity-centred search"


def keeps(drafts: list[dict[str, Any]], kept: int) -> str:
    """'keeps it', or which earlier draft it keeps and why."""
    if kept == len(drafts) - 1:
        return "keeps it"
    return (f"keeps '{short(drafts[kept]['answer'])}' ("
            + ("the supported one)" if drafts[kept].get("status") == "supported" else
               "the earliest, as none is supported)"))


def answered(iteration: int, planned: Planned, read: str, text: str, label: str, keeping: str,
             grounding: dict[str, Any], sought: str) -> str:
    """'Round 2: reads … and answers '…' (status); keeps …. <grounding sentence>'; for the chain read again,
    first what was not found."""
    status = label[:1].lower() + label[1:]
    if planned.kind == "again":
        nothing = (f"Nothing new was found for '{sought}'" if sought else
                   "Nothing new was found (every entity named has passages held)")
        return (f"Round {iteration}: {nothing}; reads {read}, and answers '{short(text)}' ({status}); {keeping}. "
                + grounding_sentence(grounding))
    return (f"Round {iteration}: reads {read} and answers '{short(text)}' ({status}); {keeping}. "
            + grounding_sentence(grounding))


def next_query(iteration: int, entity: str, basis: str, query: str, matching: bool, wanted: set[str],
               answered_before: bool) -> str:
    """Which entity the next search is about, and why; or that none is left."""
    why = "the answer is not yet reliable" if answered_before else "before answering, discovery looks"
    if entity:
        origin = f"named in {basis}" if basis else "a key entity of the question"
        if matching:
            origin += f", of the kind the question asks through ({'/'.join(sorted(wanted))})"
        return (f"Round {iteration}: {why}; '{entity}' ({origin}) has no evidence of its own, so it searches next "
                f"for '{short(query)}'.")
    return (f"Round {iteration}: {why}, but every entity named has evidence of its own, so it "
            f"{'stops' if answered_before else 'answers'}.")


STOPPED = {
    "reliable": "a passage gives the kept answer, so it is judged reliable",
    "cap": "the cap of {cap} rounds was reached without a reliable answer",
    "exhausted": "nothing was left to search for, without a reliable answer",
}


def kept_draft(kept: int | None, drafts: int, reliable: bool) -> str:
    """Which draft is given: 'draft 2 of 3, the first supported' (or 'no valid draft')."""
    if kept is None:
        return "no valid draft"
    return f"draft {kept + 1} of {drafts}, " + ("the first supported" if reliable else
                                                 "the earliest still valid, as no draft is supported")


def weighed(pick: int, drafts: int, readings: int, how: str) -> str:
    """Which draft the comparison kept, and how."""
    return (f"draft {pick + 1} of {drafts}: no draft is supported, so it weighs each draft under each of the "
            f"{readings} sets of passages the drafts were read from; {how}")


def finish(final: str, how: str, iteration: int, stopped: StopReason, cap: int, active: int, withdrawn: int) -> str:
    """'Answers '…' (how) after 3 round(s): why. Evidence: n active item(s), m withdrawn.'"""
    return (f"Answers '{short(final)}' ({how}) after {iteration} round(s): {STOPPED[stopped].format(cap=cap)}. "
            f"Evidence: {active} active item(s), {withdrawn} withdrawn.")
