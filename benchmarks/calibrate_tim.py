"""Calibrate TiM's decisions on invented messages, questions and fact pairs (none from the benchmark dialogues).

    RAGSCOPE_MODEL_CACHE=/work/cache/models python benchmarks/calibrate_tim.py [OUT.json]

Runs TiM's own decisions with the configured model and prints how often each is right, with the numbers the
config's margins are read against: for each statement, whether the model's record has a value found in the
message (else the rule fill keeps the clause); for each question, whether it is taken as one about the user's
own life (grammar first, then the model's yes/no); for each pair of messages, whether the second supersedes the
first (the records' keys at cosine >= same_fact) or both stay. The second element of a statement is only a
label for reading the output (the agent has no topic list).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# (message, topic of its first thought) — statements, as the user would say them
STATEMENTS: tuple[tuple[str, str], ...] = (
    ("I'm a paramedic in the city ambulance service.", "job"),
    ("I got a job as a museum guide.", "job"),
    ("These days I repair bicycles for a living.", "job"),
    ("I teach maths at a primary school.", "job"),
    ("I've lived in Winnipeg for ten years.", "home"),
    ("We just relocated to Tallinn.", "home"),
    ("My flat is in Marseille.", "home"),
    ("I moved to Hobart in May.", "home"),
    ("Our cat is named Miso.", "pet"),
    ("I have a hamster called Pip.", "pet"),
    ("My rabbit Clover turned three.", "pet"),
    ("We got a goldfish called Bubbles.", "pet"),
    ("I drive an old grey Fiat.", "car"),
    ("My new car is a blue Kia.", "car"),
    ("I traded in my van for a green Skoda.", "car"),
    ("Every Saturday I go bouldering.", "hobby"),
    ("I spend my Sundays birdwatching.", "hobby"),
    ("In my free time I knit scarves.", "hobby"),
    ("After work I play the cello.", "hobby"),
    ("My brother Luca lives in Turin.", "family"),
    ("My mum's name is Greta.", "family"),
    ("I have two daughters, Ada and Mila.", "family"),
    ("My grandfather was a sailor.", "family"),
    ("My favourite dish is lasagne.", "food"),
    ("I love eating dumplings more than anything.", "food"),
    ("Lately my favourite meal is paella.", "food"),
    ("I'm allergic to cats' fur.", "allergy"),
    ("Strawberries give me hives; I'm allergic.", "allergy"),
    ("I have an allergy to penicillin.", "allergy"),
    ("I'm left-handed.", "other"),
    ("I was born in 1990.", "other"),
    ("My birthday is in March.", "other"),
    ("I speak three languages.", "other"),
)

# (question as the user asks it, its topic); 'other' = not about a remembered fact of the user
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("Where do I work these days?", "job"),
    ("What do I do for a living?", "job"),
    ("Where am I living at the moment?", "home"),
    ("Which town is my home?", "home"),
    ("What's my cat called?", "pet"),
    ("What kind of pet do I have?", "pet"),
    ("Which car do I own?", "car"),
    ("What vehicle do I drive to work?", "car"),
    ("What do I like to do on Saturdays?", "hobby"),
    ("What's my hobby?", "hobby"),
    ("What is my brother called?", "family"),
    ("Who is my mum?", "family"),
    ("What dish do I like best?", "food"),
    ("What food do I love most?", "food"),
    ("What should I avoid because of my allergy?", "allergy"),
    ("Which allergies do I have?", "allergy"),
    ("How do I fold a paper crane?", "other"),
    ("Can you help me write a birthday card?", "other"),
    ("How can I sleep better?", "other"),
    ("What should I read on my holiday?", "other"),
    ("How do I unclog my sink?", "other"),
    ("How do I make my bread rise more?", "other"),
)

# (earlier message, later message, whether the later one supersedes the earlier)
PAIRS: tuple[tuple[str, str, bool], ...] = (
    ("I work as a plumber.", "I retrained and now I'm a nurse.", True),
    ("I live in Quito.", "We moved to Lima in June.", True),
    ("My cat is called Tofu.", "Tofu died last winter, and we got a kitten named Pesto.", True),
    ("I drive a grey Fiat.", "I sold the Fiat and bought a blue Kia.", True),
    ("On Saturdays I go bouldering.", "I stopped climbing; on Saturdays I now go rowing.", True),
    ("My favourite dish is lasagne.", "Nowadays my favourite dish is ramen.", True),
    ("I teach maths.", "I quit teaching and became a florist.", True),
    ("I live in Winnipeg.", "Last year I relocated to Halifax.", True),
    ("I work as a plumber.", "On Sundays I go birdwatching.", False),
    ("I live in Quito.", "I work as a museum guide.", False),
    ("My cat is called Tofu.", "My brother Luca lives in Turin.", False),
    ("I drive a grey Fiat.", "I'm allergic to penicillin.", False),
    ("On Saturdays I go bouldering.", "My favourite dish is paella.", False),
    ("I'm allergic to penicillin.", "I'm also allergic to cats' fur.", False),
    ("My brother Luca lives in Turin.", "My mum's name is Greta.", False),
    ("My favourite dish is lasagne.", "I work as a chef.", False),
    ("I work as a plumber.", "I drive a white van.", False),
    ("I live in Quito.", "My sister Ana lives in Cuenca.", False),
    ("My cat is called Tofu.", "I'm left-handed.", False),
    ("I teach maths.", "In my free time I knit scarves.", False),
)


def run(services: Any, config: Any) -> dict[str, Any]:
    """Records, the question gate and update-or-not through the agent's own functions, with their numbers."""
    from agents.events import Step
    from agents.tim.facts import Fact, parse_facts, validate
    from agents.tim.nodes import NAME, asks_about_user, relate, write_record
    from memory.store import ThoughtStore
    from storage.thoughts import InMemoryThoughtTable

    deps = services.deps

    def records(message: str) -> list[Fact]:
        with Step(NAME, "memory_write", "") as step:
            completion, _, _ = write_record(step, deps.llm, message, config)
        return [Fact(r["subject"], r["attribute"], r["value"], message) for r in parse_facts(completion.text) or []
                if not validate(r, message)]

    out: dict[str, Any] = {"statements": [], "questions": [], "pairs": []}
    for message, label in STATEMENTS:
        facts = records(message)
        out["statements"].append({"message": message, "label": label, "facts": [f.as_dict() for f in facts],
                                  "keys": [f.key for f in facts], "ok": bool(facts)})
    for question, label in QUESTIONS:
        with Step(NAME, "answer", "") as step:
            asked = asks_about_user(step, deps, question, config)
        out["questions"].append({"question": question, "about_user": label != "other", "asked": asked,
                                 "ok": asked["passed"] == (label != "other")})
    for first, second, gold in PAIRS:
        store = ThoughtStore(InMemoryThoughtTable(), services.embedder)
        olds = records(first)
        for f in olds:
            store.add("dev", f.text(), store.embed([f.text()])[0], fact=f.as_dict())
        relations = []
        for new in records(second):
            near = store.recall("dev", store.embed([new.text()])[0], config.compare, exact_below=config.exact_below)
            relation, _, checks = relate(store, new, near.thoughts, config)
            relations.append({"new": new.key + " = " + new.value, "relation": relation, "checks": checks})
        superseded = any(r["relation"] == "update" for r in relations)
        out["pairs"].append({"first": first, "second": second, "old": [f.key + " = " + f.value for f in olds],
                             "new": relations, "gold": gold, "update": superseded, "ok": superseded == gold})
    for key in ("statements", "questions", "pairs"):
        rows = out[key]
        out[f"{key}_accuracy"] = round(sum(r["ok"] for r in rows) / len(rows), 3)
    return out


def main() -> int:
    """Run the set with the configured model and print every miss and the accuracies."""
    import json

    from agents.tim import TiMConfig
    from services import Services
    from settings import Settings

    services = Services(Settings.from_env(demo_corpus=False))
    result = run(services, TiMConfig())
    for key in ("statements", "questions", "pairs"):
        for row in result[key]:
            if not row["ok"]:
                print("MISS", key, json.dumps(row, ensure_ascii=False))
    print(json.dumps({k: v for k, v in result.items() if k.endswith("accuracy")}))
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
