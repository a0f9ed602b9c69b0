"""A scripted LLM for unit tests of control flow: replies and choices come from lists, in order."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from llm.base import LLM, Choice, Completion, LLMError, Message
from llm.grammar import validate

Reply = str | Callable[[Sequence[Message]], str]
# A structured reply: a JSON value (serialised), a JSON text, or a callable of (messages, schema) giving either.
StructuredReply = Any


def _count(text: str) -> int:
    return len(text.split())


class ScriptedLLM(LLM):
    """Returns the next scripted reply for `chat`, the next scripted option for `choose`, and the next scripted JSON
    value for `structured`.

    A reply may be a callable of the messages, for tests that echo the prompt. When a script runs out,
    `default_reply` / the first option is used, so a test can script only what it asserts on; `structured` has no
    default (no one value fits every schema) and raises LLMError when its script is empty. A scripted structured
    reply must validate against the schema it is asked under (ValueError otherwise), as a grammar would force.
    """

    name = "scripted"

    def __init__(
        self,
        replies: Sequence[Reply] = (),
        choices: Sequence[str] = (),
        default_reply: str = "I don't know.",
        structured: Sequence[StructuredReply] = (),
    ) -> None:
        self.replies = list(replies)
        self.choices = list(choices)
        self.structured_replies = list(structured)
        self.default_reply = default_reply
        self.calls: list[tuple[str, list[Message]]] = []

    def chat(
        self, messages: Sequence[Message], max_tokens: int = 256, stop: Sequence[str] | None = None
    ) -> Completion:
        """Return the next scripted reply, cut at the first stop string."""
        self.calls.append(("chat", list(messages)))
        reply = self.replies.pop(0) if self.replies else self.default_reply
        text = reply(messages) if callable(reply) else reply
        for s in stop or ():
            if s in text:
                text = text[: text.index(s)]
        prompt = " ".join(m["content"] for m in messages)
        return Completion(text=text, prompt_tokens=_count(prompt), completion_tokens=_count(text))

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        """Return the next scripted option (it must be one of `options`)."""
        self.calls.append(("choose", list(messages)))
        option = self.choices.pop(0) if self.choices else options[0]
        if option not in options:
            raise ValueError(f"scripted choice {option!r} is not among {list(options)}")
        prompt = " ".join(m["content"] for m in messages)
        scores = {o: (0.0 if o == option else -10.0) for o in options}
        return Choice(option=option, scores=scores, prompt_tokens=_count(prompt), completion_tokens=1)

    def structured(self, messages: Sequence[Message], schema: dict[str, Any], max_tokens: int = 256) -> Completion:
        """Return the next scripted JSON value as text; it must validate against `schema`."""
        self.calls.append(("structured", list(messages)))
        if not self.structured_replies:
            raise LLMError("ScriptedLLM has no scripted structured reply left")
        reply = self.structured_replies.pop(0)
        if callable(reply):
            reply = reply(messages, schema)
        text = reply if isinstance(reply, str) else json.dumps(reply)
        try:
            validate(text, schema)
        except LLMError as exc:
            raise ValueError(f"scripted structured reply {text!r} does not fit the schema: {exc}") from exc
        prompt = " ".join(m["content"] for m in messages)
        return Completion(text=text, prompt_tokens=_count(prompt), completion_tokens=_count(text))
