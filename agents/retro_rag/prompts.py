"""RetroRAG's prompts: one short few-shot fill (the inferential claim) and the constrained decisions.

Every example uses invented names (the Orlen Society, Brisk, the river Ule, Ilse Marrow) that no corpus
holds; a claim naming something its source passage does not mention is dropped before the model is even
asked about it, so an example's name cannot leak into the evidence.
"""

from __future__ import annotations

from llm.base import Message

# --- evidence discovery: one inferential claim from the new passages ------------------------------
CLAIM_SYSTEM = (
    "Read the passages and write the one fact in them that helps most to answer the question. Start with "
    "the number of the passage in brackets, then the fact as a short sentence. Copy names exactly as the "
    "passage writes them."
)
CLAIM_EXAMPLES = (
    ("Question: Which river flows past the town where the Orlen Society was founded?\n"
     "Known: nothing yet.\n"
     "Passages:\n[1] Orlen Society: The Orlen Society is a club of amateur astronomers, founded in 1889 in "
     "the town of Brisk.\n[2] Vestmark: Vestmark is a hilly region known for its wool.\nFact:",
     "[1] The Orlen Society was founded in the town of Brisk."),
    ("Question: Which river flows past the town where the Orlen Society was founded?\n"
     "Known: The Orlen Society was founded in the town of Brisk.\n"
     "Passages:\n[3] Brisk: Brisk is a market town on the river Ule, known for its fairs.\nFact:",
     "[3] Brisk is a market town on the river Ule."),
)
CLAIM_USER = "Question: {question}\nKnown: {known}\nPassages:\n{passages}\nFact:"

# --- credibility filter: attribution, then relevance ----------------------------------------------
ATTRIBUTION_SYSTEM = "Say whether the passage states the fact. Reply yes or no."
ATTRIBUTION_EXAMPLES = (
    ("Passage: Brisk: Brisk is a market town on the river Ule, known for its fairs.\n"
     "Fact: Brisk is a town on the river Ule.\nDoes the passage state this fact?", "yes"),
    ("Passage: Brisk: Brisk is a market town on the river Ule, known for its fairs.\n"
     "Fact: Brisk was founded by Ilse Marrow.\nDoes the passage state this fact?", "no"),
)
ATTRIBUTION_USER = "Passage: {title}: {text}\nFact: {claim}\nDoes the passage state this fact?"

RELEVANCE_SYSTEM = "Say whether the fact helps to answer the question. Reply yes or no."
RELEVANCE_EXAMPLES = (
    ("Question: Which river flows past the town where the Orlen Society was founded?\n"
     "Fact: The Orlen Society was founded in the town of Brisk.\nDoes the fact help?", "yes"),
    ("Question: Which river flows past the town where the Orlen Society was founded?\n"
     "Fact: Vestmark is a hilly region known for its wool.\nDoes the fact help?", "no"),
)
RELEVANCE_USER = "Question: {question}\nFact: {claim}\nDoes the fact help?"
YES_NO = ("yes", "no")  # the first option is what a scripted fake picks by default

# --- retroactive revision: does new evidence contradict or supersede earlier evidence? -------------
CONTRADICTION_SYSTEM = (
    "Two statements from different passages are about the same thing. Say whether they disagree: whether "
    "they give different values (a different year, place, person or number) for the same fact. Reply yes or no."
)
CONTRADICTION_EXAMPLES = (
    ("Earlier: Ilse Marrow was born in 1850.\nNew: Ilse Marrow was born in 1851 in Brisk.\nDo they disagree?",
     "yes"),
    ("Earlier: The Orlen Society was founded in the town of Brisk.\nNew: Brisk is a market town on the river "
     "Ule.\nDo they disagree?", "no"),
    ("Earlier: The Orlen Society meets in Brisk.\nNew: The Orlen Society moved its meetings from Brisk to Holm "
     "in 1920.\nDo they disagree?", "yes"),
)
CONTRADICTION_USER = "Earlier: {earlier}\nNew: {new}\nDo they disagree?"
AGREE_DISAGREE = ("no", "yes")  # no = consistent (a scripted fake's default), yes = contradicted/superseded

# --- answerer and its evaluation ------------------------------------------------------------------
EVIDENCE_TITLE = "Evidence so far"  # the claims, shown to the reader as the first passage
SUPPORT_SYSTEM = "Say whether the evidence states the answer to the question. Reply yes or no."
SUPPORT_EXAMPLES = (
    ("Evidence:\n- The Orlen Society was founded in the town of Brisk.\n- Brisk is a market town on the river "
     "Ule.\nQuestion: Which river flows past the town where the Orlen Society was founded?\nAnswer: Ule\n"
     "Does the evidence support the answer?", "yes"),
    ("Evidence:\n- The Orlen Society was founded in the town of Brisk.\nQuestion: Which river flows past the "
     "town where the Orlen Society was founded?\nAnswer: Brisk\nDoes the evidence support the answer?", "no"),
)
SUPPORT_USER = "Evidence:\n{evidence}\nQuestion: {question}\nAnswer: {answer}\nDoes the evidence support the answer?"

ANSWERS_SYSTEM = (
    "Say whether the answer is the kind of thing the question asks for (a person for 'who', a place for "
    "'where', a year or date for 'when', a number for 'how many'). Reply yes or no."
)
ANSWERS_EXAMPLES = (
    ("Question: Which river flows past the town where the Orlen Society was founded?\nAnswer: the river Ule\n"
     "Does it answer the question asked?", "yes"),
    ("Question: Which river flows past the town where the Orlen Society was founded?\nAnswer: Brisk\n"
     "Does it answer the question asked?", "no"),
)
ANSWERS_USER = "Question: {question}\nAnswer: {answer}\nDoes it answer the question asked?"

# --- the next entity-centred query ----------------------------------------------------------------
NEXT_SYSTEM = "Name the one entity to look up next to answer the question."
NEXT_USER = "Question: {question}\nKnown:\n{known}\nLook up next:"
QUERY_TEMPLATE = "{entity} {question}"  # entity-centred: the entity first, the question for the relation


def few_shot(system: str, examples: tuple[tuple[str, str], ...], user: str) -> list[Message]:
    """A system turn, worked examples as user/assistant pairs, then the real request."""
    messages: list[Message] = [{"role": "system", "content": system}]
    for question, reply in examples:
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]
    return [*messages, {"role": "user", "content": user}]
