"""Auto-RAG's prompts: the official dialogue format, and the short few-shot fills a small model can follow.

The one-shot examples use invented names (the Orlen Society, Vestmark); the nodes never pass an example's
reply on as evidence or answer.
"""

from __future__ import annotations

from llm.base import Message

# The dialogue's system turn, as in the official code.
DIALOGUE_SYSTEM = (
    "Answer the question by retrieving external knowledge. Extract useful information from each retrieved "
    "document. If the information is insufficient or irrelevant, refine your query and search again until "
    "you are able to answer the question."
)

PLAN_SYSTEM = (
    "Before searching an encyclopedia, say in one sentence which facts you need to answer the question."
)
PLAN_EXAMPLES = (
    ("Question: In which town was the founder of the Orlen Society born?",
     "I need to know who founded the Orlen Society and in which town that person was born."),
    ("Question: Which river flows past the capital of Vestmark?",
     "I need to know the capital of Vestmark and which river flows past it."),
)
PLAN_USER = "Question: {question}"

QUERY_SYSTEM = (
    "Write a short search query for the one fact still missing. Name the entity it is about. "
    "Reply with the query alone, on one line."
)
QUERY_EXAMPLES = (
    ("Question: In which town was the founder of the Orlen Society born?\n"
     "Known: The Orlen Society was founded by Petra Vask.\nRefined Query:",
     "Petra Vask birthplace"),
    ("Question: Which river flows past the capital of Vestmark?\n"
     "Known: nothing useful yet.\nRefined Query:",
     "capital of Vestmark"),
)
QUERY_USER = "Question: {question}\nKnown: {known}\nRefined Query:"

EVIDENCE_SYSTEM = (
    "Read the retrieved documents and write one sentence with the facts in them that help answer the "
    "question. If they hold nothing useful, say that."
)
EVIDENCE_EXAMPLES = (
    ("Question: In which town was the founder of the Orlen Society born?\n"
     "Retrieved Document_1: Orlen Society: The Orlen Society is a club of amateur astronomers, founded by "
     "Petra Vask in 1889.",
     "The Orlen Society was founded by Petra Vask; the document does not say where she was born."),
    ("Question: Which river flows past the capital of Vestmark?\n"
     "Retrieved Document_1: Orlen River: The Orlen River is a river in the north of Estria.",
     "The document is about the Orlen River in Estria and says nothing about Vestmark."),
)
EVIDENCE_USER = "Question: {question}\nRetrieved Document_{turn}: {documents}"

DECIDE_SYSTEM = "Decide whether the notes already contain the final answer to the question. Reply yes or no."
DECIDE_EXAMPLES = (
    ("Question: In which town was the founder of the Orlen Society born?\n"
     "Notes:\n- The Orlen Society was founded by Petra Vask.\n"
     "Do the notes contain the final answer?", "no"),
    ("Question: In which town was the founder of the Orlen Society born?\n"
     "Notes:\n- The Orlen Society was founded by Petra Vask.\n- Petra Vask was born in the town of Hollin.\n"
     "Do the notes contain the final answer?", "yes"),
)
DECIDE_USER = "Question: {question}\nNotes:\n{notes}\nDo the notes contain the final answer?"
DECISION_OPTIONS = ("yes", "no")  # yes = answer now, no = refine the query and search again

KNOWLEDGE_SYSTEM = (
    "Write one sentence, as an encyclopedia would, that answers the query from your own knowledge."
)
KNOWLEDGE_EXAMPLES = (
    ("Question: Who developed an explanation for the photoelectric effect?\n"
     "Query: photoelectric effect explanation\nDocument:",
     "Albert Einstein explained the photoelectric effect in 1905 by treating light as discrete photons."),
)
KNOWLEDGE_USER = "Question: {question}\nQuery: {query}\nDocument:"

# The transcript turns, in the official format.
QUESTION_TURN = "Question: {question}"
PLAN_TURN = "Analysis: {analysis}\n\nInitial Query: {query}"
RETRIEVED_TURN = "Retrieved Document_{turn}: {documents}"
PARAMETRIC_TURN = "Retrieved Document_{turn} (parametric knowledge): {document}"
INTERMEDIATE_TURN = "Intermediate Answer_{turn}: Based on the Retrieved Document_{turn}, {evidence}"
REFINED_TURN = "{intermediate}\n\nRefined Query: {query}"
FINAL_TURN = "{intermediate}\n\nFinal Answer: {answer}"

QUERY_TOKENS = 24  # a query is a few words; a longer fill is rambling
STRIP_PREFIXES = ("Refined Query:", "Initial Query:", "Query:", "Analysis:", "Intermediate Answer:",
                  "Document:", "Known:", "Based on the Retrieved Document,")



def few_shot(system: str, examples: tuple[tuple[str, str], ...], user: str) -> list[Message]:
    """A system turn, worked examples as user/assistant pairs, then the real request."""
    messages: list[Message] = [{"role": "system", "content": system}]
    for question, reply in examples:
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]
    return [*messages, {"role": "user", "content": user}]
