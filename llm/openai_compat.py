"""An OpenAI-compatible chat server (vLLM, llama.cpp server, Ollama, LM Studio, ...) over plain httpx."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from llm.base import LLM, Choice, Completion, LLMError, Message

CHOICE_MAX_TOKENS = 16


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters a token) for servers that report no usage."""
    return max(1, (len(text) + 3) // 4) if text else 0


def match_option(reply: str, options: Sequence[str]) -> str | None:
    """The option the reply names: exact match, then case-insensitive (prefix) match; else None."""
    text = reply.strip()
    if text in options:
        return text
    low = text.lower().strip(" \t\n\"'`*.:")
    for option in options:
        if low == option.lower():
            return option
    for option in sorted(options, key=len, reverse=True):  # longest first: "No idea" before "No"
        if low.startswith(option.lower()):
            return option
    return None


class OpenAICompatLLM(LLM):
    """Chat completions from any server that speaks the OpenAI `/chat/completions` API."""

    def __init__(self, base_url: str, model: str | None, api_key: str = "not-needed", timeout: float = 120.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model  # None: use the first model the server lists at GET /models
        self.name = f"openai:{model or 'server default'}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers,
                                    timeout=httpx.Timeout(timeout, connect=10.0), transport=transport)

    # -- transport -----------------------------------------------------------------------------

    def model_name(self) -> str:
        """The model to ask for: the configured one, else the first the server lists."""
        if self.model is None:
            try:
                response = self._client.get("/models")
                response.raise_for_status()
                self.model = str(response.json()["data"][0]["id"])
            except httpx.HTTPError as exc:
                raise self._error(exc) from exc
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise LLMError(f"the OpenAI-compatible server at {self.base_url} lists no models; "
                               "set RAGSCOPE_LLM_MODEL") from exc
            self.name = f"openai:{self.model}"
        return self.model

    def _payload(self, messages: Sequence[Message], max_tokens: int, stop: Sequence[str] | None,
                 **extra: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": self.model_name(), "messages": list(messages),
                                   "temperature": 0, "max_tokens": max_tokens}
        if stop:
            payload["stop"] = list(stop)[:4]  # the OpenAI API allows at most four
        payload.update(extra)
        return payload

    def _error(self, exc: Exception) -> LLMError:
        where = f"the OpenAI-compatible server at {self.base_url}"
        if isinstance(exc, httpx.ConnectError):
            reason = "connection refused" if "refused" in str(exc).lower() else str(exc) or "cannot connect"
            return LLMError(f"cannot reach {where}: {reason}")
        if isinstance(exc, httpx.TimeoutException):
            return LLMError(f"cannot reach {where}: timed out")
        if isinstance(exc, httpx.HTTPStatusError):
            body = exc.response.text.strip().replace("\n", " ")[:300]
            return LLMError(f"{where} answered HTTP {exc.response.status_code}: {body}")
        return LLMError(f"request to {where} failed: {exc}")

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._client.post("/chat/completions", json=payload)
            response.raise_for_status()
            return response.json()
        except httpx.HTTPError as exc:
            raise self._error(exc) from exc
        except ValueError as exc:
            raise LLMError(f"the OpenAI-compatible server at {self.base_url} sent invalid JSON") from exc

    @staticmethod
    def _text(data: dict[str, Any]) -> str:
        try:
            return data["choices"][0]["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise LLMError(f"unexpected reply from the OpenAI-compatible server: {str(data)[:200]}") from exc

    def _usage(self, data: dict[str, Any], messages: Sequence[Message], text: str) -> tuple[int, int]:
        usage = data.get("usage") or {}
        prompt = usage.get("prompt_tokens")
        completion = usage.get("completion_tokens")
        if prompt is None:
            prompt = estimate_tokens(" ".join(m.get("content", "") for m in messages))
        if completion is None:
            completion = estimate_tokens(text)
        return int(prompt), int(completion)

    # -- the LLM interface ---------------------------------------------------------------------

    def chat(self, messages: Sequence[Message], max_tokens: int = 256,
             stop: Sequence[str] | None = None) -> Completion:
        """One greedy (temperature 0) completion."""
        t0 = time.perf_counter()
        data = self._post(self._payload(messages, max_tokens, stop))
        text = _cut(self._text(data), stop)
        prompt, completion = self._usage(data, messages, text)
        return Completion(text=text, prompt_tokens=prompt, completion_tokens=completion,
                          seconds=time.perf_counter() - t0)

    def stream(self, messages: Sequence[Message], max_tokens: int = 256,
               stop: Sequence[str] | None = None) -> Iterator[str]:
        """Yield the reply's pieces as the server sends them (server-sent events)."""
        payload = self._payload(messages, max_tokens, stop, stream=True)
        try:
            with self._client.stream("POST", "/chat/completions", json=payload) as response:
                if response.is_error:
                    response.read()
                response.raise_for_status()
                for line in response.iter_lines():
                    piece = _sse_piece(line)
                    if piece is None:
                        break
                    if piece:
                        yield piece
        except httpx.HTTPError as exc:
            raise self._error(exc) from exc

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        """Ask for one option (constrained where the server supports `guided_choice`) and map the reply."""
        if not options:
            raise ValueError("choose() needs at least one option")
        t0 = time.perf_counter()
        max_tokens = min(64, max(CHOICE_MAX_TOKENS, max(estimate_tokens(o) for o in options) + 4))
        data = self._post(self._payload(messages, max_tokens, None, guided_choice=list(options)))
        text = self._text(data)
        prompt, completion = self._usage(data, messages, text)
        picked = match_option(text, options)
        seconds = time.perf_counter() - t0
        if picked is None:
            return Choice(option=options[0], scores={o: 0.0 for o in options}, prompt_tokens=prompt,
                          completion_tokens=completion, seconds=seconds, constrained=False)
        # The server gives no log-probs here: 0 for the picked option, -10 for the rest (as the fake does).
        scores = {o: (0.0 if o == picked else -10.0) for o in options}
        return Choice(option=picked, scores=scores, prompt_tokens=prompt, completion_tokens=completion,
                      seconds=seconds, constrained=text.strip() == picked)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


def _cut(text: str, stop: Sequence[str] | None) -> str:
    """Cut at the earliest stop string (servers usually do this already; some miss the 5th+)."""
    hits = [i for i in (text.find(s) for s in stop or () if s) if i >= 0]
    return text[: min(hits)] if hits else text


def _sse_piece(line: str) -> str | None:
    """The content delta of one SSE line: '' for lines without text, None at `[DONE]`."""
    if not line.startswith("data:"):
        return ""
    data = line[len("data:"):].strip()
    if data == "[DONE]":
        return None
    try:
        event = json.loads(data)
        delta = event["choices"][0].get("delta") or {}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return ""
    return delta.get("content") or ""
