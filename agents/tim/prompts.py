"""TiM's prompts: the post-think gate and fill, and the relation choice behind insert / forget / merge.

Examples use invented people and places; no example's reply is ever stored as a thought.
"""

from __future__ import annotations

from llm.base import Message

GATE_SYSTEM = (
    "Does the user's message tell you a fact about the user's own life that a friend should remember (where "
    "they live, their job, family, pets, car, food, hobbies, health)? Answer yes or no."
)
GATE_EXAMPLES = (
    ("I live in Tromsø.", "yes"),
    ("Write me a limerick about cats.", "no"),
    ("My brother Ivo got engaged!", "yes"),
    ("Explain how tides work.", "no"),
    ("I'm allergic to shellfish.", "yes"),
    ("Tell me a fun fact about owls.", "no"),
)
GATE_USER = "{message}"
# post-think only when 'yes' beats 'no' by the margin. An earlier 'fact / question / request' choice put most
# personal facts below 'request' (log-odds -1.4 to +0.6 on a dev set of invented facts); this wording puts
# every one of them at +1.1 or more and every request at +0.4 or less.
GATE_OPTIONS = ("yes", "no")


THINK_SYSTEM = (
    "Rewrite what the user says about themselves as short, self-contained facts in the third person, each "
    "starting with 'The user'. Keep names exactly. One line, facts separated by spaces."
)
THINK_EXAMPLES = (
    ("User: I live in Tromsø and I work as a nurse.\nThoughts:",
     "The user lives in Tromsø. The user works as a nurse."),
    ("User: Sad news: our cat Pim died, and we adopted a kitten named Sol.\nThoughts:",
     "The user's cat Pim died. The user has a kitten named Sol."),
    ("User: Actually, I moved to Gdańsk last week.\nThoughts:",
     "The user lives in Gdańsk."),
    ("User: I quit the bank; these days I teach yoga.\nThoughts:",
     "The user works as a yoga teacher."),
)
THINK_USER = "User: {message}\nThoughts:"

RELATE_SYSTEM = (
    "Compare a new fact about the user with a stored one. Reply 'same' if they say the same thing, 'update' "
    "if the new fact replaces the stored one (a change: a new home, job, car, pet name...), 'detail' if it "
    "adds to the stored fact about the same thing and both stay true, 'unrelated' otherwise."
)
RELATE_EXAMPLES = (
    ("Stored: The user lives in Tromsø.\nNew: The user lives in Gdańsk.\nRelation:", "update"),
    ("Stored: The user works as a nurse.\nNew: The user's job is nursing.\nRelation:", "same"),
    ("Stored: The user has a kitten named Sol.\nNew: The user's kitten Sol is grey.\nRelation:", "detail"),
    ("Stored: The user lives in Tromsø.\nNew: The user has a kitten named Sol.\nRelation:", "unrelated"),
)
RELATE_USER = "Stored: {stored}\nNew: {new}\nRelation:"
# the first option is the safe default (insert as a new thought)
RELATE_OPTIONS = ("unrelated", "same", "update", "detail")


def few_shot(system: str, examples: tuple[tuple[str, str], ...], user: str) -> list[Message]:
    """System turn, worked examples as user/assistant pairs, then the real input."""
    messages: list[Message] = [{"role": "system", "content": system}]
    for question, reply in examples:
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]
    return messages + [{"role": "user", "content": user}]
