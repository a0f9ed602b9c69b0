"""TiM's nodes: recall -> (retrieve) -> respond -> post_think -> operate, each a function of (state, deps, config)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.base import Deps, RAGState, hit_dict, option, short
from agents.conversation import MEMORY_SYSTEM, NO_THOUGHTS, PASSAGES_SYSTEM, chat_messages, clean_reply, recent_turns
from agents.events import AnswerData, MemoryReadData, MemoryWriteData, RetrieveData, Step, ThoughtData
from agents.tim.prompts import (
    ACKNOWLEDGE_REPLY,
    GATE_EXAMPLES,
    GATE_OPTIONS,
    GATE_SYSTEM,
    GATE_USER,
    QUOTE_REPLY,
    SINGLE_VALUED,
    TOPIC_EXAMPLES,
    TOPIC_OPTIONS,
    TOPIC_SYSTEM,
    TOPIC_USER,
    few_shot,
)
from agents.tim.text import copy_thoughts, names_in, pre_check, second_person, speaks_of_user, third_person
from llm.base import Message
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
    max_thoughts: int = option(3, "Most thoughts post-thought from one turn (one per clause of the message).",
                               min=1, max=10)
    relate_threshold: float = option(0.4, "Cosine above which a stored thought of topic 'other' is compared with a "
                                     "new one of that topic (same wording or same named entity: merge).",
                                     min=0.0, max=1.0)
    compare: int = option(3, "Most stored 'other' thoughts each new 'other' thought is compared with.", min=0, max=10)
    quote_answers: bool = option(True, "Answer a question about the user's own job, home, pet, ... by quoting the "
                                 "active thoughts of that topic (the model picks the topic; no reply is generated). "
                                 "Off: the model always writes the reply from the recalled thoughts.")
    quote_margin: float = option(1.0, "Log-odds by which a question's topic must beat 'other' before its thoughts "
                                 "are quoted; below it the model writes the reply. On invented questions "
                                 "(benchmarks/calibrate_tim.py) how-to questions reached 'hobby' or 'pet' by up to "
                                 "1.4, questions about the user's job, home, car, ... mostly by 1.5 to 6.7.",
                                 min=-20.0, max=20.0)
    acknowledge_facts: bool = option(True, "When the user tells a fact about themselves (the post-think gate below, "
                                     "asked before the reply), acknowledge it in the user's own words ('Noted: you "
                                     "live in Osaka.') instead of a generated reply; the 0.5B model's replies to "
                                     "such statements drifted ('Carpenters are not allergic to peanuts.'). The "
                                     "gate's answer is reused by post-think. Off: the model writes every reply.")
    use_corpus: bool = option(False, "Also retrieve passages from the corpus for the reply (TiM over RAG).")
    passages: int = option(3, "Passages retrieved when the corpus is used.", min=1, max=10)
    max_tokens: int = option(48, "Most tokens of a reply.", min=8, max=512)


class TiMState(RAGState, total=False):
    """A TiM turn: the thoughts recalled and the new ones post-thought."""

    recalled: list[ThoughtData]
    new_thoughts: list[str]
    gate: dict[str, Any]  # the post-think gate's decision, when the reply already asked it


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


def topic_of(text: str) -> str:
    """The topic a stored thought is filed under ('job: The user ...' -> 'job'); 'other' without a label."""
    head, sep, _ = text.partition(": ")
    return head if sep and head in TOPIC_OPTIONS else "other"


def body_of(text: str) -> str:
    """A stored thought without its topic label."""
    return text.split(": ", 1)[1] if topic_of(text) != "other" and ": " in text else text


def choose_topic(step: Step, deps: Deps, sentence: str) -> tuple[str, dict[str, Any], list[Any]]:
    """The constrained topic choice for a sentence: (topic, decision details, prompt)."""
    prompt = few_shot(TOPIC_SYSTEM, TOPIC_EXAMPLES, TOPIC_USER.format(sentence=sentence))
    choice = step.add(deps.llm.choose(prompt, list(TOPIC_OPTIONS)))
    scores = {o: float(v) for o, v in choice.scores.items()}
    runner_up = max((v for o, v in scores.items() if o != choice.option), default=0.0)
    margin = round(scores.get(choice.option, 0.0) - runner_up, 3)
    over_other = round(scores.get(choice.option, 0.0) - scores.get("other", 0.0), 3)
    return choice.option, {"topic": choice.option, "topic_scores": scores, "topic_margin": margin,
                           "over_other": over_other, "constrained": choice.constrained}, prompt


def active_of_topic(store: ThoughtStore, user: str, topic: str) -> list[ThoughtRow]:
    """This user's active thoughts filed under a topic, newest first (a label lookup, not a similarity search)."""
    if topic == "other":
        return []
    return [r for r in store.list(user, search=f"{topic}: ", status="active") if topic_of(r.text) == topic]


def fact_gate(step: Step, deps: Deps, message: str, config: TiMConfig) -> dict[str, Any]:
    """Does the message tell a fact about the user? The constrained yes/no of post-think, with its prompt; 'passed'
    when 'yes' beats 'no' by the think margin."""
    prompt = few_shot(GATE_SYSTEM, GATE_EXAMPLES, GATE_USER.format(message=message))
    choice = step.add(deps.llm.choose(prompt, list(GATE_OPTIONS)))
    odds = float(choice.scores.get(GATE_OPTIONS[0], 0.0)) - max(float(choice.scores.get(o, 0.0))
                                                                 for o in GATE_OPTIONS[1:])
    return {"option": choice.option, "scores": choice.scores, "log_odds": round(odds, 3),
            "margin": config.think_margin, "constrained": choice.constrained, "passed": odds > config.think_margin,
            "prompt": prompt}


def respond(state: TiMState, deps: Deps, config: TiMConfig) -> dict[str, Any]:
    """Answer a question about the user's own job / home / ... by quoting that topic's thoughts; else the model
    replies from the recalled thoughts and the last few turns (and passages, over RAG)."""
    message, run_id = state["question"], state.get("run_id", "")
    recalled = sorted(state.get("recalled", []), key=lambda t: -t.get("created", 0.0))
    notes = [t["text"] for t in recalled]  # newest first: a newer fact replaces an older one
    hits = state.get("retrieved", []) if config.use_corpus else []
    with Step(NAME, "answer", run_id) as step:
        decision: dict[str, Any] = {}
        quoted: list[ThoughtRow] = []
        if config.quote_answers and pre_check(message) == "question" and speaks_of_user(message):
            topic, decision, _ = choose_topic(step, deps, third_person(message))
            decision["quote_margin"] = config.quote_margin
            if decision["over_other"] > config.quote_margin:
                quoted = active_of_topic(memory_of(deps), state.get("user", ""), topic)[:3]
            decision["quoted"] = [r.id for r in quoted]
        gate: dict[str, Any] = {}
        if config.acknowledge_facts and not pre_check(message):
            gate = fact_gate(step, deps, message, config)
            thoughts = copy_thoughts(message, config.max_thoughts) if gate["passed"] else []
            if thoughts:
                reply = ACKNOWLEDGE_REPLY.format(facts=" ".join(_sentence(second_person(t)) for t in thoughts))
                explanation = (f"Replies '{short(reply, 100)}': the model reads the message as a fact about the user, "
                               "so it acknowledges it in the user's own words (no reply generated).")
                data = AnswerData(answer=reply, passages=[], notes=notes, decision={"gate": gate})
                return {"answer": reply, "used_ids": [], "gate": gate, "events": [step.event(explanation, data)]}
        if quoted:
            facts = " ".join(_sentence(second_person(body_of(r.text))) for r in quoted)
            reply = QUOTE_REPLY.format(facts=facts)
            explanation = (f"Replies '{short(reply, 100)}': the question is about the user's "
                           f"{decision['topic']}, so it quotes the "
                           f"{len(quoted)} active thought(s) of that topic (no reply generated).")
            data = AnswerData(answer=reply, passages=[], notes=[r.text for r in quoted], decision=decision)
            event = step.event(explanation, data)
            return {"answer": reply, "used_ids": [], "events": [event]}
        system = MEMORY_SYSTEM.format(thoughts="\n".join(f"- {n}" for n in notes) or NO_THOUGHTS)
        if hits:
            system += PASSAGES_SYSTEM.format(passages="\n".join(f"[{i}] {h['title']}: {h['text']}"
                                                                for i, h in enumerate(hits, 1)))
        shown = recent_turns(without_acknowledgements(list(state.get("history", []))), config.recent_turns)
        messages = chat_messages(system, shown, message)
        completion = step.add(deps.llm.chat(messages, max_tokens=config.max_tokens, stop=["\n\n", "\nUser:"]))
        reply = clean_reply(completion.text)
        failed = not reply
        reply = reply or "(no reply)"
        why = ""
        if decision and decision["topic"] == "other":
            why = "; the question is about no remembered topic ('other')"
        elif decision and decision["over_other"] <= config.quote_margin:
            why = (f"; the question may be about the user's {decision['topic']}, but the model is not clear enough "
                   "about it to quote its thoughts")
        elif decision:
            why = f"; the question's topic is '{decision['topic']}', with no active thought of it"
        explanation = (f"Replies '{short(reply, 100)}' from {sum(m['role'] == 'user' for m in shown)} earlier turns, "
                       f"{len(notes)} remembered thoughts ({completion.prompt_tokens} prompt tokens){why}.")
        data = AnswerData(answer=reply, passages=[h["doc_id"] for h in hits], prompt=messages, reply=completion.text,
                          turns=messages[1:-1], notes=notes)
        if decision or gate:
            data["decision"] = {**decision, **({"gate": gate} if gate else {})}
        if failed:
            data["format_failure"] = True
        event = step.event(explanation, data)
    return {"answer": reply, "used_ids": [h["doc_id"] for h in hits], "events": [event],
            **({"gate": gate} if gate else {})}


def without_acknowledgements(history: list[Message]) -> list[Message]:
    """The turns without the replies that acknowledged a fact (the user's own words stay): the fact is in memory,
    and the 0.5B model, shown "Noted: ..." replies, began its own answers to questions with "Noted:"."""
    ack = ACKNOWLEDGE_REPLY.split("{", 1)[0]
    return [m for m in history if not (m["role"] == "assistant" and m["content"].startswith(ack))]


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


def post_think(state: TiMState, deps: Deps, config: TiMConfig) -> dict[str, Any]:
    """Post-think: is the turn a fact about the user (not a question or request)? If so, keep its clauses as
    thoughts in the user's own words, rewritten to the third person by rule."""
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
        asked = state.get("gate")  # the reply step asked the gate already (acknowledge_facts): not twice
        gate = dict(asked) if asked else fact_gate(step, deps, message, config)
        gate_messages, odds = gate.pop("prompt"), gate["log_odds"]
        decision = {**gate, "asked_by_reply": bool(asked)}
        data = MemoryWriteData(operation="think", before=[], after=[], decision=decision, prompt=gate_messages)
        thoughts: list[str] = []
        if not gate["passed"]:
            explanation = ("Post-thinks nothing: asked whether the message states a fact about the user, the "
                           f"model {'leans to no' if odds < 0 else 'is not clear enough about yes'}, so nothing is "
                           "stored (the scores are in the details).")
        else:
            thoughts = copy_thoughts(message, config.max_thoughts)
            data.update(after=[ThoughtData(id="", text=t, status="proposed") for t in thoughts])
            if thoughts:
                listed = "; ".join(f"'{short(t, 80)}'" for t in thoughts)
                explanation = ("Post-thinks the message (the model reads it as a fact about the user) into "
                               f"{len(thoughts)} thought(s), its own words in the third person: {listed}.")
            else:
                explanation = "Post-thinks nothing: the message has no clause of three words or more."
        event = step.event(explanation, data)
    return {"new_thoughts": thoughts, "events": [event]}


def operate(state: TiMState, deps: Deps, config: TiMConfig) -> dict[str, Any]:
    """Memory operations: file each new thought under a topic (constrained choice), then by rule: the same words
    or the same named entity as a thought of that topic -> merge; a single-valued topic (job, home, pet, car,
    hobby, food) -> forget its active thoughts (update); else insert."""
    store, user = memory_of(deps), state.get("user", "")
    source = Source(run=state.get("run_id", ""), turn=state["question"], conversation=state.get("conversation", ""))
    events = []
    for text in state.get("new_thoughts", []):
        with Step(NAME, "memory_write", state.get("run_id", "")) as step:
            topic, decision, prompt = choose_topic(step, deps, text)
            stored_text = f"{topic}: {text}" if topic != "other" else text
            vector = store.embed([stored_text])[0]
            if topic == "other":
                similar = store.recall(user, vector, config.compare, config.probes, shape(config)).thoughts
                candidates = [(r, s) for r, s in similar if s >= config.relate_threshold and topic_of(r.text) == topic]
            else:
                rows = active_of_topic(store, user, topic)
                scores = [float(r.embedding @ vector) for r in rows]
                candidates = list(zip(rows, scores, strict=True))
            relation, targets, checks = relate(text, topic, candidates)
            op = _apply(store, user, relation, targets, stored_text, vector, source, config)
            decision.update(relation=relation, checks=checks, single_valued=topic in SINGLE_VALUED)
            data = MemoryWriteData(operation=op.operation, before=op.before, after=op.after, thought=stored_text,  # type: ignore[typeddict-item]
                                   compared=[thought_data(r, s) for r, s in candidates], decision=decision,
                                   prompt=prompt)
            filed = f"filed under '{topic}'" if topic != "other" else "under no particular topic ('other')"
            why = {"update": f"; '{topic}' holds one value at a time",
                   "same": "; the same words", "detail": "; the same named entity",
                   "unrelated": (f"; compared with {len(candidates)} thought(s) of that topic, none the same"
                                 if candidates else "")}[relation]
            events.append(step.event(op.sentence.rstrip(".") + f" ({filed}{why}).", data))
    return {"events": events}


def relate(text: str, topic: str, candidates: list[tuple[ThoughtRow, float]]
           ) -> tuple[str, list[ThoughtRow], list[dict[str, Any]]]:
    """The relation of a new thought to stored thoughts of its topic, by rule: (relation, targets, checks)."""
    checks: list[dict[str, Any]] = []
    names = names_in(text)
    for row, score in candidates:
        if body_of(row.text).strip().lower() == text.strip().lower():
            checks.append({"id": row.id, "cosine": round(score, 4), "option": "same", "identical": True})
            return "same", [row], checks
    for row, score in candidates:
        old_names = names_in(body_of(row.text))
        shared = sorted(names & old_names)
        # "Bruno passed away." is about the stored "dog is called Bruno"; "sold the Fiat and bought a Kia" names
        # a new entity of a single-valued topic, so it replaces the Fiat rather than adding to it
        if shared and not (topic in SINGLE_VALUED and names - old_names):
            checks.append({"id": row.id, "cosine": round(score, 4), "option": "detail", "names": shared})
            return "detail", [row], checks
    if topic in SINGLE_VALUED and candidates:
        checks += [{"id": r.id, "cosine": round(s, 4), "option": "update"} for r, s in candidates]
        return "update", [r for r, _ in candidates], checks
    checks += [{"id": r.id, "cosine": round(s, 4), "option": "unrelated"} for r, s in candidates]
    return "unrelated", [], checks


def _apply(store: ThoughtStore, user: str, relation: str, targets: list[ThoughtRow], text: str, vector: Any,
           source: Source, config: TiMConfig) -> operations.Operation:
    """The operation a relation calls for."""
    if not targets or relation == "unrelated":
        return operations.insert(store, user, text, vector, source, shape(config))
    if relation == "update":
        return operations.forget(store, user, targets, text, vector, source, shape(config))
    if relation == "same":
        return operations.merge_duplicate(store, user, targets[0], text, vector, source, shape(config))
    return operations.merge_entity(store, user, targets[0], text, source, shape(config),
                                   joined=operations.join_thoughts(targets[0].text, body_of(text)))
