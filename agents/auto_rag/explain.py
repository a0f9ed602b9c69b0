"""Auto-RAG's sentences: each step's explanation, in plain words, from the records the nodes decided."""

from __future__ import annotations

from agents.auto_rag.decisions import Agreement, Confirmation, Evidence, StopDecision
from agents.base import short
from agents.events import GroundingData, HitData
from agents.grounding import NO_ANSWER, cut_at_word, grounding_sentence


def n(count: int, noun: str) -> str:
    """'1 new passage' / '2 new passages'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def plan(analysis: str, query: str, question: str, leak: list[str], failed: bool) -> str:
    """'Plans: …. First search: ….' with why a plain plan was used, if it was."""
    source = "the question itself" if query == question else f"'{short(query)}'"
    why = (f" (the model's plan borrowed {', '.join(leak)} from its worked example, so a plain plan is used)"
           if leak else " (the model wrote nothing usable, so a plain plan is used)" if failed else "")
    return f"Plans: {short(analysis, 120)}{why}. First search: {source}."


def retrieve(turn: int, query: str, found: list[HitData], skipped: int) -> str:
    """'Turn 2: searches for … and reads “A”, “B”, skipping 1 passage it had already read.'"""
    again = f", skipping {n(skipped, 'passage')} it had already read" if skipped else ""
    if found:
        titles = ", ".join(f"“{cut_at_word(h['title'], 40)}”" for h in found)
        return f"Turn {turn}: searches for '{short(query)}' and reads {titles}{again}."
    return f"Turn {turn}: searches for '{short(query)}' and finds nothing it has not read{again}."


def nothing_new(turn: int) -> str:
    """The reading of a turn whose search brought nothing new."""
    return f"Turn {turn}: has nothing new to read, so it stops searching."


def read(turn: int, evidence: Evidence, draft: str, grounding: GroundingData, confirm: Confirmation | None,
         agree: Agreement | None) -> str:
    """The evidence sentence picked, then why the model stops or searches again."""
    return (f"Turn {turn}: the most helpful sentence is “{short(evidence.sentence, 110)}” ({evidence.title}). "
            + decision(draft, grounding, confirm, agree))


def decision(draft: str, grounding: GroundingData, confirm: Confirmation | None = None,
             agree: Agreement | None = None) -> str:
    """Why the model stops or searches again, in plain words."""
    if agree and agree["stop"]:
        return (f"Its answer ‘{short(draft)}’ has stayed the same for {agree['same_turns']} turns, so new searches no "
                f"longer change it; it is in “{cut_at_word(agree['title'], 50)}”, and reading that passage alone "
                f"the model does not reject it for “unknown”, so it stops searching.")
    if confirm:
        return _confirm(draft, confirm)
    if grounding["status"] == "supported":
        return (f"It can answer ‘{short(draft)}’. {grounding_sentence(grounding)} So it stops searching.")
    if grounding.get("restates"):
        return (f"Its answer so far, ‘{short(draft)}’, only repeats words of the question, so it is not taken as an "
                f"answer, and it searches again.")
    if grounding["status"] == "none" and grounding.get("reason") == "nothing_relevant":
        return "None of the passages read so far is about the question, so it searches again."
    if grounding["status"] == "none":
        return "The passages read so far do not answer the question yet, so it searches again."
    return f"Its answer so far is ‘{short(draft)}’. {grounding_sentence(grounding)} So it searches again."


def _confirm(draft: str, confirm: Confirmation) -> str:
    found = " and ".join(f"“{cut_at_word(t, 40)}”" for t in confirm["holding"][:2])
    head = f"This search found {found}, which contains its answer ‘{short(draft)}’; asked which passage " \
           f"answers the question, the model picks "
    if confirm["confirmed"]:
        return head + f"“{cut_at_word(confirm['picked'], 50)}”, so it stops searching."
    which = f"“{cut_at_word(confirm['picked'], 50)}”" if confirm["picked"] else "none of them"
    return head + f"{which}, so it searches again."


def rewrite(turn: int, query: str, failed: bool, leak: list[str], repeated: bool) -> str:
    """'Turn 2: searches next for ….', or why the model's own query was not used."""
    if not failed:
        return f"Turn {turn}: searches next for '{short(query)}'."
    why = (f"borrowed {', '.join(leak)} from its worked example" if leak else
           "repeated an earlier search" if repeated else "wrote no usable query")
    return f"Turn {turn}: the model's query {why}, so it searches for '{short(query)}' instead."


def stop(d: StopDecision) -> str:
    """Why the loop ended and what it answers, in plain words (the label's own sentence follows)."""
    head = f"Its own answer is ‘{short(d.answer)}’ after {n(d.turns, 'turn')}"
    if d.reason == "supported":
        return f"{head}: a passage gives it."
    if d.reason == "confirmed":
        return (f"{head}: its last search found “{cut_at_word(d.picked, 50)}”, which holds the answer, and "
                f"the model points at it as the passage that answers.")
    if d.reason == "agreed":
        return (f"{head}: the answer stayed the same over {n(d.same_turns, 'turn')} of searching, and "
                f"“{cut_at_word(d.title, 50)}” holds it without ruling it out.")
    why = ("it found nothing new to read" if d.reason == "exhausted" else
           f"it reached its limit of {n(d.max_iterations, 'turn')}")
    if d.parametric:
        wrote = short(d.document or "(nothing)", 80)
        return (f"After {n(d.turns, 'turn')} {why}, so it wrote what it knows itself (‘{wrote}’); its own answer "
                f"from that too is ‘{short(d.answer)}’.")
    if d.answer == NO_ANSWER:
        return f"After {n(d.turns, 'turn')} {why}, and it has no answer of its own."
    at = f" (turn {d.best_turn})" if d.best_turn else ""
    return f"After {n(d.turns, 'turn')} {why}; its own answer is ‘{short(d.answer)}’, its best-checked one{at}."
