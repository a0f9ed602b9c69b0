"""RetroRAG with a scripted LLM: accepted first time, a contradiction changes the answer, the cap, bad claims."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from agents.events import validate_data
from agents.retro_rag import evidence as ev
from llm.base import Choice, Message
from llm.fake import ScriptedLLM
from retrieval.readers import RawDocument, doc_id

QUESTION = "On which river is the town where the Orvane Guild was founded?"


class JudgingLLM(ScriptedLLM):
    """Scripted replies, and choices decided by a function of the prompt (so a test states its rule once)."""

    def __init__(self, replies: Sequence, judge: Callable[[str, Sequence[str]], str]) -> None:
        super().__init__(replies=replies, default_reply="(unused)")
        self.judge = judge

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        """The option `judge` picks for the last user turn."""
        self.calls.append(("choose", list(messages)))
        option = self.judge(messages[-1]["content"], options)
        scores = {o: (0.0 if o == option else -3.0) for o in options}
        return Choice(option=option, scores=scores, prompt_tokens=10, completion_tokens=1)


def cite(title: str, claim: str) -> Callable[[Sequence[Message]], str]:
    """A claim fill citing the passage titled `title` by the number the prompt gives it."""

    def reply(messages: Sequence[Message]) -> str:
        found = re.search(rf"^\[(\d+)\] {re.escape(title)}:", messages[-1]["content"], flags=re.M)
        return f"[{found.group(1) if found else 99}] {claim}"

    return reply


def _run(services_factory, docs, llm, config=None, question=QUESTION):
    svc = services_factory(llm=llm)
    svc.ingest_documents("toy", docs)
    run = svc.run("retro_rag", "toy", question, config)
    events = list(run)
    assert not run.error, run.error
    for e in events:
        assert validate_data(e.kind, e.data) == [], (e.kind, validate_data(e.kind, e.data))
    return run, events


def _docs(texts: dict[str, str]) -> list[RawDocument]:
    return [RawDocument(id=doc_id(t, x), title=t, text=x, source=f"{t}.txt") for t, x in texts.items()]


def test_answer_accepted_first_time(services_factory, toy_docs) -> None:
    llm = ScriptedLLM(replies=[cite("Tallow", "Tallow is a port town on the river Senn."), "Senn."])
    run, events = _run(services_factory, toy_docs, llm, {"passages_per_search": 5})

    assert [e.kind for e in events] == ["retrieve", "revise", "rewrite", "read", "answer"]
    assert run.answer == "Senn"
    collated, discovered, rewrite, read, final = events
    # every entity has evidence of its own, so discovery has nothing to search before the first answer
    assert rewrite.data["query"] == "" and rewrite.explanation.endswith("no new query is left, so it answers.")
    assert len(collated.data["hits"]) == 5 and "source evidence" in collated.explanation
    assert discovered.data["operation"] == "discover" and discovered.data["entities"] == ["Orvane Guild"]
    after = discovered.data["after"]
    assert [e["kind"] for e in after] == ["source"] * 5 + ["inferential"]
    inferred = after[-1]
    assert inferred["claim"] == "Tallow is a port town on the river Senn."
    assert inferred["entity"] == "Tallow" and inferred["status"] == "active"
    assert set(inferred["credibility"]) == {"attribution", "relevance"}
    assert "keeps it as e6" in discovered.explanation and len(discovered.data["before"]) == 5
    # the answerer reads the claim first, then the passage behind it; both checks say yes
    assert read.data["decision"]["grounded"] and read.data["decision"]["reliable"]
    assert read.data["notes"] == ["Tallow is a port town on the river Senn."]
    reader_prompt = read.data["prompt"][-1]["content"]
    assert reader_prompt.index("[1] Evidence so far:") < reader_prompt.index("[2] Tallow:")
    assert final.data["decision"]["stopped"] == "reliable" and "judged it reliable" in final.explanation
    assert final.data["drafts"] == ["Senn"] and run.used_ids[0] == inferred["passages"][0]
    # the claim is the passage's own words, so attribution needs no call: claim, relevance, answer, 2 checks
    assert inferred["credibility"]["attribution"]["method"] == "copied"
    assert sum(e.llm_calls for e in events) == 5


def test_paraphrased_claim_is_checked_and_misnumbered_claim_renumbered(services_factory, toy_docs) -> None:
    def judge(prompt: str, options: Sequence[str]) -> str:
        return "no" if "Does the passage state this fact?" in prompt else options[0]

    wrong = cite("Grey Hills", "Mira Kesh set up the Orvane Guild at Tallow.")  # cites the wrong passage
    llm = JudgingLLM(replies=[wrong, "Tallow"], judge=judge)
    run, events = _run(services_factory, toy_docs, llm, {"passages_per_search": 5, "max_iterations": 1})
    candidate = events[1].data["candidate"]
    numbers = {h["title"]: h["rank"] for h in events[0].data["hits"]}
    assert candidate["renumbered_from"] == numbers["Grey Hills"] and candidate["passage"] == numbers["Orvane Guild"]
    assert candidate["status"] == "dropped" and "does not state it" in events[1].explanation
    assert events[1].data["decision"]["attribution"]["option"] == "no"


CONTRADICTED = {
    "Orvane Guild": "The Orvane Guild was founded in the port town of Tallow, on the river Senn.",
    "Marrow Almanac": "The Marrow Almanac lists market days of the northern towns.",
    "Guild charters": "The Orvane Guild charter was signed in Pellow in 1650; Pellow, not Tallow, is where the "
                      "Orvane Guild was founded.",
    "Pellow": "Pellow is a town on the river Amber.",
}


def test_contradiction_withdraws_earlier_evidence_and_changes_the_answer(services_factory) -> None:
    def judge(prompt: str, options: Sequence[str]) -> str:
        if "Do they disagree?" in prompt:  # the charter supersedes the founding town
            earlier, new = prompt.split("\nNew: ")
            return "yes" if "Tallow" in earlier and "Pellow" in new and "founded" in new else "no"
        if "Does the evidence support the answer?" in prompt:
            return "yes" if "Answer: Amber" in prompt else "no"
        return options[0]

    llm = JudgingLLM(replies=[
        cite("Orvane Guild", "The Orvane Guild was founded in the port town of Tallow."), "Senn",
        cite("Guild charters", "Pellow, not Tallow, is where the Orvane Guild was founded."), "Amber",
    ], judge=judge)
    run, events = _run(services_factory, _docs(CONTRADICTED), llm,
                       {"passages_per_search": 2, "max_checks": 3, "contradiction_margin": 1.0, "answer_after": 1})
    kinds = [e.kind for e in events]
    assert kinds[:5] == ["retrieve", "revise", "read", "rewrite", "retrieve"], kinds
    assert events[2].data["answer"] == "Senn" and not events[2].data["decision"]["reliable"]
    retro = [e for e in events if e.kind == "revise" and e.data["operation"] == "retroact"]
    assert len(retro) == 1
    revision = retro[0]
    withdrawn = revision.data["withdrawn"]
    assert withdrawn and revision.explanation.startswith("Withdrew 'The Orvane Guild was founded in the port town of")
    assert "gives 'Pellow, not Tallow" in revision.explanation or "gives 'The Orvane Guild charter" in \
        revision.explanation
    assert revision.data["answer_redone"] and "The answer 'Senn' rested on it and is redone." in revision.explanation
    before = {e["id"]: e["status"] for e in revision.data["before"]}
    after = {e["id"]: e for e in revision.data["after"]}
    assert all(before[i] == "active" and after[i]["status"] == "withdrawn" for i in withdrawn)
    assert all(after[i]["reason"] for i in withdrawn) and revision.data["passages"]
    # the answer is redone from the revised evidence and changes
    second = [e for e in events if e.kind == "read"][-1]
    assert second.data["answer"] == "Amber" and second.data["previous"] == "Senn" and second.data["changed"]
    assert "(was 'Senn')" in second.explanation
    assert run.answer == "Amber" and events[-1].data["decision"]["stopped"] == "reliable"
    assert events[-1].data["decision"]["withdrawn"] == withdrawn and events[-1].data["drafts"] == ["Senn", "Amber"]
    assert all("Tallow" not in claim for claim in events[-1].data["notes"])


def test_cap_reached_without_a_reliable_answer(services_factory, toy_docs) -> None:
    def judge(prompt: str, options: Sequence[str]) -> str:
        return "no" if "Does the evidence support the answer?" in prompt else options[0]

    llm = JudgingLLM(replies=[
        cite("Orvane Guild", "The Orvane Guild was founded by Mira Kesh in the port town of Tallow."), "Tallow",
        cite("Tallow", "Tallow is a port town on the river Senn."), "Senn",
    ], judge=judge)
    run, events = _run(services_factory, toy_docs, llm, {"max_iterations": 2, "passages_per_search": 1,
                                                         "answer_after": 1})
    kinds = [e.kind for e in events]
    assert kinds.count("retrieve") == 2 and kinds.count("read") == 2 and kinds[-1] == "answer"
    rewrite = next(e for e in events if e.kind == "rewrite")
    assert rewrite.data["decision"]["candidates"][0] in ("Mira Kesh", "Tallow")
    assert rewrite.data["query"].endswith(QUESTION) and "has no evidence of its own" in rewrite.explanation
    final = events[-1]
    assert final.data["decision"]["stopped"] == "cap" and "cap of 2 rounds" in final.explanation
    assert run.answer == "Senn" and final.data["drafts"] == ["Tallow", "Senn"]


def test_malformed_claims_are_recorded_and_skipped(services_factory, toy_docs) -> None:
    def judge(prompt: str, options: Sequence[str]) -> str:
        return "no" if "Does the evidence support the answer?" in prompt else options[0]

    llm = JudgingLLM(replies=["Tallow", "Tallow", "[42] Mira Kesh founded the Orvane Guild.", "Tallow"], judge=judge)
    run, events = _run(services_factory, toy_docs, llm, {"max_iterations": 2, "passages_per_search": 2,
                                                         "answer_after": 1})
    discoveries = [e for e in events if e.kind == "revise" and e.data["operation"] == "discover"]
    assert len(discoveries) == 2
    assert all(e.data["format_failure"] and e.data["candidate"]["status"] == "malformed" for e in discoveries)
    assert "not a statement" in discoveries[0].data["candidate"]["problem"]
    assert "cites passage 42" in discoveries[1].data["candidate"]["problem"]
    assert "recorded and skipped" in discoveries[0].explanation
    assert not any(e["kind"] == "inferential" for e in discoveries[-1].data["after"])
    assert run.answer == "Tallow" and events[-1].data["decision"]["stopped"] == "cap"


def test_discovery_searches_for_the_bridge_entity_before_the_first_answer(services_factory, toy_docs) -> None:
    def judge(prompt: str, options: Sequence[str]) -> str:
        return "no" if "Does the evidence support the answer?" in prompt else options[0]

    llm = JudgingLLM(replies=[
        cite("Orvane Guild", "The Orvane Guild was founded by Mira Kesh in the port town of Tallow."),
        lambda m: "[2] " + m[-1]["content"].split("[2] ")[1].split(": ", 1)[1].split(".")[0] + ".",
        "Tallow", "(nothing)", "Senn",
    ], judge=judge)
    run, events = _run(services_factory, toy_docs, llm, {"passages_per_search": 1})  # answer_after=2, 3 searches
    kinds = [e.kind for e in events]
    assert kinds[:5] == ["retrieve", "revise", "rewrite", "retrieve", "revise"], kinds
    assert kinds.count("retrieve") == 3 and kinds.count("read") == 2 and kinds[-1] == "answer"
    first_rewrite = events[2]
    assert "before answering, discovery looks" in first_rewrite.explanation
    assert first_rewrite.data["query"] in (f"Mira Kesh {QUESTION}", f"Tallow {QUESTION}")
    assert events[3].data["query"] == first_rewrite.data["query"]
    # the second search's passage came through the claim, so what is filed from it rests on that claim
    source = [e for e in events[4].data["after"] if e["kind"] == "source"][1]
    assert source["derived_from"] == ["e2"]
    assert events[-1].data["decision"]["stopped"] == "cap" and events[-1].data["drafts"] == ["Tallow", "Senn"]


def test_invented_names_are_dropped_without_asking(services_factory, toy_docs) -> None:
    llm = ScriptedLLM(replies=[cite("Tallow", "Tallow was founded by Ilse Marrow."), "Tallow"])
    run, events = _run(services_factory, toy_docs, llm, {"passages_per_search": 5, "max_iterations": 1})
    discovered = events[1]
    assert discovered.data["candidate"]["status"] == "dropped"
    assert "names Ilse Marrow" in discovered.explanation and discovered.llm_calls == 1


# --- the evidence set's pure functions ------------------------------------------------------------
def test_names_and_claim_parsing() -> None:
    assert ev.names(QUESTION) == ["Orvane Guild"]
    assert ev.names("Who was the first president of the association which published Journal of Psychotherapy "
                    "Integration?") == ["Journal of Psychotherapy Integration"]
    assert ev.names("The Feast of Reeds is held in Duvessa's old port.") == ["Feast of Reeds", "Duvessa"]
    assert ev.names("Several countries have established national churches, as Mali did.") == ["Mali"]
    assert ev.parse_claim("[2] Tallow is on the Senn.\nmore", [1, 2]) == (2, "Tallow is on the Senn.", "")
    assert ev.parse_claim("Fact: Tallow is on the Senn", [1])[2] == ""
    assert ev.parse_claim("[3] Tallow lies there", [1, 2])[2].startswith("it cites passage 3")
    assert "not a statement" in ev.parse_claim("Senn", [1])[2]
    assert "not a statement" in ev.parse_claim("", [1])[2]


def test_best_sentence_and_grounding() -> None:
    text = "Tallow is a port town. It lies on the river Senn, famous for salt. Its mayor is Ana Bell."
    assert ev.best_sentence(text, "Which river flows by it?") == "It lies on the river Senn, famous for salt."
    assert ev.answer_grounded("the Senn", [text]) and not ev.answer_grounded("Amber", [text])
    assert ev.unsupported_names("Ana Bell founded Tallow with Ilse Marrow.", [text]) == ["Ilse Marrow"]


def test_answers_that_restate_the_question_are_cut() -> None:
    asked = "Who founded the guild whose hall is in the village of Mirrowdale?"
    assert ev.trim_restatement("Corwen Halloway founded the guild whose hall is in Mirrowdale", asked) == \
        "Corwen Halloway"
    treaty = "The Treaty on the Functioning of the European Union"
    assert ev.trim_restatement(treaty, "Which treaty on the functioning of the union applies?") == treaty


def test_withdraw_cascades_to_dependent_items() -> None:
    items = [
        {"id": "e1", "claim": "X was founded in Tallow.", "entity": "X", "numbers": [1], "status": "active"},
        {"id": "e2", "claim": "Tallow is on the Senn.", "entity": "Tallow", "numbers": [2], "status": "active",
         "derived_from": ["e1"]},
        {"id": "e3", "claim": "X was founded in Pellow.", "entity": "X", "numbers": [3], "status": "active"},
    ]
    assert ev.check_pairs(items, ["e3"], 5) == [(items[0], items[2])]
    assert ev.withdraw(items, "e1", "e3", "passage 3 gives Pellow", 2) == ["e1", "e2"]
    assert [e["status"] for e in items] == ["withdrawn", "withdrawn", "active"]
    assert items[1]["withdrawn_by"] == "e1" and "rested on e1" in items[1]["reason"]
    assert ev.active(items) == [items[2]]
