"""RetroRAG's prompts: every decision is a constrained choice; the only free text is the shared reader's answer.

Worked examples use invented names (the Orlen Society, Brisk, the river Ule, Vestmark) that no corpus holds.
"""

from __future__ import annotations

from llm.base import Message

# --- evidence discovery: which new passage helps most (a choice over the passage numbers) -----------
PICK_SYSTEM = (
    "Read the question and the passages. Say which passage helps most to answer the question: the one that "
    "names the next person, place or thing the answer depends on. Reply with the passage number only."
)
PICK_EXAMPLES = (
    ("Question: Which river flows past the town where the Orlen Society was founded?\n"
     "Known: nothing yet.\n"
     "Passages:\n[1] Vestmark: Vestmark is a hilly region known for its wool.\n"
     "[2] Orlen Society: The Orlen Society is a club of amateur astronomers, founded in 1889 in the town of "
     "Brisk.\n[3] Holm: Holm is a fishing village on the northern coast.\nMost helpful passage:", "2"),
)
PICK_USER = "Question: {question}\nKnown: {known}\nPassages:\n{passages}\nMost helpful passage:"

# --- credibility filter: does the chosen sentence bear on the question? ----------------------------
RELEVANCE_SYSTEM = "Say whether the fact helps to answer the question. Reply yes or no."
RELEVANCE_EXAMPLES = (
    ("Question: Which river flows past the town where the Orlen Society was founded?\n"
     "Fact: The Orlen Society was founded in the town of Brisk.\nDoes the fact help?", "yes"),
    ("Question: Which river flows past the town where the Orlen Society was founded?\n"
     "Fact: Vestmark is a hilly region known for its wool.\nDoes the fact help?", "no"),
)
RELEVANCE_USER = "Question: {question}\nFact: {claim}\nDoes the fact help?"
YES_NO = ("yes", "no")  # the first option is what a scripted fake picks by default

# --- retroactive revision: which value does a passage give for the slot? ---------------------------
# The slot is the earlier claim with its value blanked; the same two values are scored under the new passage
# and under the earlier one (a contradiction: each passage prefers its own value, by a margin).
SLOT_USER = (
    "Fill the blank using the passage. Reply with the missing words only.\n\n"
    "Passage: {title}: {text}\n\nStatement: {slot}\nMissing words:"
)
BLANK = "___"

# --- the next entity-centred query -----------------------------------------------------------------
NEXT_SYSTEM = "Name the one entity to look up next to answer the question."
NEXT_EXAMPLES = (
    ("Question: Which river flows past the town where the Orlen Society was founded?\n"
     "Known:\n- The Orlen Society was founded by Ana Bell in the town of Brisk.\nLook up next:", "Brisk"),
)
NEXT_USER = "Question: {question}\nKnown:\n{known}\nLook up next:"
QUERY_TEMPLATE = "{entity} {question}"  # entity-centred: the entity first, the question for the relation


def few_shot(system: str, examples: tuple[tuple[str, str], ...], user: str) -> list[Message]:
    """A system turn, worked examples as user/assistant pairs, then the real request."""
    messages: list[Message] = [{"role": "system", "content": system}]
    for question, reply in examples:
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]
    return [*messages, {"role": "user", "content": user}]
