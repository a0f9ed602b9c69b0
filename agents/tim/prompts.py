"""TiM's prompts: the post-think gate, and the topic choice behind insert / forget / merge and quoted answers.

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


# Post-think writes no free text: the thoughts are the user's own clauses in the third person (text.copy_thoughts).
# An earlier few-shot fill dropped when/where ("On weekends I go orienteering." -> "The user goes orienteering.")
# and copied its own examples into memory ("The user's cat Pim died.").

# The topic (slot) of a thought or of a question about the user: a constrained choice among fixed labels. A
# four-way relation choice (same / update / detail / unrelated) between two thoughts said 'update' for every
# pair at 0.5B; the topic of one sentence is a decision it can make, and "update" follows by rule: a new
# thought replaces the active ones of the same single-valued topic. The examples are invented and are
# labels, never stored. Measured on invented sentences by `python benchmarks/calibrate_tim.py`.
TOPIC_SYSTEM = (
    "Which topic of the user's life is this sentence about? job (work, career), home (the city or place where "
    "they live, moving house), pet (their animals), car (the vehicle they drive), hobby (what they do in their "
    "free time or on weekends), family (relatives), food (favourite food or dish), allergy (what they are "
    "allergic to), other (anything else, and general questions). Answer with the topic only."
)
TOPIC_EXAMPLES = (
    ("Sentence: The user teaches chemistry at a high school.\nTopic:", "job"),
    ("Sentence: Every Sunday the user plays chess in the park.\nTopic:", "hobby"),
    ("Sentence: How does the user get rid of ants in the kitchen?\nTopic:", "other"),
    ("Sentence: The user's parrot Kiwi can whistle.\nTopic:", "pet"),
    ("Sentence: The user relocated to Valparaíso in spring.\nTopic:", "home"),
    ("Sentence: The user's aunt Rosa lives in Lyon.\nTopic:", "family"),
    ("Sentence: Kiwis make the user's throat itch.\nTopic:", "allergy"),
    ("Sentence: What gift should the user buy for a colleague?\nTopic:", "other"),
    ("Sentence: The user rides an old blue Vespa to town.\nTopic:", "car"),
    ("Sentence: The user is left-handed.\nTopic:", "other"),
    ("Sentence: Lately the user's best-loved dish is pad thai.\nTopic:", "food"),
    ("Sentence: Which instrument does the user play in the evenings?\nTopic:", "hobby"),
    ("Sentence: Why do leaves change colour?\nTopic:", "other"),
)
TOPIC_USER = "Sentence: {sentence}\nTopic:"
# the first option is the safe default: 'other' is never single-valued, so it never forgets anything
TOPIC_OPTIONS = ("other", "job", "home", "pet", "car", "hobby", "family", "food", "allergy")
# topics that hold one value at a time: a new thought about one of them supersedes the active ones
SINGLE_VALUED = frozenset({"job", "home", "pet", "car", "hobby", "food"})

# how a reply quotes the remembered thoughts of a question's topic (their words, in the second person)
QUOTE_REPLY = "You told me: {facts}"
# how a reply acknowledges a fact the user told (their clauses, in the second person); these replies are left out
# of the turns the model is shown, as it copied "Noted:" into its own replies to questions
ACKNOWLEDGE_REPLY = "Noted: {facts}"


def few_shot(system: str, examples: tuple[tuple[str, str], ...], user: str) -> list[Message]:
    """System turn, worked examples as user/assistant pairs, then the real input."""
    messages: list[Message] = [{"role": "system", "content": system}]
    for question, reply in examples:
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]
    return messages + [{"role": "user", "content": user}]
