"""An LLM that loads its backend on first use (or in the background), so start-up stays fast."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from llm.base import LLM, Choice, Completion, Message


class LazyLLM(LLM):
    """Wraps a factory; the first call (or `start_loading`) builds the real backend exactly once."""

    def __init__(self, factory: Callable[[], LLM], name: str = "llm") -> None:
        self._factory = factory
        self.name = name
        self._llm: LLM | None = None
        self._error: Exception | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.state = "not loaded"  # not loaded | loading | ready | failed: ...
        self.load_seconds = 0.0

    def start_loading(self) -> None:
        """Load in a daemon thread; returns at once."""
        if self._thread is None and self._llm is None:
            self._thread = threading.Thread(target=self.get, name="llm-loader", daemon=True)
            self._thread.start()

    def get(self) -> LLM:
        """The loaded backend, loading it now if needed (a failure is kept and re-raised)."""
        with self._lock:
            if self._llm is None:
                if self._error is not None:
                    raise self._error
                self.state = "loading"
                t0 = time.perf_counter()
                try:
                    self._llm = self._factory()
                except Exception as exc:
                    self._error = exc
                    self.state = f"failed: {exc}"
                    raise
                self.load_seconds = time.perf_counter() - t0
                self.state = "ready"
            return self._llm

    def describe(self) -> str:
        """The loaded backend's description, or the name while nothing is loaded."""
        return self._llm.describe() if self._llm is not None else self.name

    def chat(self, messages: Sequence[Message], max_tokens: int = 256,
             stop: Sequence[str] | None = None) -> Completion:
        """Delegate to the loaded backend."""
        return self.get().chat(messages, max_tokens=max_tokens, stop=stop)

    def stream(self, messages: Sequence[Message], max_tokens: int = 256,
               stop: Sequence[str] | None = None) -> Iterator[str]:
        """Delegate to the loaded backend."""
        return self.get().stream(messages, max_tokens=max_tokens, stop=stop)

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        """Delegate to the loaded backend."""
        return self.get().choose(messages, options)

    def structured(self, messages: Sequence[Message], schema: dict[str, Any], max_tokens: int = 256) -> Completion:
        """Delegate to the loaded backend."""
        return self.get().structured(messages, schema, max_tokens=max_tokens)
