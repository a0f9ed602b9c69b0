"""Reading passages into a short answer: the prompt and step shared by every retrieve-then-read agent."""

from __future__ import annotations

from typing import Any, Protocol

from agents.base import Deps, RAGState, format_passages, short
from agents.events import HitData, ReadData, Step, TraceEvent
from llm.base import LLM

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


class ReaderConfig(Protocol):
    """What the shared read node needs of an agent's config."""

    max_tokens: int


def read_messages(question: str, hits: list[HitData] | list[dict[str, Any]]) -> list[dict[str, str]]:
    """The one-shot reader prompt over numbered passages."""
    return [
        {"role": "system", "content": READ_SYSTEM},
        {"role": "user", "content": READ_EXAMPLE_USER},
        {"role": "assistant", "content": READ_EXAMPLE_ANSWER},
        {"role": "user", "content": READ_USER.format(passages=format_passages(hits), question=question)},
    ]


def clean_answer(text: str) -> str:
    """First line of a reply, without a leading 'Answer:' and trailing period."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    for prefix in ("Final Answer:", "Answer:", "answer:"):
        if line.startswith(prefix):
            line = line[len(prefix):]
    return line.strip().rstrip(".").strip()


def read_step(agent: str, run_id: str, llm: LLM, question: str, hits: list[HitData],
              max_tokens: int) -> tuple[str, TraceEvent]:
    """Ask the LLM for a short answer from `hits`; returns (answer, event)."""
    with Step(agent, "read", run_id) as step:
        messages = read_messages(question, hits)
        completion = step.add(llm.chat(messages, max_tokens=max_tokens, stop=["\n\n"]))
        answer = clean_answer(completion.text) or "(no answer)"
        cited = [h["doc_id"] for h in hits if answer.lower() in h["text"].lower()] if answer else []
        explanation = (
            f"Read {len(hits)} passages ({completion.prompt_tokens} prompt tokens) and answered "
            f"'{short(answer)}'" + (f", found verbatim in '{_title(hits, cited[0])}'." if cited else ".")
        )
        event = step.event(explanation, ReadData(prompt=messages, reply=completion.text, answer=answer,
                                                 passages=[h["doc_id"] for h in hits], cited=cited))
    return answer, event


def read(state: RAGState, deps: Deps, config: ReaderConfig) -> dict[str, Any]:
    """Answer from the retrieved passages (the read node of every retrieve-then-read agent)."""
    hits = state.get("retrieved", [])
    answer, event = read_step(state.get("agent", ""), state.get("run_id", ""), deps.llm, state["question"], hits,
                              config.max_tokens)
    return {"answer": answer, "used_ids": [h["doc_id"] for h in hits], "events": [event]}


def _title(hits: list[HitData], doc_id: str) -> str:
    return next((h["title"] for h in hits if h["doc_id"] == doc_id), doc_id)
