"""RetroRAG with a scripted LLM: accepted first time, a contradiction changes the answer, the cap, bad claims."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from agents.base import short
from agents.events import validate_data
from agents.retro_rag import evidence as ev
from agents.retro_rag.nodes import best_draft, marginal
from llm.base import Choice, Message
from llm.fake import ScriptedLLM
from retrieval.readers import RawDocument, doc_id
from ui.details import inputs_markdown

QUESTION = "On which river is the town where the Orvane Guild was founded?"
LOOSE = {"relevance_floor": 0.0}  # the hash embedder's cosines are no measure of relevance


class JudgingLLM(ScriptedLLM):
    """Scripted replies, and choices decided by a function of the prompt (so a test states its rule once)."""

    def __init__(self, replies: Sequence, judge: Callable[[str, Sequence[str]], str]) -> None:
        super().__init__(replies=replies, default_reply="(unused)")
        self.judge = judge

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        """The option `judge` picks for the last user turn, 10 nats ahead of the others."""
        self.calls.append(("choose", list(messages)))
        option = self.judge(messages[-1]["content"], options)
        scores = {o: (0.0 if o == option else -10.0) for o in options}
        return Choice(option=option, scores=scores, prompt_tokens=10, completion_tokens=1)


def number_of(prompt: str, title: str) -> str:
    """The number the prompt gives the passage titled `title`."""
    found = re.search(rf"^\[(\d+)\] {re.escape(title)}:", prompt, flags=re.M)
    return found.group(1) if found else ""


def rule(pick: str = "", supported: Sequence[str] = (), slot: Callable[[str, Sequence[str]], str] | None = None):
    """A judge: discovery picks the passage titled `pick` when shown, the support check confirms only
    `supported` answers, slot checks follow `slot` (default: the earlier value), everything else the first option."""

    def judge(prompt: str, options: Sequence[str]) -> str:
        if "Most helpful passage:" in prompt:
            return number_of(prompt, pick) if number_of(prompt, pick) in options else options[0]
        if len(options) == 2 and options[1] == "unknown":
            return options[0] if options[0] in supported else "unknown"
        if "Fill the blank" in prompt:
            return slot(prompt, options) if slot else options[0]
        return options[0]

    return judge


def _run(services_factory, docs, llm, config=None, question=QUESTION):
    svc = services_factory(llm=llm)
    svc.ingest_documents("toy", docs)
    run = svc.run("retro_rag", "toy", question, {**LOOSE, **(config or {})})
    events = list(run)
    assert not run.error, run.error
    for e in events:
        assert validate_data(e.kind, e.data) == [], (e.kind, validate_data(e.kind, e.data))
    return run, events


def _docs(texts: dict[str, str]) -> list[RawDocument]:
    return [RawDocument(id=doc_id(t, x), title=t, text=x, source=f"{t}.txt") for t, x in texts.items()]


def test_answer_accepted_first_time(services_factory, toy_docs) -> None:
    llm = JudgingLLM(replies=["Senn."], judge=rule(pick="Tallow", supported=("Senn",)))
    run, events = _run(services_factory, toy_docs, llm, {"first_passages": 5, "answer_after": 1})

    assert [e.kind for e in events] == ["retrieve", "evidence", "retrieve", "read", "answer"]
    assert run.answer == "Senn"
    collated, discovered, baseline, read, final = events
    assert len(collated.data["hits"]) == 5 and "source evidence" in collated.explanation
    assert discovered.data["operation"] == "discover" and discovered.data["entities"] == ["Orvane Guild"]
    # discovery chose the Tallow passage by its number (a constrained choice), then its sentence
    numbers = {h["title"]: h["rank"] for h in collated.data["hits"]}
    assert discovered.data["decision"]["passage"]["option"] == str(numbers["Tallow"])
    after = discovered.data["after"]
    assert [e["kind"] for e in after] == ["source"] * 5 + ["inferential"]
    inferred = after[-1]
    assert inferred["claim"] == "Tallow is a port town on the river Senn, famous for its salt markets."
    assert inferred["entity"] == "Tallow" and inferred["status"] == "active"
    assert "keeps 'Tallow is a port town" in discovered.explanation and len(discovered.data["before"]) == 5
    # the answerer reads the question's own top 5, as the naive baseline does: nothing new to fetch
    assert baseline.data["new"] == [] and len(baseline.data["hits"]) == 5
    assert read.data["passages"] == [h["doc_id"] for h in baseline.data["hits"]]
    assert read.data["grounding"]["status"] == "supported" and read.data["decision"]["reliable"]
    assert "answers 'Senn' (“Tallow” states it as the answer)" in read.explanation and "keeps it" in read.explanation
    assert final.data["decision"]["stopped"] == "reliable" and "judged reliable" in final.explanation
    assert final.data["drafts"] == ["Senn"] and run.used_ids == read.data["passages"]
    # calls: passage choice, relevance, the answer, its support checks (River Senn holds it too, but is no link
    # from the question: checked, not passed; then Tallow)
    assert [c["title"] for c in read.data["grounding"]["checks"]] == ["River Senn", "Tallow"]
    assert sum(e.llm_calls for e in events) == 5



def test_answer_margin_sets_how_clearly_a_passage_must_give_the_answer(services_factory, toy_docs) -> None:
    """The fake support check prefers 'Senn' over 'unknown' by 10 nats: reliable at the default margin (8), not
    at 20, where the loop goes on instead of stopping at the first answer."""
    llm = JudgingLLM(replies=["Senn."] * 6, judge=rule(pick="Tallow", supported=("Senn",)))
    _, events = _run(services_factory, toy_docs, llm, {"first_passages": 5, "answer_after": 1, "answer_margin": 20})
    first_read = next(e for e in events if e.kind == "read")
    assert first_read.data["grounding"]["margin"] == 20
    assert first_read.data["grounding"]["status"] != "supported" and not first_read.data["decision"]["reliable"]
    assert events[-1].data["decision"]["stopped"] != "reliable"

CONTRADICTED = {
    "Orvane Guild": "The Orvane Guild was founded in the port town of Tallow.",
    "Tallow": "Tallow is a port town on the river Senn.",
    "Guild charters": "The Orvane Guild was founded in the port town of Pellow, not Tallow, as its charter of 1650 "
                      "shows.",
    "Pellow": "Pellow is a town on the river Amber.",
}


def test_contradiction_withdraws_earlier_evidence_and_changes_the_answer(services_factory) -> None:
    def slot(prompt: str, options: Sequence[str]) -> str:  # each passage gives its own town
        return "Pellow" if "Pellow, not Tallow" in prompt else "Tallow"

    llm = JudgingLLM(replies=["Senn", "Amber"], judge=rule(pick="Guild charters", supported=("Amber",), slot=slot))
    docs = _docs(CONTRADICTED)
    svc = services_factory(llm=llm)
    svc.ingest_documents("toy", docs)
    order = [h.title for h in svc.corpora.search("toy", QUESTION, 4)]
    first = order[:1]
    assert first == ["Orvane Guild"], order  # the hash embedder ranks the founding passage first
    run, events = _run(services_factory, docs, llm, {
        "first_passages": 1, "baseline_passages": 1, "passages_per_search": 3, "answer_after": 1,
        "max_iterations": 2, "max_checks": 4})
    kinds = [e.kind for e in events]
    assert kinds[:5] == ["retrieve", "evidence", "retrieve", "read", "rewrite"], kinds
    first_read = events[3]
    assert first_read.data["answer"] == "Senn" and not first_read.data["decision"]["reliable"]
    assert "Tallow" in events[4].data["query"]  # the town named by the kept claim is searched next
    retro = [e for e in events if e.data.get("operation") == "retroact"]
    assert len(retro) == 1
    revision = retro[0]
    withdrawn = revision.data["withdrawn"]
    assert withdrawn and revision.explanation.startswith(
        "Withdrew 'The Orvane Guild was founded in the port town of Tallow.' (from passage 1)")
    assert "gives 'Pellow', not 'Tallow'" in revision.explanation
    assert revision.data["answer_redone"] and "The answer 'Senn' rested on it and is redone." in revision.explanation
    check = next(c for c in revision.data["checks"] if c["disagree"])
    assert check["slot"] == "The Orvane Guild was founded in the port town of ___."
    assert check["new_passage_prefers_new"] == 10.0 and check["earlier_passage_prefers_earlier"] == 10.0
    before = {e["id"]: e["status"] for e in revision.data["before"]}
    after = {e["id"]: e for e in revision.data["after"]}
    assert all(before[i] == "active" and after[i]["status"] == "withdrawn" for i in withdrawn)
    assert all(after[i]["reason"] for i in withdrawn) and revision.data["passages"]
    # the answer is redone without the withdrawn passage, and changes
    second = [e for e in events if e.kind == "read"][-1]
    orvane = next(h["doc_id"] for h in events[0].data["hits"])
    assert orvane not in second.data["passages"]
    assert second.data["answer"] == "Amber" and second.data["previous"] == "Senn" and second.data["changed"]
    assert run.answer == "Amber" and events[-1].data["decision"]["stopped"] == "reliable"
    assert events[-1].data["decision"]["withdrawn"] == withdrawn and events[-1].data["drafts"] == ["Senn", "Amber"]
    assert not events[-1].data["decision"]["drafts"][0]["valid"]
    assert all("port town of Tallow" not in claim for claim in events[-1].data["notes"])


def test_consistent_values_withdraw_nothing(services_factory) -> None:
    llm = JudgingLLM(replies=["Senn", "Amber"], judge=rule(pick="Guild charters"))  # slots keep the earlier value
    run, events = _run(services_factory, _docs(CONTRADICTED), llm, {
        "first_passages": 1, "baseline_passages": 1, "passages_per_search": 3, "answer_after": 1,
        "max_iterations": 2, "max_checks": 4})
    retro = [e for e in events if e.data.get("operation") == "retroact"]
    assert retro and not retro[0].data["withdrawn"] and "nothing contradicts" in retro[0].explanation
    assert not re.search(r"[+-]\d", retro[0].explanation)
    assert run.answer == "Senn"  # neither draft is supported: the comparison (scripted: the first option) keeps it
    compared = events[-1].data["decision"]["compared"]
    assert compared["options"] == ["Senn", "Amber"] and compared["option"] == "Senn"
    assert "no draft is supported, so it weighs each draft under each of the 2 sets" in events[-1].explanation


def test_cap_reached_without_a_reliable_answer(services_factory, toy_docs) -> None:
    llm = JudgingLLM(replies=["Tallow", "Senn"], judge=rule(pick="Orvane Guild"))  # the check never confirms
    run, events = _run(services_factory, toy_docs, llm, {"max_iterations": 2, "first_passages": 1,
                                                         "passages_per_search": 1, "baseline_passages": 1,
                                                         "answer_after": 1})
    kinds = [e.kind for e in events]
    assert kinds.count("read") == 2 and kinds[-1] == "answer"
    rewrite = next(e for e in events if e.kind == "rewrite")
    assert rewrite.data["decision"]["candidates"][0] in ("Mira Kesh", "Tallow")
    assert rewrite.data["query"].endswith(QUESTION) and "has no evidence of its own" in rewrite.explanation
    final = events[-1]
    assert final.data["decision"]["stopped"] == "cap" and "cap of 2 rounds" in final.explanation
    assert final.data["drafts"] == ["Tallow", "Senn"] and run.answer == "Tallow"  # the scripted comparison: first


class ReadingLLM(JudgingLLM):
    """JudgingLLM whose draft comparison scores depend on the reading: `tables` maps a title the reading holds
    (checked in order) to each draft's log-probability under it."""

    def __init__(self, replies: Sequence, judge, tables: dict[str, dict[str, float]]) -> None:
        super().__init__(replies=replies, judge=judge)
        self.tables = tables

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        prompt = messages[-1]["content"]
        table = next((t for title, t in self.tables.items() if f"] {title}:" in prompt), None)
        if table is None or not set(options) <= set(table):
            return super().choose(messages, options)
        self.calls.append(("choose", list(messages)))
        return Choice(option=max(options, key=lambda o: table[o]), scores={o: table[o] for o in options},
                      prompt_tokens=10, completion_tokens=1)


def test_unsupported_drafts_weighed_under_every_reading(services_factory, toy_docs) -> None:
    config = {"max_iterations": 2, "first_passages": 1, "passages_per_search": 1, "baseline_passages": 1,
              "answer_after": 1}
    judge = rule(pick="Orvane Guild")  # the support check never confirms

    def run_with(tables: dict[str, dict[str, float]], **more):
        llm = ReadingLLM(replies=["Tallow", "Senn"], judge=judge, tables=tables)
        return _run(services_factory, toy_docs, llm, {**config, **more})

    # draft 1 read the question's own passage (Orvane Guild), draft 2 the Tallow passage first (the table of the
    # first title a reading holds applies); each reading prefers its own draft, the first barely, the second by
    # far: averaged probabilities keep 'Senn' (the last reading alone would too)
    run, events = run_with({"Tallow": {"Tallow": -3.0, "Senn": -0.5}, "Orvane Guild": {"Tallow": -0.6, "Senn": -0.9}})
    reads = [e for e in events if e.kind == "read"]
    assert [r.data["answer"] for r in reads] == ["Tallow", "Senn"]
    final = events[-1]
    compared = final.data["decision"]["compared"]
    assert [r["passages"] for r in compared["readings"]] == [r.data["passages"] for r in reads]
    assert [r["drafts"] for r in compared["readings"]] == [[1], [2]] and final.llm_calls == 2
    assert compared["option"] == "Senn" and run.answer == "Senn" and run.used_ids == reads[-1].data["passages"]
    # log mean exp: log((e^-0.6 + e^-3.0) / 2) and log((e^-0.9 + e^-0.5) / 2)
    assert compared["scores"] == {"Tallow": -1.206, "Senn": -0.68}
    assert "weighs each draft under each of the 2 sets of passages" in final.explanation
    assert ("reading the passages of draft 1 alone, it prefers 'Tallow'; reading the passages of draft 2 alone, "
            "it prefers 'Senn'") in final.explanation
    prompts = final.data["prompts"]  # the prompt of each reading, labelled, and no single 'prompt'
    assert "prompt" not in final.data and [p["label"] for p in prompts] == [
        "reading the passages of draft 1", "reading the passages of draft 2"]
    assert all(p["messages"][-1]["content"].endswith(f"Question: {QUESTION}") for p in prompts)
    shown = inputs_markdown(final)  # the trace viewer shows each, under its label
    assert all(f"**prompt {n}: reading the passages of draft {n}**" in shown for n in (1, 2))
    # the last reading is unsure, the first sure of its own draft: the average keeps the first draft, which
    # the last draft's reading alone would have dropped
    run, events = run_with({"Tallow": {"Tallow": -1.1, "Senn": -1.0}, "Orvane Guild": {"Tallow": -0.1, "Senn": -6.0}})
    assert events[-1].data["decision"]["compared"]["readings"][1]["prefers"] == "Senn"
    assert run.answer == "Tallow" and "draft 1 of 2: no draft is supported" in events[-1].explanation
    run, events = run_with({"Tallow": {"Tallow": -0.2, "Senn": -1.0}, "Orvane Guild": {"Tallow": -0.1, "Senn": -6.0}})
    assert run.answer == "Tallow" and "(each set alone prefers it too)" in events[-1].explanation
    run, events = run_with({}, compare_drafts=False)
    assert run.answer == "Tallow" and "the earliest still valid" in events[-1].explanation


def test_marginal_is_log_mean_exp() -> None:
    assert marginal([{"a": -1.0, "b": -2.0}], ["a", "b"]) == {"a": -1.0, "b": -2.0}  # one reading: as it scores
    assert marginal([{"a": -2.0}, {"a": -2.0}], ["a"]) == {"a": -2.0}  # a uniform prior: no bonus for count
    assert marginal([{"a": -1000.0}, {"a": 0.0}], ["a"]) == {"a": round(math.log(0.5), 3)}  # no underflow


class LengthLLM(JudgingLLM):
    """JudgingLLM that scores the drafts as a model would: each token costs, so the summed log-likelihood
    favours the short draft while the longer one is likelier per token. Drafts are scored from `table`
    (summed log-likelihood, tokens); a choice among several returns the summed scores and the best's length."""

    def __init__(self, replies: Sequence, judge, table: dict[str, tuple[float, int]]) -> None:
        super().__init__(replies=replies, judge=judge)
        self.table = table

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        if not set(options) <= set(self.table):
            return super().choose(messages, options)
        self.calls.append(("choose", list(messages)))
        best = max(options, key=lambda o: self.table[o][0])
        return Choice(option=best, scores={o: self.table[o][0] for o in options}, prompt_tokens=10,
                      completion_tokens=self.table[best][1])


def test_draft_comparison_per_token_keeps_the_longer_likelier_draft(services_factory, toy_docs) -> None:
    long = "Senn, which flows into the Amber Sea"
    table = {"Tallow": (-4.0, 2), long: (-6.0, 8)}  # summed: 'Tallow' ahead; per token -2.0 against -0.75
    config = {"max_iterations": 2, "first_passages": 1, "passages_per_search": 1, "baseline_passages": 1,
              "answer_after": 1}

    def run_with(scoring: str):
        llm = LengthLLM(replies=["Tallow", long], judge=rule(pick="Orvane Guild"), table=table)
        return _run(services_factory, toy_docs, llm, {**config, "draft_scoring": scoring})

    run, events = run_with("sum")
    assert run.answer == "Tallow" and events[-1].llm_calls == 2  # one choice under each draft's reading
    assert f"the model finds 'Tallow' the likeliest answer, over '{short(long, 40)}'" in events[-1].explanation
    assert "log-likelihood" not in events[-1].explanation  # the numbers are in the step's details
    run, events = run_with("mean")
    final = events[-1]
    compared = final.data["decision"]["compared"]
    assert run.answer == long and compared["option"] == long and compared["by_sum"] == "Tallow"
    assert compared["tokens"] == {"Tallow": 2, long: 8} and compared["scores"] == {"Tallow": -2.0, long: -0.75}
    assert compared["summed"] == {"Tallow": -4.0, long: -6.0} and compared["scoring"] == "mean"
    assert final.llm_calls == 4  # each draft scored on its own, under each of the two readings
    assert "draft 2 of 2: no draft is supported" in final.explanation
    assert f"the model finds '{short(long, 40)}' the likeliest, over 'Tallow'" in final.explanation
    assert "counting whole drafts, which favours short ones, it would have kept 'Tallow'" in final.explanation


def test_draft_comparison_per_token_falls_back_without_token_counts(services_factory, toy_docs) -> None:
    config = {"max_iterations": 2, "first_passages": 1, "passages_per_search": 1, "baseline_passages": 1,
              "answer_after": 1, "draft_scoring": "mean"}
    llm = LengthLLM(replies=["Tallow", "Senn"], judge=rule(pick="Orvane Guild"), table={"Tallow": (-1.0, 0),
                                                                                          "Senn": (-3.0, 0)})
    run, events = _run(services_factory, toy_docs, llm, config)
    assert run.answer == "Tallow" and events[-1].data["decision"]["compared"]["scoring"] == "sum"
    assert "(the model gave no word-by-word scores, so whole drafts)" in events[-1].explanation


def test_a_surname_alone_does_not_name_another_bearer_of_it() -> None:
    """'Taylor' names 'Corey Taylor' in a passage about him, not in one about John H. Taylor: a passage titled by
    another bearer of the surname is no bridge from the question's entity (a wrong first hop, then a wrong answer)."""
    assert ev.mentions("In 1990 Taylor joined a band.", "Corey Taylor")
    assert ev.mentions("Corey Todd Taylor (born 1973) is a singer.", "Corey Taylor")  # a middle name
    assert ev.mentions("Later, President Polk signed it.", "James K. Polk")  # a rank, not a given name
    assert not ev.mentions("John H. Taylor (Mormon)", "Corey Taylor")
    assert not ev.mentions("Born in Salt Lake City, Taylor was the son of Thomas E. Taylor.", "Corey Taylor")
    assert ev.other_bearer("Thomas E. Taylor", "Corey Taylor") and not ev.other_bearer("Corey Taylor", "Taylor")
    sentence = "Born in Salt Lake City, Utah Territory, Taylor was a son of Thomas E. Taylor."
    assert ev.links(sentence, ["Corey Taylor"], "Where was Corey Taylor born?", "John H. Taylor (Mormon)")[0] == []
    assert ev.links("Taylor was born in Des Moines.", ["Corey Taylor"], "Where was Corey Taylor born?",
                    "Corey Taylor")[0] == ["Corey Taylor"]


def test_malformed_claims_are_recorded_and_skipped(services_factory, toy_docs) -> None:
    docs = toy_docs + _docs({"Salt": "Salt."})
    llm = JudgingLLM(replies=["Tallow"], judge=rule(pick="Salt"))
    run, events = _run(services_factory, docs, llm, {"max_iterations": 1, "first_passages": 6})
    discovered = events[1]
    assert discovered.data["format_failure"] and discovered.data["candidate"]["status"] == "malformed"
    assert "not a statement" in discovered.data["candidate"]["problem"]
    assert "recorded and skipped" in discovered.explanation and discovered.llm_calls == 1  # no relevance call
    assert not any(e["kind"] == "inferential" for e in discovered.data["after"])
    assert run.answer == "Tallow" and events[-1].data["decision"]["stopped"] == "cap"


def test_discovery_searches_for_the_bridge_entity_before_the_first_answer(services_factory, toy_docs) -> None:
    llm = JudgingLLM(replies=["Tallow", "Senn"], judge=rule(pick="Orvane Guild"))
    run, events = _run(services_factory, toy_docs, llm, {"first_passages": 1, "passages_per_search": 1})
    kinds = [e.kind for e in events]
    assert kinds[:5] == ["retrieve", "evidence", "rewrite", "retrieve", "evidence"], kinds
    first_rewrite = events[2]
    assert "before answering, discovery looks" in first_rewrite.explanation
    assert first_rewrite.data["query"] in (f"Mira Kesh {QUESTION}", f"Tallow {QUESTION}")
    assert events[3].data["query"] == first_rewrite.data["query"]
    # the second search's passage came through the claim, so what is filed from it rests on that claim
    source = [e for e in events[4].data["after"] if e["kind"] == "source"][1]
    assert source["derived_from"] == ["e2"]
    # the first answer reads the question's own top 5; recall counts passages in the order they were found
    reads = [e for e in events if e.kind == "read"]
    baseline = events[kinds.index("read") - 1]
    assert baseline.kind == "retrieve" and baseline.data["query"] == QUESTION and len(baseline.data["hits"]) == 5
    assert reads[0].data["passages"] == [h["doc_id"] for h in baseline.data["hits"]]
    assert run.retrieved_ids[:2] == [events[0].data["hits"][0]["doc_id"], events[3].data["hits"][0]["doc_id"]]


def test_best_draft_is_the_first_supported_else_the_earliest() -> None:
    drafts = [{"answer": "a", "status": "guess", "support": 9.0}, {"answer": "b", "status": "guess", "support": 1.0},
              {"answer": "c", "status": "supported", "support": 6.0}, {"answer": "d", "status": "supported",
                                                                          "support": 7.0, "valid": False}]
    assert best_draft(drafts) == 2
    assert best_draft([*drafts, {"answer": "e", "status": "supported", "support": 12.0}]) == 2  # the first stays
    assert best_draft(drafts[:2]) == 0  # an unsupported draft never replaces an earlier one
    assert best_draft([{**drafts[0], "valid": False}]) is None


# --- the evidence set's pure functions ------------------------------------------------------------
def test_names_values_and_slots() -> None:
    assert ev.names(QUESTION) == ["Orvane Guild"]
    assert ev.names("Who was the first president of the association which published Journal of Psychotherapy "
                    "Integration?") == ["Journal of Psychotherapy Integration"]
    assert ev.names("The Feast of Reeds is held in Duvessa's old port.") == ["Feast of Reeds", "Duvessa"]
    assert ev.names("Several countries have established national churches, as Mali did.") == ["Mali"]
    assert ev.values("Old charters say Ilse Marrow was born in 1851 in Brisk.") == \
        ["Old", "Ilse Marrow", "1851", "Brisk"]
    born = {"id": "e1", "claim": "Ilse Marrow was born in 1850.", "entity": "Ilse Marrow"}
    fixed = {"id": "e2", "claim": "Records say Ilse Marrow was born in 1851 in Brisk.", "entity": "Marrow family"}
    assert ev.slot_pair(born, fixed, "When was Ilse Marrow born?") == ("Ilse Marrow was born in ___.", "1850", "1851")
    # another fact about the same town gives no value of the same kind for the earlier slot
    assert ev.slot_coverage("Ilse Marrow was born in ___.", fixed["claim"]) == 1.0
    assert ev.slot_coverage("Ilse Marrow was born in ___.", "Ilse Marrow wrote the Reed Sonatas.") < 0.75
    town = {"id": "e3", "claim": "Tallow is a port town on the river Senn.", "entity": "Tallow"}
    founded = {"id": "e4", "claim": "The Orvane Guild was founded in Tallow.", "entity": "Orvane Guild"}
    assert ev.slot_pair(founded, town, QUESTION) is None


def test_best_sentence_and_grounding() -> None:
    text = "Tallow is a port town. It lies on the river Senn, famous for salt. Its mayor is Ana Bell."
    assert ev.best_sentence(text, "Which river flows by it?") == "It lies on the river Senn, famous for salt."
    assert ev.unsupported_names("Ana Bell founded Tallow with Ilse Marrow.", [text]) == ["Ilse Marrow"]


def test_withdraw_cascades_to_dependent_items() -> None:
    items = [
        {"id": "e1", "claim": "X was founded in Tallow.", "entity": "X", "numbers": [1], "status": "active"},
        {"id": "e2", "claim": "Tallow is on the Senn.", "entity": "Tallow", "numbers": [2], "status": "active",
         "derived_from": ["e1"]},
        {"id": "e3", "claim": "X was founded in Pellow.", "entity": "X", "numbers": [3], "status": "active"},
    ]
    assert ev.check_pairs(items, ["e3"], 5) == [(items[0], items[2])]
    items[0]["passages"], items[1]["passages"], items[2]["passages"] = ["d1"], ["d2"], ["d3"]
    items += [  # found through e1 too: e3's own passage and another town stay, Tallow's river goes with Tallow
        {"id": "e4", "claim": "X's charter names Pellow.", "entity": "X", "passages": ["d3"], "derived_from": ["e1"]},
        {"id": "e5", "claim": "Pellow is on the Amber.", "entity": "Pellow", "passages": ["d4"],
         "derived_from": ["e1"]},
        {"id": "e6", "claim": "The Senn is short.", "entity": "Senn", "passages": ["d5"], "derived_from": ["e2"]},
    ]
    assert ev.withdraw(items, "e1", "e3", "passage 3 gives Pellow", 2, "Tallow") == ["e1", "e2", "e6"]
    assert [e.get("status", "active") for e in items] == ["withdrawn", "withdrawn", "active", "active", "active",
                                                          "withdrawn"]
    assert items[1]["withdrawn_by"] == "e1" and "rested on e1" in items[1]["reason"]
    assert ev.active(items) == [items[2], items[3], items[4]]


# --- bridges: entity names, the credibility filter, the next search, the evidence chain read first --------
class DoubtingLLM(JudgingLLM):
    """JudgingLLM whose yes/no relevance check says 'no', by a small margin (log-odds -1), to every fact."""

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        if "Does the fact help?" in messages[-1]["content"]:
            self.calls.append(("choose", list(messages)))
            return Choice(option="no", scores={"yes": -1.0, "no": 0.0}, prompt_tokens=10, completion_tokens=1)
        return super().choose(messages, options)


def test_names_keep_lower_case_connectors() -> None:
    text = ("The Journal of Psychotherapy Integration is published by the Society for the Exploration of "
            "Psychotherapy Integration.")
    want = ["Journal of Psychotherapy Integration", "Society for the Exploration of Psychotherapy Integration"]
    assert ev.names(text) == want
    assert ev.entities(text) == want  # spaCy's entities (or the same runs where it is not installed)
    assert ev.names("A song by Ludwig van Beethoven, played in Newcastle upon Tyne.") == [
        "Ludwig van Beethoven", "Newcastle upon Tyne"]
    assert ev.names("Paris is big for the Seine.") == ["Paris", "Seine"]  # connectors join only capitalised words


def test_entities_fall_back_to_capitalised_runs_without_spacy(monkeypatch) -> None:
    monkeypatch.setenv("RAGSCOPE_RETRO_NER", "off")
    ev._spacy.cache_clear()
    ev.typed_entities.cache_clear()
    try:
        assert not ev.ner_available()
        assert ev.typed_entities("Hank Snow sang 'Hello Love' in 1974.") == (("Hank Snow", ""), ("Hello Love", ""))
    finally:
        monkeypatch.delenv("RAGSCOPE_RETRO_NER")
        ev._spacy.cache_clear()
        ev.typed_entities.cache_clear()


def test_bridge_sentences_and_types() -> None:
    question = "Which label released the seventh number one of the singer of Hello Love?"
    bridge = "'Hello Love' was Snow's seventh and final number one on the country chart."
    about, named = ev.links(bridge, ["Hello Love"], question)
    assert about == ["Hello Love"] and "Snow" in named
    assert ev.links("The chart was first printed in 1944.", ["Hello Love"], question)[0] == []
    # of two sentences sharing the question's words, the one linking its entity to another is kept
    text = "Hello Love is a song. 'Hello Love' was a number one for Hank Snow."
    kept = ev.bridge_sentence(text, question, ["Hello Love"], question)
    assert kept == "'Hello Love' was a number one for Hank Snow."
    assert ev.mentions("Big Eyes is a film by Tim Burton.", "Big Eye") and not ev.mentions("Big Ben", "Big Eye")
    assert "Ilse Tolento Marrow" in ev.entities("A song by Ilse Tolento Marrow.")  # one run, however tagged
    assert ev.bridge_types("When did the country where the village of Clonbrook is located join CARICOM?") == {
        "GPE", "LOC"}
    assert ev.bridge_types("Who did Barry Wesson's team play in the World Series?") == {"ORG"}  # not 'series'
    assert ev.bridge_types("Who was president when Iowa became a state?") == {"GPE", "LOC"}  # 'president': answer


def test_bridge_sentence_kept_when_the_yes_no_check_doubts_it(services_factory, toy_docs) -> None:
    assert ev.ner_available(), "spaCy's en_core_web_sm (requirements.txt) is needed for entity kinds"
    llm = DoubtingLLM(replies=["Tallow", "Senn"], judge=rule(supported=("Senn",)))
    run, events = _run(services_factory, toy_docs, llm, {"first_passages": 1, "passages_per_search": 1,
                                                         "baseline_passages": 1, "max_iterations": 3})
    kinds = [e.kind for e in events]
    first = events[1]  # 'The Orvane Guild was founded by Mira Kesh in the port town of Tallow.'
    relevance = first.data["decision"]["relevance"]
    assert relevance["log_odds"] == -1.0 and not relevance["passed"] and relevance["bridge"]["passed"]
    assert first.data["candidate"]["kept_as"] == "bridge" and "it links Orvane Guild to" in first.explanation
    # the question asks through a town, so the place the claim names is searched, not its founder
    rewrite = events[kinds.index("rewrite")]
    assert rewrite.data["decision"]["wanted"] == ["GPE", "LOC"]
    assert rewrite.data["query"] == f"Tallow {QUESTION}" and "of the kind the question asks" in rewrite.explanation
    second = events[kinds.index("rewrite") + 2]
    assert second.data["operation"] == "discover" and second.data["candidate"]["about"] == ["Tallow"]
    # the first answer (the question's own passage) is a guess; the next reads the evidence chain first
    reads = [e for e in events if e.kind == "read"]
    titles = {h["doc_id"]: h["title"] for e in events if e.kind == "retrieve" for h in e.data["hits"]}
    assert reads[0].data["answer"] == "Tallow" and not reads[0].data["decision"]["reliable"]
    assert [titles[d] for d in reads[1].data["passages"]][:2] == ["Orvane Guild", "Tallow"]
    assert "reads the evidence chain first (Orvane Guild, Tallow)" in reads[1].explanation
    assert run.answer == "Senn" and events[-1].data["decision"]["stopped"] == "reliable"


def test_a_doubted_sentence_that_is_no_bridge_is_dropped(services_factory, toy_docs) -> None:
    llm = DoubtingLLM(replies=["Tallow"], judge=rule(pick="Grey Hills"))
    run, events = _run(services_factory, toy_docs, llm, {"first_passages": 5, "max_iterations": 1})
    discovered = events[1]
    assert discovered.data["candidate"]["claim"] == "The Grey Hills are home to the Halden observatory."
    assert discovered.data["candidate"]["status"] == "dropped" and not discovered.data["candidate"]["bridge"]
    assert "it is no bridge" in discovered.explanation and "judges it not relevant" in discovered.explanation
    assert not re.search(r"[+-]\d", discovered.explanation)  # plain words; the scores are in the details


def test_nothing_new_found_rereads_the_evidence_chain_bridge_first(services_factory, toy_docs) -> None:
    """All five passages are the question's own, so entity-centred search brings nothing new: instead of
    stopping after one read, the agent answers again from the chain alone (the kept claim's passage, then the
    passage of the town it leads to), and that draft is supported."""
    assert ev.ner_available(), "spaCy's en_core_web_sm (requirements.txt) is needed for entity kinds"
    config = {"first_passages": 5, "answer_after": 1, "max_iterations": 2}
    llm = JudgingLLM(replies=["Tallow", "Senn"], judge=rule(pick="Orvane Guild", supported=("Senn",)))
    run, events = _run(services_factory, toy_docs, llm, config)
    reads = [e for e in events if e.kind == "read"]
    assert len(reads) == 2 and reads[0].data["answer"] == "Tallow" and not reads[0].data["decision"]["reread"]
    again = reads[1]
    titles = {h["doc_id"]: h["title"] for e in events if e.kind == "retrieve" for h in e.data["hits"]}
    # the bridge claim's passage first, then the town it names (the kind the question asks through), then Mira Kesh
    assert [titles[d] for d in again.data["passages"]] == ["Orvane Guild", "Tallow", "Mira Kesh"]
    assert again.data["decision"]["reread"] and again.data["answer"] == "Senn" and again.data["decision"]["reliable"]
    assert again.explanation.startswith("Round 1: Nothing new was found (every entity named has passages held); "
                                        "reads the evidence chain again, bridge first: Orvane Guild (e6: 'The "
                                        "Orvane Guild was founded by Mira Kesh")
    assert "then Tallow (about Tallow), then Mira Kesh (about Mira Kesh)" in again.explanation
    assert run.answer == "Senn" and events[-1].data["decision"]["stopped"] == "reliable"
    assert run.used_ids == again.data["passages"]
    # off: one read, and the loop stops with nothing left to search
    llm = JudgingLLM(replies=["Tallow", "Senn"], judge=rule(pick="Orvane Guild", supported=("Senn",)))
    run, events = _run(services_factory, toy_docs, llm, {**config, "reread_chain": False})
    assert [e.kind for e in events].count("read") == 1 and run.answer == "Tallow"
    assert events[-1].data["decision"]["stopped"] == "exhausted"


def test_no_reread_without_a_claim_leading_to_another_held_passage(services_factory, toy_docs) -> None:
    """A kept claim whose entities have no held passage of their own is a chain of one passage: no second read."""
    docs = [d for d in toy_docs if d.title not in ("Tallow", "Mira Kesh")]
    llm = JudgingLLM(replies=["Tallow", "Senn"], judge=rule(pick="Orvane Guild"))
    run, events = _run(services_factory, docs, llm, {"first_passages": 3, "baseline_passages": 3,
                                                    "answer_after": 1, "max_iterations": 1})
    reads = [e for e in events if e.kind == "read"]
    assert len(reads) == 1 and not reads[0].data["decision"]["reread"] and run.answer == "Tallow"


def test_a_question_noun_is_no_full_mention_of_a_name() -> None:
    """The reread's targets: 'the guild which…' names no 'Brisk Merchants Guild' in full (mentions() would say
    it does, by its surname rule), so the guild a claim leads to is still followed."""
    question = "Who led the guild which the Orvane Society joined?"
    assert ev.mentions(question, "Brisk Merchants Guild") and not ev.mentions_fully(question, "Brisk Merchants Guild")
    assert ev.mentions_fully(question, "Orvane Society") and ev.mentions_fully("Big Eyes is a film.", "Big Eye")
