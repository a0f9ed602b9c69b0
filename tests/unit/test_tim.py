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


def script(reply: str, thought: str, *relations: str, gate: str = "yes") -> ScriptedLLM:
    """An LLM that replies, decides to post-think (or not), writes one thought, then picks relations."""
    return ScriptedLLM(replies=[reply, thought], choices=[gate, *relations])


def active(svc, user: str = "ana") -> list[str]:
    return sorted(t.text for t in svc.memory.list(user, status="active"))


def test_a_fact_is_post_thought_and_inserted(services_factory) -> None:
    svc = services_factory(llm=script("Nice!", "The user lives in Lisbon."))
    run = turn(svc, "I live in Lisbon.")
    assert [e.kind for e in run.events] == ["memory_read", "answer", "memory_write", "memory_write"]
    assert run.answer == "Nice!"
    assert [e.data["operation"] for e in run.events[2:]] == ["think", "insert"]
    assert run.events[3].explanation.startswith("Remembered 'The user lives in Lisbon.'")
    assert active(svc) == ["The user lives in Lisbon."]
    stored = svc.memory.list("ana")[0]
    assert stored.source_run == run.run_id and stored.source_turn == "I live in Lisbon." and len(stored.buckets) == 4


def test_a_question_is_not_post_thought(services_factory) -> None:
    llm = ScriptedLLM(replies=["You live in Lisbon."])
    svc = services_factory(llm=llm)
    run = turn(svc, "Where do I live?")
    assert [e.kind for e in run.events] == ["memory_read", "answer", "memory_write"]
    assert run.events[-1].data["operation"] == "think" and run.events[-1].data["after"] == []
    assert run.events[-1].data["decision"] == {"option": "question", "pre_check": True}
    assert [kind for kind, _ in llm.calls] == ["chat"]  # the reply only: grammar settled the gate
    assert svc.memory.count("ana") == 0


def test_a_request_not_about_the_user_is_not_post_thought_and_a_statement_asks_the_gate(services_factory) -> None:
    llm = ScriptedLLM(replies=["Why did the cat sit on the laptop?"])
    svc = services_factory(llm=llm)
    run = turn(svc, "Tell me a joke about cats.")
    assert run.events[-1].data["decision"]["option"] == "other" and svc.memory.count("ana") == 0
    assert [kind for kind, _ in llm.calls] == ["chat"]
    svc.deps.llm = llm = ScriptedLLM(replies=["Ok."], choices=["no"])
    run = turn(svc, "Help me plan my week.")  # speaks of the user: the model's gate decides (here: no fact)
    assert [kind for kind, _ in llm.calls] == ["chat", "choose"]
    assert run.events[-1].data["decision"]["option"] == "no" and svc.memory.count("ana") == 0
    assert "does not read the message as a fact" in run.events[-1].explanation


def test_recall_asks_in_the_third_person_of_the_thoughts(services_factory) -> None:
    svc = services_factory(llm=script("Nice!", "The user drives a red Volvo."))
    turn(svc, "I drive a red Volvo.")
    svc.deps.llm = ScriptedLLM(replies=["A red Volvo."])
    run = turn(svc, "What car do I drive?")
    read = run.events[0]
    assert read.data["query"] == "What car does the user drive?"
    assert "asked as 'What car does the user drive?'" in read.explanation
    assert read.data["thoughts"][0]["text"] == "The user drives a red Volvo."


def test_a_contradiction_forgets_the_old_thought_and_recall_then_finds_the_new(services_factory) -> None:
    svc = services_factory(llm=script("Nice!", "The user lives in Lisbon."))
    turn(svc, "I live in Lisbon.")
    svc.deps.llm = script("Welcome to Berlin!", "The user lives in Berlin.", "update")
    run = turn(svc, "I moved to Berlin.")
    op = run.events[-1]
    assert op.data["operation"] == "forget"
    assert op.explanation.startswith("Forgot 'The user lives in Lisbon.' — superseded by 'The user lives in Berlin.'")
    assert [t["status"] for t in op.data["after"]] == ["forgotten", "active"]
    assert active(svc) == ["The user lives in Berlin."]
    old = svc.memory.list("ana", status="forgotten")[0]
    assert old.text == "The user lives in Lisbon." and old.related == op.data["after"][1]["id"]
    # the next recall sees only the active thought
    svc.deps.llm = ScriptedLLM(replies=["Berlin."])
    run = turn(svc, "Where does the user live?")
    assert [t["text"] for t in run.events[0].data["thoughts"]] == ["The user lives in Berlin."]
    assert "- The user lives in Berlin." in run.events[1].data["prompt"][0]["content"]
    assert "Lisbon" not in run.events[1].data["prompt"][0]["content"]


def test_a_duplicate_merges_the_stored_thought_into_the_newer_wording(services_factory) -> None:
    svc = services_factory(llm=script("Ok.", "The user works as a baker."))
    turn(svc, "I work as a baker.")
    svc.deps.llm = script("Ok.", "The user works as a baker by trade.", "same")
    op = turn(svc, "Baking is my job.").events[-1]
    assert op.data["operation"] == "merge" and "the same fact" in op.explanation
    assert active(svc) == ["The user works as a baker by trade."]
    merged = svc.memory.list("ana", status="merged")[0]
    assert merged.text == "The user works as a baker." and merged.related == op.data["after"][1]["id"]


def test_an_identical_thought_merges_without_asking_the_model(services_factory) -> None:
    svc = services_factory(llm=script("Ok.", "The user works as a baker."))
    turn(svc, "I work as a baker.")
    svc.deps.llm = script("Ok.", "The user works as a baker.")
    op = turn(svc, "I work as a baker.").events[-1]
    assert op.data["operation"] == "merge" and op.data["decision"]["checks"][0]["identical"] is True
    assert op.llm_calls == 0


def test_a_detail_about_the_same_entity_merges_both_into_one_thought(services_factory) -> None:
    svc = services_factory(llm=script("Cute!", "The user has a puppy named Olive."))
    turn(svc, "We adopted a puppy named Olive.")
    svc.deps.llm = script("Aww.", "The user's puppy Olive is a beagle puppy.", "detail")
    op = turn(svc, "Our Olive is a beagle.").events[-1]
    assert op.data["operation"] == "merge"
    assert active(svc) == ["The user has a puppy named Olive; the user's puppy Olive is a beagle puppy."]
    assert {t.status for t in svc.memory.list("ana")} == {"active", "merged"}


def test_memory_and_buckets_survive_a_restart(services_factory) -> None:
    svc = services_factory(llm=script("Nice!", "The user's dog is named Juno."))
    turn(svc, "My dog is called Juno.")
    before = svc.memory.list("ana")[0]
    matrices = svc.memory.table.get_memory("ana").matrices
    again = services_factory(llm=ScriptedLLM(replies=["Juno."]))  # a new process on the same home
    assert again.memory.list("ana")[0].buckets == before.buckets
    assert np.array_equal(again.memory.table.get_memory("ana").matrices, matrices)
    run = turn(again, "What is my dog's name?")
    assert run.events[0].data["thoughts"][0]["text"] == "The user's dog is named Juno."


def test_a_new_lsh_shape_rehashes_the_stored_thoughts(services_factory) -> None:
    svc = services_factory(llm=script("Nice!", "The user's dog is named Juno."))
    turn(svc, "My dog is called Juno.")
    svc.deps.llm = ScriptedLLM(replies=["Juno."])
    run = turn(svc, "What is my dog's name?", config={"buckets": 8, "tables": 2, "probes": 8})
    assert run.events[0].data["thoughts"][0]["text"] == "The user's dog is named Juno."
    assert len(svc.memory.list("ana")[0].buckets) == 2


def test_two_users_never_see_each_others_thoughts(services_factory) -> None:
    svc = services_factory(llm=script("Nice!", "The user lives in Lisbon."))
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


def test_split_thoughts_keeps_short_statements_only() -> None:
    from agents.tim import split_thoughts

    reply = "The user lives in Porto. Where? The user has a dog named Olive! ok\nThe user is tall."
    assert split_thoughts(reply, 5) == ["The user lives in Porto.", "The user has a dog named Olive."]
    assert split_thoughts("", 3) == []


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
