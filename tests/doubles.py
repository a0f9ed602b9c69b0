"""Test doubles for the app: a stand-in LLM that answers demo questions with their gold answers."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from llm.base import Completion, Message
from llm.fake import ScriptedLLM
from ui.common import known_questions, normalise_question

_QUESTION = re.compile(r"Question:\s*(.+?)\s*(?:\n|$)")


class DemoOracleLLM(ScriptedLLM):
    """A stand-in LLM: answers known demo questions with their gold answer (else the first passage's title),
    after `delay` seconds, so pages look like real runs without loading a model."""

    name = "oracle (test)"

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.gold = known_questions()
        self.state = "ready"

    def chat(self, messages: Sequence[Message], max_tokens: int = 256, stop: Sequence[str] | None = None
             ) -> Completion:
        """The gold answer of the last question in the prompt, when it is known."""
        self.calls.append(("chat", list(messages)))
        if self.delay:
            time.sleep(self.delay)
        text = messages[-1]["content"] if messages else ""
        found = _QUESTION.findall(text)
        gold = self.gold.get(normalise_question(found[-1])) if found else None
        if gold and gold.answers:
            reply = gold.answers[0]
        else:
            titles = re.findall(r"^\[1\] ([^:\n]+):", text, flags=re.M)
            reply = titles[0] if titles else self.default_reply
        prompt = " ".join(m["content"] for m in messages)
        return Completion(text=reply, prompt_tokens=len(prompt.split()), completion_tokens=len(reply.split()))
