"""Auto-RAG's prompts: the official dialogue format, and the short few-shot fills a small model can follow.

The one-shot examples use invented names (the Orlen Society, Petra Vask); evidence is a sentence chosen from
the passages, never generated, and a plan or query that uses an example's name the question and passages do
not contain is discarded as a leak (`EXAMPLE_NAMES`), so an example can never become evidence or an answer.
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
)
PLAN_USER = "Question: {question}"

# Evidence is chosen, not written: the model picks the sentence of the new passages that helps most.
EVIDENCE_SYSTEM = "Pick the sentence that helps most to answer the question. Reply with its number only."
EVIDENCE_USER = "Question: {question}\n\nSentences:\n{sentences}\n\nThe most helpful sentence is number"
MAX_SENTENCES = 9  # numbered 1-9: every option is one token, so no number is favoured for being shorter

# The stop decision looks at the passages: which one answers the question (a number, or 0 for none)?
ANSWERS_SYSTEM = ("Which passage answers the question? Reply with the passage's number only, or 0 if none of "
                  "them answers it.")
ANSWERS_USER = "Passages:\n{passages}\n\nQuestion: {question}\n\nThe passage that answers it is number"
MAX_ANSWER_PASSAGES = 9  # numbered 1-9 (0 = none): every option is one token

QUERY_SYSTEM = (
    "Write a short search query for the one fact still missing. Name the entity it is about. "
    "Reply with the query alone, on one line."
)
QUERY_EXAMPLES = (
    ("Question: In which town was the founder of the Orlen Society born?\n"
     "Known: The Orlen Society was founded by Petra Vask.\nRefined Query:",
     "Petra Vask birthplace"),
)
QUERY_USER = "Question: {question}\nKnown: {known}\nRefined Query:"
# The invented names of the examples above: a fill using one the question and passages lack is a leak.
EXAMPLE_NAMES = ("Orlen", "Petra", "Vask")

KNOWLEDGE_SYSTEM = (
    "Write one sentence, as an encyclopedia would, that answers the query from your own knowledge."
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
