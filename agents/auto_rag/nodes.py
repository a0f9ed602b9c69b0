"""Auto-RAG's nodes: plan -> (retrieve -> read -> rewrite)* -> answer, each a function of (state, deps, config)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agents.auto_rag import explain
from agents.auto_rag.decisions import (
    Confirmation,
    DraftRank,
    Evidence,
    FinalReading,
    ReadDecision,
    Reading,
    agreement,
    draft_rank,
    holders,
    passage_order,
    stop_decision,
)
from agents.auto_rag.prompts import (
    ANSWERS_SYSTEM,
    ANSWERS_USER,
    DIALOGUE_SYSTEM,
    EVIDENCE_SYSTEM,
    EVIDENCE_USER,
    EXAMPLE_NAMES,
    FINAL_TURN,
    INTERMEDIATE_TURN,
    KNOWLEDGE_SYSTEM,
    KNOWLEDGE_USER,
    MAX_ANSWER_PASSAGES,
    MAX_SENTENCES,
    PARAMETRIC_TURN,
    PLAN_EXAMPLES,
    PLAN_SYSTEM,
    PLAN_TURN,
    PLAN_USER,
    QUERY_EXAMPLES,
    QUERY_SYSTEM,
    QUERY_TOKENS,
    QUERY_USER,
    QUESTION_TURN,
    REFINED_TURN,
    RETRIEVED_TURN,
    STRIP_PREFIXES,
    few_shot,
)
from agents.base import Deps, RAGState, format_passages, hit_dict, option
from agents.baseline import Candidate, baseline_reading, settle, settled_record, settlement_sentence
from agents.events import AnswerData, GroundingData, HitData, PlanData, ReadData, RetrieveData, RewriteData, Step
from agents.grounding import (
    FLOOR_HELP,
    NO_ANSWER,
    RELEVANCE_FLOOR,
    SUPPORT_MARGIN,
    ground,
    grounding_sentence,
    is_abstention,
    none,
    relevance,
)
from agents.reader import clean_answer, read_messages
from agents.search import RETRIEVERS, search
from agents.text import key_entity
from agents.text import sentences as text_sentences
from llm.base import LLM, Message

NAME = "auto_rag"


@dataclass(frozen=True)
class AutoRAGConfig:
    """Settings of Auto-RAG."""

    max_iterations: int = option(
        4, "Most retrieval turns; at the cap the model answers with what it has (labelled a guess if no passage "
        "states it).", min=1, max=10)
    first_turn_passages: int = option(
        5, "Passages the first search shows (as many as the baseline reads, so the loop only ever adds to them).",
        min=1, max=10)
    passages_per_turn: int = option(
        3, "New passages shown per later turn; ones already seen are skipped (the official code shows 2).",
        min=1, max=10)
    first_query: str = option(
        "question", "The first search: the question itself, or a query the model writes after its analysis.",
        choices=["question", "model"])
    answer_margin: float = option(
        SUPPORT_MARGIN, "How clearly a passage must give the model's answer before it stops searching: the "
        "log-likelihood by which the answer beats 'unknown' given that passage alone; higher searches longer.",
        min=-20.0, max=50.0)
    confirm_stop: bool = option(
        True, "Also stop when a refined search brings a relevant passage that holds the model's answer and the "
        "model, asked which passage answers the question (a passage number, or 0 for none), picks that one.")
    # 2 turns at -2: more early stops than 3 turns at no cost in dev F1 (docs/notebook.md, Auto-RAG)
    agree_turns: int = option(
        2, "Stop when the signals agree: the model's answer stayed the same over this many turns (each new "
        "search changed nothing), it is in a relevant passage, and reading that passage alone the model does not "
        "reject it for 'unknown' (below); 0 turns this stop off.", min=0, max=10)
    agree_margin: float = option(
        -2.0, "For the agreement stop: the least log-likelihood of the answer minus that of 'unknown' "
        "given the passage holding it alone (-2: the answer may be somewhat less likely than 'unknown', not far "
        "less; 'supported' needs the answer margin above).", min=-20.0, max=50.0)
    parametric_fallback: bool = option(
        False, "At the cap with no answer, let the model write what it knows itself (the official code's "
        "'parametric knowledge' document) and answer from that too.")
    retriever: str = option(
        "dense", "How each query searches: dense similarity, or HippoRAG's graph walk (PageRank from the "
        "query's entities).", choices=list(RETRIEVERS))
    relevance_floor: float = option(RELEVANCE_FLOOR, FLOOR_HELP, min=0.0, max=1.0)
    max_tokens: int = option(32, "Most tokens of each fill (analysis, answer); a query gets at most query_tokens.",
                             min=8, max=256)
    query_tokens: int = option(
        QUERY_TOKENS, "Most tokens of a query the model writes: a query is a few words, a longer fill rambles.",
        min=4, max=64)
    max_sentences: int = option(
        MAX_SENTENCES, "Most sentences of a turn's new passages offered as its evidence (those sharing most words "
        "with the question), numbered 1-9 so every option is one token and none is favoured for being shorter.",
        min=1, max=9)
    max_answer_passages: int = option(
        MAX_ANSWER_PASSAGES, "Most passages the confirm stop asks about, numbered 1-9 (0 for none) so every option "
        "is one token.", min=1, max=9)
    holds_answer: float = option(
        0.5, "For the confirm stop: a new passage holds the model's answer when it has more than this share of the "
        "answer's words (more than half: most of a name, not one common word of it).", min=0.0, max=1.0)


class AutoRAGState(RAGState, total=False):
    """Auto-RAG's dialogue: the transcript so far, the current query and what it has read and noted."""

    transcript: list[Message]
    query: str
    queries: list[str]
    iteration: int
    seen: list[str]  # chunk ids already shown to the model
    read_hits: list[HitData]  # passages shown, in order
    new_hits: list[HitData]  # passages shown in the latest turn
    notes: list[str]  # the evidence: one sentence chosen from each turn's passages
    decision: ReadDecision
    drafts: list[str]  # the model's answer after each turn, in order
    draft: str  # the best-supported answer the model gave from the passages so far
    draft_turn: int
    draft_rank: DraftRank  # its support (decisions.draft_rank)
    grounding: GroundingData  # how that answer is grounded
    baseline: Candidate  # the baseline reading's answer (agents.baseline)


def clean_fill(text: str) -> str:
    """The first line of a fill, without a known prefix, quotes or a trailing period."""
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    for prefix in STRIP_PREFIXES:
        if line.lower().startswith(prefix.lower()):
            line = line[len(prefix):].strip()
    return line.strip(" \"'`.").strip()


def usable(text: str) -> bool:
    """True when a fill holds at least one word (not just punctuation)."""
    return any(ch.isalnum() for ch in text)


def fallback_query(question: str, notes: list[str], hits: list[HitData]) -> str:
    """Question plus the key entity of the latest note (or of the latest passage's title)."""
    entity = key_entity(notes[-1]) if notes else ""
    if not entity or entity.lower() in question.lower():
        entity = next((h["title"] for h in reversed(hits) if h["title"].lower() not in question.lower()), "")
    return f"{question} {entity}".strip()


def documents_text(hits: list[HitData]) -> str:
    """Passages joined as one 'Retrieved Document' turn, as the official code does."""
    return " ".join(f"{h['title']}: {h['text']}" for h in hits)


def notes_text(notes: list[str]) -> str:
    """Notes as a bulleted list (or a line saying there are none)."""
    return "\n".join(f"- {n}" for n in notes) if notes else "- nothing useful yet."


def fill(llm: LLM, step: Step, messages: list[Message], max_tokens: int) -> tuple[str, str]:
    """One short completion stopped at a newline; returns (raw reply, cleaned line)."""
    completion = step.add(llm.chat(messages, max_tokens=max_tokens, stop=["\n"]))
    return completion.text, clean_fill(completion.text)


_WORD = re.compile(r"[A-Za-z][\w'-]*")


def leaked(text: str, allowed: str) -> list[str]:
    """Capitalised words of `text` that come from the prompts' examples and not from `allowed` (a leak)."""
    examples = {w.lower() for w in EXAMPLE_NAMES}
    known = {w.lower() for w in _WORD.findall(allowed)}
    return sorted({w for w in _WORD.findall(text) if w[:1].isupper() and w.lower() in examples
                   and w.lower() not in known})


def sentences(question: str, hits: list[HitData], limit: int = MAX_SENTENCES) -> list[tuple[str, str]]:
    """(title, sentence) pairs of the passages, at most `limit`: those sharing most words with the question."""
    q = {w.lower() for w in _WORD.findall(question) if len(w) > 3}
    pairs = [(h["title"], s) for h in hits for s in text_sentences(h["text"], after_any=True)]
    ranked = sorted(range(len(pairs)), key=lambda i: -len(q & {w.lower() for w in _WORD.findall(pairs[i][1])}))
    keep = sorted(ranked[:limit])  # the best, in passage order
    return [pairs[i] for i in keep]


# --- nodes ----------------------------------------------------------------------------------------
def plan(state: AutoRAGState, deps: Deps, config: AutoRAGConfig) -> dict[str, Any]:
    """Analyse the question, say what is needed, and choose the first query."""
    llm = deps.llm
    question = state["question"]
    with Step(NAME, "plan", state.get("run_id", "")) as step:
        messages = few_shot(PLAN_SYSTEM, PLAN_EXAMPLES, PLAN_USER.format(question=question))
        reply, analysis = fill(llm, step, messages, config.max_tokens)
        leak = leaked(analysis, question)
        failed = not usable(analysis) or bool(leak)
        if failed:
            analysis = "I need to find the facts the question asks about."
        query, query_reply = question, ""
        if config.first_query == "model":
            query_messages = few_shot(QUERY_SYSTEM, QUERY_EXAMPLES,
                                      QUERY_USER.format(question=question, known="nothing yet."))
            query_reply, written = fill(llm, step, query_messages, min(config.query_tokens, config.max_tokens))
            if usable(written) and not leaked(written, question):
                query = written
            else:
                failed = True
        transcript: list[Message] = [
            {"role": "system", "content": DIALOGUE_SYSTEM},
            {"role": "user", "content": QUESTION_TURN.format(question=question)},
            {"role": "assistant", "content": PLAN_TURN.format(analysis=analysis, query=query)},
        ]
        data = PlanData(analysis=analysis, query=query, turns=transcript[1:], prompt=messages, reply=reply,
                        query_reply=query_reply)
        if failed:
            data["format_failure"] = True
        event = step.event(explain.plan(analysis, query, question, leak, failed), data)
    return {"transcript": transcript, "query": query, "queries": [query], "iteration": 0, "seen": [],
            "read_hits": [], "notes": [], "events": [event]}


def retrieve(state: AutoRAGState, deps: Deps, config: AutoRAGConfig) -> dict[str, Any]:
    """Search with the current query and show the model the best passages it has not seen yet."""
    query, seen = state["query"], list(state.get("seen", []))
    turn = state.get("iteration", 0) + 1
    per_turn = config.first_turn_passages if turn == 1 else config.passages_per_turn
    with Step(NAME, "retrieve", state.get("run_id", "")) as step:
        hits, walk = search(deps, state["corpus"], query, per_turn + len(seen), config.retriever)
        fresh = [h for h in hits if h.chunk_id not in seen][:per_turn]
        last = hits.index(fresh[-1]) if fresh else len(hits)
        skipped = [h.chunk_id for h in hits[:last] if h.chunk_id in seen]
        found = [hit_dict(h, i, query) for i, h in enumerate(fresh, 1)]
        documents = documents_text(found) or "(no new documents)"
        turn_message = {"role": "user", "content": RETRIEVED_TURN.format(turn=turn, documents=documents)}
        event = step.event(explain.retrieve(turn, query, found, len(skipped)),
                           RetrieveData(turn=turn, query=query, hits=found, skipped_seen=skipped,
                                        turns=[turn_message], **walk))
    return {"iteration": turn, "seen": seen + [h["chunk_id"] for h in found], "new_hits": found,
            "read_hits": state.get("read_hits", []) + found, "retrieved": found,
            "transcript": state["transcript"] + [turn_message], "events": [event]}


def read(state: AutoRAGState, deps: Deps, config: AutoRAGConfig) -> dict[str, Any]:
    """Pick the sentence that helps (the evidence), answer from every passage read, and decide: does a passage
    give that answer? Yes: stop and answer. No (or the model replies "unknown"): refine the query."""
    question, turn, found = state["question"], state["iteration"], state.get("new_hits", [])
    notes = list(state.get("notes", []))
    with Step(NAME, "read", state.get("run_id", "")) as step:
        if not found:
            decision = ReadDecision(enough=False, exhausted=True)
            event = step.event(explain.nothing_new(turn),
                               ReadData(turn=turn, evidence="", notes=notes, decision=decision, passages=[]))
            return {"decision": decision, "events": [event]}
        evidence, evidence_prompt = pick_evidence(deps.llm, step, question, found, config.max_sentences)
        notes.append(evidence.note)
        reading = read_draft(deps, step, question, state.get("read_hits", []), config, state.get("retrieved", []))
        drafts = [*state.get("drafts", []), reading.draft]
        decision = decide(deps.llm, step, state, config, reading, evidence, drafts)
        explanation = explain.read(turn, evidence, reading.draft, reading.grounding, decision.get("confirm"),
                                   decision.get("agree"))
        data = ReadData(turn=turn, evidence=evidence.note, notes=notes, decision=decision,
                        passages=[h["doc_id"] for h in found], prompt=reading.prompt, reply=reading.reply,
                        decision_prompt=evidence_prompt, answer=reading.draft, grounding=reading.grounding)
        event = step.event(explanation, data)
    update: dict[str, Any] = {"notes": notes, "decision": decision, "drafts": drafts, "events": [event]}
    # keep the best-supported answer so far (a later turn may drift to a worse one; Auto-RAG answers with it)
    rank = draft_rank(reading.draft, reading.grounding)
    if not state.get("draft") or rank > tuple(state.get("draft_rank", (-1, 0.0))) or decision["enough"]:
        update.update(draft=reading.draft, grounding=reading.grounding, draft_turn=turn, draft_rank=rank)
    return update


def pick_evidence(llm: LLM, step: Step, question: str, found: list[HitData],
                  most: int) -> tuple[Evidence, list[Message]]:
    """The sentence of the new passages that helps most, among at most `most`, chosen by the model (copied, so it
    cannot drift to invented names); returns it and the choice's prompt."""
    pairs = sentences(question, found, most)
    listing = "\n".join(f"{i}. {s}" for i, (_t, s) in enumerate(pairs, 1))
    messages = [{"role": "system", "content": EVIDENCE_SYSTEM},
                {"role": "user", "content": EVIDENCE_USER.format(question=question, sentences=listing)}]
    pick = step.add(llm.choose(messages, [str(i) for i in range(1, len(pairs) + 1)]))
    title, sentence = pairs[int(pick.option) - 1]
    return Evidence(title, sentence, pick.scores), messages


def read_draft(deps: Deps, step: Step, question: str, hits: list[HitData], config: AutoRAGConfig,
               retrieved: list[HitData]) -> Reading:
    """Answer from every passage read (the shared reader; "unknown" counts as no answer yet) and check that a
    passage gives that answer (labelled against every passage the run `retrieved`)."""
    prompt = read_messages(question, hits)
    completion = step.add(deps.llm.chat(prompt, max_tokens=config.max_tokens, stop=["\n"]))
    draft = clean_answer(completion.text)
    draft = NO_ANSWER if is_abstention(draft) else draft
    scores = relevance(deps.corpora, question, hits, dense=False)
    grounding = ground(deps.llm, step, question, draft, hits, scores, retrieved, floor=config.relevance_floor,
                       margin=config.answer_margin)
    return Reading(prompt, completion.text, draft, scores, grounding)


def decide(llm: LLM, step: Step, state: AutoRAGState, config: AutoRAGConfig, reading: Reading, evidence: Evidence,
           drafts: list[str]) -> ReadDecision:
    """Stop when a passage gives the answer; else when the refined search brought a relevant passage holding it
    and the model points at it (confirm); else when the signals agree (no LLM call: they are already there)."""
    draft, grounding, turn = reading.draft, reading.grounding, state["iteration"]
    enough = grounding["status"] == "supported"
    decision = ReadDecision(enough=enough, draft=draft, status=grounding["status"],
                            checks=grounding.get("checks", []), margin=config.answer_margin,
                            evidence_scores=evidence.scores)
    found, hits = state.get("new_hits", []), state.get("read_hits", [])
    fresh = holders(draft, hits, reading.scores, {h["chunk_id"] for h in found}, config.relevance_floor,
                    config.holds_answer)
    if not enough and config.confirm_stop and turn > 1 and draft != NO_ANSWER and fresh \
            and not grounding.get("restates"):
        decision["confirm"] = confirm_answer(llm, step, state["question"], grounding, fresh, hits, found,
                                             config.max_answer_passages)
        enough = decision["enough"] = decision["confirm"]["confirmed"]
    if not enough and config.agree_turns and turn < config.max_iterations:
        decision["agree"] = agreement(drafts, grounding, config.agree_turns, config.agree_margin)
        decision["enough"] = decision["agree"]["stop"]
    return decision


def confirm_answer(llm: LLM, step: Step, question: str, grounding: GroundingData, fresh: list[HitData],
                   hits: list[HitData], found: list[HitData], most: int) -> Confirmation:
    """Which passage answers the question? A constrained choice (a number, or 0 for none) over this turn's new
    passages and the earlier ones holding the answer's words (at most `most`); confirmed when the model picks a
    new passage that holds the answer (`fresh`): the refined search found the fact, and the model points at it."""
    holding = {h["doc_id"] for h in fresh}
    earlier = {c["doc_id"] for c in grounding.get("checks", [])} - {h["doc_id"] for h in found}
    shown = list({h["doc_id"]: h for h in [*found, *(h for h in hits if h["doc_id"] in earlier)]}.values())
    shown = shown[:most]
    messages = [{"role": "system", "content": ANSWERS_SYSTEM},
                {"role": "user", "content": ANSWERS_USER.format(passages=format_passages(shown), question=question)}]
    choice = step.add(llm.choose(messages, [str(i) for i in range(len(shown) + 1)]))
    picked = shown[int(choice.option) - 1] if choice.option != "0" else None
    return Confirmation(passages=[h["title"] for h in shown],
                        holding=[h["title"] for h in shown if h["doc_id"] in holding], choice=int(choice.option),
                        picked=picked["title"] if picked else "", scores=choice.scores, prompt=messages,
                        confirmed=bool(picked and picked["doc_id"] in holding))


def rewrite(state: AutoRAGState, deps: Deps, config: AutoRAGConfig) -> dict[str, Any]:
    """Refine the query for the fact still missing (falls back to question + key entity of the evidence)."""
    llm = deps.llm
    question, turn, notes = state["question"], state["iteration"], state.get("notes", [])
    hits = state.get("read_hits", [])
    with Step(NAME, "rewrite", state.get("run_id", "")) as step:
        known = " ".join(n.split(": ", 1)[-1] for n in notes) if notes else "nothing useful yet."
        messages = few_shot(QUERY_SYSTEM, QUERY_EXAMPLES, QUERY_USER.format(question=question, known=known))
        reply, query = fill(llm, step, messages, min(config.query_tokens, config.max_tokens))
        allowed = " ".join([question, *(f"{h['title']} {h['text']}" for h in hits)])
        leak = leaked(query, allowed)
        repeated = query.strip().lower() in {q.strip().lower() for q in state.get("queries", [])}
        failed = not usable(query) or bool(leak) or repeated
        if failed:
            query = fallback_query(question, notes, hits)
            if query.strip().lower() in {q.strip().lower() for q in state.get("queries", [])}:
                query = f"{question} {notes[-1].split(': ', 1)[-1]}" if notes else question
        decision = state.get("decision", {})
        turn_message = {"role": "assistant", "content": REFINED_TURN.format(
            intermediate=_intermediate(turn, notes), query=query)}
        data = RewriteData(turn=turn, query=query, previous_query=state["query"], decision=decision,
                           prompt=messages, reply=reply, turns=[turn_message])
        if failed:
            data["format_failure"] = not usable(reply)
            data["fallback"] = "question + key entity"
        event = step.event(explain.rewrite(turn, query, failed, leak, repeated), data)
    return {"query": query, "queries": state.get("queries", []) + [query],
            "transcript": state["transcript"] + [turn_message], "events": [event]}


def answer(state: AutoRAGState, deps: Deps, config: AutoRAGConfig) -> dict[str, Any]:
    """Give the final answer: the supported draft, else the last one (a guess), else own knowledge if allowed."""
    turn, notes = state.get("iteration", 0), state.get("notes", [])
    hits = list(state.get("read_hits", []))
    decision = state.get("decision", {})
    grounding: GroundingData = state.get("grounding") or none("abstained", config.relevance_floor, 0.0)
    with Step(NAME, "answer", state.get("run_id", "")) as step:
        last = final_reading(deps, step, state, config, grounding, hits)
        intermediate = (f"Intermediate Answer_{turn + 1}: I answer from my own knowledge."
                        if last.parametric else _intermediate(turn, notes))
        turns = [*last.turns, {"role": "assistant",
                               "content": FINAL_TURN.format(intermediate=intermediate, answer=last.answer)}]
        settled = settle(Candidate(last.answer, last.grounding, passage_order(hits, last.grounding)),
                         state.get("baseline"), state.get("retrieved", []))
        stop = stop_decision(last.answer, turn, decision, grounding.get("status") == "supported",
                             config.max_iterations, last.parametric, last.document, state.get("draft_turn"))
        explanation = " ".join(x for x in (explain.stop(stop), grounding_sentence(last.grounding),
                                           settlement_sentence(settled)) if x)
        final, used = settled.answer.answer, settled.answer.passages
        transcript = state.get("transcript", []) + turns
        data = AnswerData(answer=final, parametric=last.parametric, passages=used, turns=turns,
                          transcript=transcript, queries=state.get("queries", []), notes=notes,
                          parametric_document=last.document, knowledge_reply=last.knowledge_reply,
                          prompt=last.prompt, reply=last.reply, decision=decision,
                          grounding=settled.answer.grounding, settled=settled_record(settled))
        event = step.event(explanation, data)
    return {"answer": final, "used_ids": used, "transcript": transcript, "events": [event]}


def final_reading(deps: Deps, step: Step, state: AutoRAGState, config: AutoRAGConfig, grounding: GroundingData,
                  hits: list[HitData]) -> FinalReading:
    """The kept draft; when there is none (or no passage read is about the question), a reading without the way
    out, or, when allowed, one with what the model knows itself."""
    final = state.get("draft", "") or NO_ANSWER
    if grounding.get("reason") == "nothing_relevant":  # no passage read is about the question: no answer
        final = NO_ANSWER
    if final == NO_ANSWER and hits and not config.parametric_fallback and \
            grounding.get("reason") != "nothing_relevant":
        return reread(deps, step, state["question"], hits, config, state.get("retrieved", []))
    if final == NO_ANSWER and config.parametric_fallback and hits:
        return own_knowledge(deps, step, state, config, hits)
    return FinalReading(final, grounding)


def reread(deps: Deps, step: Step, question: str, hits: list[HitData], config: AutoRAGConfig,
           retrieved: list[HitData]) -> FinalReading:
    """The passages never gave an answer: ask once more without the way out, and label what comes back."""
    messages = read_messages(question, hits)
    completion = step.add(deps.llm.chat(messages, max_tokens=config.max_tokens, stop=["\n"]))
    final = clean_answer(completion.text)
    final = NO_ANSWER if is_abstention(final) else final
    grounding = ground(deps.llm, step, question, final, hits, relevance(deps.corpora, question, hits, dense=False),
                       retrieved, floor=config.relevance_floor, margin=config.answer_margin)
    return FinalReading(final, grounding, prompt=messages, reply=completion.text)


def own_knowledge(deps: Deps, step: Step, state: AutoRAGState, config: AutoRAGConfig,
                  hits: list[HitData]) -> FinalReading:
    """At the cap with no answer: the model writes what it knows itself (the official code's 'parametric
    knowledge' document) and answers from the passages and that."""
    question, turn, notes = state["question"], state.get("iteration", 0), state.get("notes", [])
    refined = state.get("query", question)
    knowledge = [{"role": "system", "content": KNOWLEDGE_SYSTEM},
                 {"role": "user", "content": KNOWLEDGE_USER.format(question=question, query=refined)}]
    knowledge_reply, document = fill(deps.llm, step, knowledge, config.max_tokens)
    turns = [{"role": "assistant", "content": REFINED_TURN.format(intermediate=_intermediate(turn, notes),
                                                                   query=refined)},
             {"role": "user", "content": PARAMETRIC_TURN.format(turn=turn + 1,
                                                                document=document or "(the model wrote nothing)")}]
    messages = read_messages(question, hits + [{"title": "Own knowledge", "text": document}])
    completion = step.add(deps.llm.chat(messages, max_tokens=config.max_tokens, stop=["\n"]))
    final = clean_answer(completion.text) or NO_ANSWER
    grounding = (ground(deps.llm, step, question, final, hits, relevance(deps.corpora, question, hits, dense=False),
                        state.get("retrieved", []), floor=config.relevance_floor, margin=config.answer_margin)
                 if final != NO_ANSWER else none("abstained", config.relevance_floor, 0.0))
    return FinalReading(final, grounding, prompt=messages, reply=completion.text, parametric=True,
                        document=document, knowledge_reply=knowledge_reply, turns=turns)


def baseline(state: AutoRAGState, deps: Deps, config: AutoRAGConfig) -> dict[str, Any]:
    """Read what the naive baseline reads, so the final answer is never worse than it (agents.baseline)."""
    candidate, hits, events = baseline_reading(deps, state, NAME, config.relevance_floor, config.answer_margin)
    return {"baseline": candidate, "retrieved": hits, "events": events}


def after_read(state: AutoRAGState, deps: Deps, config: AutoRAGConfig) -> str:
    """Answer when a passage states the model's answer, the cap is reached or nothing new came back; else refine."""
    if state.get("decision", {}).get("enough"):
        return "answer"
    if state.get("iteration", 0) >= config.max_iterations or not state.get("new_hits"):
        return "answer"
    return "rewrite"


def _intermediate(turn: int, notes: list[str]) -> str:
    """The 'Intermediate Answer_k: Based on the Retrieved Document_k, ...' part of an assistant turn."""
    return INTERMEDIATE_TURN.format(turn=turn, evidence=notes[-1] if notes else "there is nothing useful.")
