"""Auto-RAG's nodes: plan -> (retrieve -> read -> rewrite)* -> answer, each a function of (state, deps, config)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.auto_rag.prompts import (
    DECIDE_EXAMPLES,
    DECIDE_SYSTEM,
    DECIDE_USER,
    DECISION_OPTIONS,
    DIALOGUE_SYSTEM,
    EVIDENCE_EXAMPLES,
    EVIDENCE_SYSTEM,
    EVIDENCE_USER,
    FINAL_TURN,
    INTERMEDIATE_TURN,
    KNOWLEDGE_EXAMPLES,
    KNOWLEDGE_SYSTEM,
    KNOWLEDGE_USER,
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
from agents.base import Deps, RAGState, hit_dict, option, short
from agents.events import AnswerData, HitData, PlanData, ReadData, RetrieveData, RewriteData, Step
from agents.reader import clean_answer, read_messages
from agents.search import RETRIEVERS, search
from llm.base import LLM, Message

NAME = "auto_rag"


@dataclass(frozen=True)
class AutoRAGConfig:
    """Settings of Auto-RAG."""

    max_iterations: int = option(
        5, "Most retrieval turns; after the last one the model answers from its own knowledge too.",
        min=1, max=10)
    passages_per_turn: int = option(
        2, "New passages shown per turn; ones already seen are skipped (the official code shows 2).",
        min=1, max=10)
    first_query: str = option(
        "question", "The first search: the question itself, or a query the model writes after its analysis.",
        choices=["question", "model"])
    answer_margin: float = option(
        1.0, "Log-odds by which 'yes, the notes answer it' must beat 'no' before the model stops searching; "
        "higher searches longer.", min=-20.0, max=20.0)
    retriever: str = option(
        "dense", "How each query searches: dense similarity, or HippoRAG's graph walk (PageRank from the "
        "query's entities).", choices=list(RETRIEVERS))
    max_tokens: int = option(32, "Most tokens of each fill (analysis, notes, answer); a query gets at most 24.",
                             min=8, max=256)


class AutoRAGState(RAGState, total=False):
    """Auto-RAG's dialogue: the transcript so far, the current query and what it has read and noted."""

    transcript: list[Message]
    query: str
    queries: list[str]
    iteration: int
    seen: list[str]  # chunk ids already shown to the model
    read_hits: list[HitData]  # passages shown, in order
    new_hits: list[HitData]  # passages shown in the latest turn
    notes: list[str]  # the model's extracted evidence, one per turn
    decision: dict[str, Any]


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


def key_entity(text: str) -> str:
    """The longest run of capitalised words in `text` (a cheap named-entity guess), or ''."""
    runs, current = [], []
    for word in text.replace(",", " ").replace(";", " ").split():
        if word[:1].isupper() or (current and word.lower() in ("of", "the", "de", "von")):
            current.append(word.strip(".:!?()\"'"))
        else:
            runs.append(current)
            current = []
    runs.append(current)
    best = max((r for r in runs if r), key=lambda r: (len(r), len(" ".join(r))), default=[])
    while best and best[-1].lower() in ("of", "the", "de", "von"):
        best.pop()
    return " ".join(best)


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


def log_odds(scores: dict[str, float]) -> float:
    """score(yes) - score(no) of a decision."""
    return float(scores.get("yes", 0.0)) - float(scores.get("no", 0.0))


def fill(llm: LLM, step: Step, messages: list[Message], max_tokens: int) -> tuple[str, str]:
    """One short completion stopped at a newline; returns (raw reply, cleaned line)."""
    completion = step.add(llm.chat(messages, max_tokens=max_tokens, stop=["\n"]))
    return completion.text, clean_fill(completion.text)


# --- nodes ----------------------------------------------------------------------------------------
def plan(state: AutoRAGState, deps: Deps, config: AutoRAGConfig) -> dict[str, Any]:
    """Analyse the question, say what is needed, and choose the first query."""
    llm = deps.llm
    question = state["question"]
    with Step(NAME, "plan", state.get("run_id", "")) as step:
        messages = few_shot(PLAN_SYSTEM, PLAN_EXAMPLES, PLAN_USER.format(question=question))
        reply, analysis = fill(llm, step, messages, config.max_tokens)
        failed = not usable(analysis)
        if failed:
            analysis = "I need to find the facts the question asks about."
        query, query_reply = question, ""
        if config.first_query == "model":
            query_messages = few_shot(QUERY_SYSTEM, QUERY_EXAMPLES,
                                      QUERY_USER.format(question=question, known="nothing yet."))
            query_reply, written = fill(llm, step, query_messages, min(QUERY_TOKENS, config.max_tokens))
            if usable(written):
                query = written
            else:
                failed = True
        transcript: list[Message] = [
            {"role": "system", "content": DIALOGUE_SYSTEM},
            {"role": "user", "content": QUESTION_TURN.format(question=question)},
            {"role": "assistant", "content": PLAN_TURN.format(analysis=analysis, query=query)},
        ]
        source = "the question itself" if query == question else f"'{short(query)}'"
        explanation = (f"Plans: {short(analysis, 120)}. First query: {source}"
                       + (" (a fill came back empty, so a default is used)." if failed else "."))
        data = PlanData(analysis=analysis, query=query, turns=transcript[1:], prompt=messages, reply=reply,
                        query_reply=query_reply)
        if failed:
            data["format_failure"] = True
        event = step.event(explanation, data)
    return {"transcript": transcript, "query": query, "queries": [query], "iteration": 0, "seen": [],
            "read_hits": [], "notes": [], "events": [event]}


def retrieve(state: AutoRAGState, deps: Deps, config: AutoRAGConfig) -> dict[str, Any]:
    """Search with the current query and show the model the best passages it has not seen yet."""
    query, seen = state["query"], list(state.get("seen", []))
    turn = state.get("iteration", 0) + 1
    with Step(NAME, "retrieve", state.get("run_id", "")) as step:
        hits, walk = search(deps, state["corpus"], query, config.passages_per_turn + len(seen),
                            config.retriever)
        fresh = [h for h in hits if h.chunk_id not in seen][: config.passages_per_turn]
        last = hits.index(fresh[-1]) if fresh else len(hits)
        skipped = [h.chunk_id for h in hits[:last] if h.chunk_id in seen]
        found = [hit_dict(h, i, query) for i, h in enumerate(fresh, 1)]
        documents = documents_text(found) or "(no new documents)"
        turn_message = {"role": "user", "content": RETRIEVED_TURN.format(turn=turn, documents=documents)}
        if found:
            explanation = (f"Turn {turn}: searches for '{short(query)}' — {_n(len(found), 'new passage')}"
                           f" ({len(skipped)} already seen skipped), best {found[0]['score']:.2f}: "
                           f"{found[0]['title']}.")
        else:
            explanation = (f"Turn {turn}: searches for '{short(query)}' and finds nothing new "
                           f"({len(skipped)} already seen).")
        event = step.event(explanation, RetrieveData(turn=turn, query=query, hits=found, skipped_seen=skipped,
                                                     turns=[turn_message], **walk))
    return {"iteration": turn, "seen": seen + [h["chunk_id"] for h in found], "new_hits": found,
            "read_hits": state.get("read_hits", []) + found, "retrieved": found,
            "transcript": state["transcript"] + [turn_message], "events": [event]}

def read(state: AutoRAGState, deps: Deps, config: AutoRAGConfig) -> dict[str, Any]:
    """Extract what is useful from the new passages, then decide: answer now or search again."""
    llm = deps.llm
    question, turn, found = state["question"], state["iteration"], state.get("new_hits", [])
    notes = list(state.get("notes", []))
    with Step(NAME, "read", state.get("run_id", "")) as step:
        if not found:
            decision = {"enough": False, "exhausted": True}
            event = step.event(f"Turn {turn}: has no new passages to read, so it stops searching.",
                               ReadData(turn=turn, evidence="", notes=notes, decision=decision, passages=[]))
            return {"decision": decision, "events": [event]}
        messages = few_shot(EVIDENCE_SYSTEM, EVIDENCE_EXAMPLES, EVIDENCE_USER.format(
            question=question, turn=turn, documents=documents_text(found)))
        reply, evidence = fill(llm, step, messages, config.max_tokens)
        failed = not usable(evidence)
        if failed:
            evidence = f"{found[0]['title']}: {short(found[0]['text'], 150)}"
        notes.append(evidence)
        decide_messages = few_shot(DECIDE_SYSTEM, DECIDE_EXAMPLES,
                                   DECIDE_USER.format(question=question, notes=notes_text(notes)))
        choice = step.add(llm.choose(decide_messages, list(DECISION_OPTIONS)))
        odds = log_odds(choice.scores)
        enough = odds > config.answer_margin
        decision = {"enough": enough, "option": choice.option, "scores": choice.scores,
                    "log_odds": round(odds, 3), "margin": config.answer_margin,
                    "constrained": choice.constrained}
        verdict = "decides it can answer" if enough else "decides it needs more"
        explanation = (f"Turn {turn}: notes '{short(evidence, 100)}' and {verdict} (yes vs no by "
                       f"{odds:+.2f} log-odds; answers above {config.answer_margin:+.2f}).")
        data = ReadData(turn=turn, evidence=evidence, notes=notes, decision=decision,
                        passages=[h["doc_id"] for h in found], prompt=messages, reply=reply,
                        decision_prompt=decide_messages)
        if failed:
            data["format_failure"] = True
        event = step.event(explanation, data)
    return {"notes": notes, "decision": decision, "events": [event]}

def rewrite(state: AutoRAGState, deps: Deps, config: AutoRAGConfig) -> dict[str, Any]:
    """Refine the query for the fact still missing (falls back to question + key entity)."""
    llm = deps.llm
    question, turn, notes = state["question"], state["iteration"], state.get("notes", [])
    with Step(NAME, "rewrite", state.get("run_id", "")) as step:
        known = " ".join(notes) if notes else "nothing useful yet."
        messages = few_shot(QUERY_SYSTEM, QUERY_EXAMPLES, QUERY_USER.format(question=question, known=known))
        reply, query = fill(llm, step, messages, min(QUERY_TOKENS, config.max_tokens))
        failed = not usable(query)
        if failed:
            query = fallback_query(question, notes, state.get("read_hits", []))
        decision = state.get("decision", {})
        turn_message = {"role": "assistant", "content": REFINED_TURN.format(
            intermediate=_intermediate(turn, notes), query=query)}
        how = "falls back to" if failed else "refines the query to"
        explanation = (f"Turn {turn}: {how} '{short(query)}' (search beat answer: yes vs no "
                       f"{decision.get('log_odds', 0.0):+.2f} log-odds, not above "
                       f"{config.answer_margin:+.2f}).")
        data = RewriteData(turn=turn, query=query, previous_query=state["query"], decision=decision,
                           prompt=messages, reply=reply, turns=[turn_message])
        if failed:
            data["format_failure"] = True
            data["fallback"] = "question + key entity"
        event = step.event(explanation, data)
    return {"query": query, "queries": state.get("queries", []) + [query],
            "transcript": state["transcript"] + [turn_message], "events": [event]}

def answer(state: AutoRAGState, deps: Deps, config: AutoRAGConfig) -> dict[str, Any]:
    """Give the final answer from the passages read (plus own knowledge when the cap was reached)."""
    llm = deps.llm
    question, turn, notes = state["question"], state.get("iteration", 0), state.get("notes", [])
    hits = list(state.get("read_hits", []))
    enough = bool(state.get("decision", {}).get("enough"))
    parametric = not enough
    with Step(NAME, "answer", state.get("run_id", "")) as step:
        turns: list[Message] = []
        document, knowledge_reply, failed = "", "", False
        if parametric:
            refined = state.get("query", question)
            knowledge = few_shot(KNOWLEDGE_SYSTEM, KNOWLEDGE_EXAMPLES,
                                 KNOWLEDGE_USER.format(question=question, query=refined))
            knowledge_reply, document = fill(llm, step, knowledge, config.max_tokens)
            failed = not usable(document)
            turns.append({"role": "assistant", "content": REFINED_TURN.format(
                intermediate=_intermediate(turn, notes), query=refined)})
            turns.append({"role": "user", "content": PARAMETRIC_TURN.format(
                turn=turn + 1, document=document or "(the model wrote nothing)")})
        reader_hits = hits + ([{"title": "Own knowledge", "text": document}] if document else [])
        messages = read_messages(question, reader_hits)
        completion = step.add(llm.chat(messages, max_tokens=config.max_tokens, stop=["\n"]))
        final = clean_answer(completion.text)
        if not usable(final):
            failed, final = True, "(no answer)"
        intermediate = (f"Intermediate Answer_{turn + 1}: I answer from my own knowledge."
                        if parametric else _intermediate(turn, notes))
        turns.append({"role": "assistant", "content": FINAL_TURN.format(intermediate=intermediate,
                                                                        answer=final)})
        used = list(dict.fromkeys(h["doc_id"] for h in hits))
        if parametric:
            why = ("finds nothing new to read" if state.get("decision", {}).get("exhausted") else
                   f"reaches the cap of {config.max_iterations} turns")
            explanation = (f"{why[:1].upper()}{why[1:]} without deciding it knows "
                           f"enough, so it answers from its own (parametric) knowledge — it writes "
                           f"'{short(document or '(nothing)', 80)}' — together with the {len(hits)} "
                           f"passages read: '{short(final)}'.")
        else:
            explanation = (f"Answers '{short(final)}' after {turn} turns, from {len(hits)} passages read "
                           f"and {len(notes)} notes.")
        transcript = state.get("transcript", []) + turns
        data = AnswerData(answer=final, parametric=parametric, passages=used, turns=turns, transcript=transcript,
                          queries=state.get("queries", []), notes=notes, parametric_document=document,
                          knowledge_reply=knowledge_reply, prompt=messages, reply=completion.text,
                          decision=state.get("decision", {}))
        if failed:
            data["format_failure"] = True
        event = step.event(explanation, data)
    return {"answer": final, "used_ids": used, "transcript": transcript, "events": [event]}

def after_read(state: AutoRAGState, deps: Deps, config: AutoRAGConfig) -> str:
    """Answer when the model knows enough, the cap is reached or nothing new came back; else refine."""
    if state.get("decision", {}).get("enough"):
        return "answer"
    if state.get("iteration", 0) >= config.max_iterations or not state.get("new_hits"):
        return "answer"
    return "rewrite"


def _n(count: int, noun: str) -> str:
    """'1 new passage' / '2 new passages'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _intermediate(turn: int, notes: list[str]) -> str:
    """The 'Intermediate Answer_k: Based on the Retrieved Document_k, ...' part of an assistant turn."""
    return INTERMEDIATE_TURN.format(turn=turn, evidence=notes[-1] if notes else "there is nothing useful.")
