"""Iter-RetGen (Shao et al., 2023): retrieval and generation take turns for T iterations.

Iteration t searches with the question plus the answer generated at t-1 (the first with the question
alone), then generates a new answer from the question and that iteration's passages. The generated text
carries the entities the question does not name (the bridge of a multi-hop question), so the next search
can reach the passages the question alone ranks low. The paper generates a chain of thought; a 0.5B model
writes poor chains, so by default each iteration writes one short rationale sentence (which names the
bridge entity) and then a short answer; `generation="answer"` writes the short answer alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.graph import END, START, StateGraph

from agents.base import AgentSpec, Deps, RAGState, bind, format_passages, hit_dict, option, short
from agents.baseline import Candidate, baseline_reading, settle, settled_record, settlement_sentence
from agents.events import AnswerData, GroundingData, HitData, ReadData, RetrieveData, Step
from agents.grounding import (
    FLOOR_HELP,
    NO_ANSWER,
    RELEVANCE_FLOOR,
    SUPPORT_MARGIN,
    cut_at_word,
    ground,
    grounding_sentence,
    is_abstention,
    none,
    relevance,
)
from agents.reader import clean_answer, read_messages
from agents.search import RETRIEVERS, search
from llm.base import Message

NAME = "iter_retgen"

RATIONALE_SYSTEM = (
    "Using the passages, write one sentence that links the question to its answer, naming every person, "
    "place or thing on the way. Then stop."
)
RATIONALE_EXAMPLE_USER = (
    "Passages:\n[1] Lake Morrow: Lake Morrow lies in the county of Edrith.\n"
    "[2] Edrith: Edrith is a county whose seat is the town of Palle.\n\n"
    "Question: What is the county seat of the county where Lake Morrow is?\nReasoning:"
)
RATIONALE_EXAMPLE_REPLY = "Lake Morrow lies in the county of Edrith, whose seat is the town of Palle."
RATIONALE_USER = "Passages:\n{passages}\n\nQuestion: {question}\nReasoning:"
REASONED_PASSAGE_TITLE = "Reasoning so far"
QUERY_TEMPLATE = "{question} {generation}"  # the paper's y_{t-1} || q
GENERATIONS = ("rationale", "answer")
KEEPS = ("best_supported", "last")


@dataclass(frozen=True)
class IterRetGenConfig:
    """Settings of Iter-RetGen."""

    iterations: int = option(3, "Retrieval-generation rounds T (the paper uses 2 to 7).", min=1, max=7)
    top_k: int = option(
        3, "Passages retrieved per iteration and read by that iteration's generation; 3 rather than 5 so the "
        "first search does not fill the top five alone and later searches can add to it.", min=1, max=20)
    generation: str = option(
        "rationale", "What each iteration writes: a one-sentence rationale then the answer, or the answer alone.",
        choices=list(GENERATIONS))
    retriever: str = option(
        "dense", "How each iteration searches: dense similarity, or HippoRAG's graph walk (PageRank from the "
        "query's entities).", choices=list(RETRIEVERS))
    max_tokens: int = option(48, "Most tokens of each generated rationale or answer.", min=8, max=256)
    keep: str = option(
        "best_supported", "Which draft is the final answer: the latest one the support check confirmed (else the "
        "last), or always the last (the paper).", choices=list(KEEPS))
    relevance_floor: float = option(RELEVANCE_FLOOR, FLOOR_HELP, min=0.0, max=1.0)
    answer_margin: float = option(
        SUPPORT_MARGIN, "Support check: log-likelihood by which the answer must beat 'unknown' given one passage "
        "alone (with the model's own reply from that passage matching it) for the label 'supported'.",
        min=-20.0, max=50.0)


class IterRetGenState(RAGState, total=False):
    """Iter-RetGen's loop: the iteration, the latest generation, and the passages seen so far."""

    iteration: int
    draft: str  # the latest short answer
    generation: str  # what the next query appends: rationale + answer, or the answer
    hits: list[HitData]  # the current iteration's passages
    seen: list[str]  # doc ids retrieved in any iteration
    drafts: list[str]
    groundings: list[GroundingData]  # how each draft is grounded in its iteration's passages
    draft_passages: list[list[str]]  # doc ids each draft was read from
    baseline: Candidate  # the baseline reading's answer (agents.baseline)


def compose_query(question: str, generation: str) -> str:
    """The next query: question plus the previous generation (the question alone at first)."""
    return QUERY_TEMPLATE.format(question=question, generation=generation).strip()


def rationale_messages(question: str, hits: list[HitData]) -> list[Message]:
    """One-shot prompt for a one-sentence rationale over numbered passages."""
    return [
        {"role": "system", "content": RATIONALE_SYSTEM},
        {"role": "user", "content": RATIONALE_EXAMPLE_USER},
        {"role": "assistant", "content": RATIONALE_EXAMPLE_REPLY},
        {"role": "user", "content": RATIONALE_USER.format(passages=format_passages(hits), question=question)},
    ]


def change_phrase(previous: str, new: str) -> str:
    """'changes the answer from 'A' to 'B'' / 'keeps the answer 'A'' / 'answers 'A''."""
    if not previous:
        return f"answers '{short(new)}'"
    if previous.strip().lower() == new.strip().lower():
        return f"keeps the answer '{short(new)}'"
    return f"changes the answer from '{short(previous)}' to '{short(new)}'"


def retrieve(state: IterRetGenState, deps: Deps, config: IterRetGenConfig) -> dict[str, Any]:
    """Search with the question plus the previous generation."""
    question, t = state["question"], state.get("iteration", 0) + 1
    generation = state.get("generation", "")
    query = compose_query(question, generation)
    seen = list(state.get("seen", []))
    with Step(NAME, "retrieve", state.get("run_id", "")) as step:
        hits, walk = search(deps, state["corpus"], query, config.top_k, config.retriever)
        found = [hit_dict(h, i, query) for i, h in enumerate(hits, 1)]
        for h in found:
            h["new"] = h["doc_id"] not in seen
        fresh = [h for h in found if h["new"]]
        how = (f"with the question plus the draft '{short(generation, 70)}'" if generation
               else "with the question alone")
        best = f"; the closest match is “{cut_at_word(found[0]['title'], 50)}”" if found else ""
        explanation = (f"Iteration {t}: searches {how} — {len(found)} passages, {len(fresh)} new{best}.")
        event = step.event(explanation, RetrieveData(
            iteration=t, query=query, draft=generation, hits=found, new=[h["doc_id"] for h in fresh],
            seen=[h["doc_id"] for h in found if not h["new"]], **walk))
    return {"iteration": t, "hits": found, "seen": seen + [h["doc_id"] for h in fresh],
            "retrieved": fresh, "events": [event]}


def generate(state: IterRetGenState, deps: Deps, config: IterRetGenConfig) -> dict[str, Any]:
    """Write a new answer (after a one-sentence rationale) from the question and this iteration's passages."""
    llm = deps.llm
    question, t, hits = state["question"], state["iteration"], state.get("hits", [])
    previous = state.get("draft", "")
    with Step(NAME, "read", state.get("run_id", "")) as step:
        rationale, rationale_reply, rationale_prompt = "", "", []
        if config.generation == "rationale":
            rationale_prompt = rationale_messages(question, hits)
            completion = step.add(llm.chat(rationale_prompt, max_tokens=config.max_tokens, stop=["\n"]))
            rationale_reply = completion.text
            rationale = " ".join(completion.text.split())
        reader_hits = hits + ([{"title": REASONED_PASSAGE_TITLE, "text": rationale}] if rationale else [])
        messages = read_messages(question, reader_hits)
        completion = step.add(llm.chat(messages, max_tokens=config.max_tokens, stop=["\n"]))
        answer = clean_answer(completion.text)
        failed = not any(ch.isalnum() for ch in answer)
        if failed:
            answer = previous
        grounding = ground(llm, step, question, answer or NO_ANSWER, hits,
                           relevance(deps.corpora, question, hits, dense=False), state.get("retrieved", []),
                           floor=config.relevance_floor, margin=config.answer_margin)
        named = bool(rationale) and answer.lower() in rationale.lower()
        generation = rationale if named else " ".join(x for x in (rationale, answer) if x)
        said = change_phrase(previous, answer or "(nothing)")
        because = f" because '{short(rationale, 100)}'" if rationale else ""
        explanation = (f"Iteration {t}: reads {len(hits)} passages and {said}{because}"
                       + (" (the answer came back empty, so the previous one is kept)." if failed else ".")
                       + f" {grounding_sentence(grounding)}")
        data = ReadData(iteration=t, previous=previous, answer=answer, changed=said.startswith("changes"),
                        rationale=rationale, generation=generation, passages=[h["doc_id"] for h in hits],
                        prompt=messages, reply=completion.text, rationale_prompt=rationale_prompt,
                        rationale_reply=rationale_reply, grounding=grounding)
        if failed:
            data["format_failure"] = True
        event = step.event(explanation, data)
    return {"draft": answer, "generation": generation, "drafts": state.get("drafts", []) + [answer],
            "groundings": state.get("groundings", []) + [grounding],
            "draft_passages": state.get("draft_passages", []) + [[h["doc_id"] for h in hits]], "events": [event]}


def pick_draft(drafts: list[str], groundings: list[GroundingData], keep: str) -> tuple[int, str]:
    """The index of the draft to answer with, and why: the latest supported one, else the last."""
    last = len(drafts) - 1
    if keep == "best_supported":
        supported = [i for i, g in enumerate(groundings) if g.get("status") == "supported"]
        if supported and supported[-1] != last:
            return supported[-1], (f"the draft of iteration {supported[-1] + 1} is kept: it is the latest one a "
                                   f"passage supports, and the last draft is not supported")
    return last, "the last draft"



def answer(state: IterRetGenState, deps: Deps, config: IterRetGenConfig) -> dict[str, Any]:
    """Report the last iteration's answer as final."""
    drafts = state.get("drafts", [])
    floor = config.relevance_floor
    groundings = state.get("groundings", []) or [GroundingData(status="guess")] * len(drafts)
    with Step(NAME, "answer", state.get("run_id", "")) as step:
        index, kept = pick_draft(drafts, groundings, config.keep) if drafts else (None, "")
        final = (drafts[index] if index is not None else "") or NO_ANSWER
        grounding = groundings[index] if index is not None else none("nothing_relevant", floor, 0.0)
        if drafts and all(g.get("reason") == "nothing_relevant" for g in groundings):
            final, kept = NO_ANSWER, "no passage of any iteration was relevant to the question"
        elif is_abstention(final):
            final, grounding = NO_ANSWER, none("abstained", floor, 0.0)
        changes = sum(a.lower() != b.lower() for a, b in zip(drafts, drafts[1:], strict=False))
        used = state.get("draft_passages", [])[index] if index is not None and state.get("draft_passages") else \
            [h["doc_id"] for h in state.get("hits", [])]
        settled = settle(Candidate(final, grounding, used), state.get("baseline"), state.get("retrieved", []))
        given = settled.answer
        explanation = (f"Its own answer is '{short(final)}' after {len(drafts)} iterations (the answer changed "
                       f"{changes} time{'s' if changes != 1 else ''}; {len(state.get('seen', []))} distinct "
                       f"passages retrieved)" + (f"; {kept}." if index != len(drafts) - 1 or final == NO_ANSWER
                                                 else ".") + f" {settlement_sentence(settled)}").strip()
        event = step.event(explanation, AnswerData(answer=given.answer, drafts=drafts, passages=given.passages,
                                                   retrieved=state.get("seen", []), grounding=given.grounding,
                                                   kept=kept, settled=settled_record(settled)))
    return {"answer": given.answer, "used_ids": given.passages, "events": [event]}


def baseline(state: IterRetGenState, deps: Deps, config: IterRetGenConfig) -> dict[str, Any]:
    """Read what the naive baseline reads, so the final answer is never worse than it (agents.baseline)."""
    candidate, hits, events = baseline_reading(deps, state, NAME, config.relevance_floor, config.answer_margin)
    return {"baseline": candidate, "retrieved": hits, "events": events}


def again(state: IterRetGenState, deps: Deps, config: IterRetGenConfig) -> str:
    """Loop until T iterations are done."""
    return "retrieve" if state.get("iteration", 0) < config.iterations else "answer"


def build_graph(deps: Deps, config: IterRetGenConfig) -> StateGraph:
    """baseline -> (retrieve -> generate) x T -> answer."""
    graph = StateGraph(IterRetGenState)
    graph.add_node("baseline", bind(baseline, deps, config))
    graph.add_node("retrieve", bind(retrieve, deps, config))
    graph.add_node("generate", bind(generate, deps, config))
    graph.add_node("answer", bind(answer, deps, config))
    graph.add_edge(START, "baseline")
    graph.add_edge("baseline", "retrieve")
    graph.add_edge("retrieve", "generate")
    graph.add_conditional_edges("generate", bind(again, deps, config), {"retrieve": "retrieve", "answer": "answer"})
    graph.add_edge("answer", END)
    return graph

SPEC = AgentSpec(
    name=NAME,
    title="Iter-RetGen (iterative retrieval-generation synergy)",
    paper="Shao et al., 2023 — Enhancing Retrieval-Augmented Large Language Models with Iterative "
          "Retrieval-Generation Synergy",
    summary="T rounds: search with the question plus the last generated answer, then write a new answer "
            "from the fresh passages; the generation guides the next search.",
    config_cls=IterRetGenConfig,
    build_graph=build_graph,
)
