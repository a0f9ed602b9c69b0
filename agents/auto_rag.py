"""Auto-RAG (Yu et al., 2024): the LLM holds a multi-turn dialogue with the retriever until it knows enough.

Each turn the model reads the new documents, notes what is useful ("Intermediate Answer_k"), decides
whether it can answer, and either refines its query ("Refined Query: ...") or answers ("Final Answer:
..."). Small local models do not follow that free-text format, so every decision here is a constrained
choice (`llm.choose` over yes/no, with a log-odds margin) and every piece of text is a short few-shot fill
that stops at a newline; the paper's dialogue is then assembled from those pieces and shown as the
transcript. A fill that comes back empty falls back to something safe and is marked `format_failure`.
When the turn cap is reached the model writes what it knows itself (the official code's "parametric
knowledge" document) and answers from that and the passages it read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.graph import END, START, StateGraph

from agents.base import AgentSpec, Deps, RAGState, hit_dict, option, short
from agents.events import Step
from agents.reader import clean_answer, read_messages
from agents.search import RETRIEVERS, search
from llm.base import LLM, Message

NAME = "auto_rag"

# --- prompts --------------------------------------------------------------------------------------
# The dialogue's system turn, as in the official code.
DIALOGUE_SYSTEM = (
    "Answer the question by retrieving external knowledge. Extract useful information from each retrieved "
    "document. If the information is insufficient or irrelevant, refine your query and search again until "
    "you are able to answer the question."
)

PLAN_SYSTEM = (
    "Before searching an encyclopedia, say in one sentence which facts you need to answer the question."
)
PLAN_EXAMPLES = (
    ("Question: In which town was the founder of the Orlen Society born?",
     "I need to know who founded the Orlen Society and in which town that person was born."),
    ("Question: Which river flows past the capital of Vestmark?",
     "I need to know the capital of Vestmark and which river flows past it."),
)
PLAN_USER = "Question: {question}"

QUERY_SYSTEM = (
    "Write a short search query for the one fact still missing. Name the entity it is about. "
    "Reply with the query alone, on one line."
)
QUERY_EXAMPLES = (
    ("Question: In which town was the founder of the Orlen Society born?\n"
     "Known: The Orlen Society was founded by Petra Vask.\nRefined Query:",
     "Petra Vask birthplace"),
    ("Question: Which river flows past the capital of Vestmark?\n"
     "Known: nothing useful yet.\nRefined Query:",
     "capital of Vestmark"),
)
QUERY_USER = "Question: {question}\nKnown: {known}\nRefined Query:"

EVIDENCE_SYSTEM = (
    "Read the retrieved documents and write one sentence with the facts in them that help answer the "
    "question. If they hold nothing useful, say that."
)
EVIDENCE_EXAMPLES = (
    ("Question: In which town was the founder of the Orlen Society born?\n"
     "Retrieved Document_1: Orlen Society: The Orlen Society is a club of amateur astronomers, founded by "
     "Petra Vask in 1889.",
     "The Orlen Society was founded by Petra Vask; the document does not say where she was born."),
    ("Question: Which river flows past the capital of Vestmark?\n"
     "Retrieved Document_1: Orlen River: The Orlen River is a river in the north of Estria.",
     "The document is about the Orlen River in Estria and says nothing about Vestmark."),
)
EVIDENCE_USER = "Question: {question}\nRetrieved Document_{turn}: {documents}"

DECIDE_SYSTEM = "Decide whether the notes already contain the final answer to the question. Reply yes or no."
DECIDE_EXAMPLES = (
    ("Question: In which town was the founder of the Orlen Society born?\n"
     "Notes:\n- The Orlen Society was founded by Petra Vask.\n"
     "Do the notes contain the final answer?", "no"),
    ("Question: In which town was the founder of the Orlen Society born?\n"
     "Notes:\n- The Orlen Society was founded by Petra Vask.\n- Petra Vask was born in the town of Hollin.\n"
     "Do the notes contain the final answer?", "yes"),
)
DECIDE_USER = "Question: {question}\nNotes:\n{notes}\nDo the notes contain the final answer?"
DECISION_OPTIONS = ("yes", "no")  # yes = answer now, no = refine the query and search again

KNOWLEDGE_SYSTEM = (
    "Write one sentence, as an encyclopedia would, that answers the query from your own knowledge."
)
KNOWLEDGE_EXAMPLES = (
    ("Question: Who developed an explanation for the photoelectric effect?\n"
     "Query: photoelectric effect explanation\nDocument:",
     "Albert Einstein explained the photoelectric effect in 1905 by treating light as discrete photons."),
)
KNOWLEDGE_USER = "Question: {question}\nQuery: {query}\nDocument:"

# The transcript turns, in the official format.
QUESTION_TURN = "Question: {question}"
PLAN_TURN = "Analysis: {analysis}\n\nInitial Query: {query}"
RETRIEVED_TURN = "Retrieved Document_{turn}: {documents}"
PARAMETRIC_TURN = "Retrieved Document_{turn} (parametric knowledge): {document}"
INTERMEDIATE_TURN = "Intermediate Answer_{turn}: Based on the Retrieved Document_{turn}, {evidence}"
REFINED_TURN = "{intermediate}\n\nRefined Query: {query}"
FINAL_TURN = "{intermediate}\n\nFinal Answer: {answer}"

QUERY_TOKENS = 24  # a query is a few words; a longer fill is rambling
STRIP_PREFIXES = ("Refined Query:", "Initial Query:", "Query:", "Analysis:", "Intermediate Answer:",
                  "Document:", "Known:", "Based on the Retrieved Document,")


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
    read_hits: list[dict[str, Any]]  # passages shown, in order
    new_hits: list[dict[str, Any]]  # passages shown in the latest turn
    notes: list[str]  # the model's extracted evidence, one per turn
    decision: dict[str, Any]


# --- pure helpers ---------------------------------------------------------------------------------
def few_shot(system: str, examples: tuple[tuple[str, str], ...], user: str) -> list[Message]:
    """A system turn, worked examples as user/assistant pairs, then the real request."""
    messages: list[Message] = [{"role": "system", "content": system}]
    for question, reply in examples:
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]
    return [*messages, {"role": "user", "content": user}]


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


def fallback_query(question: str, notes: list[str], hits: list[dict[str, Any]]) -> str:
    """Question plus the key entity of the latest note (or of the latest passage's title)."""
    entity = key_entity(notes[-1]) if notes else ""
    if not entity or entity.lower() in question.lower():
        entity = next((h["title"] for h in reversed(hits) if h["title"].lower() not in question.lower()), "")
    return f"{question} {entity}".strip()


def documents_text(hits: list[dict[str, Any]]) -> str:
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


# --- the graph ------------------------------------------------------------------------------------
def build_graph(deps: Deps, config: AutoRAGConfig) -> StateGraph:
    """plan -> (retrieve -> read -> rewrite)* -> answer."""
    llm = deps.llm

    def plan(state: AutoRAGState) -> dict[str, Any]:
        """Analyse the question, say what is needed, and choose the first query."""
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
            data = {"analysis": analysis, "query": query, "turns": transcript[1:], "prompt": messages,
                    "reply": reply, "query_reply": query_reply}
            if failed:
                data["format_failure"] = True
            event = step.event(explanation, data)
        return {"transcript": transcript, "query": query, "queries": [query], "iteration": 0, "seen": [],
                "read_hits": [], "notes": [], "events": [event]}

    def retrieve(state: AutoRAGState) -> dict[str, Any]:
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
            event = step.event(explanation, {"turn": turn, "query": query, "hits": found,
                                             "skipped_seen": skipped, "turns": [turn_message], **walk})
        return {"iteration": turn, "seen": seen + [h["chunk_id"] for h in found], "new_hits": found,
                "read_hits": state.get("read_hits", []) + found, "retrieved": found,
                "transcript": state["transcript"] + [turn_message], "events": [event]}

    def read(state: AutoRAGState) -> dict[str, Any]:
        """Extract what is useful from the new passages, then decide: answer now or search again."""
        question, turn, found = state["question"], state["iteration"], state.get("new_hits", [])
        notes = list(state.get("notes", []))
        with Step(NAME, "read", state.get("run_id", "")) as step:
            if not found:
                decision = {"enough": False, "exhausted": True}
                event = step.event(f"Turn {turn}: has no new passages to read, so it stops searching.",
                                   {"turn": turn, "evidence": "", "notes": notes, "decision": decision})
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
            data = {"turn": turn, "evidence": evidence, "notes": notes, "decision": decision,
                    "passages": [h["doc_id"] for h in found], "prompt": messages, "reply": reply,
                    "decision_prompt": decide_messages}
            if failed:
                data["format_failure"] = True
            event = step.event(explanation, data)
        return {"notes": notes, "decision": decision, "events": [event]}

    def rewrite(state: AutoRAGState) -> dict[str, Any]:
        """Refine the query for the fact still missing (falls back to question + key entity)."""
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
            data = {"turn": turn, "query": query, "previous_query": state["query"],
                    "decision": decision, "prompt": messages, "reply": reply, "turns": [turn_message]}
            if failed:
                data["format_failure"] = True
                data["fallback"] = "question + key entity"
            event = step.event(explanation, data)
        return {"query": query, "queries": state.get("queries", []) + [query],
                "transcript": state["transcript"] + [turn_message], "events": [event]}

    def answer(state: AutoRAGState) -> dict[str, Any]:
        """Give the final answer from the passages read (plus own knowledge when the cap was reached)."""
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
            data = {"answer": final, "parametric": parametric, "passages": used, "turns": turns,
                    "transcript": transcript, "queries": state.get("queries", []), "notes": notes,
                    "parametric_document": document, "knowledge_reply": knowledge_reply,
                    "prompt": messages, "reply": completion.text, "decision": state.get("decision", {})}
            if failed:
                data["format_failure"] = True
            event = step.event(explanation, data)
        return {"answer": final, "used_ids": used, "transcript": transcript, "events": [event]}

    def after_read(state: AutoRAGState) -> str:
        """Answer when the model knows enough, the cap is reached or nothing new came back; else refine."""
        if state.get("decision", {}).get("enough"):
            return "answer"
        if state.get("iteration", 0) >= config.max_iterations or not state.get("new_hits"):
            return "answer"
        return "rewrite"

    graph = StateGraph(AutoRAGState)
    for name, node in (("plan", plan), ("retrieve", retrieve), ("read", read), ("rewrite", rewrite),
                       ("answer", answer)):
        graph.add_node(name, node)
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "retrieve")
    graph.add_edge("retrieve", "read")
    graph.add_conditional_edges("read", after_read, {"answer": "answer", "rewrite": "rewrite"})
    graph.add_edge("rewrite", "retrieve")
    graph.add_edge("answer", END)
    return graph


def _n(count: int, noun: str) -> str:
    """'1 new passage' / '2 new passages'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _intermediate(turn: int, notes: list[str]) -> str:
    """The 'Intermediate Answer_k: Based on the Retrieved Document_k, ...' part of an assistant turn."""
    return INTERMEDIATE_TURN.format(turn=turn, evidence=notes[-1] if notes else "there is nothing useful.")


SPEC = AgentSpec(
    name=NAME,
    title="Auto-RAG (autonomous iterative retrieval)",
    paper="Yu et al., 2024 — Auto-RAG: Autonomous Retrieval-Augmented Generation for Large Language Models",
    summary="The LLM talks with the retriever: reads new passages, notes what helps, decides (constrained "
            "yes/no) whether it can answer, else refines its query; answers from its own knowledge at the cap.",
    config_cls=AutoRAGConfig,
    build_graph=build_graph,
)

