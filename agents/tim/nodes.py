"""TiM's nodes: recall -> (retrieve) -> respond -> post_think -> operate, each a function of (state, deps, config)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.base import Deps, RAGState, hit_dict, option, short
from agents.conversation import MEMORY_SYSTEM, NO_THOUGHTS, PASSAGES_SYSTEM, chat_messages, clean_reply, recent_turns
from agents.events import AnswerData, MemoryReadData, MemoryWriteData, RetrieveData, Step, ThoughtData
from agents.tim.facts import (
    Fact,
    fact_schema,
    grounded_subject,
    in_words,
    not_told,
    parse_facts,
    reply_sentence,
    rule_facts,
    validate,
)
from agents.tim.facts import second_person as say_back
from agents.tim.facts import sentence as full_sentence
from agents.tim.prompts import (
    ACKNOWLEDGE_REPLY,
    ANSWERS_EXAMPLES,
    ANSWERS_SYSTEM,
    ANSWERS_USER,
    ASKS_EXAMPLES,
    ASKS_OPTIONS,
    ASKS_SYSTEM,
    ASKS_USER,
    GATE_EXAMPLES,
    GATE_OPTIONS,
    GATE_SYSTEM,
    GATE_USER,
    NOT_STATED,
    fact_messages,
    few_shot,
)
from agents.tim.text import asks_for_help, copy_thoughts, pre_check, speaks_of_user, third_person
from llm.base import LLM, Completion, LLMError, Message
from memory import operations
from memory.store import LSHShape, Source, ThoughtStore
from storage.thoughts import ThoughtRow

NAME = "tim"


@dataclass(frozen=True)
class TiMConfig:
    """Settings of Think-in-Memory."""

    top_k: int = option(5, "Thoughts recalled from long-term memory for the reply.", min=1, max=20)
    recent_turns: int = option(2, "Turns of this conversation shown beside the thoughts.", min=0, max=20)
    buckets: int = option(64, "LSH buckets per hash table (b in F(x) = argmax([xR; -xR])). A memory made "
                          "with another shape is re-hashed. 64 x 32 tables, 2 probes, shared in 4 kept recall@5 above "
                          "0.9 at 100k thoughts scoring a few percent of them (benchmarks/bench_memory.py).",
                          choices=[2, 4, 8, 16, 32, 64, 128])
    tables: int = option(32, "Independent hash tables; a thought sharing a bucket with the query in enough tables "
                         "(min_shared) is scored.", min=1, max=64)
    probes: int = option(2, "Buckets looked in per table (multi-probe LSH); 1 = only the query's own bucket, "
                         "as in the paper.", min=1, max=8)
    min_shared: int = option(4, "Score only thoughts that share a probed bucket with the message in at least this "
                             "many tables (collision counting; 1 = any table, as in the paper).", min=1, max=64)
    exact_below: int = option(2000, "A memory of at most this many active thoughts is scored whole by cosine "
                              "(under 1 ms at this size, benchmarks/bench_memory.py); LSH buckets above it.",
                              min=0, max=10_000_000)
    think_margin: float = option(0.5, "Log-odds by which 'yes' (the message tells a fact about the user) must beat "
                                 "'no' before the message is post-thought: invented facts scored +1.1 or more, "
                                 "requests +0.4 or less (benchmarks/calibrate_tim.py).", min=-20.0, max=20.0)
    max_thoughts: int = option(3, "Most facts kept from one message.", min=1, max=10)
    record_tokens: int = option(120, "Most tokens of the model's fact record (JSON).", min=16, max=512)
    same_fact: float = option(0.7, "Cosine between two facts' keys (\"the user's home city\") at or above which "
                              "they are the same attribute of the same subject, so a new value supersedes the old "
                              "one: on invented key pairs the same kind of fact scored 0.71 or more, different "
                              "kinds 0.57 or less (docs/agents/tim.md).", min=0.0, max=1.0)
    compare: int = option(5, "Stored thoughts nearest a new fact whose keys are compared with its key.",
                          min=0, max=20)
    asks_margin: float = option(0.0, "Log-odds by which 'yes' (the question asks about the user's own life) must "
                                "beat 'no' before memory answers it (0: the model's own pick; not tuned); below it "
                                "the model writes a general reply.", min=-20.0, max=20.0)
    answer_margin: float = option(-1.0, "Log-likelihood above which a recalled fact's value, as the answer to the "
                                  "question given that fact alone, stands against 'not stated'; the best recalled fact "
                                  "that passes is said back, and when none does the reply says it was not told. Right "
                                  "values scored -0.8 or more, wrong ones mostly -1.1 or less "
                                  "(docs/agents/tim.md).",
                                  min=-20.0, max=20.0)
    checked: int = option(3, "Recalled thoughts checked against a question about the user, best first.",
                          min=1, max=10)
    acknowledge_facts: bool = option(True, "When the user tells a fact about themselves (the post-think gate, asked "
                                     "before the reply), acknowledge it in the user's own words ('Noted: you live "
                                     "in Osaka.') instead of a generated reply. Off: the model writes every reply.")
    use_corpus: bool = option(False, "Also retrieve passages from the corpus for the reply (TiM over RAG).")
    passages: int = option(3, "Passages retrieved when the corpus is used.", min=1, max=10)
    max_tokens: int = option(48, "Most tokens of a reply.", min=8, max=512)


class TiMState(RAGState, total=False):
    """A TiM turn: the thoughts recalled and the facts post-thought."""

    recalled: list[ThoughtData]
    new_facts: list[dict[str, str]]
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


def fact_of(thought: dict[str, Any] | ThoughtRow) -> Fact:
    """The fact record of a stored thought (a rule or legacy thought: its text, no attribute split)."""
    get = thought.get if isinstance(thought, dict) else (lambda k, d="": getattr(thought, k, d))
    origin = get("origin", "") or "rule"
    text = get("text", "")
    if origin == "model":
        return Fact(get("subject", "") or "user", get("attribute", ""), get("value", ""), get("evidence", ""), origin)
    return Fact("user", get("attribute", "") if origin == "legacy" else "", text, get("evidence", ""), "rule")


def _buckets_text(probes: list[tuple[int, int]]) -> str:
    by_table: dict[int, list[int]] = {}
    for t, b in probes:
        by_table.setdefault(t, []).append(b)
    return "; ".join(f"table {t}: {', '.join(map(str, bs))}" for t, bs in sorted(by_table.items()))


def yes_no(step: Step, llm: LLM, messages: list[Message], options: tuple[str, ...], margin: float
           ) -> dict[str, Any]:
    """A constrained yes/no: the option, every score, the log-odds of yes over no, and whether it beat `margin`."""
    choice = step.add(llm.choose(messages, list(options)))
    odds = float(choice.scores.get(options[0], 0.0)) - float(choice.scores.get(options[1], 0.0))
    return {"option": choice.option, "scores": {o: float(v) for o, v in choice.scores.items()},
            "log_odds": round(odds, 3), "margin": margin, "constrained": choice.constrained, "passed": odds > margin}


# --- nodes ----------------------------------------------------------------------------------------
def recall(state: TiMState, deps: Deps, config: TiMConfig) -> dict[str, Any]:
    """Recall before answering: the user turn (in the third person), ranked against this user's thoughts."""
    store, user, question = memory_of(deps), state.get("user", ""), state["question"]
    query = third_person(question)
    with Step(NAME, "memory_read", state.get("run_id", "")) as step:
        result = store.recall(user, store.embed([query])[0], config.top_k, config.probes, shape(config),
                              config.min_shared, config.exact_below)
        found = [thought_data(row, score) for row, score in result.thoughts]
        asked = f" (asked as '{short(query, 80)}')" if query != question else ""
        how = ("scoring all of them (a memory this small is searched whole)" if result.exact else
               f"scoring only the {result.scored} in the message's buckets ({_buckets_text(result.probes)})")
        if not result.stored:
            explanation = "Recalls nothing: this user's memory is still empty."
        elif not found:
            explanation = (f"Recalls nothing: no thought shares a bucket with the message{asked} ("
                           f"{_buckets_text(result.probes)}; {result.stored} stored).")
        else:
            explanation = (f"Recalls {len(found)} of {result.stored} thoughts{asked}, {how}; best "
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


def fact_gate(step: Step, deps: Deps, message: str, config: TiMConfig) -> dict[str, Any]:
    """Does the message tell a fact about the user? The constrained yes/no of post-think, with its prompt."""
    prompt = few_shot(GATE_SYSTEM, GATE_EXAMPLES, GATE_USER.format(message=message))
    return {**yes_no(step, deps.llm, prompt, GATE_OPTIONS, config.think_margin), "prompt": prompt}


def check_answers(step: Step, deps: Deps, user: str, question: str, recalled: list[ThoughtData],
                  config: TiMConfig) -> list[dict[str, Any]]:
    """For each of the best recalled thoughts: does it answer the question? (constrained yes/no, best first)."""
    checks = []
    for thought in recalled[:config.checked]:  # best recalled first; the first that passes is said back
        said, how = say(deps, user, thought)
        fact = fact_of(thought)
        answer = fact.value if fact.origin == "model" else said.rstrip(".")
        spellings = list(dict.fromkeys([answer, answer[:1].upper() + answer[1:]]))  # a reply may start capitalised
        prompt = few_shot(ANSWERS_SYSTEM, ANSWERS_EXAMPLES, ANSWERS_USER.format(question=question, fact=said))
        choice = step.add(deps.llm.choose(prompt, [*spellings, NOT_STATED]))
        best = max(float(choice.scores.get(a, -1e9)) for a in spellings)
        odds = round(best - float(choice.scores.get(NOT_STATED, 0.0)), 3)
        checks.append({"id": thought["id"], "text": thought["text"], "reply": said, "how": how, "answer": answer,
                       "log_odds": odds, "passed": odds > config.answer_margin})
        if checks[-1]["passed"]:
            break
    return checks


def say(deps: Deps, user: str, thought: ThoughtData) -> tuple[str, str]:
    """The sentence that tells the user a remembered thought, and how it was made (reply_sentence)."""
    old = [fact_of(r).value for r in memory_of(deps).superseded(user, thought["id"])]
    return reply_sentence(fact_of(thought), old)


def asks_about_user(step: Step, deps: Deps, message: str, config: TiMConfig) -> dict[str, Any]:
    """Does a question (one that says I / my) ask about the user's own life? Grammar sets aside requests for a method
    or advice ('How do I ...?', 'What should I ...?'); the model's constrained yes/no decides the rest."""
    if asks_for_help(message):
        return {"option": "no", "by": "grammar", "passed": False}
    prompt = few_shot(ASKS_SYSTEM, ASKS_EXAMPLES, ASKS_USER.format(question=message))
    return {**yes_no(step, deps.llm, prompt, ASKS_OPTIONS, config.asks_margin), "by": "model"}


def answer_from_memory(step: Step, deps: Deps, state: TiMState, config: TiMConfig, asked: dict[str, Any]
                       ) -> dict[str, Any]:
    """A question about the user's own life: say back the recalled thought that answers it, or that it was not told."""
    message, user = state["question"], state.get("user", "")
    recalled = list(state.get("recalled", []))
    checks = check_answers(step, deps, user, message, recalled, config)
    passed = [c for c in checks if c["passed"]]
    by_id = {t["id"]: t for t in recalled}
    if passed:
        best = fact_of(by_id[passed[0]["id"]])
        said = [passed[0]]
        for t in recalled:  # further values of the same attribute ("also ..."), active beside the one checked
            if best.key and t["id"] != passed[0]["id"] and fact_of(t).key == best.key:
                sentence, how = say(deps, user, t)
                said.append({"id": t["id"], "text": t["text"], "reply": sentence, "how": how})
        reply = " ".join(c["reply"] for c in said)
        how = "in your own words" if all(c["how"] == "own words" for c in said) else "from the stored record"
        listed = " and ".join(f"'{short(c['text'], 60)}'" for c in said)
        also = f" ({len(said) - 1} more with the same attribute)" if len(said) > 1 else ""
        label = (f"Recalled from memory: {listed} — asked the question with only the first, the model gave its "
                 f"value '{short(said[0]['answer'], 40)}' over 'not stated' (by {said[0]['log_odds']:+.1f}){also}; "
                 f"said back {how}.")
        memory = {"status": "recalled", "sentence": label, "thoughts": [c["id"] for c in said], "checks": checks,
                  "asked": asked}
        explanation = f"Replies '{short(reply, 100)}': {label}"
    else:
        reply = not_told(message)
        if not recalled:
            label = "Not in memory: nothing about you is remembered yet, so nothing is said about you."
        else:
            closest = max(c["log_odds"] for c in checks)
            label = (f"Not in memory: asked the question with each of the {len(checks)} best recalled thoughts alone, "
                     "the model's answer was never its value over 'not stated' by more than "
                     f"{config.answer_margin:+.1f} (closest {closest:+.1f}), so nothing is said about you.")
        memory = {"status": "not_in_memory", "sentence": label, "thoughts": [], "checks": checks, "asked": asked}
        explanation = f"Replies '{short(reply, 100)}'. {label}"
    data = AnswerData(answer=reply, passages=[], notes=[t["text"] for t in recalled], memory=memory,  # type: ignore[typeddict-item]
                      decision={"asks_about_user": asked, "checks": checks})
    return {"answer": reply, "used_ids": [], "events": [step.event(explanation, data)]}


def respond(state: TiMState, deps: Deps, config: TiMConfig) -> dict[str, Any]:
    """A question about the user's own life is answered from memory (or 'not told'); a fact is acknowledged in
    the user's words; anything else gets the model's reply from the recalled thoughts and the last few turns."""
    message, run_id = state["question"], state.get("run_id", "")
    recalled = sorted(state.get("recalled", []), key=lambda t: -t.get("created", 0.0))
    notes = [t["text"] for t in recalled]  # newest first: a newer fact replaces an older one
    hits = state.get("retrieved", []) if config.use_corpus else []
    settled = pre_check(message)
    with Step(NAME, "answer", run_id) as step:
        asked: dict[str, Any] = {}
        if settled == "question" and speaks_of_user(message):
            asked = asks_about_user(step, deps, message, config)
            if asked["passed"]:
                return answer_from_memory(step, deps, state, config, asked)
        gate: dict[str, Any] = {}
        if config.acknowledge_facts and not settled:
            gate = fact_gate(step, deps, message, config)
            clauses = copy_thoughts(message, config.max_thoughts) if gate["passed"] else []
            if clauses:
                reply = ACKNOWLEDGE_REPLY.format(facts=full_sentence(say_back(_strip_opener(message))))
                label = ("Your own words, said back: the model read the message as a fact about you; what is kept "
                         "is in the memory steps.")
                data = AnswerData(answer=reply, passages=[], notes=notes, decision={"gate": gate},
                                  memory={"status": "acknowledged", "sentence": label})  # type: ignore[typeddict-item]
                explanation = f"Replies '{short(reply, 100)}'. {label}"
                return {"answer": reply, "used_ids": [], "gate": gate, "events": [step.event(explanation, data)]}
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
        why = ("asks for a method or advice" if asked.get("by") == "grammar" else
               "was not taken by the model as a question about your own life" if asked else
               "asks nothing about your own life")
        label = (f"A general reply, written by the model: the message {why}, so no remembered fact was checked "
                 f"({len(notes)} recalled thoughts were in its prompt).")
        explanation = (f"Replies '{short(reply, 100)}' from {sum(m['role'] == 'user' for m in shown)} earlier turns, "
                       f"{len(notes)} remembered thoughts ({completion.prompt_tokens} prompt tokens).")
        data = AnswerData(answer=reply, passages=[h["doc_id"] for h in hits], prompt=messages, reply=completion.text,
                          turns=messages[1:-1], notes=notes,
                          memory={"status": "general", "sentence": label})  # type: ignore[typeddict-item]
        if gate or asked:
            data["decision"] = {**({"gate": gate} if gate else {}), **({"asks_about_user": asked} if asked else {})}
        if failed:
            data["format_failure"] = True
        event = step.event(explanation, data)
    return {"answer": reply, "used_ids": [h["doc_id"] for h in hits], "events": [event],
            **({"gate": gate} if gate else {})}


def _strip_opener(message: str) -> str:
    """The message without a leading 'Actually,' / 'Sad news:' that carries no fact."""
    from agents.tim.text import _OPENER

    text, previous = " ".join(message.split()), None
    while previous != text:
        previous, text = text, _OPENER.sub("", text, count=1)
    return text


def without_acknowledgements(history: list[Message]) -> list[Message]:
    """The turns without the replies that acknowledged a fact (the user's own words stay): the fact is in memory,
    and the 0.5B model, shown "Noted: ..." replies, began its own answers to questions with "Noted:"."""
    ack = ACKNOWLEDGE_REPLY.split("{", 1)[0]
    return [m for m in history if not (m["role"] == "assistant" and m["content"].startswith(ack))]


def write_record(step: Step, llm: LLM, message: str, config: TiMConfig) -> tuple[Completion, str, list[Message]]:
    """The model's fact record for a message: decoded under FACT_SCHEMA with each value one of the message's own word
    runs (fact_schema) where the backend has grammar decoding, else free text parsed as JSON."""
    messages = fact_messages(message)
    try:
        return (step.add(llm.structured(messages, fact_schema(message), max_tokens=config.record_tokens)),
                "JSON schema, values from the message's words", messages)
    except LLMError as exc:  # a backend without grammar decoding, or the JSON cut short: the model's free text
        why = f"free text: {str(exc).split(':')[0]}"
    return step.add(llm.chat(messages, max_tokens=config.record_tokens, stop=["\n\n"])), why, messages


def post_think(state: TiMState, deps: Deps, config: TiMConfig) -> dict[str, Any]:
    """Post-think: is the turn a fact about the user? If so, the model writes its subject / attribute / value record
    (the value must stand in the user's words); the rule fill keeps the user's clauses when no record holds."""
    message = state["question"]
    with Step(NAME, "memory_write", state.get("run_id", "")) as step:
        settled = pre_check(message)
        if settled:
            why = "asks something" if settled == "question" else "never speaks of the user (no I, my, we or our)"
            event = step.event(f"Post-thinks nothing: the message {why}, so it states no fact about the user "
                               "(no model call).", MemoryWriteData(
                                   operation="think", before=[], after=[],
                                   decision={"option": settled, "pre_check": True}))
            return {"new_facts": [], "events": [event]}
        asked = state.get("gate")  # the reply step asked the gate already (acknowledge_facts): not twice
        gate = dict(asked) if asked else fact_gate(step, deps, message, config)
        gate_messages, odds = gate.pop("prompt"), gate["log_odds"]
        decision: dict[str, Any] = {**gate, "asked_by_reply": bool(asked)}
        data = MemoryWriteData(operation="think", before=[], after=[], decision=decision, prompt=gate_messages)
        facts: list[Fact] = []
        if not gate["passed"]:
            explanation = ("Post-thinks nothing: asked whether the message states a fact about the user, the "
                           f"model {'leans to no' if odds < 0 else 'is not clear enough about yes'}, so nothing is "
                           "stored (the scores are in the details).")
        else:
            completion, decoding, record_prompt = write_record(step, deps.llm, message, config)
            records = parse_facts(completion.text)
            rejected = []
            for r in records or []:
                why = validate(r, message)
                if why:
                    rejected.append({**r, "why": why})
                else:
                    facts.append(Fact(r["subject"], r["attribute"], r["value"], message, "model"))
            facts = facts[:config.max_thoughts]
            fill = not facts
            if fill:
                facts = rule_facts(message, config.max_thoughts)
            decision.update(decoding=decoding, records=records, rejected=rejected, rule_fill=fill)
            data.update(prompt=record_prompt, reply=completion.text,
                        after=[ThoughtData(id="", text=f.text(), status="proposed", **f.as_dict())  # type: ignore[typeddict-item]
                               for f in facts])
            if records is None:
                data["format_failure"] = True
            listed = "; ".join(f"'{short(f.text(), 80)}'" for f in facts)
            if not facts:
                explanation = "Post-thinks nothing: the message has no clause of three words or more."
            elif not fill:
                explanation = (f"Post-thinks the message into {len(facts)} fact(s) written by the model as subject / "
                               f"attribute / value ({decoding}), each value found in the user's words: {listed}"
                               + (f"; {len(rejected)} record(s) set aside (value not in the message)." if rejected
                                  else "."))
            else:
                why = ("its record was not valid JSON" if records is None else
                       "none of its records had a value found in the message" if records else "it wrote no record")
                explanation = (f"Post-thinks the message into {len(facts)} thought(s) by the rule fill, its own "
                               f"clauses in the third person ({why}): {listed}.")
        event = step.event(explanation, data)
    return {"new_facts": [f.as_dict() for f in facts], "events": [event]}


_ADDS = ("also", "another", "too", "as well", "second", "both")  # a further value of an attribute, not a new one


def operate(state: TiMState, deps: Deps, config: TiMConfig) -> dict[str, Any]:
    """Memory operations, per fact: the same attribute of the same subject (keys at cosine >= same_fact) with a new
    value forgets the old thought; with the same value it merges; anything else is inserted."""
    store, user = memory_of(deps), state.get("user", "")
    source = Source(run=state.get("run_id", ""), turn=state["question"], conversation=state.get("conversation", ""))
    events = []
    for record in state.get("new_facts", []):
        fact = Fact(**record)
        with Step(NAME, "memory_write", state.get("run_id", "")) as step:
            text = fact.text()
            vector = store.embed([text])[0]
            near = store.recall(user, vector, config.compare, config.probes, shape(config), config.min_shared,
                                config.exact_below).thoughts
            relation, targets, checks = relate(store, fact, near, config)
            op = apply(store, user, relation, targets, fact, vector, source, config)
            data = MemoryWriteData(operation=op.operation, before=op.before, after=op.after, thought=text,  # type: ignore[typeddict-item]
                                   compared=[thought_data(r, s) for r, s in near],
                                   decision={"relation": relation, "checks": checks, "key": fact.key,
                                             "same_fact": config.same_fact, "origin": fact.origin})
            why = {
                "update": f"; the same fact ({fact.key}) with a new value",
                "same": "; the same fact again",
                "adds": f"; a further {fact.attribute} (the message says it adds one)",
                "unrelated": (f"; compared with {len(checks)} stored fact(s), none about {fact.key}" if checks
                              else "; a rule-filled thought is never compared by attribute" if not fact.key
                              else f"; '{fact.subject}' is not in the user's words, so it replaces nothing"
                              if not grounded_subject(fact.subject, fact.evidence)
                              else f"; no stored fact about {fact.key}"),
            }[relation]
            events.append(step.event(op.sentence.rstrip(".") + f"{why}.", data))
    return {"events": events}


def relate(store: ThoughtStore, fact: Fact, near: list[tuple[ThoughtRow, float]], config: TiMConfig
           ) -> tuple[str, list[ThoughtRow], list[dict[str, Any]]]:
    """The relation of a new fact to the stored ones near it: (relation, targets, checks).

    'same' (the same words, or the same key and value), 'update' (the same key, another value), 'adds' (the same
    key, and the message says also / another / too), or 'unrelated'."""
    for row, _ in near:
        if row.text.strip().lower() == fact.text().strip().lower():
            return "same", [row], [{"id": row.id, "identical": True}]
    keyed = [(row, fact_of(row)) for row, _ in near if fact_of(row).key]
    keyed = [(row, old) for row, old in keyed if grounded_subject(old.subject, old.evidence)]
    if not fact.key or not keyed or not grounded_subject(fact.subject, fact.evidence):
        return "unrelated", [], []
    vectors = store.embed([fact.key] + [f.key for _, f in keyed])
    checks, same = [], []
    for (row, old), v in zip(keyed, vectors[1:], strict=True):
        cosine = round(float(v @ vectors[0]), 4)
        checks.append({"id": row.id, "key": old.key, "cosine": cosine, "same_key": cosine >= config.same_fact})
        if cosine >= config.same_fact:
            same.append((row, old))
    if not same:
        return "unrelated", [], checks
    for row, old in same:
        if in_words(fact.value, old.value) and in_words(old.value, fact.value):
            return "same", [row], checks
    if any(in_words(word, fact.evidence) for word in _ADDS):
        return "adds", [], checks
    return "update", [row for row, _ in same], checks


def apply(store: ThoughtStore, user: str, relation: str, targets: list[ThoughtRow], fact: Fact, vector: Any,
          source: Source, config: TiMConfig) -> operations.Operation:
    """The operation a relation calls for."""
    record = fact.as_dict()
    if relation == "update" and targets:
        return operations.forget(store, user, targets, fact.text(), vector, source, shape(config), fact=record)
    if relation == "same" and targets:
        return operations.merge_duplicate(store, user, targets[0], fact.text(), vector, source, shape(config),
                                          fact=record)
    return operations.insert(store, user, fact.text(), vector, source, shape(config), fact=record)
