"""TiM with a scripted LLM: insert, forget on contradiction, merge; persistence; two users never mix."""

from __future__ import annotations

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


def script(reply: str, *choices: str) -> ScriptedLLM:
    """An LLM that replies once, then picks the scripted options in order (gate, then one topic per thought)."""
    return ScriptedLLM(replies=[reply], choices=list(choices))


def active(svc, user: str = "ana") -> list[str]:
    return sorted(t.text for t in svc.memory.list(user, status="active"))


def test_a_fact_is_post_thought_in_its_own_words_filed_under_a_topic_and_inserted(services_factory) -> None:
    llm = script("Nice!", "yes", "home")
    svc = services_factory(llm=llm)
    run = turn(svc, "I live in Lisbon.")
    assert [e.kind for e in run.events] == ["memory_read", "answer", "memory_write", "memory_write"]
    assert run.answer == "Noted: You live in Lisbon."  # acknowledged in the user's words, no reply generated
    assert [kind for kind, _ in llm.calls] == ["choose", "choose"]  # gate (asked once, for the reply), topic
    assert "acknowledges it in the user's own words" in run.events[1].explanation
    think, op = run.events[2:]
    assert think.data["decision"]["asked_by_reply"] is True and think.llm_calls == 0
    assert think.data["operation"] == "think"
    assert [t["text"] for t in think.data["after"]] == ["The user lives in Lisbon."]
    assert "its own words in the third person" in think.explanation
    assert op.data["operation"] == "insert" and op.data["decision"]["topic"] == "home"
    assert op.explanation.startswith("Remembered 'home: The user lives in Lisbon.'")
    assert "filed under 'home'" in op.explanation
    assert active(svc) == ["home: The user lives in Lisbon."]
    stored = svc.memory.list("ana")[0]
    assert stored.source_run == run.run_id and stored.source_turn == "I live in Lisbon." and len(stored.buckets) == 4


def test_without_acknowledgement_the_model_replies_to_a_fact_and_post_think_asks_the_gate(services_factory) -> None:
    llm = script("Nice!", "yes", "home")
    svc = services_factory(llm=llm)
    run = turn(svc, "I live in Lisbon.", config={"acknowledge_facts": False})
    assert run.answer == "Nice!" and [kind for kind, _ in llm.calls] == ["chat", "choose", "choose"]
    assert run.events[2].data["decision"]["asked_by_reply"] is False and run.events[2].llm_calls == 1
    assert active(svc) == ["home: The user lives in Lisbon."]


def test_post_think_keeps_when_and_where_and_splits_clauses(services_factory) -> None:
    svc = services_factory(llm=script("Fun!", "yes", "other", "hobby"))
    run = turn(svc, "Actually, I've given chess up; on weekends I now go kayaking.")
    assert [t["text"] for t in run.events[2].data["after"]] == [
        "The user has given chess up.", "On weekends the user now goes kayaking."]
    assert active(svc) == ["The user has given chess up.", "hobby: On weekends the user now goes kayaking."]


def test_a_question_is_not_post_thought(services_factory) -> None:
    llm = ScriptedLLM(replies=["You live in Lisbon."])
    svc = services_factory(llm=llm)
    run = turn(svc, "Where do I live?")
    assert [e.kind for e in run.events] == ["memory_read", "answer", "memory_write"]
    assert run.events[-1].data["operation"] == "think" and run.events[-1].data["after"] == []
    assert run.events[-1].data["decision"] == {"option": "question", "pre_check": True}
    # the question speaks of the user: its topic is chosen (here 'other'), then the model replies
    assert [kind for kind, _ in llm.calls] == ["choose", "chat"]
    assert run.events[1].data["decision"]["topic"] == "other" and "no remembered topic" in run.events[1].explanation
    assert svc.memory.count("ana") == 0


def test_a_request_not_about_the_user_is_not_post_thought_and_a_statement_asks_the_gate(services_factory) -> None:
    llm = ScriptedLLM(replies=["Why did the cat sit on the laptop?"])
    svc = services_factory(llm=llm)
    run = turn(svc, "Tell me a joke about cats.")
    assert run.events[-1].data["decision"]["option"] == "other" and svc.memory.count("ana") == 0
    assert [kind for kind, _ in llm.calls] == ["chat"]
    svc.deps.llm = llm = ScriptedLLM(replies=["Ok."], choices=["no"])
    run = turn(svc, "Help me plan my week.")  # speaks of the user: the model's gate decides (here: no fact)
    assert [kind for kind, _ in llm.calls] == ["choose", "chat"]  # the gate (reused by post-think), the reply
    assert run.answer == "Ok."
    assert run.events[-1].data["decision"]["option"] == "no" and svc.memory.count("ana") == 0
    assert "the model leans to no, so nothing is stored" in run.events[-1].explanation
    assert "log-odds" not in run.events[-1].explanation


def test_a_question_about_a_remembered_topic_is_answered_by_quoting_its_thoughts(services_factory) -> None:
    svc = services_factory(llm=script("Nice!", "yes", "car"))
    turn(svc, "I drive a white Tesla.")
    svc.deps.llm = llm = ScriptedLLM(replies=["A Tesla."], choices=["car"])
    run = turn(svc, "What car do I drive?")
    read, answer = run.events[0], run.events[1]
    assert read.data["query"] == "What car does the user drive?"
    assert "asked as 'What car does the user drive?'" in read.explanation
    assert read.data["thoughts"][0]["text"] == "car: The user drives a white Tesla."
    assert [kind for kind, _ in llm.calls] == ["choose"]  # the topic; no reply generated
    assert run.answer == "You told me: You drive a white Tesla."
    assert answer.data["decision"]["topic"] == "car" and "quotes the 1 active thought" in answer.explanation
    # a remembered topic without thoughts, or quoting switched off: the model writes the reply
    svc.deps.llm = llm = ScriptedLLM(replies=["I don't know your job."], choices=["job"])
    run = turn(svc, "What is my job?")
    assert [kind for kind, _ in llm.calls] == ["choose", "chat"] and run.answer == "I don't know your job."
    assert "no active thought of it" in run.events[1].explanation
    svc.deps.llm = llm = ScriptedLLM(replies=["A white Tesla."])
    run = turn(svc, "What car do I drive?", config={"quote_answers": False})
    assert [kind for kind, _ in llm.calls] == ["chat"] and "- car: The user drives a white Tesla." in str(
        run.events[1].data["prompt"][0]["content"])


def test_a_single_valued_topic_forgets_the_old_thought_and_recall_then_finds_the_new(services_factory) -> None:
    svc = services_factory(llm=script("Nice!", "yes", "home"))
    turn(svc, "I live in Lisbon.")
    svc.deps.llm = llm = script("Welcome to Berlin!", "yes", "home")
    run = turn(svc, "I moved to Berlin.")
    op = run.events[-1]
    assert op.data["operation"] == "forget" and op.data["decision"]["relation"] == "update"
    assert op.explanation.startswith(
        "Forgot 'home: The user lives in Lisbon.' — superseded by 'home: The user moved to Berlin.'")
    assert "'home' holds one value at a time" in op.explanation
    assert [t["status"] for t in op.data["after"]] == ["forgotten", "active"]
    assert [kind for kind, _ in llm.calls] == ["choose", "choose"]  # gate, topic: no pairwise relation call
    assert active(svc) == ["home: The user moved to Berlin."]
    old = svc.memory.list("ana", status="forgotten")[0]
    assert old.text == "home: The user lives in Lisbon." and old.related == op.data["after"][1]["id"]
    svc.deps.llm = ScriptedLLM(replies=["Berlin."])
    run = turn(svc, "Where does the user live?")
    assert [t["text"] for t in run.events[0].data["thoughts"]] == ["home: The user moved to Berlin."]
    assert "Lisbon" not in run.events[1].data["prompt"][0]["content"]


def test_facts_of_other_topics_never_forget_each_other(services_factory) -> None:
    svc = services_factory(llm=script("Ok.", "yes", "job"))
    turn(svc, "I work as a dentist.")
    svc.deps.llm = script("Fun!", "yes", "hobby")
    op = turn(svc, "On weekends I go caving.").events[-1]
    assert op.data["operation"] == "insert" and op.data["compared"] == []
    assert active(svc) == ["hobby: On weekends the user goes caving.", "job: The user works as a dentist."]


def test_a_multi_valued_topic_keeps_both_thoughts(services_factory) -> None:
    svc = services_factory(llm=script("Ok.", "yes", "allergy"))
    turn(svc, "I'm allergic to latex.")
    svc.deps.llm = script("Ok.", "yes", "allergy")
    op = turn(svc, "I'm also allergic to kiwis.").events[-1]
    assert op.data["operation"] == "insert" and op.data["decision"]["relation"] == "unrelated"
    assert "compared with 1 thought(s) of that topic, none the same" in op.explanation
    assert len(active(svc)) == 2


def test_the_same_words_merge_into_the_newer_thought_without_a_relation_call(services_factory) -> None:
    svc = services_factory(llm=script("Ok.", "yes", "job"))
    turn(svc, "I work as a baker.")
    svc.deps.llm = llm = script("Ok.", "yes", "job")
    op = turn(svc, "I work as a baker.").events[-1]
    assert op.data["operation"] == "merge" and op.data["decision"]["checks"][0]["identical"] is True
    assert op.llm_calls == 1 and [kind for kind, _ in llm.calls] == ["choose", "choose"]  # gate, then the topic only
    assert active(svc) == ["job: The user works as a baker."]
    assert svc.memory.list("ana", status="merged")[0].text == "job: The user works as a baker."


def test_the_same_named_entity_merges_both_into_one_thought(services_factory) -> None:
    svc = services_factory(llm=script("Cute!", "yes", "pet"))
    turn(svc, "We adopted a puppy named Olive.")
    svc.deps.llm = script("Aww.", "yes", "pet")
    op = turn(svc, "Our Olive is a beagle.").events[-1]
    assert op.data["operation"] == "merge" and op.data["decision"]["checks"][0]["names"] == ["Olive"]
    assert active(svc) == ["pet: The user adopted a puppy named Olive; the user's Olive is a beagle."]
    assert {t.status for t in svc.memory.list("ana")} == {"active", "merged"}


def test_a_pet_that_died_and_a_new_one_leave_only_the_new_one_to_quote(services_factory) -> None:
    svc = services_factory(llm=script("Cute!", "yes", "pet"))
    turn(svc, "My dog is called Bruno.")
    svc.deps.llm = script("So sorry.", "yes", "pet", "pet")
    ops = turn(svc, "Sad news: Bruno passed away, and we adopted a new puppy named Olive.").events[3:]
    assert [o.data["operation"] for o in ops] == ["merge", "forget"]  # Bruno's thoughts join, then Olive replaces
    assert active(svc) == ["pet: The user adopted a new puppy named Olive."]
    svc.deps.llm = ScriptedLLM(choices=["pet"])
    run = turn(svc, "What is my dog's name?")
    assert run.answer == "You told me: You adopted a new puppy named Olive." and "Bruno" not in run.answer


def test_a_new_car_named_beside_the_old_one_replaces_it(services_factory) -> None:
    svc = services_factory(llm=script("Ok.", "yes", "car"))
    turn(svc, "I drive a grey Fiat.")
    svc.deps.llm = script("Ok.", "yes", "car")
    op = turn(svc, "I sold the Fiat and bought a blue Kia.").events[-1]
    assert op.data["operation"] == "forget"
    assert active(svc) == ["car: The user sold the Fiat and bought a blue Kia."]


def test_memory_and_buckets_survive_a_restart(services_factory) -> None:
    svc = services_factory(llm=script("Nice!", "yes", "pet"))
    turn(svc, "My dog is called Juno.")
    before = svc.memory.list("ana")[0]
    matrices = svc.memory.table.get_memory("ana").matrices
    again = services_factory(llm=ScriptedLLM(replies=["Juno."]))  # a new process on the same home
    assert again.memory.list("ana")[0].buckets == before.buckets
    assert np.array_equal(again.memory.table.get_memory("ana").matrices, matrices)
    run = turn(again, "What is my dog's name?")
    assert run.events[0].data["thoughts"][0]["text"] == "pet: The user's dog is called Juno."


def test_a_new_lsh_shape_rehashes_the_stored_thoughts(services_factory) -> None:
    svc = services_factory(llm=script("Nice!", "yes", "pet"))
    turn(svc, "My dog is called Juno.")
    svc.deps.llm = ScriptedLLM(replies=["Juno."])
    run = turn(svc, "What is my dog's name?", config={"buckets": 8, "tables": 2, "probes": 8})
    assert run.events[0].data["thoughts"][0]["text"] == "pet: The user's dog is called Juno."
    assert len(svc.memory.list("ana")[0].buckets) == 2


def test_two_users_never_see_each_others_thoughts(services_factory) -> None:
    svc = services_factory(llm=script("Nice!", "yes"))
    turn(svc, "I live in Lisbon.", user="ana")
    svc.deps.llm = ScriptedLLM(replies=["I don't know."])
    run = turn(svc, "Where do I live?", user="ben")
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


class CloseCall(ScriptedLLM):
    """Picks 'hobby' for a question's topic, only 0.5 log-odds above 'other'."""

    def choose(self, messages, options):
        choice = super().choose(messages, options)
        if "hobby" in options and messages[-1]["content"].rstrip().endswith("?\nTopic:"):
            scores = {o: -9.0 for o in options} | {"hobby": -1.0, "other": -1.5}
            return type(choice)(option="hobby", scores=scores, prompt_tokens=choice.prompt_tokens, completion_tokens=1)
        return choice


def test_a_question_whose_topic_barely_beats_other_is_answered_by_the_model(services_factory) -> None:
    svc = services_factory(llm=script("Fun!", "yes", "hobby"))
    turn(svc, "On Sundays I go rowing.")
    svc.deps.llm = llm = CloseCall(replies=["Try origami."])
    run = turn(svc, "How do I fold a paper crane?")
    assert [kind for kind, _ in llm.calls] == ["choose", "chat"] and run.answer == "Try origami."
    decision = run.events[1].data["decision"]
    assert decision["topic"] == "hobby" and decision["over_other"] == 0.5 and decision["quoted"] == []
    assert "may be about the user's hobby, but the model is not clear enough" in run.events[1].explanation
    assert run.events[1].data["decision"]["over_other"] == 0.5  # the numbers are in the details
    run = turn(svc, "How do I fold a paper crane?", config={"quote_margin": 0.2})
    assert run.answer == "You told me: On Sundays you go rowing."


def test_every_tim_step_payload_matches_its_schema(services_factory) -> None:
    from agents.events import validate_data

    svc = services_factory(llm=script("Nice!", "yes", "home"))
    for message in ("I live in Lisbon.", "Help me plan my week.", "Where do I live?"):
        for event in turn(svc, message).events:
            assert validate_data(event.kind, event.data) == [], (message, event.kind)


def test_acknowledged_facts_are_left_out_of_the_turns_the_model_is_shown(services_factory) -> None:
    svc = services_factory(llm=script("Nice!", "yes", "home"))
    history: list[dict[str, str]] = []
    first = turn(svc, "I live in Lisbon.", history=history)
    history += [{"role": "user", "content": "I live in Lisbon."}, {"role": "assistant", "content": first.answer}]
    svc.deps.llm = llm = ScriptedLLM(replies=["Try the tram."])
    run = turn(svc, "What should I see there?", history=history)
    shown = run.events[1].data["turns"]
    assert first.answer.startswith("Noted:") and run.answer == "Try the tram."
    assert shown == [{"role": "user", "content": "I live in Lisbon."}]  # the user's words stay, "Noted: …" does not
    assert [kind for kind, _ in llm.calls] == ["choose", "chat"]  # the question's topic (other), the reply
