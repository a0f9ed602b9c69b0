"""TiM with a scripted LLM: insert, forget on contradiction, merge; persistence; two users never mix."""

from __future__ import annotations

import json

import numpy as np
import pytest

from llm.fake import ScriptedLLM
from storage.db import NotFound

CHAT = {"user": "ana", "conversation": "c1"}


def turn(svc, message: str, user: str = "ana", config: dict | None = None, history=None):
    """Run one TiM turn to the end; returns the finished run."""
    run = svc.run("tim", "", message, config or {}, user=user, conversation="c1", history=history or [])
    list(run)
    assert not run.error, run.error
    return run


def record(*facts: tuple[str, str, str]) -> str:
    """The JSON fact record a scripted model writes: (subject, attribute, value) triples."""
    return json.dumps({"facts": [{"subject": s, "attribute": a, "value": v} for s, a, v in facts]})


def script(reply: str, *choices: str) -> ScriptedLLM:
    """An LLM that replies (or writes a record) once, then picks the scripted options in order."""
    return ScriptedLLM(replies=[reply], choices=list(choices))


def tell(svc, message: str, *facts: tuple[str, str, str], user: str = "ana", config: dict | None = None):
    """Tell TiM a fact: the gate says yes, the model writes the given record. The hash embedder of unit tests makes
    keys that share words close, so only identical keys count as the same attribute here."""
    svc.deps.llm = llm = ScriptedLLM(structured=[record(*facts)], choices=["yes"])
    run = turn(svc, message, user=user, config={"same_fact": 0.99, **(config or {})})
    assert [kind for kind, _ in llm.calls] == ["choose", "structured"], llm.calls  # the gate, the record
    return run


def ask(svc, question: str, *choices: str, user: str = "ana", config: dict | None = None):
    """Ask TiM a question: the scripted choices answer 'about you?' (yes / no), then each answer check in turn (a
    recalled fact's value, or 'not stated')."""
    svc.deps.llm = llm = ScriptedLLM(choices=list(choices), default_reply="I am a model.")
    return turn(svc, question, user=user, config=config), llm


class Knows(ScriptedLLM):
    """Answers a check 'value or not stated' with the value when it is one of `values`."""

    def __init__(self, values: set[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.values = values

    def choose(self, messages, options):
        if "not stated" in options:
            self.choices.insert(0, options[0] if options[0] in self.values else "not stated")
        return super().choose(messages, options)


def active(svc, user: str = "ana") -> list[str]:
    return sorted(t.text for t in svc.memory.list(user, status="active"))


def test_a_fact_is_kept_as_a_model_record_beside_the_users_own_words(services_factory) -> None:
    svc = services_factory()
    run = tell(svc, "I live in Lisbon.", ("user", "home city", "Lisbon"))
    assert [e.kind for e in run.events] == ["memory_read", "answer", "memory_write", "memory_write"]
    assert run.answer == "Noted: You live in Lisbon."  # acknowledged in the user's words, no reply generated
    answer, think, op = run.events[1:]
    assert answer.data["memory"]["status"] == "acknowledged"
    assert think.data["decision"]["asked_by_reply"] is True and think.llm_calls == 1  # the record only
    assert think.data["decision"]["decoding"] == "JSON schema, values from the message's words"
    assert think.data["decision"]["rule_fill"] is False
    proposed = think.data["after"][0]
    assert proposed["text"] == "The user lives in Lisbon." and proposed["origin"] == "model"
    assert proposed["evidence"] == "I live in Lisbon." and proposed["attribute"] == "home city"
    assert "written by the model as subject / attribute / value (JSON schema, values from" in think.explanation
    assert op.data["operation"] == "insert" and op.explanation.startswith("Remembered 'The user lives in Lisbon.'")
    stored = svc.memory.list("ana")[0]
    assert (stored.subject, stored.attribute, stored.value, stored.evidence, stored.origin) == (
        "user", "home city", "Lisbon", "I live in Lisbon.", "model")
    assert stored.source_run == run.run_id and len(stored.buckets) == 32


def test_a_record_whose_value_is_not_in_the_message_falls_back_to_the_users_clause(services_factory) -> None:
    svc = services_factory()
    svc.deps.llm = script(record(("user", "Sunday activity", "chess")), "yes")  # free text: no grammar holds it
    run = turn(svc, "On weekends I go surfing.")
    think = run.events[2]
    assert think.data["decision"]["rule_fill"] is True
    assert think.data["decision"]["rejected"][0]["why"] == "the value 'chess' is not in the message"
    assert active(svc) == ["On weekends the user goes surfing."]
    assert "by the rule fill" in think.explanation and "none of its records had a value" in think.explanation
    svc.deps.llm = llm = script("not json at all", "yes")  # no grammar decoding: the model's free text is parsed
    run = turn(svc, "I'm allergic to latex.")
    assert [kind for kind, _ in llm.calls] == ["choose", "structured", "chat"]
    assert run.events[2].data["decision"]["decoding"].startswith("free text: ScriptedLLM has no scripted")
    assert run.events[2].data["format_failure"] is True and "not valid JSON" in run.events[2].explanation
    assert "The user is allergic to latex." in active(svc)


def test_a_question_is_not_post_thought_and_empty_memory_says_it_was_not_told(services_factory) -> None:
    svc = services_factory()
    run, llm = ask(svc, "Where do I live?", "yes")
    assert [e.kind for e in run.events] == ["memory_read", "answer", "memory_write"]
    assert run.events[-1].data["decision"] == {"option": "question", "pre_check": True}
    assert [kind for kind, _ in llm.calls] == ["choose"]  # about the user? yes; nothing recalled to check
    assert run.answer == "You haven't told me where you live yet."
    label = run.events[1].data["memory"]
    assert label["status"] == "not_in_memory" and "nothing about you is remembered yet" in label["sentence"]
    assert svc.memory.count("ana") == 0


def test_a_request_is_answered_by_the_model_with_a_general_label(services_factory) -> None:
    svc = services_factory()
    svc.deps.llm = llm = ScriptedLLM(replies=["Why did the cat sit on the laptop?"])
    run = turn(svc, "Tell me a joke about cats.")
    assert run.events[-1].data["decision"]["option"] == "other" and svc.memory.count("ana") == 0
    assert [kind for kind, _ in llm.calls] == ["chat"]
    assert run.events[1].data["memory"]["status"] == "general"
    svc.deps.llm = llm = ScriptedLLM(replies=["Ok."], choices=["no"])
    run = turn(svc, "Help me plan my week.")  # speaks of the user: the model's gate decides (here: no fact)
    assert [kind for kind, _ in llm.calls] == ["choose", "chat"]  # the gate (reused by post-think), the reply
    assert run.answer == "Ok." and svc.memory.count("ana") == 0
    assert "the model leans to no, so nothing is stored" in run.events[-1].explanation
    run, llm = ask(svc, "How do I fold a paper crane?")  # says I, but asks for a method: grammar settles it
    assert [kind for kind, _ in llm.calls] == ["chat"] and run.answer == "I am a model."
    assert run.events[1].data["decision"]["asks_about_user"] == {"option": "no", "by": "grammar", "passed": False}
    assert "asks for a method or advice" in run.events[1].data["memory"]["sentence"]
    run, llm = ask(svc, "Which gift suits my aunt?", "no")  # the model decides: not about the user's own life
    assert [kind for kind, _ in llm.calls] == ["choose", "chat"] and run.events[1].data["memory"]["status"] == "general"


def test_a_question_is_answered_by_the_recalled_thought_that_passes_the_check(services_factory) -> None:
    svc = services_factory()
    tell(svc, "I drive a white Tesla.", ("user", "car", "white Tesla"))
    tell(svc, "My sister's name is Noor.", ("user's sister", "name", "Noor"))
    svc.deps.llm = llm = Knows({"white Tesla"}, choices=["yes"])
    run = turn(svc, "What car do I drive?")
    read, answer = run.events[0], run.events[1]
    assert read.data["query"] == "What car does the user drive?"
    order = [t["text"] for t in read.data["thoughts"]]
    checked = order.index("The user drives a white Tesla.") + 1  # best recalled first, until one passes
    assert [kind for kind, _ in llm.calls] == ["choose"] * (1 + checked)  # about you? then the checks
    assert run.answer == "You drive a white Tesla."
    label = answer.data["memory"]
    assert label["status"] == "recalled" and len(label["checks"]) == checked
    assert [c["passed"] for c in label["checks"]] == [False] * (checked - 1) + [True]
    said = label["checks"][-1]
    assert label["thoughts"] == [said["id"]] and said["text"] in label["sentence"]
    assert "the model gave its value 'white Tesla' over 'not stated' (by +10.0)" in label["sentence"]
    # no recalled thought passes: the honest reply, never a generated guess
    run, llm = ask(svc, "What is my job?", "yes", "not stated", "not stated")
    assert run.answer == "You haven't told me what your job is yet."
    assert run.events[1].data["memory"]["status"] == "not_in_memory"
    assert "each of the 2 best recalled thoughts alone" in run.events[1].data["memory"]["sentence"]


def test_the_same_attribute_with_a_new_value_forgets_the_old_fact(services_factory) -> None:
    svc = services_factory()
    tell(svc, "I live in Lisbon.", ("user", "home city", "Lisbon"))
    run = tell(svc, "I moved to Berlin.", ("user", "home city", "Berlin"))
    op = run.events[-1]
    assert op.data["operation"] == "forget" and op.data["decision"]["relation"] == "update"
    assert op.explanation.startswith("Forgot 'The user lives in Lisbon.' — superseded by 'The user moved to Berlin.'")
    assert "the same fact (the user's home city) with a new value" in op.explanation
    assert [t["status"] for t in op.data["after"]] == ["forgotten", "active"]
    assert active(svc) == ["The user moved to Berlin."]
    old = svc.memory.list("ana", status="forgotten")[0]
    assert old.related == op.data["after"][1]["id"]
    run, _ = ask(svc, "Where do I live?", "yes", "Berlin")
    assert run.answer == "You moved to Berlin." and [t["text"] for t in run.events[0].data["thoughts"]] == [
        "The user moved to Berlin."]


def test_an_update_that_names_the_old_value_is_said_back_from_the_record(services_factory) -> None:
    svc = services_factory()
    tell(svc, "My favourite band is Wilco.", ("user", "favourite band", "Wilco"))
    tell(svc, "Beirut have replaced Wilco as my favourite band.", ("user", "favourite band", "Beirut"))
    run, _ = ask(svc, "What's my favourite band?", "yes", "Beirut")
    assert run.answer == "Your favourite band is Beirut."  # the user's clause names Wilco, which was superseded
    assert "from the stored record" in run.events[1].data["memory"]["sentence"]


def test_other_attributes_and_further_values_never_forget(services_factory) -> None:
    svc = services_factory()
    tell(svc, "I work as a dentist.", ("user", "job", "dentist"))
    op = tell(svc, "On weekends I go caving.", ("user", "weekend activity", "caving")).events[-1]
    assert op.data["operation"] == "insert" and op.data["decision"]["relation"] == "unrelated"
    op = tell(svc, "I also go climbing on weekends.", ("user", "weekend activity", "climbing")).events[-1]
    assert op.data["operation"] == "insert" and op.data["decision"]["relation"] == "adds"
    assert "a further weekend activity" in op.explanation
    assert len(active(svc)) == 3


def test_the_same_fact_again_merges_into_the_newer_thought(services_factory) -> None:
    svc = services_factory()
    tell(svc, "I work as a baker.", ("user", "job", "baker"))
    op = tell(svc, "I work as a baker.", ("user", "job", "baker")).events[-1]
    assert op.data["operation"] == "merge" and op.data["decision"]["checks"][0]["identical"] is True
    assert active(svc) == ["The user works as a baker."]
    assert svc.memory.list("ana", status="merged")[0].text == "The user works as a baker."


def test_a_pet_that_died_and_a_new_one_leave_only_the_new_one(services_factory) -> None:
    svc = services_factory()
    tell(svc, "My dog is called Bruno.", ("user's dog", "name", "Bruno"))
    run = tell(svc, "Sad news: Bruno passed away, and we adopted a new dog named Olive.",
               ("user's dog", "name", "Olive"))
    assert run.answer == "Noted: Bruno passed away, and you adopted a new dog named Olive."
    assert run.events[-1].data["operation"] == "forget"
    assert active(svc) == ["The user adopted a new dog named Olive."]
    run, _ = ask(svc, "What is my dog's name?", "yes", "Olive")
    assert run.answer == "You adopted a new dog named Olive." and "Bruno" not in run.answer


def test_a_record_whose_subject_is_not_in_the_users_words_replaces_nothing(services_factory) -> None:
    svc = services_factory()
    tell(svc, "My sister's name is Keiko.", ("user's pet", "name", "Keiko"))  # the model misnamed the subject
    op = tell(svc, "We adopted a pet named Rocket.", ("user's pet", "name", "Rocket")).events[-1]
    assert op.data["operation"] == "insert" and op.data["decision"]["relation"] == "unrelated"
    assert len(active(svc)) == 2
    op = tell(svc, "We adopted another pet, Lulu.", ("user's partner", "name", "Lulu")).events[-1]
    assert "'user's partner' is not in the user's words, so it replaces nothing" in op.explanation
    assert len(active(svc)) == 3


def test_memory_and_buckets_survive_a_restart(services_factory) -> None:
    svc = services_factory()
    tell(svc, "My dog is called Juno.", ("user's dog", "name", "Juno"))
    before = svc.memory.list("ana")[0]
    matrices = svc.memory.table.get_memory("ana").matrices
    again = services_factory()  # a new process on the same home
    assert again.memory.list("ana")[0].buckets == before.buckets
    assert again.memory.list("ana")[0].attribute == "name"
    assert np.array_equal(again.memory.table.get_memory("ana").matrices, matrices)
    run, _ = ask(again, "What is my dog's name?", "yes", "Juno")
    assert run.events[0].data["thoughts"][0]["text"] == "The user's dog is called Juno."
    assert run.answer == "Your dog is called Juno."


def test_a_new_lsh_shape_rehashes_the_stored_thoughts(services_factory) -> None:
    svc = services_factory()
    tell(svc, "My dog is called Juno.", ("user's dog", "name", "Juno"))
    run, _ = ask(svc, "What is my dog's name?", "yes", "Juno",
                 config={"buckets": 8, "tables": 2, "probes": 8, "min_shared": 1, "exact_below": 0})
    assert run.events[0].data["thoughts"][0]["text"] == "The user's dog is called Juno."
    assert len(svc.memory.list("ana")[0].buckets) == 2


def test_two_users_never_see_each_others_thoughts(services_factory) -> None:
    svc = services_factory()
    tell(svc, "I live in Lisbon.", ("user", "home city", "Lisbon"), user="ana")
    run, _ = ask(svc, "Where do I live?", "yes", user="ben")
    assert run.answer == "You haven't told me where you live yet."
    assert run.events[0].data["thoughts"] == [] and run.events[0].data["stored"] == 0
    assert svc.memory.list("ben") == [] and svc.memory.occupancy("ben") == {}
    ana_id = svc.memory.list("ana")[0].id
    assert svc.memory.get("ben", [ana_id]) == []
    with pytest.raises(NotFound):
        svc.memory.delete("ben", ana_id)
    vector = svc.memory.embed(["The user lives in Lisbon."])[0]
    assert svc.memory.recall("ben", vector, 5, probes=16).thoughts == []
    assert svc.memory.clear("ben") == 0 and svc.memory.count("ana") == 1
    assert svc.memory.clear("ana") == 1 and svc.memory.list("ana") == []


def test_third_person_and_pre_check() -> None:
    from agents.tim.text import pre_check, third_person

    assert third_person("What am I allergic to?") == "What is the user allergic to?"
    assert third_person("Which city do I live in now?") == "Which city does the user live in now?"
    assert third_person("what is my dog's name?") == "What is the user's dog's name?"
    assert third_person("Tell me about Lisbon.") == "Tell the user about Lisbon."
    assert third_person("Is Mimi a good name?") == "Is Mimi a good name?"
    assert pre_check("Where do I live?") == "question"
    assert pre_check("Explain compound interest simply.") == "other"
    assert pre_check("Olive is a beagle.") == "other"  # a known cost: a fact with no I / my / we / our is missed
    assert pre_check("I'm allergic to peanuts.") == pre_check("We adopted a puppy.") == ""
    assert pre_check("I’m a nurse.") == ""


def test_copy_thoughts_rewrite_the_users_words_to_the_third_person_and_back() -> None:
    from agents.tim.text import copy_thoughts, names_in, second_person

    assert copy_thoughts("On Fridays I usually go fencing.", 3) == ["On Fridays the user usually goes fencing."]
    assert copy_thoughts("Since 2019 I've worked at the port.", 3) == ["Since 2019 the user has worked at the port."]
    assert copy_thoughts("I live in Tromsø and I work as a nurse.", 3) == [
        "The user lives in Tromsø.", "The user works as a nurse."]
    assert copy_thoughts("I sold my van and bought a bike.", 3) == ["The user sold the user's van and bought a bike."]
    assert copy_thoughts("Good news: we study Dutch; it's fun, my teacher is great.", 3) == [
        "The user studies Dutch.", "The user's teacher is great."]  # the opener and a two-word clause dropped
    assert copy_thoughts("I'm tall.", 3) == ["The user is tall."] and copy_thoughts("Me?", 3) == []
    assert second_person("On Fridays the user usually goes fencing.") == "On Fridays you usually go fencing."
    assert second_person("The user's cat Miso is shy; the user has two.") == "your cat Miso is shy; you have two."
    assert names_in("On Sundays the user's dog Miso met Ada.") == {"Miso", "Ada"}


@pytest.mark.parametrize(("agent", "shown"), [("window", 2), ("full_history", 5)])
def test_history_baselines_see_the_last_turns_or_all(services_factory, agent, shown) -> None:
    llm = ScriptedLLM(replies=["Fine."])
    svc = services_factory(llm=llm)
    history = []
    for i in range(5):
        history += [{"role": "user", "content": f"message {i}"}, {"role": "assistant", "content": f"reply {i}"}]
    run = svc.run(agent, "", "And now?", {"turns": 2} if agent == "window" else {}, user="ana", history=history)
    list(run)
    prompt = llm.calls[0][1]
    assert [m["content"] for m in prompt if m["role"] == "user"][:-1] == [f"message {i}" for i in range(5 - shown, 5)]
    assert [e.kind for e in run.events] == ["answer"] and run.answer == "Fine."


def test_store_recall_can_require_buckets_shared_in_several_tables(services_factory) -> None:
    svc = services_factory(llm=ScriptedLLM())
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((40, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for i, v in enumerate(vectors):
        svc.memory.add("ana", f"thought {i}", v)
    union = svc.memory.recall("ana", vectors[3], 40, probes=1)
    strict = svc.memory.recall("ana", vectors[3], 40, probes=1, min_shared=4)  # all 4 tables of the default shape
    assert strict.thoughts[0][0].text == "thought 3" and union.thoughts[0][0].text == "thought 3"
    assert strict.scored < union.scored
    assert all(row.buckets == strict.thoughts[0][0].buckets for row, _ in strict.thoughts)


def test_every_tim_step_payload_matches_its_schema(services_factory) -> None:
    from agents.events import validate_data

    svc = services_factory()
    runs = [tell(svc, "I live in Lisbon.", ("user", "home city", "Lisbon")), ask(svc, "Where do I live?", "yes")[0],
            ask(svc, "Where do I live?", "yes", "Lisbon")[0], ask(svc, "How do I fold a crane?", "no")[0]]
    svc.deps.llm = ScriptedLLM(replies=["Ok."], choices=["no"])
    runs.append(turn(svc, "Help me plan my week."))
    for run in runs:
        for event in run.events:
            assert validate_data(event.kind, event.data) == [], (run.question, event.kind)


def test_acknowledged_facts_are_left_out_of_the_turns_the_model_is_shown(services_factory) -> None:
    svc = services_factory()
    history: list[dict[str, str]] = []
    first = tell(svc, "I live in Lisbon.", ("user", "home city", "Lisbon"))
    history += [{"role": "user", "content": "I live in Lisbon."}, {"role": "assistant", "content": first.answer}]
    svc.deps.llm = llm = ScriptedLLM(replies=["Try the tram."], choices=["no"])
    run = turn(svc, "What should I see there?", history=history)
    shown = run.events[1].data["turns"]
    assert first.answer.startswith("Noted:") and run.answer == "Try the tram."
    assert shown == [{"role": "user", "content": "I live in Lisbon."}]  # the user's words stay, "Noted: …" does not
    assert [kind for kind, _ in llm.calls] == ["chat"]  # a request for advice, by its grammar: the model replies


def test_the_record_schema_holds_each_value_to_the_users_own_words() -> None:
    from agents.tim.facts import fact_schema, spans
    from llm.grammar import validate

    assert spans("Actually, I moved to Berlin!")[:5] == ["Actually", "I", "moved", "to", "Berlin"]
    assert "moved to Berlin" in spans("Actually, I moved to Berlin!")
    schema = fact_schema("I live in Lisbon.")
    validate(record(("user", "home city", "Lisbon")), schema)
    with pytest.raises(Exception, match="Lisboa"):
        validate(record(("user", "home city", "Lisboa")), schema)
