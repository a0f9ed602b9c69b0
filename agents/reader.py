"""Reading passages into a short answer: the prompt and step shared by every retrieve-then-read agent."""

from __future__ import annotations

from typing import Any

from agents.base import format_passages, short
from agents.events import Step
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


def read_messages(question: str, hits: list[dict[str, Any]]) -> list[dict[str, str]]:
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


def read_step(agent: str, run_id: str, llm: LLM, question: str, hits: list[dict[str, Any]],
              max_tokens: int) -> tuple[str, Any]:
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
        event = step.event(explanation, {"prompt": messages, "reply": completion.text, "answer": answer,
                                         "passages": [h["doc_id"] for h in hits], "cited": cited})
    return answer, event


def _title(hits: list[dict[str, Any]], doc_id: str) -> str:
    return next((h["title"] for h in hits if h["doc_id"] == doc_id), doc_id)
