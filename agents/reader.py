"""Reading passages into a short answer: the prompt and step shared by every retrieve-then-read agent."""

from __future__ import annotations

from typing import Any, Protocol

from agents.base import Deps, RAGState, format_passages, short
from agents.events import HitData, ReadData, Step, TraceEvent
from agents.grounding import (
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
from llm.base import LLM
from retrieval.corpus import CorpusStore

# The reader prompts measured on both dev sets (benchmarks/bench_reader.py; results in docs/notebook.md).
READ_SYSTEM = (
    "You answer questions using only the given passages. Reply with the answer alone: a short phrase, "
    "name, date or number, with no explanation. If the passages do not contain it, give your best guess."
)
READ_EXAMPLE_USER = (
    "Passages:\n[1] Lake Morrow: Lake Morrow lies in the county of Edrith.\n"
    "[2] Edrith: Edrith is a county whose seat is the town of Palle.\n\n"
    "Question: What is the county seat of the county where Lake Morrow is?\nAnswer:"
)
READ_EXAMPLE_ANSWER = "Palle"
READ_USER = "Passages:\n{passages}\n\nQuestion: {question}\nAnswer:"
PLAIN_INSTRUCTION = "Answer the question using the passages. Reply with the answer only, a few words."
ABSTAIN_INSTRUCTION = " If the passages do not contain the answer, reply: unknown"
# The plain message with the short-answer form spelled out in words (no example that could leak, no "guess").
SHORT_INSTRUCTION = ("Answer the question using the passages. Reply with the answer only: a name, date, number "
                     "or short phrase, not a sentence. If it is a yes-or-no question, reply yes or no.")
PLAIN_USER = "{instruction}\n\nPassages:\n{passages}\n\nQuestion: {question}"
READER_PROMPTS = ("one_shot", "plain", "plain_abstain", "one_shot_abstain", "plain_example", "plain_short")
DEFAULT_READER_PROMPT = "plain"  # best mean F1 of the two dev sets; none is best on both (docs/notebook.md)


class ReaderConfig(Protocol):
    """What the shared read node needs of an agent's config."""

    max_tokens: int
    relevance_floor: float


def read_messages(question: str, hits: list[HitData] | list[dict[str, Any]],
                  prompt: str = DEFAULT_READER_PROMPT) -> list[dict[str, str]]:
    """The reader prompt over numbered passages: one plain message (default) or the one-shot dialogue."""
    passages = format_passages(hits)  # type: ignore[arg-type]
    if prompt in ("plain", "plain_abstain", "plain_short"):
        instruction = (SHORT_INSTRUCTION if prompt == "plain_short" else
                       PLAIN_INSTRUCTION + (ABSTAIN_INSTRUCTION if prompt == "plain_abstain" else ""))
        return [{"role": "user", "content": PLAIN_USER.format(instruction=instruction, passages=passages,
                                                              question=question)}]
    if prompt == "plain_example":  # the plain message, after one worked example in the same form
        example = READ_EXAMPLE_USER.removeprefix("Passages:\n").split("\n\nQuestion: ")
        return [{"role": "user", "content": PLAIN_USER.format(instruction=PLAIN_INSTRUCTION, passages=example[0],
                                                              question=example[1].removesuffix("\nAnswer:"))},
                {"role": "assistant", "content": READ_EXAMPLE_ANSWER},
                {"role": "user", "content": PLAIN_USER.format(instruction=PLAIN_INSTRUCTION, passages=passages,
                                                              question=question)}]
    if prompt not in READER_PROMPTS:
        raise ValueError(f"unknown reader prompt {prompt!r}; valid: {', '.join(READER_PROMPTS)}")
    system = READ_SYSTEM
    if prompt == "one_shot_abstain":
        system = system.replace("give your best guess.", "reply: unknown")
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": READ_EXAMPLE_USER},
        {"role": "assistant", "content": READ_EXAMPLE_ANSWER},
        {"role": "user", "content": READ_USER.format(passages=passages, question=question)},
    ]


def clean_answer(text: str) -> str:
    """First line of a reply, without a leading 'Answer:' and trailing period."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    for prefix in ("Final Answer:", "Answer:", "answer:"):
        if line.startswith(prefix):
            line = line[len(prefix):]
    return line.strip().rstrip(".").strip()


def read_step(agent: str, run_id: str, llm: LLM, question: str, hits: list[HitData], max_tokens: int,
              corpora: CorpusStore | None = None, dense: bool = True,
              floor: float = RELEVANCE_FLOOR, margin: float = SUPPORT_MARGIN,
              retrieved: list[HitData] | None = None, on_topic: bool = False) -> tuple[str, TraceEvent]:
    """Answer from `hits` and label the answer (agents.grounding); returns (answer, event).

    No passage as relevant as `floor` -> no answer and no LLM call, unless the caller knows the search was
    `on_topic` (a passage of the question's own search reached the floor, and these hits were reached from it).
    Relevance is the dense score, or a fresh question-passage cosine (needs `corpora`) when another retriever
    ranked the hits. `retrieved` are the run's other passages, which count when the label says whether the
    answer appears in a passage.
    """
    with Step(agent, "read", run_id) as step:
        scores = relevance(corpora, question, hits, dense)
        data = ReadData(passages=[h["doc_id"] for h in hits])
        if not on_topic and not any(s >= floor for s in scores):
            answer = NO_ANSWER
            grounding = none("nothing_relevant", floor, max(scores, default=0.0))
            explanation = (f"Did not ask the model: {grounding_sentence(grounding)}" if hits else
                           "Found no passages to read, so it gives no answer.")
        else:
            messages = read_messages(question, hits)
            completion = step.add(llm.chat(messages, max_tokens=max_tokens, stop=["\n\n"]))
            answer = clean_answer(completion.text)
            if is_abstention(answer):
                answer = NO_ANSWER
            grounding = ground(llm, step, question, answer, hits, scores, retrieved or [], floor=floor,
                               margin=margin, on_topic=on_topic)
            data.update(prompt=messages, reply=completion.text)
            explanation = (f"Read {len(hits)} passages and answered ‘{short(answer)}’. "
                           + grounding_sentence(grounding))
        data.update(answer=answer, grounding=grounding,
                    cited=[grounding["doc_id"]] if grounding.get("doc_id") else [])
        event = step.event(explanation, data)
    return answer, event


def read(state: RAGState, deps: Deps, config: ReaderConfig, dense: bool = True) -> dict[str, Any]:
    """Answer from the retrieved passages (the read node of every retrieve-then-read agent)."""
    hits = state.get("retrieved", [])
    answer, event = read_step(state.get("agent", ""), state.get("run_id", ""), deps.llm, state["question"], hits,
                              config.max_tokens, deps.corpora, dense, config.relevance_floor,
                              retrieved=state.get("retrieved", []))
    return {"answer": answer, "used_ids": [h["doc_id"] for h in hits], "events": [event]}


def title_of(hits: list[HitData], doc_id: str) -> str:
    """A passage's title (cut at a word) by its document id."""
    return cut_at_word(next((h["title"] for h in hits if h["doc_id"] == doc_id), doc_id), 60)
