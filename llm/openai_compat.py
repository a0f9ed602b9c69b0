"""An OpenAI-compatible chat server (our worker, vLLM, SGLang, llama.cpp server, Ollama, ...) over plain httpx.

JSON under a schema is asked with OpenAI's `response_format: {"type": "json_schema", ...}` (a server that refuses it
is an LLMError naming the field; a reply that does not validate is one too). A constrained choice is asked with
vLLM's `structured_outputs: {"choice": [...]}`. Our worker also returns every
option's log-likelihood in `choices[0].option_scores`. A server that refuses the field (HTTP 400/422, e.g.
`transformers serve`) or ignores it (its reply is not one of the options) is asked once more for the first token's
`top_logprobs`, which rank the options; failing that, its free reply is matched to an option, marked unconstrained.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import httpx

from llm.base import LLM, Choice, Completion, LLMError, Message
from llm.grammar import validate

CHOICE_MAX_TOKENS = 16
SCHEMA_NAME = "reply"  # response_format.json_schema.name: required by the OpenAI API, shown to no one
TOP_LOGPROBS = 20


class ServerRefused(LLMError):
    """The server rejected the request as invalid (HTTP 400 or 422)."""

    def __init__(self, message: str, body: str = "") -> None:
        super().__init__(message)
        self.body = body

    def names(self, *fields: str) -> bool:
        """True when the server's complaint names one of `fields` (so leaving them out may help)."""
        low = self.body.lower()
        return any(f in low for f in fields)


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
        self.timeout = timeout
        self.structured_choice = True  # False once the server refused or ignored `structured_outputs`
        self.logprobs = True  # False once the server refused `logprobs`
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
        if isinstance(exc, httpx.ConnectTimeout):
            return LLMError(f"cannot reach {where}: connecting timed out")
        if isinstance(exc, httpx.TimeoutException):
            return LLMError(f"{where} is slow: it accepted the request but sent nothing for {self.timeout:g} s "
                            "(busy or overloaded, not unreachable); raise RAGSCOPE_OPENAI_TIMEOUT to wait longer")
        if isinstance(exc, httpx.HTTPStatusError):
            body = exc.response.text.strip().replace("\n", " ")[:300]
            message = f"{where} answered HTTP {exc.response.status_code}: {body}"
            if exc.response.status_code in (400, 422):
                return ServerRefused(message, body)
            return LLMError(message)
        if isinstance(exc, httpx.RemoteProtocolError):
            return LLMError(f"{where} closed the connection mid-reply (did it restart?): {exc}")
        return LLMError(f"request to {where} failed: {exc}")

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            try:
                response = self._client.post("/chat/completions", json=payload)
            except httpx.RemoteProtocolError:  # a kept-alive connection to a worker that restarted: once more
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

    def structured(self, messages: Sequence[Message], schema: dict[str, Any], max_tokens: int = 256) -> Completion:
        """JSON under `schema`, asked with OpenAI's `response_format: {"type": "json_schema", ...}` and checked
        against the schema on arrival (a server that ignores the field is caught, not trusted)."""
        t0 = time.perf_counter()
        response_format = {"type": "json_schema",
                           "json_schema": {"name": SCHEMA_NAME, "schema": schema, "strict": True}}
        try:
            data = self._post(self._payload(messages, max_tokens, None, response_format=response_format))
        except ServerRefused as exc:
            raise LLMError(f"the OpenAI-compatible server at {self.base_url} refused response_format "
                           f"(json_schema), so it cannot give structured output: {exc.body[:200]}") from exc
        text = self._text(data)
        finish = _finish_reason(data)
        if finish == "length":
            raise LLMError(f"the reply reached max_tokens={max_tokens} before its JSON was complete; raise max_tokens")
        try:
            validate(text, schema)
        except LLMError as exc:
            raise LLMError(f"the OpenAI-compatible server at {self.base_url} did not honour response_format "
                           f"(json_schema): {exc}") from exc
        prompt, completion = self._usage(data, messages, text)
        return Completion(text=text, prompt_tokens=prompt, completion_tokens=completion,
                          seconds=time.perf_counter() - t0)

    def choose(self, messages: Sequence[Message], options: Sequence[str]) -> Choice:
        """Ask for one option: constrained where the server supports it, else ranked by logprobs, else parsed."""
        if not options:
            raise ValueError("choose() needs at least one option")
        t0 = time.perf_counter()
        max_tokens = min(64, max(CHOICE_MAX_TOKENS, max(estimate_tokens(o) for o in options) + 4))
        if self.structured_choice:
            try:
                data = self._post(self._payload(messages, max_tokens, None,
                                                structured_outputs={"choice": list(options)}))
            except ServerRefused as exc:
                if not exc.names("structured", "choice", "unexpected", "extra", "unknown", "unrecognized"):
                    raise
                self.structured_choice = False
            else:
                choice = _constrained_choice(data, options)
                if choice is not None:
                    return self._with_usage(choice, data, messages, t0)
                self.structured_choice = False  # HTTP 200 with free text: the field was ignored
        data = self._unconstrained(messages, max_tokens)
        choice = _logprob_choice(data, options) or _parsed_choice(self._text(data), options)
        return self._with_usage(choice, data, messages, t0)

    def _unconstrained(self, messages: Sequence[Message], max_tokens: int) -> dict[str, Any]:
        """A plain reply, with the first token's top logprobs where the server gives them."""
        if self.logprobs:
            try:
                return self._post(self._payload(messages, max_tokens, None, logprobs=True,
                                                 top_logprobs=TOP_LOGPROBS))
            except ServerRefused as exc:
                if not exc.names("logprob", "unexpected", "extra", "unknown", "unrecognized"):
                    raise
                self.logprobs = False
        return self._post(self._payload(messages, max_tokens, None))

    def _with_usage(self, choice: Choice, data: dict[str, Any], messages: Sequence[Message], t0: float) -> Choice:
        prompt, completion = self._usage(data, messages, choice.option)
        return replace(choice, prompt_tokens=prompt, completion_tokens=completion, seconds=time.perf_counter() - t0)

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
    except ValueError:
        return ""
    if isinstance(event, dict) and event.get("error"):  # a server that failed mid-stream says so in an event
        error = event["error"]
        raise LLMError(f"the server failed mid-reply: {error.get('message') if isinstance(error, dict) else error}")
    try:
        delta = event["choices"][0].get("delta") or {}
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""
    return delta.get("content") or ""


def _constrained_choice(data: dict[str, Any], options: Sequence[str]) -> Choice | None:
    """The choice of a server that honoured `structured_outputs` (our worker adds every option's score)."""
    try:
        choice = data["choices"][0]
        text = (choice["message"].get("content") or "").strip()
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    if text not in options:
        return None
    scores = choice.get("option_scores")
    if isinstance(scores, dict) and set(scores) == set(options):
        return Choice(option=text, scores={o: float(scores[o]) for o in options})
    # No scores from this server: 0 for the picked option, -10 for the rest (as the fake does).
    return Choice(option=text, scores={o: (0.0 if o == text else -10.0) for o in options})


def _logprob_choice(data: dict[str, Any], options: Sequence[str]) -> Choice | None:
    """Rank the options by the log-probability of their first token among the reply's first `top_logprobs`."""
    try:
        first = data["choices"][0]["logprobs"]["content"][0]
        top = [(str(t["token"]), float(t["logprob"])) for t in first.get("top_logprobs") or [first]]
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None
    scores: dict[str, float] = {}
    for option in options:
        for fold in (str, str.lower):
            hits = [lp for token, lp in top if token.strip() and fold(option).startswith(fold(token.strip()))]
            if hits:
                scores[option] = max(hits)
                break
    if not scores:
        return None
    floor = min(lp for _, lp in top) - 1.0  # an option not among the top tokens is less likely than all of them
    scores = {o: scores.get(o, floor) for o in options}
    best = max(scores.values())
    tied = [o for o in options if scores[o] == best]
    text = _text_of(data)
    option = match_option(text, tied) or tied[0]
    return Choice(option=option, scores=scores, constrained=True)


def _parsed_choice(text: str, options: Sequence[str]) -> Choice:
    """Map a free reply to an option (the first when none matches), marked unconstrained."""
    picked = match_option(text, options)
    if picked is None:
        return Choice(option=options[0], scores={o: 0.0 for o in options}, constrained=False)
    return Choice(option=picked, scores={o: (0.0 if o == picked else -10.0) for o in options}, constrained=False)


def _finish_reason(data: dict[str, Any]) -> str | None:
    try:
        return data["choices"][0].get("finish_reason")
    except (KeyError, IndexError, TypeError, AttributeError):
        return None


def _text_of(data: dict[str, Any]) -> str:
    try:
        return data["choices"][0]["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""
