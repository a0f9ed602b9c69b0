"""TiM's nodes: recall -> (retrieve) -> respond -> post_think -> operate, each a function of (state, deps, config)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agents.base import Deps, RAGState, hit_dict, option, short
from agents.conversation import MEMORY_SYSTEM, NO_THOUGHTS, PASSAGES_SYSTEM, answer_step, chat_messages, recent_turns
from agents.events import MemoryReadData, MemoryWriteData, RetrieveData, Step, ThoughtData
from agents.tim.prompts import (
    GATE_EXAMPLES,
    GATE_OPTIONS,
    GATE_SYSTEM,
    GATE_USER,
    RELATE_EXAMPLES,
    RELATE_OPTIONS,
    RELATE_SYSTEM,
    RELATE_USER,
    THINK_EXAMPLES,
    THINK_SYSTEM,
    THINK_USER,
    few_shot,
)
from agents.tim.text import pre_check, third_person
from memory import operations
from memory.store import LSHShape, Source, ThoughtStore
from storage.thoughts import ThoughtRow

NAME = "tim"


@dataclass(frozen=True)
class TiMConfig:
    """Settings of Think-in-Memory."""

    top_k: int = option(5, "Thoughts recalled from long-term memory for the reply.", min=1, max=20)
    recent_turns: int = option(2, "Turns of this conversation shown beside the thoughts.", min=0, max=20)
    buckets: int = option(16, "LSH buckets per hash table (b in F(x) = argmax([xR; -xR])). A memory made "
                          "with another shape is re-hashed.", choices=[2, 4, 8, 16, 32, 64, 128])
    tables: int = option(4, "Independent hash tables; a thought sharing a bucket with the query in any "
                         "table is scored (more tables, higher recall).", min=1, max=32)
    probes: int = option(2, "Buckets looked in per table (multi-probe LSH); 1 = only the query's own bucket, "
                         "as in the paper.", min=1, max=8)
    min_shared: int = option(1, "Score only thoughts that share a probed bucket with the message in at least this "
                             "many tables (collision counting; 1 = any table, as in the paper). Pays off for "
                             "large memories: see benchmarks/bench_memory.py.", min=1, max=32)
    think_margin: float = option(0.5, "Log-odds by which 'yes' (the message tells a fact about the user) must beat "
                                 "'no' before the message is post-thought. Questions and messages that never say "
                                 "I / my / we / our are set aside before, without the model.", min=-20.0, max=20.0)
    max_thoughts: int = option(3, "Most thoughts post-thought from one turn.", min=1, max=10)
    relate_threshold: float = option(0.4, "Cosine above which a stored thought is compared with a new one "
                                     "(same / update / detail / unrelated).", min=0.0, max=1.0)
    compare: int = option(3, "Most stored thoughts each new thought is compared with.", min=0, max=10)
    use_corpus: bool = option(False, "Also retrieve passages from the corpus for the reply (TiM over RAG).")
    passages: int = option(3, "Passages retrieved when the corpus is used.", min=1, max=10)
    max_tokens: int = option(48, "Most tokens of a reply.", min=8, max=512)


class TiMState(RAGState, total=False):
    """A TiM turn: the thoughts recalled and the new ones post-thought."""

    recalled: list[ThoughtData]
    new_thoughts: list[str]


def shape(config: TiMConfig) -> LSHShape:
    """The LSH shape a config asks for."""
    return LSHShape(buckets=config.buckets, tables=config.tables)


def memory_of(deps: Deps) -> ThoughtStore:
    """The thought store, or a clear error when the services built none."""
    if deps.memory is None:
        raise RuntimeError("TiM needs a thought store (Deps.memory); the services did not build one")
    return deps.memory


def thought_data(row: ThoughtRow, score: float | None = None) -> ThoughtData:
    """A stored thought as an event payload."""
    return ThoughtData(**operations.thought_dict(row, score))  # type: ignore[typeddict-item]


def split_thoughts(reply: str, limit: int) -> list[str]:
    """Sentences of a post-think fill, each a thought ending with a period; questions and fragments dropped."""
    line = reply.strip().splitlines()[0] if reply.strip() else ""
    out: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", line):
        sentence = sentence.strip(" \"'`-*")
        if len(sentence.split()) < 3 or sentence.endswith("?"):
            continue
        sentence = sentence.rstrip(".!") + "."
        if sentence.lower() not in (s.lower() for s in out):
            out.append(sentence)
    return out[:limit]


def _buckets_text(probes: list[tuple[int, int]]) -> str:
    by_table: dict[int, list[int]] = {}
    for t, b in probes:
        by_table.setdefault(t, []).append(b)
    return "; ".join(f"table {t}: {', '.join(map(str, bs))}" for t, bs in sorted(by_table.items()))


# --- nodes ----------------------------------------------------------------------------------------
def recall(state: TiMState, deps: Deps, config: TiMConfig) -> dict[str, Any]:
    """Recall before answering: hash the user turn (in the third person) to its buckets, rank the thoughts there."""
    store, user, question = memory_of(deps), state.get("user", ""), state["question"]
    query = third_person(question)
    with Step(NAME, "memory_read", state.get("run_id", "")) as step:
        result = store.recall(user, store.embed([query])[0], config.top_k, config.probes, shape(config),
                              config.min_shared)
        found = [thought_data(row, score) for row, score in result.thoughts]
        asked = f" (asked as '{short(query, 80)}')" if query != question else ""
        if not result.stored:
            explanation = "Recalls nothing: this user's memory is still empty."
        elif not found:
            explanation = (f"Recalls nothing: no thought shares a bucket with the message{asked} ("
                           f"{_buckets_text(result.probes)}; {result.stored} stored).")
        else:
            explanation = (f"Recalls {len(found)} of {result.stored} thoughts{asked}, scoring only the "
                           f"{result.scored} in the message's buckets ({_buckets_text(result.probes)}); best "
                           f"{found[0]['score']:.2f}: '{short(found[0]['text'], 80)}'.")
        event = step.event(explanation, MemoryReadData(
            query=query, thoughts=found, probes=[list(p) for p in result.probes], scored=result.scored,
            stored=result.stored, user=user, recent_turns=config.recent_turns))
    return {"recalled": found, "events": [event]}


def retrieve(state: TiMState, deps: Deps, config: TiMConfig) -> dict[str, Any]:
    """TiM over RAG: also search the corpus with the user turn."""
    question = state["question"]
    with Step(NAME, "retrieve", state.get("run_id", "")) as step:
        hits = deps.corpora.search(state["corpus"], question, k=config.passages)
        found = [hit_dict(h, i, question) for i, h in enumerate(hits, 1)]
        best = f", best {found[0]['score']:.2f}: {found[0]['title']}" if found else ""
        event = step.event(f"Searches the corpus for '{short(question)}' — {len(found)} passages{best}.",
                           RetrieveData(query=question, hits=found))
    return {"retrieved": found, "events": [event]}


def respond(state: TiMState, deps: Deps, config: TiMConfig) -> dict[str, Any]:
    """Answer from the recalled thoughts and the last few turns (and passages, over RAG)."""
    recalled = sorted(state.get("recalled", []), key=lambda t: -t.get("created", 0.0))
    notes = [t["text"] for t in recalled]  # newest first: a newer fact replaces an older one
    system = MEMORY_SYSTEM.format(thoughts="\n".join(f"- {n}" for n in notes) or NO_THOUGHTS)
    hits = state.get("retrieved", []) if config.use_corpus else []
    if hits:
        system += PASSAGES_SYSTEM.format(passages="\n".join(f"[{i}] {h['title']}: {h['text']}"
                                                            for i, h in enumerate(hits, 1)))
    shown = recent_turns(list(state.get("history", [])), config.recent_turns)
    messages = chat_messages(system, shown, state["question"])
    reply, event = answer_step(NAME, state.get("run_id", ""), deps.llm, messages, config.max_tokens,
                               sum(m["role"] == "user" for m in shown), notes, [h["doc_id"] for h in hits])
    return {"answer": reply, "used_ids": [h["doc_id"] for h in hits], "events": [event]}


def post_think(state: TiMState, deps: Deps, config: TiMConfig) -> dict[str, Any]:
    """Post-think: is the turn a fact about the user (not a question or request)? If so, write short thoughts."""
    message = state["question"]
    with Step(NAME, "memory_write", state.get("run_id", "")) as step:
        settled = pre_check(message)
        if settled:
            why = "asks something" if settled == "question" else "never speaks of the user (no I, my, we or our)"
            event = step.event(f"Post-thinks nothing: the message {why}, so it states no fact about the user "
                               "(no model call).", MemoryWriteData(
                                   operation="think", before=[], after=[],
                                   decision={"option": settled, "pre_check": True}))
            return {"new_thoughts": [], "events": [event]}
        gate_messages = few_shot(GATE_SYSTEM, GATE_EXAMPLES, GATE_USER.format(message=message))
        choice = step.add(deps.llm.choose(gate_messages, list(GATE_OPTIONS)))
        others = [float(choice.scores.get(o, 0.0)) for o in GATE_OPTIONS[1:]]
        odds = float(choice.scores.get(GATE_OPTIONS[0], 0.0)) - max(others)
        decision = {"option": choice.option, "scores": choice.scores, "log_odds": round(odds, 3),
                    "margin": config.think_margin, "constrained": choice.constrained}
        data = MemoryWriteData(operation="think", before=[], after=[], decision=decision, prompt=gate_messages)
        thoughts: list[str] = []
        if odds <= config.think_margin:
            explanation = (f"Post-thinks nothing: the model does not read the message as a fact about the "
                           f"user ('yes' vs 'no' by {odds:+.2f} log-odds; thinks above "
                           f"{config.think_margin:+.2f}).")
        else:
            think_messages = few_shot(THINK_SYSTEM, THINK_EXAMPLES, THINK_USER.format(message=message))
            completion = step.add(deps.llm.chat(think_messages, max_tokens=64, stop=["\n"]))
            thoughts = split_thoughts(completion.text, config.max_thoughts)
            data.update(prompt=think_messages, reply=completion.text,
                        after=[ThoughtData(id="", text=t, status="proposed") for t in thoughts])
            if thoughts:
                listed = "; ".join(f"'{short(t, 80)}'" for t in thoughts)
                explanation = f"Post-thinks the message into {len(thoughts)} thought(s): {listed}."
            else:
                data["format_failure"] = True
                explanation = "Tries to post-think the message, but the reply held no usable thought."
        event = step.event(explanation, data)
    return {"new_thoughts": thoughts, "events": [event]}


def operate(state: TiMState, deps: Deps, config: TiMConfig) -> dict[str, Any]:
    """Memory operations: compare each new thought with similar stored ones; insert, forget or merge."""
    store, user = memory_of(deps), state.get("user", "")
    source = Source(run=state.get("run_id", ""), turn=state["question"], conversation=state.get("conversation", ""))
    events = []
    for text in state.get("new_thoughts", []):
        with Step(NAME, "memory_write", state.get("run_id", "")) as step:
            vector = store.embed([text])[0]
            similar = store.recall(user, vector, config.compare, config.probes, shape(config)).thoughts
            compared = [(row, score) for row, score in similar if score >= config.relate_threshold]
            relation, target, checks, prompt = "unrelated", None, [], []
            for row, score in compared:
                if row.text.strip().lower() == text.strip().lower():
                    relation, target = "same", row
                    checks.append({"id": row.id, "cosine": round(score, 4), "option": "same", "identical": True})
                    break
                prompt = few_shot(RELATE_SYSTEM, RELATE_EXAMPLES, RELATE_USER.format(stored=row.text, new=text))
                choice = step.add(deps.llm.choose(prompt, list(RELATE_OPTIONS)))
                checks.append({"id": row.id, "cosine": round(score, 4), "option": choice.option,
                               "scores": choice.scores, "constrained": choice.constrained})
                if choice.option != "unrelated":
                    relation, target = choice.option, row
                    break
            op = _apply(store, user, relation, target, text, vector, source, config)
            why = (f" (compared with {len(compared)} similar thought(s), none related)"
                   if relation == "unrelated" and compared else "")
            data = MemoryWriteData(operation=op.operation, before=op.before, after=op.after, thought=text,  # type: ignore[typeddict-item]
                                   compared=[thought_data(r, s) for r, s in compared],
                                   decision={"relation": relation, "checks": checks})
            if prompt:
                data["prompt"] = prompt
            events.append(step.event(op.sentence.rstrip(".") + why + ".", data))
    return {"events": events}


def _apply(store: ThoughtStore, user: str, relation: str, target: ThoughtRow | None, text: str, vector: Any,
           source: Source, config: TiMConfig) -> operations.Operation:
    """The operation a relation calls for."""
    if target is None or relation == "unrelated":
        return operations.insert(store, user, text, vector, source, shape(config))
    if relation == "update":
        return operations.forget(store, user, target, text, vector, source, shape(config))
    if relation == "same":
        return operations.merge_duplicate(store, user, target, text, vector, source, shape(config))
    return operations.merge_entity(store, user, target, text, source, shape(config))
