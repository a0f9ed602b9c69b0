"""Auto-RAG's nodes: plan -> (retrieve -> read -> rewrite)* -> answer, each a function of (state, deps, config)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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
from agents.base import Deps, RAGState, format_passages, hit_dict, option, short
from agents.baseline import Candidate, baseline_reading, settle, settled_record, settlement_sentence
from agents.events import AnswerData, GroundingData, HitData, PlanData, ReadData, RetrieveData, RewriteData, Step
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
    word_coverage,
)
from agents.reader import clean_answer, read_messages
from agents.search import RETRIEVERS, search
from agents.text import normalize_answer
from llm.base import LLM, Message

NAME = "auto_rag"
# 2 turns, margin -2: chosen on MuSiQue dev questions 26-50 by a rule written before the runs (session 8: the same dev
# F1 as 3 turns, more early stops). An older reader, with 2 turns, stopped MuSiQue's first 25 on repeated wrong bridge
# answers (F1 0.263 -> 0.203), so 3 turns were kept then; see benchmarks/RESULTS.md
AGREE_TURNS, AGREE_MARGIN = 2, -2.0


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
    agree_turns: int = option(
        AGREE_TURNS, "Stop when the signals agree: the model's answer stayed the same over this many turns (each new "
        "search changed nothing), it is in a relevant passage, and reading that passage alone the model does not "
        "reject it for 'unknown' (below); 0 turns this stop off.", min=0, max=10)
    agree_margin: float = option(
        AGREE_MARGIN, "For the agreement stop: the least log-likelihood of the answer minus that of 'unknown' "
        "given the passage holding it alone (-2: the answer may be somewhat less likely than 'unknown', not far "
        "less; 'supported' needs the answer margin above).", min=-20.0, max=50.0)
    parametric_fallback: bool = option(
        False, "At the cap with no answer, let the model write what it knows itself (the official code's "
        "'parametric knowledge' document) and answer from that too.")
    retriever: str = option(
        "dense", "How each query searches: dense similarity, or HippoRAG's graph walk (PageRank from the "
        "query's entities).", choices=list(RETRIEVERS))
    relevance_floor: float = option(RELEVANCE_FLOOR, FLOOR_HELP, min=0.0, max=1.0)
    max_tokens: int = option(32, "Most tokens of each fill (analysis, answer); a query gets at most 24.",
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
    notes: list[str]  # the evidence: one sentence chosen from each turn's passages
    decision: dict[str, Any]
    drafts: list[str]  # the model's answer after each turn, in order
    draft: str  # the best-supported answer the model gave from the passages so far
    draft_turn: int
    draft_score: float  # its support: the best check's log-odds (answer vs "unknown" given one passage)
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


def fill(llm: LLM, step: Step, messages: list[Message], max_tokens: int) -> tuple[str, str]:
    """One short completion stopped at a newline; returns (raw reply, cleaned line)."""
    completion = step.add(llm.chat(messages, max_tokens=max_tokens, stop=["\n"]))
    return completion.text, clean_fill(completion.text)


_WORD = re.compile(r"[A-Za-z][\w'-]*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def leaked(text: str, allowed: str) -> list[str]:
    """Capitalised words of `text` that come from the prompts' examples and not from `allowed` (a leak)."""
    examples = {w.lower() for w in EXAMPLE_NAMES}
    known = {w.lower() for w in _WORD.findall(allowed)}
    return sorted({w for w in _WORD.findall(text) if w[:1].isupper() and w.lower() in examples
                   and w.lower() not in known})


def sentences(question: str, hits: list[HitData], limit: int = MAX_SENTENCES) -> list[tuple[str, str]]:
    """(title, sentence) pairs of the passages, at most `limit`: those sharing most words with the question."""
    q = {w.lower() for w in _WORD.findall(question) if len(w) > 3}
    pairs = [(h["title"], s.strip()) for h in hits for s in _SENTENCE.split(" ".join(h["text"].split())) if s.strip()]
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
            query_reply, written = fill(llm, step, query_messages, min(QUERY_TOKENS, config.max_tokens))
            if usable(written) and not leaked(written, question):
                query = written
            else:
                failed = True
        transcript: list[Message] = [
            {"role": "system", "content": DIALOGUE_SYSTEM},
            {"role": "user", "content": QUESTION_TURN.format(question=question)},
            {"role": "assistant", "content": PLAN_TURN.format(analysis=analysis, query=query)},
        ]
        source = "the question itself" if query == question else f"'{short(query)}'"
        why = (f" (the model's plan borrowed {', '.join(leak)} from its worked example, so a plain plan is used)"
               if leak else " (the model wrote nothing usable, so a plain plan is used)" if failed else "")
        explanation = f"Plans: {short(analysis, 120)}{why}. First search: {source}."
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
    per_turn = config.first_turn_passages if turn == 1 else config.passages_per_turn
    with Step(NAME, "retrieve", state.get("run_id", "")) as step:
        hits, walk = search(deps, state["corpus"], query, per_turn + len(seen), config.retriever)
        fresh = [h for h in hits if h.chunk_id not in seen][:per_turn]
        last = hits.index(fresh[-1]) if fresh else len(hits)
        skipped = [h.chunk_id for h in hits[:last] if h.chunk_id in seen]
        found = [hit_dict(h, i, query) for i, h in enumerate(fresh, 1)]
        documents = documents_text(found) or "(no new documents)"
        turn_message = {"role": "user", "content": RETRIEVED_TURN.format(turn=turn, documents=documents)}
        again = f", skipping {_n(len(skipped), 'passage')} it had already read" if skipped else ""
        if found:
            titles = ", ".join(f"“{cut_at_word(h['title'], 40)}”" for h in found)
            explanation = f"Turn {turn}: searches for '{short(query)}' and reads {titles}{again}."
        else:
            explanation = f"Turn {turn}: searches for '{short(query)}' and finds nothing it has not read{again}."
        event = step.event(explanation, RetrieveData(turn=turn, query=query, hits=found, skipped_seen=skipped,
                                                     turns=[turn_message], **walk))
    return {"iteration": turn, "seen": seen + [h["chunk_id"] for h in found], "new_hits": found,
            "read_hits": state.get("read_hits", []) + found, "retrieved": found,
            "transcript": state["transcript"] + [turn_message], "events": [event]}


def read(state: AutoRAGState, deps: Deps, config: AutoRAGConfig) -> dict[str, Any]:
    """Pick the sentence that helps (the evidence), answer from every passage read, and decide: does a passage
    give that answer? Yes: stop and answer. No (or the model replies "unknown"): refine the query."""
    llm = deps.llm
    question, turn, found = state["question"], state["iteration"], state.get("new_hits", [])
    notes = list(state.get("notes", []))
    with Step(NAME, "read", state.get("run_id", "")) as step:
        if not found:
            decision = {"enough": False, "exhausted": True}
            event = step.event(f"Turn {turn}: has nothing new to read, so it stops searching.",
                               ReadData(turn=turn, evidence="", notes=notes, decision=decision, passages=[]))
            return {"decision": decision, "events": [event]}
        # 1. evidence: a sentence chosen from the new passages (copied, so it cannot drift to invented names)
        pairs = sentences(question, found)
        listing = "\n".join(f"{i}. {s}" for i, (_t, s) in enumerate(pairs, 1))
        messages = [{"role": "system", "content": EVIDENCE_SYSTEM},
                    {"role": "user", "content": EVIDENCE_USER.format(question=question, sentences=listing)}]
        pick = step.add(llm.choose(messages, [str(i) for i in range(1, len(pairs) + 1)]))
        title, sentence = pairs[int(pick.option) - 1]
        evidence = f"{title}: {sentence}"
        notes.append(evidence)
        # 2. decide from the passages: answer from all of them, then check that a passage gives that answer
        hits = state.get("read_hits", [])
        read_prompt = read_messages(question, hits)  # the shared reader; "unknown" counts as no answer yet
        completion = step.add(llm.chat(read_prompt, max_tokens=config.max_tokens, stop=["\n"]))
        draft = clean_answer(completion.text)
        draft = NO_ANSWER if is_abstention(draft) else draft
        scores = relevance(deps.corpora, question, hits, dense=False)
        grounding = ground(llm, step, question, draft, hits, scores, state.get("retrieved", []),
                           floor=config.relevance_floor, margin=config.answer_margin)
        enough = grounding["status"] == "supported"
        decision = {"enough": enough, "draft": draft, "status": grounding["status"],
                    "checks": grounding.get("checks", []), "margin": config.answer_margin,
                    "evidence_scores": pick.scores}
        # 3. the refined search brought a relevant passage holding the answer: does it answer the question?
        new = {h["chunk_id"] for h in found}
        fresh = [h for h, s in zip(hits, scores, strict=True) if h["chunk_id"] in new and s >= config.relevance_floor
                 and word_coverage(draft, f"{h['title']} {h['text']}") > 0.5]
        if not enough and config.confirm_stop and turn > 1 and draft != NO_ANSWER and fresh \
                and not grounding.get("restates"):
            decision["confirm"] = confirm_answer(llm, step, question, grounding, fresh, hits, found)
            enough = decision["enough"] = decision["confirm"]["confirmed"]
        # 4. the signals agree: new searches no longer change the answer, and a relevant passage holds it and
        # leans towards it; more turns are unlikely to change it (no LLM call: the signals are already there)
        drafts = [*state.get("drafts", []), draft]
        if not enough and config.agree_turns and turn < config.max_iterations:
            decision["agree"] = agreement(drafts, grounding, config)
            enough = decision["enough"] = decision["agree"]["stop"]
        explanation = f"Turn {turn}: the most helpful sentence is “{short(sentence, 110)}” ({title}). " + \
            _decision_sentence(draft, grounding, decision.get("confirm"), decision.get("agree"))
        data = ReadData(turn=turn, evidence=evidence, notes=notes, decision=decision,
                        passages=[h["doc_id"] for h in found], prompt=read_prompt, reply=completion.text,
                        decision_prompt=messages, answer=draft, grounding=grounding)
        event = step.event(explanation, data)
    update: dict[str, Any] = {"notes": notes, "decision": decision, "drafts": drafts, "events": [event]}
    # keep the best-supported answer so far (a later turn may drift to a worse one; Auto-RAG answers with it)
    # (no answer < an answer repeating the question < an answer no passage was checked for < the checked ones)
    unchecked = -1e9 if draft == NO_ANSWER else -1e6 if grounding.get("restates") else -1e3
    score = max((c["log_odds"] for c in grounding.get("checks", [])), default=unchecked)
    if not state.get("draft") or score > state.get("draft_score", -1e9) or enough:
        update.update(draft=draft, grounding=grounding, draft_turn=turn, draft_score=score)
    return update


def confirm_answer(llm: LLM, step: Step, question: str, grounding: GroundingData, fresh: list[HitData],
                   hits: list[HitData], found: list[HitData]) -> dict[str, Any]:
    """Which passage answers the question? A constrained choice (a number, or 0 for none) over this turn's new
    passages and the earlier ones holding the answer's words; confirmed when the model picks a new passage that
    holds the answer (`fresh`): the refined search found the fact, and the model points at it."""
    holding = {h["doc_id"] for h in fresh}
    earlier = {c["doc_id"] for c in grounding.get("checks", [])} - {h["doc_id"] for h in found}
    shown = list({h["doc_id"]: h for h in [*found, *(h for h in hits if h["doc_id"] in earlier)]}.values())
    shown = shown[:MAX_ANSWER_PASSAGES]
    messages = [{"role": "system", "content": ANSWERS_SYSTEM},
                {"role": "user", "content": ANSWERS_USER.format(passages=format_passages(shown), question=question)}]
    choice = step.add(llm.choose(messages, [str(i) for i in range(len(shown) + 1)]))
    picked = shown[int(choice.option) - 1] if choice.option != "0" else None
    return {"passages": [h["title"] for h in shown], "holding": [h["title"] for h in shown if h["doc_id"] in holding],
            "choice": int(choice.option), "picked": picked["title"] if picked else "", "scores": choice.scores,
            "prompt": messages, "confirmed": bool(picked and picked["doc_id"] in holding)}


def agreement(drafts: list[str], grounding: GroundingData, config: AutoRAGConfig) -> dict[str, Any]:
    """The agreement stop's three signals: the answer unchanged over the last `agree_turns` turns, the answer's
    words in a relevant passage (a support check ran on it), and that passage not rejecting it (the check's
    answer-vs-"unknown" log-odds at least `agree_margin`)."""
    draft, k = drafts[-1], config.agree_turns
    norm = normalize_answer(draft)
    same = 1
    for earlier in reversed(drafts[:-1]):
        if normalize_answer(earlier) != norm:
            break
        same += 1
    checks = grounding.get("checks", [])
    best = max(checks, key=lambda c: c["log_odds"]) if checks else None
    stable = draft != NO_ANSWER and bool(norm) and same >= k
    not_rejected = best is not None and best["log_odds"] >= config.agree_margin
    return {"same_turns": same, "needed": k, "stable": stable, "in_passage": best is not None,
            "title": best["title"] if best else "", "log_odds": best["log_odds"] if best else None,
            "margin": config.agree_margin, "not_rejected": not_rejected, "stop": stable and not_rejected}


def _decision_sentence(draft: str, grounding: GroundingData, confirm: dict[str, Any] | None = None,
                       agree: dict[str, Any] | None = None) -> str:
    """Why the model stops or searches again, in plain words."""
    if agree and agree["stop"]:
        return (f"Its answer ‘{short(draft)}’ has stayed the same for {agree['same_turns']} turns, so new searches no "
                f"longer change it; it is in “{cut_at_word(agree['title'], 50)}”, and reading that passage alone "
                f"the model does not reject it for “unknown”, so it stops searching.")
    if confirm:
        found = " and ".join(f"“{cut_at_word(t, 40)}”" for t in confirm["holding"][:2])
        head = f"This search found {found}, which contains its answer ‘{short(draft)}’; asked which passage " \
               f"answers the question, the model picks "
        if confirm["confirmed"]:
            return head + f"“{cut_at_word(confirm['picked'], 50)}”, so it stops searching."
        which = f"“{cut_at_word(confirm['picked'], 50)}”" if confirm["picked"] else "none of them"
        return head + f"{which}, so it searches again."
    if grounding["status"] == "supported":
        return (f"It can answer ‘{short(draft)}’. {grounding_sentence(grounding)} So it stops searching.")
    if grounding.get("restates"):
        return (f"Its answer so far, ‘{short(draft)}’, only repeats words of the question, so it is not taken as an "
                f"answer, and it searches again.")
    if grounding["status"] == "none" and grounding.get("reason") == "nothing_relevant":
        return "None of the passages read so far is about the question, so it searches again."
    if grounding["status"] == "none":
        return "The passages read so far do not answer the question yet, so it searches again."
    return f"Its answer so far is ‘{short(draft)}’. {grounding_sentence(grounding)} So it searches again."


def rewrite(state: AutoRAGState, deps: Deps, config: AutoRAGConfig) -> dict[str, Any]:
    """Refine the query for the fact still missing (falls back to question + key entity of the evidence)."""
    llm = deps.llm
    question, turn, notes = state["question"], state["iteration"], state.get("notes", [])
    hits = state.get("read_hits", [])
    with Step(NAME, "rewrite", state.get("run_id", "")) as step:
        known = " ".join(n.split(": ", 1)[-1] for n in notes) if notes else "nothing useful yet."
        messages = few_shot(QUERY_SYSTEM, QUERY_EXAMPLES, QUERY_USER.format(question=question, known=known))
        reply, query = fill(llm, step, messages, min(QUERY_TOKENS, config.max_tokens))
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
        if not failed:
            how = f"Turn {turn}: searches next for '{short(query)}'."
        else:
            why = (f"borrowed {', '.join(leak)} from its worked example" if leak else
                   "repeated an earlier search" if repeated else "wrote no usable query")
            how = f"Turn {turn}: the model's query {why}, so it searches for '{short(query)}' instead."
        data = RewriteData(turn=turn, query=query, previous_query=state["query"], decision=decision,
                           prompt=messages, reply=reply, turns=[turn_message])
        if failed:
            data["format_failure"] = not usable(reply)
            data["fallback"] = "question + key entity"
        event = step.event(how, data)
    return {"query": query, "queries": state.get("queries", []) + [query],
            "transcript": state["transcript"] + [turn_message], "events": [event]}


def answer(state: AutoRAGState, deps: Deps, config: AutoRAGConfig) -> dict[str, Any]:
    """Give the final answer: the supported draft, else the last one (a guess), else own knowledge if allowed."""
    llm = deps.llm
    question, turn, notes = state["question"], state.get("iteration", 0), state.get("notes", [])
    hits = list(state.get("read_hits", []))
    decision = state.get("decision", {})
    final = state.get("draft", "") or NO_ANSWER
    grounding: GroundingData = state.get("grounding") or none("abstained", config.relevance_floor, 0.0)
    if grounding.get("reason") == "nothing_relevant":  # no passage read is about the question: no answer
        final = NO_ANSWER
    enough = grounding.get("status") == "supported"
    with Step(NAME, "answer", state.get("run_id", "")) as step:
        turns: list[Message] = []
        document, knowledge_reply, parametric, messages, reply = "", "", False, [], ""
        if final == NO_ANSWER and hits and not config.parametric_fallback and \
                grounding.get("reason") != "nothing_relevant":
            # the passages never gave an answer: ask once more without the way out, and label what comes back
            messages = read_messages(question, hits)
            completion = step.add(llm.chat(messages, max_tokens=config.max_tokens, stop=["\n"]))
            reply, final = completion.text, clean_answer(completion.text)
            final = NO_ANSWER if is_abstention(final) else final
            grounding = ground(llm, step, question, final, hits, relevance(deps.corpora, question, hits, dense=False),
                               state.get("retrieved", []), floor=config.relevance_floor, margin=config.answer_margin)
        elif final == NO_ANSWER and config.parametric_fallback and hits:
            parametric = True
            refined = state.get("query", question)
            knowledge = [{"role": "system", "content": KNOWLEDGE_SYSTEM},
                         {"role": "user", "content": KNOWLEDGE_USER.format(question=question, query=refined)}]
            knowledge_reply, document = fill(llm, step, knowledge, config.max_tokens)
            turns.append({"role": "assistant", "content": REFINED_TURN.format(
                intermediate=_intermediate(turn, notes), query=refined)})
            turns.append({"role": "user", "content": PARAMETRIC_TURN.format(
                turn=turn + 1, document=document or "(the model wrote nothing)")})
            messages = read_messages(question, hits + [{"title": "Own knowledge", "text": document}])
            completion = step.add(llm.chat(messages, max_tokens=config.max_tokens, stop=["\n"]))
            reply, final = completion.text, clean_answer(completion.text) or NO_ANSWER
            grounding = (ground(llm, step, question, final, hits, relevance(deps.corpora, question, hits,
                                                                            dense=False),
                                state.get("retrieved", []), floor=config.relevance_floor,
                                margin=config.answer_margin)
                         if final != NO_ANSWER else none("abstained", config.relevance_floor, 0.0))
        intermediate = (f"Intermediate Answer_{turn + 1}: I answer from my own knowledge."
                        if parametric else _intermediate(turn, notes))
        turns.append({"role": "assistant", "content": FINAL_TURN.format(intermediate=intermediate, answer=final)})
        score = {h["doc_id"]: h["score"] for h in hits}
        used = sorted(dict.fromkeys(h["doc_id"] for h in hits), key=lambda d: (d != grounding.get("doc_id"),
                                                                                -score.get(d, 0.0)))
        settled = settle(Candidate(final, grounding, used), state.get("baseline"), state.get("retrieved", []))
        stop = _stop_sentence(final, turn, decision, enough, config, parametric, document, state.get("draft_turn"))
        explanation = " ".join(x for x in (stop,
                                           grounding_sentence(grounding), settlement_sentence(settled)) if x)
        final, used, grounding = settled.answer.answer, settled.answer.passages, settled.answer.grounding
        transcript = state.get("transcript", []) + turns
        data = AnswerData(answer=final, parametric=parametric, passages=used, turns=turns, transcript=transcript,
                          queries=state.get("queries", []), notes=notes, parametric_document=document,
                          knowledge_reply=knowledge_reply, prompt=messages, reply=reply, decision=decision,
                          grounding=grounding, settled=settled_record(settled))
        event = step.event(explanation, data)
    return {"answer": final, "used_ids": used, "transcript": transcript, "events": [event]}


def baseline(state: AutoRAGState, deps: Deps, config: AutoRAGConfig) -> dict[str, Any]:
    """Read what the naive baseline reads, so the final answer is never worse than it (agents.baseline)."""
    candidate, hits, events = baseline_reading(deps, state, NAME, config.relevance_floor, config.answer_margin)
    return {"baseline": candidate, "retrieved": hits, "events": events}


def _stop_sentence(final: str, turn: int, decision: dict[str, Any], enough: bool, config: AutoRAGConfig,
                   parametric: bool, document: str, when: int | None) -> str:
    """Why the loop ended and what it answers, in plain words (the label's own sentence follows)."""
    head = f"Its own answer is ‘{short(final)}’ after {_n(turn, 'turn')}"
    confirm, agree = decision.get("confirm") or {}, decision.get("agree") or {}
    if enough:
        return f"{head}: a passage gives it."
    if confirm.get("confirmed"):
        return (f"{head}: its last search found “{cut_at_word(confirm['picked'], 50)}”, which holds the answer, and "
                f"the model points at it as the passage that answers.")
    if agree.get("stop"):
        return (f"{head}: the answer stayed the same over {_n(agree['same_turns'], 'turn')} of searching, and "
                f"“{cut_at_word(agree['title'], 50)}” holds it without ruling it out.")
    why = ("it found nothing new to read" if decision.get("exhausted") else
           f"it reached its limit of {_n(config.max_iterations, 'turn')}")
    if parametric:
        wrote = short(document or "(nothing)", 80)
        return (f"After {_n(turn, 'turn')} {why}, so it wrote what it knows itself (‘{wrote}’); its own answer "
                f"from that too is ‘{short(final)}’.")
    if final == NO_ANSWER:
        return f"After {_n(turn, 'turn')} {why}, and it has no answer of its own."
    at = f" (turn {when})" if when else ""
    return f"After {_n(turn, 'turn')} {why}; its own answer is ‘{short(final)}’, its best-checked one{at}."


def after_read(state: AutoRAGState, deps: Deps, config: AutoRAGConfig) -> str:
    """Answer when a passage states the model's answer, the cap is reached or nothing new came back; else refine."""
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
