"""TiM's prompts: the post-think gate, the fact record, and the two checks behind an answer from memory.

Every example uses invented people, places and facts; no example's output is ever stored as a thought (a record
is kept only if its value stands in the user's own message).
"""

from __future__ import annotations

import json

from llm.base import Message

# --- does a message tell a fact about the user? -----------------------------------------------------
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
GATE_OPTIONS = ("yes", "no")

# --- the record: subject / attribute / value, as JSON ------------------------------------------------
FACT_SYSTEM = (
    "Write the facts about the user's own life that the message states and that are true now, as JSON: "
    '{"facts": [{"subject": ..., "attribute": ..., "value": ...}]}. subject: "user", or the user\'s relative, pet '
    "or thing the fact is about (\"user's brother\", \"user's dog\"). attribute: a short noun phrase for the kind of "
    "fact (\"home city\", \"job\", \"name\", \"favourite film\"). value: the words of the message that give the "
    "fact, copied exactly. Leave out what is no longer true. A question or a request states no fact: "
    '{"facts": []}.'
)
FACT_EXAMPLES: tuple[tuple[str, dict[str, list[dict[str, str]]]], ...] = (
    ("I relocated to Valparaíso in spring.",
     {"facts": [{"subject": "user", "attribute": "home city", "value": "Valparaíso"}]}),
    ("How do I get rid of ants in the kitchen?", {"facts": []}),
    ("My parrot Kiwi can whistle, and I repair pianos for a living.",
     {"facts": [{"subject": "user's parrot", "attribute": "name", "value": "Kiwi"},
                {"subject": "user", "attribute": "job", "value": "repair pianos"}]}),
    ("I'm terribly scared of wasps.",
     {"facts": [{"subject": "user", "attribute": "fear", "value": "wasps"}]}),
    ("I sold my old Fiat and bought a blue Kia.",
     {"facts": [{"subject": "user", "attribute": "car", "value": "blue Kia"}]}),
    ("Every Friday night I practise the violin.",
     {"facts": [{"subject": "user", "attribute": "Friday night activity", "value": "the violin"}]}),
    ("Our rabbit Clover died in May; we got a hamster, Pip.",
     {"facts": [{"subject": "user's hamster", "attribute": "name", "value": "Pip"}]}),
    ("My grandmother Ilse makes the best strudel.",
     {"facts": [{"subject": "user's grandmother", "attribute": "name", "value": "Ilse"}]}),
    ("I gave up the violin; on Friday nights I sing in a choir now.",
     {"facts": [{"subject": "user", "attribute": "Friday night activity", "value": "sing in a choir"}]}),
)
FACT_USER = "Message: {message}"


def fact_messages(message: str) -> list[Message]:
    """The record prompt: system, the invented examples as user/assistant turns, then the message."""
    examples = tuple((FACT_USER.format(message=m), json.dumps(a, ensure_ascii=False)) for m, a in FACT_EXAMPLES)
    return few_shot(FACT_SYSTEM, examples, FACT_USER.format(message=message))


# --- does a question ask about the user's own life? --------------------------------------------------
ASKS_SYSTEM = (
    "Does the user ask about a fact of their own life that they would have told you (where they live, their "
    "job, family, pets, likes, habits), rather than asking for help, advice or general knowledge? Answer yes or no."
)
ASKS_EXAMPLES = (
    ("Which town do I live in?", "yes"),
    ("How do I fold a paper crane?", "no"),
    ("What's my brother called?", "yes"),
    ("Can you suggest a gift for my aunt?", "no"),
    ("What do I do for a living?", "yes"),
    ("How can I sleep better?", "no"),
    ("Which instrument do I play?", "yes"),
    ("What should I cook for my friends tonight?", "no"),
)
ASKS_USER = "{question}"
ASKS_OPTIONS = ("yes", "no")

# --- does a remembered fact answer the question? -----------------------------------------------------
# The check weighs the fact's own value as the answer against "not stated": the model must prefer the value.
ANSWERS_SYSTEM = (
    "Answer the user's question about themselves from the one thing you remember they told you, with the answer's "
    "words only. If it does not answer the question, reply: not stated"
)
ANSWERS_EXAMPLES = (
    ("Remembered: You moved to Tarija.\nQuestion: Which town do I live in?", "Tarija"),
    ("Remembered: You repair pianos for a living.\nQuestion: Which town do I live in?", "not stated"),
    ("Remembered: Your parrot Kiwi can whistle.\nQuestion: What's my parrot called?", "Kiwi"),
    ("Remembered: You're terribly scared of wasps.\nQuestion: What car do I have?", "not stated"),
    ("Remembered: On Friday nights you sing in a choir now.\nQuestion: What do I do on Friday nights?",
     "sing in a choir"),
)
ANSWERS_USER = "Remembered: {fact}\nQuestion: {question}"
NOT_STATED = "not stated"

# how a reply acknowledges a fact the user told (their clauses, in the second person); these replies are left out
# of the turns the model is shown, as it copied "Noted:" into its own replies to questions
ACKNOWLEDGE_REPLY = "Noted: {facts}"


def few_shot(system: str, examples: tuple[tuple[str, str], ...], user: str) -> list[Message]:
    """System turn, worked examples as user/assistant pairs, then the real input."""
    messages: list[Message] = [{"role": "system", "content": system}]
    for question, reply in examples:
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]
    return messages + [{"role": "user", "content": user}]
