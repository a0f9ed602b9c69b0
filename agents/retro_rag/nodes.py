"""RetroRAG's nodes: collate -> discover -> retroact -> answer -> (next query -> collate)* -> finish."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.base import Deps, RAGState, hit_dict, option, short
from agents.events import AnswerData, EvidenceData, HitData, ReadData, RetrieveData, ReviseData, RewriteData, Step
from agents.reader import clean_answer, read_messages
from agents.retro_rag import evidence as ev
from agents.retro_rag.prompts import (
    AGREE_DISAGREE,
    ANSWERS_EXAMPLES,
    ANSWERS_SYSTEM,
    ANSWERS_USER,
    ATTRIBUTION_EXAMPLES,
    ATTRIBUTION_SYSTEM,
    ATTRIBUTION_USER,
    CLAIM_EXAMPLES,
    CLAIM_SYSTEM,
    CLAIM_USER,
    CONTRADICTION_EXAMPLES,
    CONTRADICTION_SYSTEM,
    CONTRADICTION_USER,
    EVIDENCE_TITLE,
    NEXT_SYSTEM,
    NEXT_USER,
    QUERY_TEMPLATE,
    RELEVANCE_EXAMPLES,
    RELEVANCE_SYSTEM,
    RELEVANCE_USER,
    SUPPORT_EXAMPLES,
    SUPPORT_SYSTEM,
    SUPPORT_USER,
    YES_NO,
    few_shot,
)
from agents.search import RETRIEVERS, search
from llm.base import LLM, Message

NAME = "retro_rag"
COPIED = 0.8  # a claim whose content words are at least this share of its passage's words is copied from it


@dataclass(frozen=True)
class RetroRAGConfig:
    """Settings of RetroRAG."""

    max_iterations: int = option(
        3, "Most searches (rounds of collation and discovery); the last answer is given even if not judged "
        "reliable.", min=1, max=6)
    answer_after: int = option(
        2, "The first answer comes after this many searches: the question's, then the entity-centred ones that "
        "discovery asks for (the paper answers after discovery).", min=1, max=6)
    passages_per_search: int = option(
        3, "New passages each search adds to the evidence (ones already held are skipped).", min=1, max=10)
    read_passages: int = option(
        5, "Most passages the answerer reads: those behind inferential evidence first, then the rest in order.",
        min=1, max=12)
    max_checks: int = option(
        2, "Most contradiction checks (new item vs earlier item about the same entity) per round; 0 turns "
        "retroactive revision off.", min=0, max=8)
    credibility_margin: float = option(
        0.0, "Log-odds by which 'yes' must beat 'no' for an inferential claim to count as stated by its "
        "passage and relevant to the question.", min=-20.0, max=20.0)
    contradiction_margin: float = option(
        1.0, "Log-odds by which 'they disagree' must beat 'they agree' before earlier evidence is withdrawn; "
        "higher withdraws less.", min=-20.0, max=20.0)
    reliability_margin: float = option(
        0.0, "Log-odds by which 'yes' must beat 'no' in both answer checks (supported, answers the question) "
        "for the answer to be judged reliable.", min=-20.0, max=20.0)
    retriever: str = option(
        "dense", "How each query searches: dense similarity, or HippoRAG's graph walk (PageRank from the "
        "query's entities).", choices=list(RETRIEVERS))
    max_tokens: int = option(32, "Most tokens of each fill (an inferential claim, the answer).", min=8, max=256)


class RetroRAGState(RAGState, total=False):
    """The evidence set and what produced it; passages are numbered 1.. in order of retrieval."""

    pool: list[HitData]  # every passage retrieved; passage n is pool[n - 1]
    origins: list[str]  # per passage: the evidence id whose entity led to it ('' = the question)
    new_numbers: list[int]  # passages first retrieved this round
    evidence: list[EvidenceData]
    added: list[str]  # evidence ids added this round
    entities: list[str]  # the question's key entities
    searched: list[str]  # entities searched for (lower case)
    query: str
    query_basis: str  # the evidence id the current query's entity came from
    queries: list[str]
    iteration: int
    answers: list[str]  # the answer of every round
    answer_basis: list[str]  # evidence ids the latest answer read
    verdict: dict[str, Any]


def log_odds(scores: dict[str, float], yes: str = "yes", no: str = "no") -> float:
    """score(yes) - score(no) of a constrained choice."""
    return round(float(scores.get(yes, 0.0)) - float(scores.get(no, 0.0)), 3)


def decide(llm: LLM, step: Step, messages: list[Message], options: tuple[str, str], margin: float) -> dict[str, Any]:
    """One constrained yes/no choice; `passed` when options[yes] beats options[no] by more than `margin`."""
    choice = step.add(llm.choose(messages, list(options)))
    odds = log_odds(choice.scores)
    return {"option": choice.option, "scores": choice.scores, "log_odds": odds, "margin": margin,
            "passed": odds > margin, "constrained": choice.constrained}


def misnumbered(claim: str, cited: HitData, best: HitData) -> bool:
    """True when the claim plainly comes from another passage than the one it cites."""
    names_cited = ev.unsupported_names(claim, [cited["title"] + " " + cited["text"]])
    names_best = ev.unsupported_names(claim, [best["title"] + " " + best["text"]])
    return len(names_best) < len(names_cited) or (
        ev.containment(claim, cited["title"] + " " + cited["text"]) < COPIED
        <= ev.containment(claim, best["title"] + " " + best["text"]))


def passage_label(state: RetroRAGState, number: int) -> str:
    """'passage 3 (Title)'."""
    pool = state.get("pool", [])
    return f"passage {number} ({pool[number - 1]['title']})" if 0 < number <= len(pool) else f"passage {number}"


# --- evidence collation ---------------------------------------------------------------------------
def collate(state: RetroRAGState, deps: Deps, config: RetroRAGConfig) -> dict[str, Any]:
    """Retrieve for the current query and file each new passage as source evidence about its title."""
    question, pool = state["question"], list(state.get("pool", []))
    query, basis = state.get("query") or question, state.get("query_basis", "")
    evidence, iteration = ev.table(state.get("evidence", [])), state.get("iteration", 0) + 1
    seen = {h["chunk_id"] for h in pool}
    with Step(NAME, "retrieve", state.get("run_id", "")) as step:
        hits, walk = search(deps, state["corpus"], query, config.passages_per_search + len(seen), config.retriever)
        fresh = [h for h in hits if h.chunk_id not in seen][: config.passages_per_search]
        found = [hit_dict(h, len(pool) + i, query) for i, h in enumerate(fresh, 1)]
        added: list[str] = []
        for hit in found:
            item = EvidenceData(id=f"e{len(evidence) + 1}", claim=ev.best_sentence(hit["text"], question),
                                kind=ev.SOURCE, entity=hit["title"], passages=[hit["doc_id"]], numbers=[hit["rank"]],
                                status=ev.ACTIVE, iteration=iteration, derived_from=[basis] if basis else [])
            evidence.append(item)
            added.append(item["id"])
        skipped = len([h for h in hits if h.chunk_id in seen])
        if found:
            listed = ", ".join(f"[{h['rank']}] {h['title']}" for h in found)
            explanation = (f"Round {iteration}: collates evidence for '{short(query)}' — {len(found)} new passages "
                           f"({skipped} already held skipped): {listed}; each is filed as source evidence about "
                           f"its title.")
        else:
            explanation = f"Round {iteration}: searches for '{short(query)}' and finds no passage it does not hold."
        data = RetrieveData(query=query, hits=found, iteration=iteration, new=[h["doc_id"] for h in found],
                            seen=[h["doc_id"] for h in pool], **walk)
        event = step.event(explanation, data)
    return {"pool": pool + found, "origins": state.get("origins", []) + [basis] * len(found),
            "new_numbers": [h["rank"] for h in found], "evidence": evidence, "added": added,
            "iteration": iteration, "queries": state.get("queries", []) + [query], "retrieved": found,
            "entities": state.get("entities") or ev.names(question), "events": [event]}


# --- evidence discovery ---------------------------------------------------------------------------
def discover(state: RetroRAGState, deps: Deps, config: RetroRAGConfig) -> dict[str, Any]:
    """Infer one claim from the new passages and keep it only if its passage states it and it is relevant."""
    llm, question, iteration = deps.llm, state["question"], state["iteration"]
    pool, numbers = state.get("pool", []), state.get("new_numbers", [])
    before = ev.table(state.get("evidence", []))
    evidence, added = ev.table(before), list(state.get("added", []))
    entities = state.get("entities", [])
    with Step(NAME, "revise", state.get("run_id", "")) as step:
        key = ", ".join(entities) or "none named"
        if not numbers:
            event = step.event(f"Round {iteration}: no new passages, so nothing new to infer (key entities: {key}).",
                               ReviseData(before=before, after=before, passages=[], operation="discover",
                                          iteration=iteration, entities=entities, added=[]))
            return {"events": [event]}
        known = "; ".join(e["claim"] for e in ev.active(evidence) if e.get("kind") == ev.INFERENTIAL)
        shown = {n: pool[n - 1] for n in numbers}
        passages = "\n".join(f"[{n}] {h['title']}: {h['text']}" for n, h in shown.items())
        messages = few_shot(CLAIM_SYSTEM, CLAIM_EXAMPLES,
                            CLAIM_USER.format(question=question, known=known or "nothing yet.", passages=passages))
        completion = step.add(llm.chat(messages, max_tokens=config.max_tokens, stop=["\n"]))
        number, claim, problem = ev.parse_claim(completion.text, numbers, [h["title"] for h in shown.values()])
        candidate: dict[str, Any] = {"reply": completion.text, "claim": claim, "passage": number}
        best = ev.attribute(claim, shown) if not problem else None
        if not problem and number is None:
            number = best
            candidate.update(passage=number, attributed_by_overlap=True)
            if number is None:
                problem = "it names no passage and shares no word with any"
        elif not problem and best is not None and best != number and misnumbered(claim, shown[number], shown[best]):
            candidate.update(passage=best, renumbered_from=number)  # a small model often cites the wrong number
            number = best
        decision: dict[str, Any] = {}
        verdict = ""
        if problem:
            candidate.update(status="malformed", problem=problem)
            verdict = (f"writes '{short(completion.text, 80)}', which is malformed ({problem}), so it is recorded "
                       f"and skipped")
        else:
            assert number is not None
            hit = shown[number]
            invented = ev.unsupported_names(claim, [hit["title"] + " " + hit["text"], question])
            duplicate = next((e for e in ev.active(evidence) if e.get("kind") == ev.INFERENTIAL
                              and ev.overlap(e["claim"], claim) >= 0.8), None)
            if invented:
                candidate.update(status="dropped", problem=f"names {', '.join(invented)}, which passage {number} "
                                                           f"does not mention")
                verdict = f"infers '[{number}] {short(claim, 90)}' but drops it: {candidate['problem']}"
            elif duplicate:
                candidate.update(status="dropped", problem=f"it repeats {duplicate['id']}")
                verdict = f"infers '[{number}] {short(claim, 90)}' but drops it: it repeats {duplicate['id']}"
            else:
                copied = ev.containment(claim, hit["title"] + " " + hit["text"])
                if copied >= COPIED:  # the claim is the passage's own words: attributed without asking
                    decision["attribution"] = {"method": "copied", "containment": round(copied, 3), "passed": True,
                                               "log_odds": 0.0}
                else:
                    decision["attribution"] = decide(llm, step, few_shot(
                        ATTRIBUTION_SYSTEM, ATTRIBUTION_EXAMPLES,
                        ATTRIBUTION_USER.format(title=hit["title"], text=hit["text"], claim=claim)),
                        YES_NO, config.credibility_margin)
                if decision["attribution"]["passed"]:
                    decision["relevance"] = decide(llm, step, few_shot(
                        RELEVANCE_SYSTEM, RELEVANCE_EXAMPLES, RELEVANCE_USER.format(question=question, claim=claim)),
                        YES_NO, config.credibility_margin)
                credible = all(d["passed"] for d in decision.values())
                odds = "; ".join(f"{k} {d['log_odds']:+.2f}" if d.get("method") != "copied" else
                                 f"{k}: copied from the passage" for k, d in decision.items())
                if credible:
                    origin = state.get("origins", [])[number - 1] if number <= len(state.get("origins", [])) else ""
                    item = EvidenceData(id=f"e{len(evidence) + 1}", claim=claim, kind=ev.INFERENTIAL,
                                        entity=hit["title"], passages=[hit["doc_id"]], numbers=[number],
                                        status=ev.ACTIVE, iteration=iteration,
                                        derived_from=[origin] if origin else [], credibility=decision)
                    evidence.append(item)
                    added.append(item["id"])
                    candidate.update(status="kept", id=item["id"])
                    verdict = (f"infers '[{number}] {short(claim, 90)}' and keeps it as {item['id']}: "
                               f"{passage_label(state, number)} states it and it bears on the question ({odds})")
                else:
                    failed = "attribution" if not decision["attribution"]["passed"] else "relevance"
                    why = ("its passage does not state it" if failed == "attribution"
                           else "it does not bear on the question")
                    candidate.update(status="dropped", problem=why)
                    verdict = f"infers '[{number}] {short(claim, 90)}' but drops it: {why} ({odds})"
        data = ReviseData(before=before, after=ev.table(evidence), passages=[h["doc_id"] for h in shown.values()],
                          operation="discover", iteration=iteration, entities=entities,
                          added=[i for i in added if i not in {e["id"] for e in before}], candidate=candidate,
                          decision=decision, prompt=messages, reply=completion.text)
        if problem:
            data["format_failure"] = True
        event = step.event(f"Round {iteration}: key entities {key}; {verdict}.", data)
    return {"evidence": evidence, "added": added, "events": [event]}


# --- retroactive revision -------------------------------------------------------------------------
def retroact(state: RetroRAGState, deps: Deps, config: RetroRAGConfig) -> dict[str, Any]:
    """Check new evidence against earlier evidence about the same entity; withdraw what it contradicts."""
    llm, iteration = deps.llm, state["iteration"]
    before = ev.table(state.get("evidence", []))
    pairs = ev.check_pairs(before, state.get("added", []), config.max_checks)
    if not pairs:
        return {}
    evidence = ev.table(before)
    with Step(NAME, "revise", state.get("run_id", "")) as step:
        checks, withdrawn, sentences, passages = [], [], [], []
        for old, new in pairs:
            messages = few_shot(CONTRADICTION_SYSTEM, CONTRADICTION_EXAMPLES,
                                CONTRADICTION_USER.format(earlier=old["claim"], new=new["claim"]))
            verdict = decide(llm, step, messages, AGREE_DISAGREE, config.contradiction_margin)  # yes - no
            disagree = verdict["passed"]
            checks.append({"earlier": old["id"], "new": new["id"], "option": verdict["option"],
                           "scores": verdict["scores"], "log_odds": verdict["log_odds"],
                           "margin": config.contradiction_margin, "disagree": disagree, "prompt": messages})
            still = {e["id"] for e in ev.active(evidence)}
            if not disagree or old["id"] not in still or new["id"] not in still:
                continue
            where = ", ".join(passage_label(state, n) for n in new.get("numbers", []))
            reason = f"{where} gives '{new['claim']}'"
            out = ev.withdraw(evidence, old["id"], new["id"], reason, iteration)
            withdrawn += out
            passages += old.get("passages", []) + new.get("passages", [])
            source = ", ".join(f"passage {n}" for n in old.get("numbers", []))
            sentence = (f"Withdrew '{short(old['claim'], 90)}' (from {source}): {where} gives "
                        f"'{short(new['claim'], 90)}'")
            if len(out) > 1:
                sentence += f"; {len(out) - 1} item(s) resting on it withdrawn too ({', '.join(out[1:])})"
            sentences.append(sentence + ".")
        redone = bool(set(withdrawn) & set(state.get("answer_basis", [])))
        if sentences:
            explanation = " ".join(sentences) + (
                f" The answer '{short(state.get('answer', ''))}' rested on it and is redone." if redone else "")
        else:
            top = max(c["log_odds"] for c in checks)
            explanation = (f"Round {iteration}: checks {len(checks)} new item(s) against earlier evidence about the "
                           f"same entity ({', '.join(sorted({p[1]['entity'] for p in pairs}))}): no contradiction "
                           f"(largest 'disagree' log-odds {top:+.2f}, withdraws above "
                           f"{config.contradiction_margin:+.2f}).")
        data = ReviseData(before=before, after=ev.table(evidence), passages=list(dict.fromkeys(passages)),
                          operation="retroact", iteration=iteration, withdrawn=withdrawn, added=[], checks=checks,
                          answer_redone=redone, reason=" ".join(sentences))
        event = step.event(explanation, data)
    return {"evidence": evidence, "events": [event]}


# --- answerer and evaluation ----------------------------------------------------------------------
def reading(state: RetroRAGState, config: RetroRAGConfig) -> tuple[list[int], list[EvidenceData]]:
    """Passage numbers the answerer reads (behind inferential claims first, newest first) and the live items."""
    live = ev.active(state.get("evidence", []))
    inferred = [n for e in reversed(live) if e.get("kind") == ev.INFERENTIAL for n in e.get("numbers", [])]
    sourced = [n for e in live if e.get("kind") == ev.SOURCE for n in e.get("numbers", [])]
    return list(dict.fromkeys(inferred + sourced))[: config.read_passages], live


def answer(state: RetroRAGState, deps: Deps, config: RetroRAGConfig) -> dict[str, Any]:
    """Answer from the active evidence, then judge the answer: grounded, supported, answers the question."""
    llm, question, iteration = deps.llm, state["question"], state["iteration"]
    pool = state.get("pool", [])
    numbers, live = reading(state, config)
    claims = [e["claim"] for e in live if e.get("kind") == ev.INFERENTIAL]
    hits: list[dict[str, Any]] = [pool[n - 1] for n in numbers]
    shown = ([{"title": EVIDENCE_TITLE, "text": " ".join(claims)}] if claims else []) + hits
    with Step(NAME, "read", state.get("run_id", "")) as step:
        messages = read_messages(question, shown)
        completion = step.add(llm.chat(messages, max_tokens=config.max_tokens, stop=["\n"]))
        raw = clean_answer(completion.text)
        final = ev.trim_restatement(raw, question)
        failed = not any(ch.isalnum() for ch in final)
        if failed:
            final = "(no answer)"
        basis = [e for e in live if e.get("kind") == ev.INFERENTIAL or set(e.get("numbers", [])) & set(numbers)]
        decision: dict[str, Any] = {"grounded": not failed and ev.answer_grounded(
            final, claims + [h["title"] + " " + h["text"] for h in hits])}
        if final != raw:
            decision["trimmed_from"] = raw  # the reply went on to restate the question
        prompts: list[Message] = []
        if decision["grounded"]:
            lines = "\n".join(f"- {e['claim']}" for e in basis if ev.answer_grounded(final, [e["claim"]])
                              or e.get("kind") == ev.INFERENTIAL) or "\n".join(f"- {e['claim']}" for e in basis[:3])
            support = few_shot(SUPPORT_SYSTEM, SUPPORT_EXAMPLES,
                               SUPPORT_USER.format(evidence=lines, question=question, answer=final))
            decision["supported"] = decide(llm, step, support, YES_NO, config.reliability_margin)
            prompts = support
            if decision["supported"]["passed"]:
                asks = few_shot(ANSWERS_SYSTEM, ANSWERS_EXAMPLES, ANSWERS_USER.format(question=question, answer=final))
                decision["answers"] = decide(llm, step, asks, YES_NO, config.reliability_margin)
                prompts = prompts + asks[-1:]
        decision["reliable"] = bool(decision["grounded"] and decision.get("supported", {}).get("passed")
                                    and decision.get("answers", {}).get("passed"))
        previous = state.get("answer", "")
        cited = [h["doc_id"] for h in hits if ev.answer_grounded(final, [h["title"] + " " + h["text"]])]
        if decision["reliable"]:
            verdict = (f"judges it reliable (supported {decision['supported']['log_odds']:+.2f}, answers the "
                       f"question {decision['answers']['log_odds']:+.2f})")
        elif not decision["grounded"]:
            verdict = "judges it unreliable: it appears in none of the evidence"
        elif not decision["supported"]["passed"]:
            verdict = (f"judges it unreliable: the evidence does not support it "
                       f"({decision['supported']['log_odds']:+.2f})")
        else:
            verdict = (f"judges it unreliable: it is not what the question asks for "
                       f"({decision['answers']['log_odds']:+.2f})")
        change = f" (was '{short(previous)}')" if previous and previous != final else ""
        explanation = (f"Round {iteration}: answers '{short(final)}'{change} from {len(claims)} inferential claim(s) "
                       f"and {len(hits)} passage(s), and {verdict}.")
        data = ReadData(passages=[h["doc_id"] for h in hits], prompt=messages, reply=completion.text, answer=final,
                        cited=cited, iteration=iteration, previous=previous, changed=bool(change), decision=decision,
                        decision_prompt=prompts, notes=claims)
        if failed:
            data["format_failure"] = True
        event = step.event(explanation, data)
    return {"answer": final, "answers": state.get("answers", []) + [final], "answer_basis": [e["id"] for e in basis],
            "verdict": decision, "used_ids": [h["doc_id"] for h in hits], "events": [event]}


def after_retroact(state: RetroRAGState, deps: Deps, config: RetroRAGConfig) -> str:
    """Answer once enough searches were made (or at the cap); before that, discovery searches again."""
    done = state.get("iteration", 0)
    return "answer" if done >= min(config.answer_after, config.max_iterations) else "next_query"


def after_answer(state: RetroRAGState, deps: Deps, config: RetroRAGConfig) -> str:
    """Stop when the answer is reliable or the cap is reached; otherwise look for what is missing."""
    if state.get("verdict", {}).get("reliable") or state.get("iteration", 0) >= config.max_iterations:
        return "finish"
    return "next_query"


# --- what is missing: the next entity-centred query -----------------------------------------------
def missing_entities(state: RetroRAGState) -> list[tuple[str, str]]:
    """(entity, evidence id it came from) pairs with no source evidence of their own and not yet searched."""
    live = ev.active(state.get("evidence", []))
    question = state["question"].lower()
    covered = {e.get("entity", "").lower() for e in live if e.get("kind") == ev.SOURCE}
    searched = set(state.get("searched", []))
    out: list[tuple[str, str]] = []
    for item in reversed([e for e in live if e.get("kind") == ev.INFERENTIAL]):
        out += [(n, item["id"]) for n in ev.names(item["claim"]) if n.lower() not in question]
    out += [(n, "answer") for n in ev.names(state.get("answer", ""))]
    out += [(n, "") for n in state.get("entities", [])]
    seen: set[str] = set()
    kept = []
    for name, basis in out:
        low = name.lower()
        if low in seen or low in searched or any(low in c or c in low for c in covered if c):
            continue
        seen.add(low)
        kept.append((name, basis))
    return kept


def next_query(state: RetroRAGState, deps: Deps, config: RetroRAGConfig) -> dict[str, Any]:
    """Turn the missing piece into an entity-centred query (a constrained choice when several are missing)."""
    question, iteration = state["question"], state["iteration"]
    previous = state.get("query") or question
    candidates = missing_entities(state)[:4]
    with Step(NAME, "rewrite", state.get("run_id", "")) as step:
        decision: dict[str, Any] = {"candidates": [c[0] for c in candidates]}
        prompt: list[Message] = []
        fallback = ""
        if len(candidates) > 1:
            known = "\n".join(f"- {e['claim']}" for e in ev.active(state.get("evidence", []))
                              if e.get("kind") == ev.INFERENTIAL) or "- nothing yet."
            prompt = [{"role": "system", "content": NEXT_SYSTEM},
                      {"role": "user", "content": NEXT_USER.format(question=question, known=known)}]
            choice = step.add(deps.llm.choose(prompt, [c[0] for c in candidates]))
            decision.update(option=choice.option, scores=choice.scores, constrained=choice.constrained)
            entity, basis = next(c for c in candidates if c[0] == choice.option)
        elif candidates:
            entity, basis = candidates[0]
        else:
            entity, basis = "", ""
        if entity:
            query = QUERY_TEMPLATE.format(entity=entity, question=question)
            origin = {"": "a key entity of the question", "answer": "named by the draft answer"}.get(
                basis, f"named in {basis}")
            basis = "" if basis == "answer" else basis
            why = "the answer is not yet reliable" if state.get("answers") else "before answering, discovery looks"
            explanation = (f"Round {iteration}: {why}; '{entity}' ({origin}) has no evidence of its own, so it "
                           f"searches next for '{short(query)}'.")
        else:
            draft = state.get("answer", "")
            query = f"{question} {draft}" if ev.words(draft) and draft != "(no answer)" else ""
            if query in state.get("queries", []):
                query = ""
            fallback = "question + draft answer" if query else "none"
            explanation = (f"Round {iteration}: no entity is missing evidence; searches with the question and the "
                           f"draft answer '{short(draft)}'." if query else
                           f"Round {iteration}: no entity is missing evidence and no new query is left, so it "
                           f"{'stops' if state.get('answers') else 'answers'}.")
        data = RewriteData(query=query, previous_query=previous, turn=iteration, decision=decision, prompt=prompt,
                           fallback=fallback)
        event = step.event(explanation, data)
    searched = state.get("searched", []) + ([entity.lower()] if entity else [])
    return {"query": query, "query_basis": basis, "searched": searched, "events": [event]}


def after_next_query(state: RetroRAGState, deps: Deps, config: RetroRAGConfig) -> str:
    """Search again when there is a query; otherwise answer (if not yet answered) or stop."""
    if state.get("query"):
        return "collate"
    return "finish" if state.get("answers") else "answer"


def finish(state: RetroRAGState, deps: Deps, config: RetroRAGConfig) -> dict[str, Any]:
    """Give the latest answer and say what ended the loop: a reliable answer, the cap, or nothing left to search."""
    iteration, verdict = state.get("iteration", 0), state.get("verdict", {})
    evidence = state.get("evidence", [])
    if verdict.get("reliable"):
        stopped, why = "reliable", "the answerer judged it reliable"
    elif iteration >= config.max_iterations:
        stopped, why = "cap", f"the cap of {config.max_iterations} rounds was reached without a reliable answer"
    else:
        stopped, why = "exhausted", "nothing was left to search for, without a reliable answer"
    withdrawn = [e["id"] for e in evidence if e.get("status") == ev.WITHDRAWN]
    final = state.get("answer") or "(no answer)"
    with Step(NAME, "answer", state.get("run_id", "")) as step:
        live = ev.active(evidence)
        explanation = (f"Answers '{short(final)}' after {iteration} round(s): {why}. Evidence: {len(live)} active "
                       f"item(s), {len(withdrawn)} withdrawn.")
        data = AnswerData(answer=final, passages=state.get("used_ids", []), queries=state.get("queries", []),
                          notes=[e["claim"] for e in live if e.get("kind") == ev.INFERENTIAL],
                          drafts=state.get("answers", []),
                          decision={"stopped": stopped, "iterations": iteration, "withdrawn": withdrawn,
                                    "verdict": verdict},
                          retrieved=[h["doc_id"] for h in state.get("pool", [])])
        event = step.event(explanation, data)
    return {"answer": final, "events": [event]}
