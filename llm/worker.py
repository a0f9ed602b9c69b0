"""The model worker: the batching engine behind an OpenAI-compatible HTTP API (FastAPI + uvicorn).

Endpoints: GET /health, GET /v1/models, GET /v1/models/{id}, POST /v1/chat/completions (with or without `stream`).
Every field an OpenAI client sends is honoured or refused by name (llm/openai_api.py; docs/deployment.md has the
table): `response_format` (json_object, json_schema) and `tools` with `tool_choice` (auto, required, a named function)
are decoded under a grammar, as one request of the running batch; tool calls come back as `tool_calls` with
`finish_reason: "tool_calls"`; `logprobs` / `top_logprobs` come from the engine's scores. Decoding is greedy, so
temperature > 0, n > 1 and seed are refused. A constrained choice is asked with vLLM's
`structured_outputs: {"choice": [...]}` (or `guided_choice`): the reply is the option with the highest
log-likelihood, and every option's summed log-probability is in `choices[0].option_scores`. Errors have OpenAI's
shape `{"error": {"message", "type", "param", "code"}}`. A client that disconnects cancels its request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from llm.base import LLMError
from llm.engine import EngineDied, EngineLLM, Generation, RequestTooLarge
from llm.grammar import GrammarError
from llm.openai_api import APIError, ChatRequest, Plan, plan
from llm.request_logits import RequestLogits
from llm.tool_calls import OPEN, may_be_a_call, parse_tool_calls

STEP_SECONDS = 0.25  # how long one wait for tokens lasts before checking the client is still there


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _error(status: int, message: str, param: str | None = None, code: str | None = None,
           kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse(status_code=status, content=APIError(status, message, param, code, kind).body())


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    """One sentence naming the first invalid field (and the field's path as OpenAI's `param`)."""
    first = exc.errors()[0]
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    if first.get("type") == "json_invalid":
        return f"the request body is not valid JSON: {first.get('msg')}", None
    if first.get("type") == "extra_forbidden":
        return f"Unrecognized request argument supplied: {param} (this worker does not support it)", param
    return f"{param or 'the request body'}: {first.get('msg')}", param


class _Chunks:
    """Server-sent chunks of one streamed completion."""

    def __init__(self, rid: str, model: str, created: int) -> None:
        self.rid, self.model, self.created = rid, model, created

    def __call__(self, delta: dict[str, Any] | None, finish: str | None = None,
                 logprobs: list[dict[str, Any]] | None = None, usage: dict[str, int] | None = None) -> str:
        body: dict[str, Any] = {"id": self.rid, "object": "chat.completion.chunk", "created": self.created,
                                "model": self.model, "choices": []}
        if delta is not None:
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
            if logprobs is not None:
                choice["logprobs"] = {"content": logprobs, "refusal": None}
            body["choices"] = [choice]
        if usage is not None:
            body["usage"] = usage
        return f"data: {json.dumps(body)}\n\n"


def build_worker_app(llm: EngineLLM, model_name: str, default_max_tokens: int = 256) -> FastAPI:
    """The FastAPI app serving `llm` under the name `model_name`."""
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Each request waits for its tokens in a worker thread; anyio's default of 40 threads would queue the
        # requests of a batch larger than that behind each other.
        import anyio.to_thread

        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, 2 * llm.engine.config.max_batch + 8)
        yield

    app = FastAPI(title="ragscope model worker", lifespan=lifespan)
    template = str(getattr(llm.tokenizer, "chat_template", "") or "")
    supports_tools = "tools" in template
    single_tool_tokens = llm.tokenizer.convert_tokens_to_ids(OPEN) not in (None, llm.tokenizer.unk_token_id)
    card = {"id": model_name, "object": "model", "created": int(time.time()), "owned_by": "ragscope"}

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content=exc.body())

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return _error(400, message, param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return _error(exc.status_code, str(exc.detail), kind=kind)

    @app.exception_handler(RequestTooLarge)
    async def _too_large(_: Request, exc: RequestTooLarge) -> JSONResponse:
        return _error(400, str(exc), "messages", "context_length_exceeded")

    @app.exception_handler(GrammarError)
    async def _grammar(_: Request, exc: GrammarError) -> JSONResponse:
        return _error(400, str(exc), "response_format", "invalid_schema")

    @app.exception_handler(LLMError)
    async def _engine_error(_: Request, exc: LLMError) -> JSONResponse:
        return _error(503, str(exc), kind="server_error", code="engine_error")

    @app.get("/health")
    def health() -> Any:
        """Liveness and load: ok while the engine loop runs."""
        engine = llm.engine
        if not engine.alive():
            return _error(503, "the model engine is not running", kind="server_error", code="engine_error")
        return {"status": "ok", "model": model_name, "active_requests": engine.active, "restarts": engine.restarts,
                "max_batch": engine.config.max_batch, "kv_capacity_tokens": engine.config.capacity}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        """The one model this worker serves."""
        return {"object": "list", "data": [card]}

    @app.get("/v1/models/{model_id:path}")
    def model(model_id: str) -> dict[str, Any]:
        """The model card of `model_id`, or 404 naming it."""
        _check_model(model_id)
        return card

    def _check_model(name: str | None) -> None:
        if name is not None and name != model_name:
            raise APIError(404, f"The model '{name}' does not exist; this worker serves '{model_name}'", "model",
                           "model_not_found", "not_found_error")

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatRequest, request: Request) -> Any:
        """OpenAI chat completions: greedy text, JSON or tool calls under a grammar, a stream, or a choice."""
        _check_model(body.model)
        todo = plan(body, supports_tools, single_tool_tokens)
        rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if todo.options is not None:
            return await _choose(rid, created, todo, body.stream)
        logits = None
        if todo.grammar is not None or todo.top_logprobs is not None:
            matcher = None if todo.grammar is None else await run_in_threadpool(llm.local.grammar.matcher,
                                                                                todo.grammar)
            logits = RequestLogits(matcher=matcher, top_logprobs=todo.top_logprobs)
        gen = await run_in_threadpool(llm.start, todo.messages, body.limit(default_max_tokens), body.stop, logits,
                                      todo.tools)
        if body.stream:
            return StreamingResponse(_stream(_Chunks(rid, model_name, created), gen, todo, request),
                                     media_type="text/event-stream")
        text = await _collect(gen, request)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        finish = gen.finish_reason
        calls = parse_tool_calls(text) if todo.tool_mode in ("auto", "required") else []
        if calls:
            message = {"role": "assistant", "content": None, "tool_calls": [c.openai() for c in calls]}
            finish = "tool_calls" if finish == "stop" else finish
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        if todo.top_logprobs is not None:
            choice["logprobs"] = {"content": await run_in_threadpool(_logprobs, gen, 0), "refusal": None}
        return {"id": rid, "object": "chat.completion", "created": created, "model": model_name,
                "choices": [choice], "usage": _usage(gen.prompt_tokens, gen.completion_tokens)}

    async def _choose(rid: str, created: int, todo: Plan, stream: bool) -> Any:
        assert todo.options is not None
        choice = await run_in_threadpool(llm.choose, todo.messages, todo.options)
        usage = _usage(choice.prompt_tokens, choice.completion_tokens)
        if stream:
            chunks = _Chunks(rid, model_name, created)

            async def one() -> AsyncIterator[str]:
                yield chunks({"role": "assistant", "content": choice.option})
                yield chunks({}, "stop")
                if todo.include_usage:
                    yield chunks(None, usage=usage)
                yield "data: [DONE]\n\n"
            return StreamingResponse(one(), media_type="text/event-stream")
        return {"id": rid, "object": "chat.completion", "created": created, "model": model_name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": choice.option},
                             "logprobs": None, "finish_reason": "stop", "option_scores": choice.scores}],
                "usage": usage}

    def _logprobs(gen: Generation, start: int) -> list[dict[str, Any]]:
        """OpenAI logprobs entries for the reply's tokens from `start` on (the EOS that ends it is not shown)."""
        assert gen.logits is not None
        records = gen.logits.logprobs[start:len(gen.tokens)]
        return [_entry(token, logprob, top) for token, logprob, top in records if token not in llm.local.eos_ids]

    def _entry(token: int, logprob: float, top: list[tuple[int, float]]) -> dict[str, Any]:
        def one(t: int, lp: float) -> dict[str, Any]:
            raw = llm.local.grammar.token_bytes(t)
            return {"token": raw.decode("utf-8", errors="replace"), "logprob": lp, "bytes": list(raw)}

        return {**one(token, logprob), "top_logprobs": [one(t, lp) for t, lp in top]}

    async def _collect(gen: Generation, request: Request) -> str:
        parts: list[str] = []
        try:
            while not gen.done:
                parts.append(await run_in_threadpool(gen.collect, STEP_SECONDS))
                if await request.is_disconnected():
                    break
        finally:
            gen.cancel()
        return "".join(parts)

    async def _stream(chunk: _Chunks, gen: Generation, todo: Plan, request: Request) -> AsyncIterator[str]:
        """Role, content pieces (a reply that is a tool call is held back and sent as `tool_calls`), finish."""
        sent_logprobs = 0
        held = ""  # text not sent yet: a reply that is, or may still become, a tool call
        calls_possible = todo.tool_mode in ("auto", "required")

        async def logprobs() -> list[dict[str, Any]] | None:
            nonlocal sent_logprobs
            if todo.top_logprobs is None:
                return None
            entries = await run_in_threadpool(_logprobs, gen, sent_logprobs)
            sent_logprobs = len(gen.tokens)
            return entries

        try:
            yield chunk({"role": "assistant", "content": ""})
            while not gen.done:
                try:
                    piece = await run_in_threadpool(gen.step, STEP_SECONDS)
                except EngineDied as exc:
                    yield f"data: {json.dumps(APIError(503, str(exc), kind='server_error').body())}\n\n"
                    return
                if piece and calls_possible:
                    held += piece
                    if may_be_a_call(held):
                        piece = ""
                    else:
                        piece, held, calls_possible = held, "", False
                if piece:
                    yield chunk({"content": piece}, logprobs=await logprobs())
                if await request.is_disconnected():
                    return
            finish = gen.finish_reason
            calls = parse_tool_calls(held) if held else []
            if calls:
                yield chunk({"tool_calls": [c.openai(index=i) for i, c in enumerate(calls)]},
                            logprobs=await logprobs())
                finish = "tool_calls" if finish == "stop" else finish
            elif held:
                yield chunk({"content": held}, logprobs=await logprobs())
            yield chunk({}, finish, logprobs=await logprobs() if todo.top_logprobs is not None else None)
            if todo.include_usage:
                yield chunk(None, usage=_usage(gen.prompt_tokens, gen.completion_tokens))
            yield "data: [DONE]\n\n"
        except asyncio.CancelledError:
            raise
        finally:
            gen.cancel()

    return app


def serve(llm: EngineLLM, model_name: str, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the worker until interrupted."""
    import uvicorn

    uvicorn.run(build_worker_app(llm, model_name), host=host, port=port, log_level="info")
