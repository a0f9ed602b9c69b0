"""RetroRAG's nodes: collate -> discover -> retroact -> answer -> (next query -> collate)* -> finish."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from agents.base import Deps, RAGState, hit_dict, option, short
from agents.events import (
    AnswerData,
    EvidenceData,
    HitData,
    LabelledPrompt,
    RetrieveData,
    ReviseData,
    RewriteData,
    Step,
    TraceEvent,
)
from agents.grounding import (
    FLOOR_HELP,
    NO_ANSWER,
    RELEVANCE_FLOOR,
    SUPPORT_MARGIN,
    grounding_label,
    none,
    relevance,
)
from agents.reader import read_messages, read_step
from agents.retro_rag import evidence as ev
from agents.retro_rag import explain
from agents.retro_rag.decisions import (
    ClaimCandidate,
    Discovery,
    Planned,
    SlotCheck,
    Verdict,
    best_draft,
    invalidate,
    screen,
    slot_check,
    stop_reason,
    verdict_on,
    withdrawn_passages,
)
from agents.retro_rag.prompts import (
    NEXT_EXAMPLES,
    NEXT_SYSTEM,
    NEXT_USER,
    PICK_EXAMPLES,
    PICK_SYSTEM,
    PICK_USER,
    QUERY_TEMPLATE,
    RELEVANCE_EXAMPLES,
    RELEVANCE_SYSTEM,
    RELEVANCE_USER,
    SLOT_USER,
    YES_NO,
    few_shot,
)
from agents.search import RETRIEVERS, search
from llm.base import LLM, Message

NAME = "retro_rag"
SAME_SLOT = 0.75  # the default share of a slot's words that makes a passage state the same relation (same_slot)
DRAFT_SCORING = ("sum", "mean")


@dataclass(frozen=True)
class RetroRAGConfig:
    """Settings of RetroRAG."""

    max_iterations: int = option(
        3, "Most searches (rounds of collation and discovery); the best answer so far is given at the cap.",
        min=1, max=6)
    answer_after: int = option(
        2, "The first answer comes after this many searches: the question's, then the entity-centred ones that "
        "discovery asks for (the paper answers after discovery).", min=1, max=6)
    first_passages: int = option(
        3, "Passages the question's own search files as evidence in the first round.", min=1, max=10)
    passages_per_search: int = option(
        3, "New passages each entity-centred search adds to the evidence (ones already held are skipped).",
        min=1, max=10)
    baseline_passages: int = option(
        5, "The question's own top passages that every answer reads first (as many as the naive baseline), so "
        "the answerer never sees less than it.", min=1, max=10)
    extra_passages: int = option(
        3, "Most evidence passages found by entity-centred search that the answerer reads after the question's "
        "own (those behind kept claims first).", min=0, max=10)
    max_checks: int = option(
        2, "Most contradiction checks (an earlier and a new item giving different values for one slot) per "
        "round; 0 turns retroactive revision off.", min=0, max=8)
    relevance_margin: float = option(
        0.0, "Credibility filter: log-odds by which 'yes' must beat 'no' for a discovered claim to count as "
        "bearing on the question.", min=-20.0, max=20.0)
    # -3: the yes/no does not separate bridge sentences from gold passages and others (docs/notebook.md,
    # RetroRAG), so the margin keeps every bridge and the bridge rule decides
    bridge_margin: float = option(
        -3.0, "Credibility filter for a bridge sentence (it names a question entity, or the entity "
        "searched for, and another entity): the lower log-odds of 'yes' over 'no' it needs, as a yes/no on a "
        "whole question undervalues a sentence that gives only its first hop.", min=-20.0, max=20.0)
    compare_drafts: bool = option(
        True, "When no draft is supported, the kept one is chosen by a constrained choice among the drafts under "
        "each set of passages a draft was read from, the probabilities averaged over them (as RAG-Sequence "
        "marginalises over passages); else the earliest is kept.")
    # 'sum': 'mean' moved picks to long drafts restating the question, at lower dev F1 (docs/notebook.md)
    draft_scoring: str = option(
        "sum", "How the draft comparison scores each draft after each set of passages: 'sum', the summed "
        "log-probability of its tokens (one choice among all drafts; favours the shorter draft, as every token "
        "costs), or 'mean', "
        "the log-probability per token (each draft scored on its own, which also gives its length in tokens; "
        "favours a long draft that copies the question or a passage).",
        choices=list(DRAFT_SCORING))
    evidence_first: bool = option(
        True, "After an unreliable answer, the next answer reads the passages behind kept claims and those found "
        "by entity-centred search first, then the question's own (else the question's own first).")
    reread_chain: bool = option(
        True, "When entity-centred search brought no passage beyond the question's own, answer again from the "
        "evidence chain alone: each kept claim's passage, then the held passages naming the entity it leads to "
        "(as the paper's answerer reads the organised evidence), instead of stopping after one read.")
    # 1.0: the calibration rule's floor, as no consistent pair of benchmarks/calibrate_retro_slots.py's reaches
    # the comparison once the same-relation gate applies (docs/notebook.md)
    contradiction_margin: float = option(
        1.0, "Retroactive revision: how strongly (summed log-likelihood) the new passage must "
        "prefer its value, and the earlier passage its own, before the earlier item is withdrawn; higher "
        "withdraws less.", min=0.0, max=50.0)
    answer_margin: float = option(
        SUPPORT_MARGIN, "Reliability check: how clearly a passage must give the answer (log-likelihood of the "
        "answer over 'unknown' given that passage alone) for the answer to be judged reliable.",
        min=-20.0, max=50.0)
    retriever: str = option(
        "dense", "How each query searches: dense similarity, or HippoRAG's graph walk (PageRank from the "
        "query's entities).", choices=list(RETRIEVERS))
    relevance_floor: float = option(RELEVANCE_FLOOR, FLOOR_HELP, min=0.0, max=1.0)
    max_tokens: int = option(48, "Most tokens the reader may write (as the naive baseline).", min=8, max=256)
    same_slot: float = option(
        SAME_SLOT, "Retroactive revision: the share of a slot's words the new passage must hold to state the same "
        "relation, so that its value competes with the earlier one (most of them: a shared name alone is not "
        "the same relation).", min=0.0, max=1.0)
    pairs_per_check: int = option(
        4, "Retroactive revision: pairs of an earlier and a new item looked at per contradiction check allowed "
        "(most pairs give no two values for one slot, so a few more are read than are checked).", min=1, max=20)
    min_claim_words: int = option(
        ev.MIN_CLAIM_WORDS, "Fewest words a discovered sentence needs to be a statement (fewer: a heading or a "
        "fragment, recorded as malformed and skipped).", min=1, max=20)
    same_claim: float = option(
        0.8, "A discovered sentence sharing at least this share of its content words (Jaccard) with a kept claim "
        "repeats it and is dropped (most words: a rewording, not a new fact).", min=0.0, max=1.0)
    redo_coverage: float = option(
        0.5, "A draft is redone when more than this share of its words is a withdrawn item's value (more than "
        "half: the draft gives that value).", min=0.0, max=1.0)
    next_candidates: int = option(
        4, "Most entities the model chooses the next search among (few: a small model picks worse among many).",
        min=1, max=10)
    chain_links: int = option(
        2, "When the evidence chain is read again: most held passages each kept claim leads to (the next hop, "
        "and one more in case the first is not it).", min=1, max=5)


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
    query_entity: str  # the entity the current query searches for ('' = the question itself)
    queries: list[str]
    iteration: int
    baseline: list[HitData]  # the question's own top passages, read by every answer
    drafts: list[dict[str, Any]]  # every answer: text, round, grounding, passages read, valid
    best: int | None  # index of the kept draft (None: no valid draft)
    verdict: Verdict


def log_odds(scores: dict[str, float], yes: str, no: str) -> float:
    """score(yes) - score(no) of a constrained choice."""
    return round(float(scores.get(yes, 0.0)) - float(scores.get(no, 0.0)), 3)


def decide(llm: LLM, step: Step, messages: list[Message], margin: float) -> dict[str, Any]:
    """One constrained yes/no choice; `passed` when 'yes' beats 'no' by more than `margin`."""
    choice = step.add(llm.choose(messages, list(YES_NO)))
    odds = log_odds(choice.scores, *YES_NO)
    return {"option": choice.option, "scores": choice.scores, "log_odds": odds, "margin": margin,
            "passed": odds > margin, "constrained": choice.constrained}


def passage_label(state: RetroRAGState, number: int) -> str:
    """'passage 3 (Title)'."""
    pool = state.get("pool", [])
    return f"passage {number} ({pool[number - 1]['title']})" if 0 < number <= len(pool) else f"passage {number}"


def file_passages(state: RetroRAGState, evidence: list[EvidenceData], found: list[HitData], basis: str,
                  iteration: int) -> list[str]:
    """File each passage as one source item (its sentence closest to the question); returns the new ids."""
    added = []
    for hit in found:
        item = EvidenceData(id=f"e{len(evidence) + 1}", claim=ev.best_sentence(hit["text"], state["question"]),
                            kind=ev.SOURCE, entity=hit["title"], passages=[hit["doc_id"]], numbers=[hit["rank"]],
                            status=ev.ACTIVE, iteration=iteration, derived_from=[basis] if basis else [])
        evidence.append(item)
        added.append(item["id"])
    return added


# --- evidence collation ---------------------------------------------------------------------------
def collate(state: RetroRAGState, deps: Deps, config: RetroRAGConfig) -> dict[str, Any]:
    """Retrieve for the current query and file each new passage as source evidence about its title."""
    question, pool = state["question"], list(state.get("pool", []))
    query, basis = state.get("query") or question, state.get("query_basis", "")
    evidence, iteration = ev.table(state.get("evidence", [])), state.get("iteration", 0) + 1
    seen = {h["chunk_id"] for h in pool}
    want = config.first_passages if iteration == 1 else config.passages_per_search
    with Step(NAME, "retrieve", state.get("run_id", "")) as step:
        hits, walk = search(deps, state["corpus"], query, want + len(seen), config.retriever)
        fresh = [h for h in hits if h.chunk_id not in seen][:want]
        found = [hit_dict(h, len(pool) + i, query) for i, h in enumerate(fresh, 1)]
        added = file_passages(state, evidence, found, basis, iteration)
        skipped = len([h for h in hits if h.chunk_id in seen])
        explanation = explain.collate(iteration, query, found, skipped)
        data = RetrieveData(query=query, hits=found, iteration=iteration, new=[h["doc_id"] for h in found],
                            seen=[h["doc_id"] for h in pool], **walk)
        event = step.event(explanation, data)
    return {"pool": pool + found, "origins": state.get("origins", []) + [basis] * len(found),
            "new_numbers": [h["rank"] for h in found], "evidence": evidence, "added": added,
            "iteration": iteration, "queries": state.get("queries", []) + [query], "retrieved": found,
            "entities": state.get("entities") or ev.entities(question), "events": [event]}


# --- evidence discovery ---------------------------------------------------------------------------
def discover(state: RetroRAGState, deps: Deps, config: RetroRAGConfig) -> dict[str, Any]:
    """Choose the new passage that helps most, take its sentence closest to what is sought, keep it if relevant."""
    iteration, entities = state["iteration"], state.get("entities", [])
    before = ev.table(state.get("evidence", []))
    with Step(NAME, "evidence", state.get("run_id", "")) as step:
        if not state.get("new_numbers", []):
            event = step.event(explain.no_new_passages(iteration, entities),
                               ReviseData(before=before, after=before, passages=[], operation="discover",
                                          iteration=iteration, entities=entities, added=[]))
            return {"events": [event]}
        evidence, added = ev.table(before), list(state.get("added", []))
        number, decision, messages = choose_passage(deps.llm, step, state, evidence)
        found = judge_claim(deps.llm, step, state, config, evidence, number, decision)
        if found.candidate["status"] == "kept":
            added.append(found.candidate["id"])
        data = ReviseData(before=before, after=ev.table(evidence),
                          passages=[state["pool"][n - 1]["doc_id"] for n in state["new_numbers"]],
                          operation="discover", iteration=iteration, entities=entities,
                          added=[i for i in added if i not in {e["id"] for e in before}],
                          candidate=found.candidate, decision=decision, prompt=messages)
        if found.candidate["status"] == "malformed":
            data["format_failure"] = True
        event = step.event(explain.discovery(iteration, entities, passage_label(state, number), found), data)
    return {"evidence": evidence, "added": added, "events": [event]}


def choose_passage(llm: LLM, step: Step, state: RetroRAGState,
                   evidence: list[EvidenceData]) -> tuple[int, dict[str, Any], list[Message]]:
    """The new passage that helps most: a constrained choice among the new passages' numbers (the only one when
    there is one); returns its number, the decision so far and the choice's prompt."""
    pool, numbers = state.get("pool", []), state.get("new_numbers", [])
    if len(numbers) == 1:
        return numbers[0], {"passage": {"option": str(numbers[0]), "only": True}}, []
    known = "; ".join(e["claim"] for e in ev.active(evidence) if e.get("kind") == ev.INFERENTIAL)
    passages = "\n".join(f"[{n}] {pool[n - 1]['title']}: {pool[n - 1]['text']}" for n in numbers)
    messages = few_shot(PICK_SYSTEM, PICK_EXAMPLES, PICK_USER.format(
        question=state["question"], known=known or "nothing yet.", passages=passages))
    choice = step.add(llm.choose(messages, [str(n) for n in numbers]))
    decision = {"passage": {"option": choice.option, "scores": choice.scores, "constrained": choice.constrained}}
    return int(choice.option), decision, messages


def judge_claim(llm: LLM, step: Step, state: RetroRAGState, config: RetroRAGConfig, evidence: list[EvidenceData],
                number: int, decision: dict[str, Any]) -> Discovery:
    """Take the passage's sentence closest to what is sought; keep it (adding it to `evidence`) when it is a
    statement, new, and bears on the question (or bridges to what may lead to the answer)."""
    question, hit = state["question"], state["pool"][number - 1]
    focus = state.get("query") or question  # the entity-centred query: the entity sought, then the question
    anchors = [*state.get("entities", []), state.get("query_entity", "")]
    claim = ev.bridge_sentence(hit["text"], focus, anchors, question, hit["title"])
    about, named = ev.links(claim, anchors, question, hit["title"])
    candidate = ClaimCandidate(claim=claim, passage=number, focus=focus, about=about, names=named,
                               bridge=bool(about and named))
    status, duplicate = screen(claim, evidence, config.min_claim_words, config.same_claim)
    if status == "malformed":
        candidate.update(status="malformed",
                         problem=f"'{claim}' is not a statement of at least {config.min_claim_words} words")
        return Discovery(number, candidate)
    if duplicate:
        candidate.update(status="dropped", problem=f"it repeats {duplicate}")
        return Discovery(number, candidate, duplicate=duplicate)
    relevance = decision["relevance"] = decide(llm, step, few_shot(
        RELEVANCE_SYSTEM, RELEVANCE_EXAMPLES, RELEVANCE_USER.format(question=question, claim=claim)),
        config.relevance_margin)
    by_bridge = candidate["bridge"] and not relevance["passed"] and relevance["log_odds"] > config.bridge_margin
    relevance["bridge"] = {"about": about, "names": named, "margin": config.bridge_margin, "passed": by_bridge}
    if not (relevance["passed"] or by_bridge):
        candidate.update(status="dropped", problem="it does not bear on the question")
        return Discovery(number, candidate)
    item = kept_claim(state, evidence, number, claim, decision)
    evidence.append(item)
    candidate.update(status="kept", id=item["id"], kept_as="bridge" if by_bridge else "relevant")
    return Discovery(number, candidate, by_bridge=by_bridge)


def kept_claim(state: RetroRAGState, evidence: list[EvidenceData], number: int, claim: str,
               decision: dict[str, Any]) -> EvidenceData:
    """A kept claim as an inferential item, derived from its passage's source item and the item whose entity led
    to the passage."""
    hit, origins = state["pool"][number - 1], state.get("origins", [])
    origin = origins[number - 1] if number <= len(origins) else ""
    source = next((e["id"] for e in evidence if e.get("kind") == ev.SOURCE and number in e["numbers"]), "")
    return EvidenceData(id=f"e{len(evidence) + 1}", claim=claim, kind=ev.INFERENTIAL, entity=hit["title"],
                        passages=[hit["doc_id"]], numbers=[number], status=ev.ACTIVE,
                        iteration=state["iteration"], derived_from=[i for i in (source, origin) if i],
                        credibility=decision)


# --- retroactive revision -------------------------------------------------------------------------
def slot_scores(llm: LLM, step: Step, hit: HitData | dict[str, Any], slot: str, earlier: str,
                new: str) -> tuple[float, dict[str, Any]]:
    """How much more likely the new value than the earlier one fills the slot given this passage alone.

    A constrained choice between the two values (log-likelihood); the earlier value is the first option, so
    a scripted fake's default keeps it.
    """
    messages = [{"role": "user", "content": SLOT_USER.format(title=hit["title"], text=hit["text"], slot=slot)}]
    choice = step.add(llm.choose(messages, [earlier, new]))
    return log_odds(choice.scores, new, earlier), {"scores": choice.scores, "prompt": messages}


def same_slot(slot: str, hit: HitData, share: float = SAME_SLOT) -> bool:
    """True when the new passage states the slot's relation (holds at least `share` of its words), so its value
    competes."""
    return ev.slot_coverage(slot, f"{hit['title']} {hit['text']}") >= share


def retroact(state: RetroRAGState, deps: Deps, config: RetroRAGConfig) -> dict[str, Any]:
    """Compare new and earlier items giving different values for one slot; withdraw the earlier one if contradicted."""
    iteration, question, pool = state["iteration"], state["question"], state.get("pool", [])
    before = ev.table(state.get("evidence", []))
    looked_at = config.pairs_per_check * config.max_checks
    pairs = [(old, new, sp) for old, new in ev.check_pairs(before, state.get("added", []), looked_at)
             if (sp := ev.slot_pair(old, new, question))
             and same_slot(sp[0], pool[new["numbers"][0] - 1], config.same_slot)][: config.max_checks]
    if not pairs:
        return {}
    evidence, drafts = ev.table(before), [dict(d) for d in state.get("drafts", [])]
    with Step(NAME, "evidence", state.get("run_id", "")) as step:
        checks = [check_slot(deps.llm, step, pool, old, new, slot, config) for old, new, slot in pairs]
        revision = revise(state, evidence, pairs, checks)
        redone = invalidate(drafts, withdrawn_passages(evidence), revision.values, iteration, config.redo_coverage)
        sentences = revision.sentences + [explain.conflict(c) for c in checks if c["conflict"]]
        data = ReviseData(before=before, after=ev.table(evidence), passages=list(dict.fromkeys(revision.passages)),
                          operation="retroact", iteration=iteration, withdrawn=revision.withdrawn, added=[],
                          checks=checks, conflicts=revision.conflicts, answer_redone=bool(redone),
                          reason=" ".join(sentences))
        event = step.event(explain.retroact(iteration, checks, sentences, redone), data,
                           kind="revise" if revision.withdrawn else "evidence")
    return {"evidence": evidence, "drafts": drafts, "events": [event]}


def check_slot(llm: LLM, step: Step, pool: list[HitData], old: EvidenceData, new: EvidenceData,
               slot: tuple[str, str, str], config: RetroRAGConfig) -> SlotCheck:
    """Read each item's passage alone: which value does it prefer for the slot?"""
    name, old_value, new_value = slot
    new_hit, old_hit = pool[new["numbers"][0] - 1], pool[old["numbers"][0] - 1]
    by_new, new_detail = slot_scores(llm, step, new_hit, name, old_value, new_value)
    against, old_detail = slot_scores(llm, step, old_hit, name, old_value, new_value)
    return slot_check(old, new, slot, by_new, -against, config.contradiction_margin,
                      new_detail["prompt"] + old_detail["prompt"])


@dataclass
class Revision:
    """What the checks of one round changed in the evidence set."""

    withdrawn: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)  # the withdrawn items' values
    passages: list[str] = field(default_factory=list)  # doc ids of the items withdrawn or in conflict
    conflicts: list[list[str]] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)


def revise(state: RetroRAGState, evidence: list[EvidenceData], pairs: list[Any], checks: list[SlotCheck]) -> Revision:
    """Apply the checks in order: flag unsettled pairs as in conflict, withdraw contradicted earlier items (and
    those resting on them), while both items are still active."""
    out = Revision()
    for (old, new, _slot), check in zip(pairs, checks, strict=True):
        still = {e["id"] for e in ev.active(evidence)}
        if check["conflict"] and old["id"] in still and new["id"] in still:
            ev.flag_conflict(evidence, old["id"], new["id"])
            out.conflicts.append([old["id"], new["id"]])
            out.passages += old.get("passages", []) + new.get("passages", [])
        if not check["disagree"] or old["id"] not in still or new["id"] not in still:
            continue
        where = ", ".join(passage_label(state, n) for n in new.get("numbers", []))
        gone = ev.withdraw(evidence, old["id"], new["id"],
                           f"{where} gives '{check['new_value']}' for '{check['slot']}'", state["iteration"],
                           check["earlier_value"])
        out.withdrawn += gone
        out.values.append(check["earlier_value"])
        out.passages += old.get("passages", []) + new.get("passages", [])
        out.sentences.append(explain.withdrawal(old, where, check, gone[1:]))
    return out


# --- answerer and its reliability check -----------------------------------------------------------
def extras(state: RetroRAGState, config: RetroRAGConfig, baseline: list[HitData]) -> list[HitData]:
    """Evidence passages beyond the question's own: behind kept claims (newest first), then the rest in order."""
    pool, live = state.get("pool", []), ev.active(state.get("evidence", []))
    held = {h["chunk_id"] for h in baseline}
    gone = withdrawn_passages(state.get("evidence", []))
    inferred = [n for e in reversed(live) if e.get("kind") == ev.INFERENTIAL for n in e.get("numbers", [])]
    order = list(dict.fromkeys(inferred + [h["rank"] for h in pool]))
    return [pool[n - 1] for n in order
            if pool[n - 1]["chunk_id"] not in held and pool[n - 1]["doc_id"] not in gone][: config.extra_passages]


def chain(state: RetroRAGState, config: RetroRAGConfig) -> list[HitData]:
    """The evidence chain, in the order it was found: each kept claim's passage, then what the search for the
    entity it names brought (the passages of claims kept first); at most `extra_passages` found by entity search."""
    pool, evidence = state.get("pool", []), state.get("evidence", [])
    live, origins = ev.active(evidence), state.get("origins", [])
    gone = withdrawn_passages(evidence)
    kept = [e for e in live if e.get("kind") == ev.INFERENTIAL]
    claimed = {n for e in kept for n in e.get("numbers", [])}
    order: list[int] = []
    for item in kept:
        order += item.get("numbers", [])
        found = [n for n, o in enumerate(origins, 1) if o == item["id"]]
        order += sorted(found, key=lambda n: (n not in claimed, n))
    order += [n for n, o in enumerate(origins, 1) if o]  # searched for a question entity
    out, searched = [], 0
    for n in dict.fromkeys(order):
        hit = pool[n - 1]
        if hit["doc_id"] in gone:
            continue
        by_search = n <= len(origins) and bool(origins[n - 1])
        if by_search and searched >= config.extra_passages:
            continue
        searched += by_search
        out.append(hit)
    return out


def chain_again(state: RetroRAGState, held: list[HitData], links: int) -> tuple[list[HitData], list[str]]:
    """The evidence chain among the passages already held, bridge first, with a phrase per passage.

    For each kept claim (oldest first): its passage, then up to `links` held passages naming an entity the claim
    leads to (one the question does not name in full and the claim's own passage is not about; of the kind the question
    asks through first): by title, then by text.
    Empty unless at least one claim leads on to another held passage (a chain of one passage is no new reading).
    """
    question, pool = state["question"], state.get("pool", [])
    wanted = ev.bridge_types(question)
    gone = withdrawn_passages(state.get("evidence", []))
    by_chunk = {h["chunk_id"]: h for h in [*held, *pool] if h["doc_id"] not in gone}
    out: dict[str, HitData] = {}
    why: list[str] = []
    linked = False
    for item in [e for e in ev.active(state.get("evidence", [])) if e.get("kind") == ev.INFERENTIAL]:
        numbers = [n for n in item.get("numbers", []) if 0 < n <= len(pool)]
        own = by_chunk.get(pool[numbers[0] - 1]["chunk_id"]) if numbers else None
        if own is None:
            continue
        typed = [(n, label) for n, label in ev.typed_entities(item["claim"]) if label not in ev.NOT_BRIDGES
                 and not any(c.isdigit() for c in n) and not ev.mentions_fully(question, n)
                 and not ev.mentions(own["title"], n)]
        targets = [n for n, _ in sorted(typed, key=lambda x: x[1] not in wanted)]  # the kind asked through first
        others = [h for c, h in by_chunk.items() if c != own["chunk_id"]]
        led = [(h, f"about {t}") for t in targets for h in others
               if ev.mentions(h["title"], t) or ev.mentions(t, h["title"])]
        led += [(h, f"names {t}") for t in targets for h in others if ev.mentions(h["text"], t)]
        if own["chunk_id"] not in out:
            out[own["chunk_id"]] = own
            why.append(f"{own['title']} ({item['id']}: '{short(item['claim'], 70)}')")
        taken = 0
        for h, t in led:
            if taken >= links or h["chunk_id"] in out:
                continue
            out[h["chunk_id"]] = h
            taken += 1
            why.append(f"{h['title']} ({t})")
            linked = True
    return (list(out.values()), why) if linked else ([], [])


def answer(state: RetroRAGState, deps: Deps, config: RetroRAGConfig) -> dict[str, Any]:
    """Read the question's own passages, then them plus the evidence found since; keep the best-supported answer."""
    events: list[TraceEvent] = []
    update: dict[str, Any] = {}
    if state.get("baseline") is None:  # the question's own top passages (as the baseline reads them), fetched once
        update, event = fetch_baseline(state, deps, config)
        events.append(event)
    state = {**state, **update}  # type: ignore[typeddict-item]
    drafts = [dict(d) for d in state.get("drafts", [])]
    read_before = [d.get("chunks", d["passages"]) for d in drafts]
    plan = plan_readings(state, deps, config)
    for planned in plan.readings:
        chunks = [h["chunk_id"] for h in planned.hits]
        if not planned.hits or chunks in read_before:
            continue
        if any(d.get("valid", True) and d.get("status") == "supported" for d in drafts):
            break  # a reliable answer ends the loop: nothing more is read
        read_before.append(chunks)
        events.append(read_once(state, deps, config, plan, planned, drafts))
    kept = best_draft(drafts)
    final = drafts[kept]["answer"] if kept is not None else NO_ANSWER
    used = drafts[kept]["passages"] if kept is not None else []
    return {**update, "answer": final, "drafts": drafts, "best": kept, "verdict": verdict_on(drafts, kept),
            "used_ids": used, "events": events}


def fetch_baseline(state: RetroRAGState, deps: Deps, config: RetroRAGConfig) -> tuple[dict[str, Any], TraceEvent]:
    """The question's own top passages (as the naive baseline reads them); those not yet held are filed as
    source evidence. Returns the state update and the step's event."""
    question, iteration = state["question"], state["iteration"]
    pool, evidence = list(state.get("pool", [])), ev.table(state.get("evidence", []))
    with Step(NAME, "retrieve", state.get("run_id", "")) as step:
        hits, walk = search(deps, state["corpus"], question, config.baseline_passages, config.retriever)
        held = {h["chunk_id"]: h for h in pool}  # a document may have several chunks: match the chunk
        baseline = [held.get(h.chunk_id) or hit_dict(h, 0, question) for h in hits]
        fresh = [h for h in baseline if h["chunk_id"] not in held]
        for i, h in enumerate(fresh, len(pool) + 1):
            h["rank"] = i
        file_passages(state, evidence, fresh, "", iteration)
        event = step.event(explain.baseline(iteration, baseline, fresh),
                           RetrieveData(query=question, hits=baseline, iteration=iteration,
                                        new=[h["doc_id"] for h in fresh], seen=[h["doc_id"] for h in pool], **walk))
    return {"pool": pool + fresh, "origins": state.get("origins", []) + [""] * len(fresh), "evidence": evidence,
            "baseline": baseline, "retrieved": fresh}, event


@dataclass(frozen=True)
class ReadingPlan:
    """The readings an answer step may make, in order, and what the sentences about them name."""

    readings: list[Planned]
    own: list[HitData]  # the question's own passages still standing
    first: list[HitData]  # the evidence chain, read before them after an unreliable answer
    why_again: list[str]  # per passage of the chain read again: why it is in it
    on_topic: bool  # the question's own search found a relevant passage (so no answer is dismissed for it)


def plan_readings(state: RetroRAGState, deps: Deps, config: RetroRAGConfig) -> ReadingPlan:
    """The question's own passages; then, when evidence was found beyond them, the evidence chain and them (or
    them and the evidence); when nothing was, the evidence chain alone among the passages held."""
    question, baseline = state["question"], state["baseline"]
    gone = withdrawn_passages(state.get("evidence", []))
    own = [h for h in baseline if h["doc_id"] not in gone]
    # a withdrawal can take the question's most relevant passage out of every reading; the passages that
    # contradicted it were reached from it, so the reading stays about the question
    on_topic = bool(gone) and any(s >= config.relevance_floor
                                  for s in relevance(deps.corpora, question, baseline, dense=False))
    more = extras(state, config, baseline)
    first = chain(state, config) if config.evidence_first else []
    if first and more:  # the evidence chain first, then the question's own passages
        ids = {h["chunk_id"] for h in first}
        second = first + [h for h in own if h["chunk_id"] not in ids]
    else:
        second = own + more
    readings = [Planned("own", own), Planned("second", second)] if more else [Planned("own", own)]
    again, why_again = chain_again(state, own, config.chain_links) if config.reread_chain and not more else ([], [])
    if again:  # nothing new beyond the question's own passages: the evidence chain alone, bridge first
        readings.append(Planned("again", again))
    return ReadingPlan(readings, own, first, why_again, on_topic)


def read_once(state: RetroRAGState, deps: Deps, config: RetroRAGConfig, plan: ReadingPlan, planned: Planned,
              drafts: list[dict[str, Any]]) -> TraceEvent:
    """Answer from one reading (the shared reader and its label), add the draft to `drafts`, and say which draft
    is kept."""
    question, iteration, hits = state["question"], state["iteration"], planned.hits
    ids, chunks = [h["doc_id"] for h in hits], [h["chunk_id"] for h in hits]
    text, event = read_step(NAME, state.get("run_id", ""), deps.llm, question, hits, config.max_tokens, deps.corpora,
                            dense=config.retriever == "dense"
                            and set(chunks) <= {h["chunk_id"] for h in state["baseline"]},
                            floor=config.relevance_floor, margin=config.answer_margin,
                            retrieved=list(state.get("pool", [])), on_topic=plan.on_topic)
    grounding = event.data.get("grounding", {})
    draft = {"answer": text, "iteration": iteration, "passages": ids, "chunks": chunks,
             "status": grounding.get("status", ""), "grounding": grounding,
             "support": max((c["log_odds"] for c in grounding.get("checks", [])), default=None),
             "grounded_in": grounding.get("doc_id", ""), "valid": True}
    drafts.append(draft)
    kept = best_draft(drafts)
    assert kept is not None  # the draft just added is valid
    read = explain.where(planned, plan.own, plan.first, config.evidence_first, plan.why_again)
    explanation = explain.answered(iteration, planned, read, text, grounding_label(grounding),
                                   explain.keeps(drafts, kept), grounding, state.get("query_entity") or "")
    previous = state.get("answer", "")
    data = {**event.data, "iteration": iteration, "previous": previous,
            "changed": bool(previous) and drafts[kept]["answer"] != previous,
            "decision": {"reliable": drafts[kept].get("status") == "supported", "kept": kept,
                         "reread": planned.kind == "again", "status": draft["status"], "support": draft["support"],
                         "margin": config.answer_margin},
            "notes": [e["claim"] for e in ev.active(state.get("evidence", [])) if e.get("kind") == ev.INFERENTIAL]}
    return dataclasses.replace(event, explanation=explanation, data=data)


def after_retroact(state: RetroRAGState, deps: Deps, config: RetroRAGConfig) -> str:
    """Answer once enough searches were made (or at the cap); before that, discovery searches again."""
    done = state.get("iteration", 0)
    return "answer" if done >= min(config.answer_after, config.max_iterations) else "next_query"


def after_answer(state: RetroRAGState, deps: Deps, config: RetroRAGConfig) -> str:
    """Stop when the kept answer is reliable or the cap is reached; otherwise look for what is missing."""
    if state.get("verdict", {}).get("reliable") or state.get("iteration", 0) >= config.max_iterations:
        return "finish"
    return "next_query"


# --- what is missing: the next entity-centred query -----------------------------------------------
def missing_entities(state: RetroRAGState) -> list[tuple[str, str]]:
    """(entity, evidence id it came from) pairs with no source evidence of their own and not yet searched.

    Entities come from kept claims (newest first), those of the kind the question's bridge nouns ask for
    ('the country where…': a place) first, then the question's own; never from a draft answer (a guess), and
    never a date or a nationality (no page of their own).
    """
    live = ev.active(state.get("evidence", []))
    question = state["question"]
    covered = {e.get("entity", "").lower() for e in live if e.get("kind") == ev.SOURCE}
    searched = set(state.get("searched", []))
    wanted = ev.bridge_types(question)
    claimed: list[tuple[bool, str, str]] = []
    for item in reversed([e for e in live if e.get("kind") == ev.INFERENTIAL]):
        claimed += [(label in wanted, n, item["id"]) for n, label in ev.typed_entities(item["claim"])
                    if label not in ev.NOT_BRIDGES and not any(c.isdigit() for c in n)
                    and not ev.mentions(question, n) and not ev.mentions(item.get("entity", ""), n)]
    out = [(n, i) for match, n, i in claimed if match] + [(n, i) for match, n, i in claimed if not match]
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
    found = missing_entities(state)
    wanted = ev.bridge_types(question)
    typed = dict(e for item in ev.active(state.get("evidence", [])) for e in ev.typed_entities(item["claim"])
                 if item.get("kind") == ev.INFERENTIAL)
    matching = [c for c in found if c[1] and typed.get(c[0]) in wanted]
    candidates = (matching or found)[: config.next_candidates]
    with Step(NAME, "rewrite", state.get("run_id", "")) as step:
        decision: dict[str, Any] = {"candidates": [c[0] for c in candidates], "wanted": sorted(wanted),
                                    "all": [c[0] for c in found]}
        prompt: list[Message] = []
        if len(candidates) > 1:
            known = "\n".join(f"- {e['claim']}" for e in ev.active(state.get("evidence", []))
                              if e.get("kind") == ev.INFERENTIAL) or "- nothing yet."
            prompt = few_shot(NEXT_SYSTEM, NEXT_EXAMPLES, NEXT_USER.format(question=question, known=known))
            choice = step.add(deps.llm.choose(prompt, [c[0] for c in candidates]))
            decision.update(option=choice.option, scores=choice.scores, constrained=choice.constrained)
            entity, basis = next(c for c in candidates if c[0] == choice.option)
        elif candidates:
            entity, basis = candidates[0]
        else:
            entity, basis = "", ""
        query = QUERY_TEMPLATE.format(entity=entity, question=question) if entity else ""
        explanation = explain.next_query(iteration, entity, basis, query, bool(matching), wanted,
                                         bool(state.get("drafts")))
        data = RewriteData(query=query, previous_query=previous, turn=iteration, decision=decision, prompt=prompt,
                           fallback="" if entity else "none")
        event = step.event(explanation, data)
    searched = state.get("searched", []) + ([entity.lower()] if entity else [])
    return {"query": query, "query_basis": basis, "query_entity": entity, "searched": searched, "events": [event]}


def after_next_query(state: RetroRAGState, deps: Deps, config: RetroRAGConfig) -> str:
    """Search again when there is a query; otherwise answer (if not yet answered) or stop."""
    if state.get("query"):
        return "collate"
    return "finish" if state.get("drafts") else "answer"


def score_drafts(llm: LLM, step: Step, prompt: list[Message], options: list[str], scoring: str) -> dict[str, Any]:
    """Score every draft as the reader's reply to one reading `prompt`: by summed or per-token log-probability.

    'sum' is one constrained choice among all drafts. 'mean' scores each draft alone (its summed log-probability
    and, from the same call, its length in tokens) and divides: a summed score charges every token, so a short
    draft ("129") beats a longer one ("43.8 inches (1,110 mm)") whose later tokens are near certain. A backend
    that cannot score (approximated choices, or no token counts) falls back to the one choice.
    """
    if scoring == "mean":
        alone = [step.add(llm.choose(prompt, [o])) for o in options]
        if all(c.constrained and c.completion_tokens > 0 for c in alone):
            sums = {o: float(c.scores.get(o, 0.0)) for o, c in zip(options, alone, strict=True)}
            tokens = {o: int(c.completion_tokens) for o, c in zip(options, alone, strict=True)}
            return {"scores": {o: round(sums[o] / tokens[o], 3) for o in options}, "summed": sums,
                    "tokens": tokens, "scoring": "mean", "constrained": True}
    choice = step.add(llm.choose(prompt, options))
    return {"scores": {o: float(choice.scores.get(o, 0.0)) for o in options}, "scoring": "sum",
            "constrained": choice.constrained}


def marginal(per_reading: list[dict[str, float]], options: list[str]) -> dict[str, float]:
    """Each option's log-probability averaged over the readings (a uniform prior on them): log mean exp."""
    out = {}
    for o in options:
        values = [float(r.get(o, 0.0)) for r in per_reading]
        top = max(values)
        out[o] = round(top + math.log(sum(math.exp(v - top) for v in values) / len(values)), 3)
    return out


def compare_drafts(llm: LLM, step: Step, readings: list[list[Message]], options: list[str], scoring: str,
                   labels: list[str]) -> dict[str, Any]:
    """Pick one of the drafts by weighing each under every reading a draft came from (`labels`: whose each
    reading is, for the step's sentence), then averaging.

    As RAG-Sequence's thorough decoding (Lewis et al., 2020) marginalises an answer over the passages: each draft
    was decoded from one reading, so under its own reading it is near the likeliest; scored under that reading
    alone (the last draft's, say) the comparison would favour the draft that reading produced. Averaging the
    probabilities (not the log-probabilities) over the readings lets each reading's confidence count.
    """
    scored = [score_drafts(llm, step, prompt, options, scoring) for prompt in readings]
    scores = marginal([r["scores"] for r in scored], options)
    option = max(options, key=lambda o: scores[o])  # the earlier draft on a tie
    used = "mean" if all(r["scoring"] == "mean" for r in scored) else "sum"
    prefers = [max(options, key=lambda o: r["scores"][o]) for r in scored]
    out: dict[str, Any] = {"options": options, "scores": scores, "option": option, "scoring": used,
                           "constrained": all(r["constrained"] for r in scored),
                           "readings": [{"scores": r["scores"], "prefers": p} for r, p in zip(scored, prefers,
                                                                                              strict=True)]}
    views = "; ".join(f"reading the passages of {label} alone, it prefers '{short(p, 40)}'"
                      for label, p in zip(labels, prefers, strict=True))
    if len(set(prefers)) == 1:  # every reading prefers one draft: then so does their average
        views = "each set alone prefers it too"
    views = f" ({views})" if len(scored) > 1 else ""
    if used == "mean":
        summed = marginal([r["summed"] for r in scored], options)
        by_sum = max(options, key=lambda o: summed[o])
        aside = ("" if by_sum == option else
                 f"; counting whole drafts, which favours short ones, it would have kept '{short(by_sum, 40)}'")
        out.update(summed=summed, tokens=scored[0]["tokens"], by_sum=by_sum)
        out["how"] = (f"word by word (so a longer draft is not marked down for its length) and averaged over them, "
                      f"the model finds '{short(option, 40)}' the likeliest"
                      f"{_others(options, option)}{views}{aside}")
        return out
    fallback = "" if scoring == "sum" else " (the model gave no word-by-word scores, so whole drafts)"
    out["how"] = (f"averaged over them, the model finds '{short(option, 40)}' the likeliest "
                  f"answer{fallback}{_others(options, option)}{views}")
    return out


def _others(options: list[str], picked: str) -> str:
    """ ", over 'A' and 'B'": the drafts not kept, for the step's sentence."""
    rest = [f"'{short(o, 40)}'" for o in options if o != picked]
    return f", over {' and '.join(rest)}" if rest else ""


def finish(state: RetroRAGState, deps: Deps, config: RetroRAGConfig) -> dict[str, Any]:
    """Give the kept answer and say what ended the loop: a reliable answer, the cap, or nothing left to search."""
    iteration, verdict = state.get("iteration", 0), state.get("verdict", {})
    evidence, drafts = state.get("evidence", []), state.get("drafts", [])
    stopped = stop_reason(bool(verdict.get("reliable")), iteration, config.max_iterations)
    withdrawn = [e["id"] for e in evidence if e.get("status") == ev.WITHDRAWN]
    final, used = state.get("answer") or NO_ANSWER, state.get("used_ids", [])
    with Step(NAME, "answer", state.get("run_id", "")) as step:
        live = ev.active(evidence)
        how = explain.kept_draft(state.get("best"), len(drafts), bool(verdict.get("reliable")))
        decision: dict[str, Any] = {"stopped": stopped, "iterations": iteration, "withdrawn": withdrawn,
                                    "verdict": verdict, "drafts": drafts}
        weighing = weigh(state, deps, config, step) if config.compare_drafts and not verdict.get("reliable") else None
        if weighing is not None:
            decision["compared"] = weighing.compared
            final, used = weighing.compared["option"], drafts[weighing.pick]["passages"]
            how = explain.weighed(weighing.pick, len(drafts), len(weighing.prompts), weighing.compared["how"])
        picked = next((d for d in drafts if d["answer"] == final and d.get("valid", True)), None)
        grounding = picked.get("grounding", {}) if picked else none("abstained", config.relevance_floor, 0.0)
        data = AnswerData(answer=final, passages=used, queries=state.get("queries", []),
                          notes=[e["claim"] for e in live if e.get("kind") == ev.INFERENTIAL],
                          drafts=[d["answer"] for d in drafts], kept=how, decision=decision,
                          retrieved=[h["doc_id"] for h in state.get("pool", [])], grounding=grounding)
        if weighing is not None and len(weighing.prompts) > 1:
            data["prompts"] = [LabelledPrompt(label=f"reading the passages of {label}", messages=p)
                               for label, p in zip(weighing.labels, weighing.prompts, strict=True)]
        elif weighing is not None:
            data["prompt"] = weighing.prompts[0]
        event = step.event(explain.finish(final, how, iteration, stopped, config.max_iterations, len(live),
                                          len(withdrawn)), data)
    return {"answer": final, "used_ids": used, "events": [event]}


@dataclass(frozen=True)
class Weighing:
    """The draft comparison: the readings' prompts and labels, the comparison, and the draft it kept."""

    prompts: list[list[Message]]
    labels: list[str]
    compared: dict[str, Any]
    pick: int


def weigh(state: RetroRAGState, deps: Deps, config: RetroRAGConfig, step: Step) -> Weighing | None:
    """When no draft is supported and several valid ones differ: weigh each under every set of passages a draft
    was read from (compare_drafts); None when there is nothing to weigh."""
    drafts = state.get("drafts", [])
    valid = [i for i, d in enumerate(drafts) if d.get("valid", True) and d["answer"] != NO_ANSWER]
    options = list(dict.fromkeys(drafts[i]["answer"] for i in valid))
    by_chunk = {h["chunk_id"]: h for h in [*state.get("pool", []), *state.get("baseline", [])]}
    read_by: dict[tuple[str, ...], list[int]] = {}  # each distinct reading: the drafts read from it
    for i in valid:
        read_by.setdefault(tuple(drafts[i].get("chunks", [])), []).append(i + 1)
    readings = [(hits, numbers) for chunks, numbers in read_by.items()
                if (hits := [by_chunk[c] for c in chunks if c in by_chunk])]
    if len(options) <= 1 or not readings:
        return None
    prompts = [read_messages(question=state["question"], hits=hits) for hits, _ in readings]
    labels = [f"draft{'s' if len(n) > 1 else ''} {' and '.join(map(str, n))}" for _, n in readings]
    compared = compare_drafts(deps.llm, step, prompts, options, config.draft_scoring, labels)
    for entry, (hits, numbers) in zip(compared["readings"], readings, strict=True):
        entry.update(passages=[h["doc_id"] for h in hits], drafts=numbers)
    pick = next(i for i in valid if drafts[i]["answer"] == compared["option"])
    return Weighing(prompts, labels, compared, pick)
