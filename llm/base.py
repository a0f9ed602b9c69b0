"""The one LLM interface every agent talks to: chat, stream, constrained choice, and JSON under a schema."""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


class LLMError(RuntimeError):
    """A backend failed in a way the user can act on (unreachable server, bad model file)."""


@dataclass(frozen=True)
class Completion:
    """Generated text plus the token counts the call cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float = 0.0


@dataclass(frozen=True)
class Choice:
    """The option a constrained decision picked, with the score of every option."""

    option: str
    scores: dict[str, float] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    constrained: bool = True  # False when the backend could only approximate (parsed free text)


class LLM(abc.ABC):
    """Chat messages in; text, a token stream, or one of a fixed set of options out."""

    name: str = "llm"

    @abc.abstractmethod
    def chat(
        self, messages: Sequence[Message], max_tokens: int = 256, stop: Sequence[str] | None = None
    ) -> Completion:
        """Generate one reply greedily."""

    def stream(
        self, messages: Sequence[Message], max_tokens: int = 256, stop: Sequence[str] | None = None
    ) -> Iterator[str]:
        """Yield the reply in pieces; the default yields the whole reply at once."""
        yield self.chat(messages, max_tokens=max_tokens, stop=stop).text

    @abc.abstractmethod
    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        """Pick the option the model scores highest as the start of its reply (log-likelihood)."""

    def structured(self, messages: Sequence[Message], schema: dict[str, Any], max_tokens: int = 256) -> Completion:
        """A reply that is valid JSON under the JSON Schema `schema`, decoded under a grammar. LLMError when the
        backend cannot constrain its decoding, the schema cannot be compiled, or max_tokens ends the JSON early."""
        raise LLMError(f"{type(self).__name__} ({self.name}) cannot decode under a grammar: it has no structured "
                       "output; use the local model, the model worker, or an OpenAI-compatible server")

    def describe(self) -> str:
        """The model and how it runs (precision, device, engine), for benchmark records; the default is the name."""
        return self.name

    def close(self) -> None:  # noqa: B027 - optional: most backends hold nothing to release
        """Release resources; the default does nothing."""
